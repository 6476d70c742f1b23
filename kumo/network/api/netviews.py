"""Read-only network views (Networking API v2.0): network IP availability, segments
(one per network) and service providers. Logic: :mod:`kumo.network.netviews`.

- ``GET /v2.0/network-ip-availabilities[/{network_id}]`` (admin by default, as
  Neutron's policy; others see an empty list and 404):
  ``{network_id, network_name, project_id, tenant_id, total_ips, used_ips,
  subnet_ip_availability: [{subnet_id, subnet_name, cidr, ip_version, total_ips,
  used_ips}]}``; filters ``network_id``, ``network_name``, ``project_id``,
  ``tenant_id``, ``ip_version`` (only that version's subnets are counted).
- ``GET /v2.0/segments[/{id}]`` (admin): ``{id, network_id, name, description,
  network_type, physical_network, segmentation_id, ...}``; ``POST`` 400 (one segment
  per network), ``PUT`` 400, ``DELETE`` 409.
- ``GET /v2.0/service-providers``: ``{service_type, name, default}``.
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.network import netviews
from kumo.network.api import common, service
from kumo.network.api.root import register_extension
from kumo.network.definitions_misc import ADDRESS_GROUP, IP_AVAILABILITY, SEGMENT

register(SEGMENT.rules() + IP_AVAILABILITY.rules() + ADDRESS_GROUP.rules()
         + [RuleDefault("get_service_provider", "@")])

for _alias, _name, _desc in [
    ("network-ip-availability", "Network IP Availability",
     "Provides IP availability data for each network and subnet."),
    ("segment", "Segment", "Segments extension."),
    ("service-type", "Neutron Service Type Management",
     "API for retrieving service providers for Neutron advanced services"),
    ("address-group", "Address group", "Support address group"),
    ("rbac-security-groups", "Add security_group type to network RBAC",
     "Add security_group type to network RBAC"),
]:
    register_extension(_alias, _name, _desc)


# -- IP availability --------------------------------------------------------------------
def _ip_version(req: Request) -> int | None:
    values = {v for v in req.query.getlist("ip_version") if v in ("4", "6")}
    return int(values.pop()) if len(values) == 1 else None


def _render_availability(req: Request, s, rows: list) -> list[dict]:
    usage = req.cloud.networking.ip_availability.usage(s, [r.id for r in rows],
                                                      _ip_version(req))
    return IP_AVAILABILITY.render(rows, {"usage": usage}, req.context)


common.list_route(IP_AVAILABILITY, "network-ip-availabilities", "ip_availability",
                  _render_availability)


@service.route("GET", "/v2.0/network-ip-availabilities/{network_id}")
def show_network_ip_availability(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.ip_availability.get(s, req.context, req.params["network_id"])
        item = _render_availability(req, s, [row])[0]
    return common.show(req, "network_ip_availability", item)


# -- segments ---------------------------------------------------------------------------
render_segment = common.renderer(SEGMENT)
common.create_route(SEGMENT, "segments", "segments", render_segment)
common.list_route(SEGMENT, "segments", "segments", render_segment)
common.member_routes(SEGMENT, "segments", "segments", render_segment)


# -- service providers ------------------------------------------------------------------
@service.route("GET", "/v2.0/service-providers")
def list_service_providers(req: Request) -> Reply:
    req.context.enforce("get_service_provider", {"project_id": req.context.project_id})
    items = [dict(p) for p in netviews.SERVICE_PROVIDERS]
    for key in ("service_type", "name"):
        wanted = req.query.getlist(key)
        if wanted:
            items = [i for i in items if i[key] in wanted]
    return common.listing(req, "service_providers", items, [])


# -- address groups ---------------------------------------------------------------------
render_address_group = common.renderer(ADDRESS_GROUP)
common.create_route(ADDRESS_GROUP, "address-groups", "address_groups", render_address_group)
common.list_route(ADDRESS_GROUP, "address-groups", "address_groups", render_address_group)
common.member_routes(ADDRESS_GROUP, "address-groups", "address_groups",
                     render_address_group)
ADDRESSES = {"type": "object", "required": ["addresses"], "additionalProperties": False,
             "properties": {"addresses": {"type": "array", "minItems": 1,
                                          "items": {"type": "string"}}}}


def _change_addresses(action: str):
    def handler(req: Request) -> Reply:
        body = req.json(ADDRESSES)
        networking = req.cloud.networking
        with networking.write() as s:
            part = networking.address_groups
            row = part.get(s, req.context, req.params["address_group_id"])
            req.context.enforce(action, {"project_id": row.project_id})
            getattr(part, action)(s, row, body["addresses"])
            s.flush()
            item = render_address_group(req, s, [row])[0]
        return Reply(200, {"address_group": item})
    handler.__name__ = action
    service.route("PUT", f"/v2.0/address-groups/{{address_group_id}}/{action}")(handler)


_change_addresses("add_addresses")
_change_addresses("remove_addresses")
