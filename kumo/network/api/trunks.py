"""Trunks over HTTP (Networking API v2.0 "Trunk networking"; extensions ``trunk``,
``trunk-details``): ``/v2.0/trunks[/{trunk_id}]`` (create single and bulk, list,
show, update, delete, tags), ``PUT /v2.0/trunks/{trunk_id}/add_subports`` and
``remove_subports`` (body ``{"sub_ports": [...]}``, answered with the trunk's body
unwrapped, as Neutron), ``GET /v2.0/trunks/{trunk_id}/get_subports``
(``{"sub_ports": [...]}``). The logic and the errors are :mod:`kumo.network.trunks`.
"""
from __future__ import annotations

from kumo.common.collection import select_fields
from kumo.common.http import Reply, Request
from kumo.common.policy import register
from kumo.network.api import common, service
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.definitions_taas import SUB_PORT, TRUNK

register(TRUNK.rules())
register_extension("trunk", "Trunk Extension", "Provides support for trunk ports")
register_extension("trunk-details", "Trunk port details",
                   "Expose trunk port details")


def _extras(networking, session, rows):
    return networking.trunks.extras(session, rows)


render = common.renderer(TRUNK, _extras)
common.create_route(TRUNK, "trunks", "trunks", render, quota=None)
common.list_route(TRUNK, "trunks", "trunks", render)
common.member_routes(TRUNK, "trunks", "trunks", render)
taggable("trunks", lambda s, ctx, i, net: net.trunks.get(s, ctx, i))

SUB_PORTS = {"type": "object", "required": ["sub_ports"],
             "properties": {"sub_ports": {"type": "array", "items": SUB_PORT}}}


def _change(action: str):
    def handler(req: Request) -> Reply:
        body = req.json(SUB_PORTS)
        networking = req.cloud.networking
        with networking.write() as s:
            row = networking.trunks.get(s, req.context, req.params["trunk_id"])
            req.context.enforce(action, {"project_id": row.project_id})
            getattr(networking.trunks, action)(s, req.context, row, body["sub_ports"])
            s.flush()
            item = render(req, s, [row])[0]
        return Reply(200, select_fields(item, req.query))
    handler.__name__ = action
    service.route("PUT", f"/v2.0/trunks/{{trunk_id}}/{action}")(handler)


_change("add_subports")
_change("remove_subports")


@service.route("GET", "/v2.0/trunks/{trunk_id}/get_subports")
def get_subports(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.trunks.get(s, req.context, req.params["trunk_id"])
        req.context.enforce("get_subports", {"project_id": row.project_id})
        subs = networking.trunks.subports_of(s, [row.id])[row.id]
    return Reply(200, {"sub_ports": subs})
