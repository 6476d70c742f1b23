"""Assisted volume snapshots (Compute API "Assisted Volume Snapshots
(os-assisted-volume-snapshots)"): what Cinder's file-based (remotefs) drivers call to
have the hypervisor snapshot a volume attached to a server.

- ``POST /v2.1/os-assisted-volume-snapshots`` with ``{"snapshot": {"volume_id",
  "create_info": {"snapshot_id", "type": "qcow2", "new_file", "id" (optional)}}}``
  (Nova's schema; anything else is a 400) answers 200 ``{"snapshot": {"id":
  create_info's "id" or null, "volumeId": volume_id}}``.
- ``DELETE /v2.1/os-assisted-volume-snapshots/{snapshot_id}?delete_info=<JSON object
  with "volume_id">`` answers 204; without ``delete_info``, with one that is not
  JSON, or without ``volume_id``: 400; from 2.75 any other query parameter is a 400
  (Nova's ``delete_query_v275``).

Both answer 400 (Nova's words, which Nova gives as 400 rather than 409 for want of a
microversion) when the volume is attached to no server of this cloud ("No volume Block
Device Mapping with id <volume_id>."), to several (a multiattach volume), or when the
server has no host ("Instance <id> is not ready"), a task in progress or was never
launched (Nova's ``check_instance_state(vm_state=None)``); a delete naming a
``merge_target_file`` also when the server is not active. Policies
``os_compute_api:os-assisted-volume-snapshots:create`` and ``:delete``: admin or the
service role (Nova's ``service_or_admin``); the body (and the 2.75 query rule) is checked before
the policy, ``delete_info`` after it, in Nova's order.

What happens to the Block Storage snapshot is
:meth:`kumo.volume.snapshots.Snapshots.assisted`.
"""
from __future__ import annotations

import json

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.compute.api import at_least, service
from kumo.compute.models import Instance

P = "os_compute_api:os-assisted-volume-snapshots:"
register([RuleDefault(P + "create", "rule:admin_or_service"),
          RuleDefault(P + "delete", "rule:admin_or_service")])

_TEXT = {"type": "string", "minLength": 1}
CREATE = {"type": "object", "properties": {"snapshot": {
    "type": "object", "properties": {
        "volume_id": _TEXT,
        "create_info": {"type": "object", "properties": {
            "snapshot_id": _TEXT, "type": {"type": "string", "enum": ["qcow2"]},
            "new_file": _TEXT, "id": _TEXT},
            "required": ["snapshot_id", "type", "new_file"],
            "additionalProperties": False}},
    "required": ["volume_id", "create_info"], "additionalProperties": False}},
    "required": ["snapshot"], "additionalProperties": False}


def _invalid_state(row: Instance, attr: str, state, method: str) -> exc.BadRequest:
    return exc.BadRequest(f"Instance {row.id} in {attr} {state}. Cannot {method} while "
                          "the instance is in this state.")


def _server(req: Request, volume_id: str, method: str, merge: bool = False
            ) -> Instance:
    """The one server the volume is attached to, checked as Nova's
    ``check_instance_host`` then ``check_instance_state(vm_state=None)``; ``merge``
    (a delete naming a ``merge_target_file``) also wants it active, as Nova refuses
    an offline merge of an intermediary snapshot (its bug 1919487)."""
    compute = req.cloud.compute
    rows = []
    with compute.read() as s:
        for server_id in req.cloud.volumes.attachments.servers_of(volume_id):
            try:
                rows.append(compute.servers.get(s, None, server_id))
            except exc.NotFound:  # a v3 attachment naming no server of this cloud
                continue
    if not rows:
        raise exc.BadRequest(f"No volume Block Device Mapping with id {volume_id}.")
    if len(rows) > 1:
        raise exc.BadRequest(f"Block Device Mapping {volume_id} is a multi-attach volume"
                             " and is not valid for this operation.")
    row = rows[0]
    if not row.host:
        raise exc.BadRequest(f"Instance {row.id} is not ready")
    if row.task_state is not None:
        raise _invalid_state(row, "task_state", row.task_state, method)
    if row.launched_at is None:
        raise _invalid_state(row, "launched_at", None, method)
    if merge and row.vm_state != "active":
        raise _invalid_state(row, "vm_state", row.vm_state, "volume_snapshot_delete")
    return row


@service.route("POST", "/v2.1/os-assisted-volume-snapshots")
def create(req: Request) -> Reply:
    body = req.json(CREATE)["snapshot"]
    req.context.enforce(P + "create", {"project_id": req.context.project_id})
    volume_id, info = body["volume_id"], body["create_info"]
    _server(req, volume_id, "do_volume_snapshot_create")
    req.cloud.volumes.snapshots.assisted("create", volume_id, info["snapshot_id"])
    return Reply(200, {"snapshot": {"id": info.get("id"), "volumeId": volume_id}})


def _delete_info(req: Request) -> dict:
    raw = req.query.get("delete_info")  # the last one when given several, as Nova
    if raw is None:
        raise exc.BadRequest("The delete_info query parameter is required: a JSON "
                             "object with the volume_id.")
    try:
        info = json.loads(raw)
    except ValueError as e:
        raise exc.BadRequest(f"delete_info is not valid JSON: {e}") from None
    if not isinstance(info, dict) or "volume_id" not in info:
        raise exc.BadRequest("delete_info has no volume_id.")
    if not isinstance(info["volume_id"], str):
        raise exc.BadRequest("delete_info's volume_id must be a string.")
    return info


@service.route("DELETE", "/v2.1/os-assisted-volume-snapshots/{snapshot_id}")
def delete(req: Request) -> Reply:
    if at_least(req, "2.75"):  # Nova's query schema, checked before the policy
        extra = [k for k in req.query.keys() if k != "delete_info"]
        if extra:
            raise exc.BadRequest(f"Additional properties are not allowed ({extra[0]!r} "
                                 "was unexpected)")
    req.context.enforce(P + "delete", {"project_id": req.context.project_id})
    info = _delete_info(req)
    volume_id = info["volume_id"]
    _server(req, volume_id, "do_volume_snapshot_delete",
            merge=info.get("merge_target_file") is not None)
    req.cloud.volumes.snapshots.assisted("delete", volume_id, req.params["snapshot_id"])
    return Reply(204)
