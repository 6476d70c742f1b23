"""Ports (Networking API v2.0: "Ports", "Port binding", "Allowed address pairs",
"Extra DHCP option (extra_dhcp_opt) extension"); subnets, subnet pools and address
scopes are served by :mod:`kumo.network.api.subnets`. The logic is in
:mod:`kumo.network.ports`.
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import register
from kumo.network import definitions
from kumo.network.api import common, service
from kumo.network.api import subnets as _subnet_routes  # noqa: F401
from kumo.network.api.networks import taggable
from kumo.network.api.root import register_extension
from kumo.network.manager import check_if_match

# The service role (the agents: DHCP ports in any project's network, bound to their
# host) may do what Neutron's ``service_api`` rules let it do with ports; it reads every
# port (kumo.common.policy.sees_all). The rules come from the definition.
PORT = definitions.PORT
register(PORT.rules())

for _alias, _name, _desc in [
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
                                "application"),
    ("allowed-address-pairs", "Allowed Address Pairs",
     "Provides allowed address pairs"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options",
     "Extra options configuration for DHCP. For example PXE boot options to DHCP "
     "clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)"),
    ("port-security-groups-filtering", "Port filtering on security groups",
     "Provides security groups filtering when listing ports"),
]:
    register_extension(_alias, _name, _desc)


def render(req: Request, s, rows: list) -> list[dict]:
    return PORT.render(rows, req.cloud.networking.ports.extras(s, rows), req.context)


@service.route("POST", "/v2.0/ports")
def create_port(req: Request) -> Reply:
    entries, bulk = common.items(req, "port", "ports", PORT.create_schema)
    networking = req.cloud.networking
    with networking.write() as s:
        rows, tags = [], {}
        for attrs in entries:
            PORT.prepare(attrs)
            target = common.target_of(req, attrs)
            req.context.enforce("create_port", target)
            if target["project_id"] != req.context.project_id:
                req.context.enforce("create_port:project_id", target)
            network = networking.ports.network_for(s, req.context, attrs["network_id"],
                                                   target["project_id"])
            target["network_owner"] = network.project_id
            PORT.enforce(req.context, "create", attrs, target)
            networking.check_quota(s, target["project_id"], "port", 1)
            row = networking.ports.create(s, req.context, attrs, network)
            if attrs.get("tags"):
                tags[row.id] = networking.add_tags(s, row.id, attrs["tags"])
            rows.append(row)
        rendered = PORT.render(rows, networking.ports.new_extras(s, rows, tags),
                               req.context)
    return common.created(req, "port", "ports", rendered, bulk)


@service.route("GET", "/v2.0/ports")
def list_ports(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        # Core rows, not ORM objects: a list of 10,000 ports loads several times faster.
        rows, links = networking.page(s, PORT.collection_of,
                                      networking.ports.visible(req.context), req.query,
                                      req.url("/v2.0/ports"), core_rows=True)
        rendered = render(req, s, rows)
    return common.listing(req, "ports", rendered, links)


@service.route("GET", "/v2.0/ports/{port_id}")
def show_port(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        row = networking.ports.get(s, req.context, req.params["port_id"])
        item = render(req, s, [row])[0]
    return common.show(req, "port", item)


@service.route("PUT", "/v2.0/ports/{port_id}")
def update_port(req: Request) -> Reply:
    attrs = PORT.prepare(common.one(req, "port", PORT.update_schema))
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.ports.get(s, req.context, req.params["port_id"])
        target = networking.ports.policy_target(s, row)
        req.context.enforce("update_port", target)
        PORT.enforce(req.context, "update", attrs, target)
        check_if_match(row, req.headers.get("if-match"))
        networking.ports.update(s, req.context, row, attrs)
        s.flush()
        item = render(req, s, [row])[0]
    return common.show(req, "port", item)


@service.route("DELETE", "/v2.0/ports/{port_id}")
def delete_port(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.write() as s:
        row = networking.ports.get_row(s, req.context, req.params["port_id"])
        req.context.enforce("delete_port", {
            "project_id": row.project_id,
            "network_owner": row.network_owner or row.project_id})
        check_if_match(row, req.headers.get("if-match"))
        # ports owned by routers and floating IPs are refused (409) by the PORT
        # BEFORE_DELETE subscription (kumo.network.manager)
        networking.ports.delete(s, req.context, row)
    return Reply(204)


taggable("ports", lambda s, ctx, i, net: net.ports.get(s, ctx, i))
