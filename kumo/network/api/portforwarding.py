"""Floating IP port forwardings over HTTP (Networking API v2.0: "Floating IPs port
forwarding": ``/v2.0/floatingips/{floatingip_id}/port_forwardings[/{id}]``; extensions
floatingip-port-forwarding, floating-ip-port-forwarding-description,
floating-ip-port-forwarding-port-ranges, expose-port-forwarding-in-fip).

The floating IP must be visible to the caller (404 FloatingIPNotFound otherwise); the
policy target of every action is the floating IP's project. The logic is
:mod:`kumo.network.portforwarding`.
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import register
from kumo.network.api import common, service
from kumo.network.api.root import register_extension
from kumo.network.definitions_fwd import PORT_FORWARDING as DEF
from kumo.network.manager import check_if_match
from kumo.network.portforwarding import PF

register(DEF.rules())
for _alias, _name, _desc in [
    ("floatingip-port-forwarding", "Floating IP Port Forwarding",
     "Provide a way to configure port forwarding on Floating IP"),
    ("floating-ip-port-forwarding-description", "Floating IP Port Forwarding new "
     "attribute description", "Add a description field to Port Forwarding rules"),
    ("floating-ip-port-forwarding-port-ranges", "Floating IP Port Forwarding support "
     "port ranges", "Add suport to port ranges on Floating IP port forwarding"),
    ("expose-port-forwarding-in-fip", "Expose port forwarding in FIP",
     "Expose port forwarding in floating IP"),
]:
    register_extension(_alias, _name, _desc)

BASE = "/v2.0/floatingips/{floatingip_id}/port_forwardings"


def render(req: Request, session, rows: list) -> list[dict]:
    return DEF.render(rows, {}, req.context)


def _fip(req: Request, session):
    return req.cloud.networking.floatingips.get(session, req.context,
                                                req.params["floatingip_id"])


@service.route("POST", BASE)
def create_port_forwarding(req: Request) -> Reply:
    attrs = DEF.prepare(common.one(req, "port_forwarding", DEF.create_schema))
    networking = req.cloud.networking
    with networking.write() as s:
        fip = _fip(req, s)
        target = {"project_id": fip.project_id}
        req.context.enforce("create_floatingip_port_forwarding", target)
        row = networking.port_forwardings.create(s, req.context, fip, attrs)
        item = render(req, s, [row])[0]
    return Reply(201, {"port_forwarding": item})


@service.route("GET", BASE)
def list_port_forwardings(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        fip = _fip(req, s)
        req.context.enforce("get_floatingip_port_forwarding", {"project_id": fip.project_id})
        rows, links = networking.page(
            s, DEF.collection_of, PF.floatingip_id == fip.id, req.query,
            req.url(f"/v2.0/floatingips/{fip.id}/port_forwardings"))
        rendered = render(req, s, rows)
    return common.listing(req, "port_forwardings", rendered, links)


@service.route("GET", BASE + "/{port_forwarding_id}")
def show_port_forwarding(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.read() as s:
        fip = _fip(req, s)
        req.context.enforce("get_floatingip_port_forwarding", {"project_id": fip.project_id})
        row = networking.port_forwardings.get(s, req.context, fip,
                                              req.params["port_forwarding_id"])
        item = render(req, s, [row])[0]
    return common.show(req, "port_forwarding", item)


@service.route("PUT", BASE + "/{port_forwarding_id}")
def update_port_forwarding(req: Request) -> Reply:
    attrs = DEF.prepare(common.one(req, "port_forwarding", DEF.update_schema))
    networking = req.cloud.networking
    with networking.write() as s:
        fip = _fip(req, s)
        req.context.enforce("update_floatingip_port_forwarding",
                            {"project_id": fip.project_id})
        check_if_match(fip, req.headers.get("if-match"))
        row = networking.port_forwardings.get(s, req.context, fip,
                                              req.params["port_forwarding_id"])
        networking.port_forwardings.update(s, req.context, fip, row, attrs)
        item = render(req, s, [row])[0]
    return common.show(req, "port_forwarding", item)


@service.route("DELETE", BASE + "/{port_forwarding_id}")
def delete_port_forwarding(req: Request) -> Reply:
    networking = req.cloud.networking
    with networking.write() as s:
        fip = _fip(req, s)
        req.context.enforce("delete_floatingip_port_forwarding",
                            {"project_id": fip.project_id})
        row = networking.port_forwardings.get(s, req.context, fip,
                                              req.params["port_forwarding_id"])
        networking.port_forwardings.delete(s, req.context, fip, row)
    return Reply(204)
