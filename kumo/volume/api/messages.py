"""User messages (Block Storage API v3 "Messages (messages)", 3.3+; 404 below, as
Cinder answers a route its microversion does not have): list (paging, sorting and
filters from 3.5), show, delete (204). The logic is kumo/volume/messages.py; the
rules are Cinder's ``message:get_all``/``message:get`` (readers) and
``message:delete`` (members), on the message's own project."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import isotime
from kumo.volume import models
from kumo.volume.api import at_least, render, service
from kumo.volume.api.volumes import target
from kumo.volume.messages import user_message


def _need(req: Request) -> None:
    if not at_least(req, "3.3"):
        raise exc.NotFound("The resource could not be found.")


def render_message(req: Request, msg: models.Message) -> dict:
    """Cinder's message view: ``resource_type``/``resource_uuid`` only when set."""
    body = {"id": msg.id, "event_id": msg.event_id, "user_message": user_message(msg),
            "message_level": msg.message_level, "created_at": isotime(msg.created_at),
            "guaranteed_until": isotime(msg.expires_at), "request_id": msg.request_id,
            "links": render.links(req, "messages", msg.id)}
    if msg.resource_type:
        body["resource_type"] = msg.resource_type
    if msg.resource_uuid:
        body["resource_uuid"] = msg.resource_uuid
    return body


@service.route("GET", "/v3/messages")
def index(req: Request) -> Reply:
    _need(req)
    req.context.enforce("message:get_all", target(req))
    rows, more = req.cloud.volumes.messages.list(req.context, req.query,
                                                 paged=at_least(req, "3.5"))
    body = {"messages": [render_message(req, m) for m in rows]}
    if more and rows:
        body["messages_links"] = render.next_link(req, "messages", rows[-1].id)
    return Reply(200, body)


@service.route("GET", "/v3/messages/{message_id}")
def show(req: Request) -> Reply:
    _need(req)
    msg = req.cloud.volumes.messages.get(req.context, req.params["message_id"])
    req.context.enforce("message:get", target(req, msg.project_id))
    return Reply(200, {"message": render_message(req, msg)})


@service.route("DELETE", "/v3/messages/{message_id}")
def delete(req: Request) -> Reply:
    _need(req)
    req.cloud.volumes.messages.delete(
        req.context, req.params["message_id"],
        lambda project_id: req.context.enforce("message:delete", target(req, project_id)))
    return Reply(204)
