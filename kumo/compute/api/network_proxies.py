"""The network proxies of the Compute API, served up to 2.35 (404 "The resource could
not be found." from 2.36, as Nova): ``/os-security-groups`` (+
``/servers/{id}/os-security-groups``), ``/os-security-group-rules``,
``/os-floating-ips``, ``/os-floating-ip-pools``, ``/os-networks`` and
``/os-tenant-networks`` (their nova-network-only writes answer 410 as Nova's).

As Nova calls Neutron with the user's token, each call here is a request to the
Networking service run in process (:func:`neutron`: its router, policy, validation
and transaction, with the caller's token), and Neutron's faults become Nova's
(a 404 ``itemNotFound``, a 409 ``badRequest`` where Nova turns it into one).
"""
from __future__ import annotations

import json
from urllib.parse import urlencode
import uuid

from starlette.datastructures import Headers, QueryParams

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.compute.api import at_least, service
from kumo.compute.api.servers import get_row

P = "os_compute_api:"


class NotFound404(exc.NotFound):
    message = "The resource could not be found."


class Gone(exc.KumoError):
    status = 410
    title = "Gone"
    message = "Gone"


class Proxied(exc.KumoError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def in_process(req: Request, api, version: str, method: str, path: str, body=None,
               query: dict | None = None) -> tuple[int, dict | None]:
    """Run ``method <version><path>`` on another service's API (``api``: its
    ``service``) in process, with the caller's token, as Nova calls Neutron and
    Cinder with the user's token: that service's router, policy, validation and
    transaction. ``(status, parsed body or None)``."""
    headers = [(b"x-auth-token", (req.headers.get("x-auth-token") or "").encode()),
               (b"content-type", b"application/json")]
    data = json.dumps(body).encode() if body is not None else b""
    sub = Request(method, version + path, QueryParams(urlencode(query or {}, doseq=True)),
                  Headers(raw=headers), data,
                  req.url_base.rsplit("/compute", 1)[0] + api.prefix, req.client)
    sub.cloud = req.cloud
    reply = api.dispatch(sub)
    payload = reply.body
    if isinstance(payload, bytes):
        payload = json.loads(payload) if payload else None
    return reply.status, payload


def neutron(req: Request, method: str, path: str, body=None, query: dict | None = None,
            conflict: int = 409) -> dict:
    """Run ``method /v2.0<path>`` on the Networking service (:func:`in_process`); the
    reply's body, or Neutron's fault raised with its message (409 as ``conflict``)."""
    from kumo.network.api import service as network

    status, payload = in_process(req, network, "/v2.0", method, path, body, query)
    if status >= 400:
        fault = (payload or {}).get("NeutronError") or {}
        message = fault.get("message") or "Networking request failed"
        raise Proxied(conflict if status == 409 else status, message)
    return payload or {}


def _gate(req: Request, rule: str, target: dict | None = None) -> None:
    if at_least(req, "2.36"):
        raise NotFound404()
    req.context.enforce(P + rule, target or {"project_id": req.context.project_id})


# -- security groups ---------------------------------------------------------------------
def _rule(r: dict, groups: dict) -> dict:
    proto = r.get("protocol")
    lo, hi = r.get("port_range_min"), r.get("port_range_max")
    if proto == "icmp":
        lo = -1 if lo is None else lo
        hi = -1 if hi is None else hi
    out = {"id": r["id"], "parent_group_id": r["security_group_id"], "ip_protocol": proto,
           "from_port": lo, "to_port": hi, "group": {}, "ip_range": {}}
    if r.get("remote_group_id"):
        g = groups.get(r["remote_group_id"], {})
        out["group"] = {"name": g.get("name"), "tenant_id": g.get("project_id")}
    else:
        out["ip_range"] = {"cidr": r.get("remote_ip_prefix") or (
            "::/0" if r.get("ethertype") == "IPv6" else "0.0.0.0/0")}
    return out


def _group(g: dict, groups: dict) -> dict:
    return {"id": g["id"], "name": g["name"], "description": g.get("description", ""),
            "tenant_id": g.get("project_id") or g.get("tenant_id"),
            "rules": [_rule(r, groups) for r in g.get("security_group_rules", [])
                      if r.get("direction") == "ingress"]}


def _all_groups(req: Request, query: dict | None = None) -> list[dict]:
    return neutron(req, "GET", "/security-groups", query=query)["security_groups"]


def _render_groups(req: Request, rows: list[dict]) -> list[dict]:
    by_id = {g["id"]: g for g in rows}
    remote = {r["remote_group_id"] for g in rows
              for r in g.get("security_group_rules", []) if r.get("remote_group_id")}
    missing = remote - set(by_id)
    if missing:
        for g in _all_groups(req, {"id": sorted(missing)}):
            by_id[g["id"]] = g
    return [_group(g, by_id) for g in rows]


def _get_group(req: Request, gid: str) -> dict:
    """A security group by id (Nova's ``validate_id`` first: a non-UUID is a 400)."""
    try:
        uuid.UUID(str(gid))
    except ValueError:
        raise exc.BadRequest("Security group id should be uuid") from None
    try:
        return neutron(req, "GET", f"/security-groups/{gid}")["security_group"]
    except Proxied as e:
        if e.status == 404:
            raise exc.NotFound(f"Security group {gid} not found.") from None
        raise


_SG_BODY = {"type": "object", "properties": {"security_group": {
    "type": "object", "properties": {"name": {"type": "string", "maxLength": 255},
                                     "description": {"type": "string", "maxLength": 255}},
    "required": ["name", "description"], "additionalProperties": False}},
    "required": ["security_group"], "additionalProperties": False}


def _check_sg(body: dict) -> dict:
    sg = body["security_group"]
    for key in ("name", "description"):
        if not sg[key].strip():
            raise exc.BadRequest(f"Security group {key} cannot be empty.")
    return sg


@service.route("GET", "/v2.1/os-security-groups")
def list_groups(req: Request) -> Reply:
    _gate(req, "os-security-groups:get")
    query = {}
    all_tenants = req.query.get("all_tenants")
    if not (all_tenants not in (None, "0", "false", "False") and req.context.is_admin):
        query["project_id"] = req.context.project_id
    rows = _all_groups(req, query)
    for key in ("limit", "offset"):
        if req.query.get(key) is not None and not str(req.query[key]).isdigit():
            raise exc.BadRequest(f"Invalid input for query parameters {key}.")
    start = int(req.query.get("offset") or 0)
    rows = rows[start:]
    if req.query.get("limit") is not None:
        rows = rows[:int(req.query["limit"])]
    return Reply(200, {"security_groups": _render_groups(req, rows)})


@service.route("POST", "/v2.1/os-security-groups")
def create_group(req: Request) -> Reply:
    _gate(req, "os-security-groups:create")
    sg = _check_sg(req.json(_SG_BODY))
    made = neutron(req, "POST", "/security-groups", {"security_group": sg},
                   conflict=400)["security_group"]
    return Reply(200, {"security_group": _render_groups(req, [made])[0]})


@service.route("GET", "/v2.1/os-security-groups/{group_id}")
def show_group(req: Request) -> Reply:
    _gate(req, "os-security-groups:show")
    g = _get_group(req, req.params["group_id"])
    return Reply(200, {"security_group": _render_groups(req, [g])[0]})


@service.route("PUT", "/v2.1/os-security-groups/{group_id}")
def update_group(req: Request) -> Reply:
    _gate(req, "os-security-groups:update")
    sg = _check_sg(req.json(_SG_BODY))
    gid = _get_group(req, req.params["group_id"])["id"]
    made = neutron(req, "PUT", f"/security-groups/{gid}", {"security_group": sg},
                   conflict=400)["security_group"]
    return Reply(200, {"security_group": _render_groups(req, [made])[0]})


@service.route("DELETE", "/v2.1/os-security-groups/{group_id}")
def delete_group(req: Request) -> Reply:
    _gate(req, "os-security-groups:delete")
    gid = _get_group(req, req.params["group_id"])["id"]
    neutron(req, "DELETE", f"/security-groups/{gid}", conflict=400)
    return Reply(202)


@service.route("GET", "/v2.1/servers/{server_id}/os-security-groups")
def server_groups(req: Request) -> Reply:
    if at_least(req, "2.36"):
        raise NotFound404()
    row = get_row(req)
    req.context.enforce(P + "os-security-groups:list", {"project_id": row.project_id})
    ids: list[str] = []
    for p in row.ports:
        try:
            port = neutron(req, "GET", f"/ports/{p['port_id']}")["port"]
        except Proxied:
            continue
        ids += [i for i in port.get("security_groups", []) if i not in ids]
    rows = _all_groups(req, {"id": ids}) if ids else []
    return Reply(200, {"security_groups": _render_groups(req, rows)})


_RULE_BODY = {"type": "object", "properties": {"security_group_rule": {
    "type": "object", "properties": {
        "parent_group_id": {"type": "string"}, "group_id": {"type": ["string", "null"]},
        "ip_protocol": {"type": ["string", "null"]},
        "from_port": {"type": ["integer", "string", "null"]},
        "to_port": {"type": ["integer", "string", "null"]},
        "cidr": {"type": ["string", "null"]}},
    "required": ["parent_group_id"], "additionalProperties": False}},
    "required": ["security_group_rule"], "additionalProperties": False}


def _port(value, name: str):
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise exc.BadRequest(f"Invalid input for field/attribute {name}.") from None


@service.route("POST", "/v2.1/os-security-group-rules")
def create_rule(req: Request) -> Reply:
    _gate(req, "os-security-groups:rule:create")
    r = req.json(_RULE_BODY)["security_group_rule"]
    parent = _get_group(req, r["parent_group_id"])
    proto = (r.get("ip_protocol") or "").lower() or None
    lo, hi = _port(r.get("from_port"), "from_port"), _port(r.get("to_port"), "to_port")
    if proto not in (None, "tcp", "udp", "icmp"):
        raise exc.BadRequest(f"Invalid IP protocol {r.get('ip_protocol')}.")
    if proto in ("tcp", "udp"):
        if lo is None or hi is None or not 1 <= lo <= hi <= 65535:
            raise exc.BadRequest(f"Invalid port range {lo}:{hi}. Valid {proto.upper()} "
                                 "ports should be between 1-65535")
    elif proto == "icmp":
        if lo is None or hi is None or not (-1 <= lo <= 255 and -1 <= hi <= 255):
            raise exc.BadRequest(f"Invalid port range {lo}:{hi}. For ICMP, the type:code "
                                 "must be valid")
        lo = None if lo == -1 else lo
        hi = None if hi == -1 else hi
    elif lo is not None or hi is not None:
        raise exc.BadRequest("Invalid IP protocol None.")
    if r.get("group_id") and r.get("cidr"):
        raise exc.BadRequest("Invalid input for field/attribute cidr.")
    attrs = {"security_group_id": parent["id"], "direction": "ingress",
             "ethertype": "IPv6" if ":" in (r.get("cidr") or "") else "IPv4",
             "protocol": proto, "port_range_min": lo, "port_range_max": hi}
    if r.get("group_id"):
        attrs["remote_group_id"] = _get_group(req, r["group_id"])["id"]
    else:
        attrs["remote_ip_prefix"] = r.get("cidr") or "0.0.0.0/0"
    try:
        made = neutron(req, "POST", "/security-group-rules",
                       {"security_group_rule": attrs})["security_group_rule"]
    except Proxied as e:
        if e.status == 409:
            raise exc.BadRequest(f"This rule already exists in group {parent['id']}") \
                from None
        raise
    groups = {parent["id"]: parent}
    if made.get("remote_group_id"):
        groups[made["remote_group_id"]] = _get_group(req, made["remote_group_id"])
    return Reply(200, {"security_group_rule": _rule(made, groups)})


@service.route("DELETE", "/v2.1/os-security-group-rules/{rule_id}")
def delete_rule(req: Request) -> Reply:
    _gate(req, "os-security-groups:rule:delete")
    rid = req.params["rule_id"]
    try:
        neutron(req, "DELETE", f"/security-group-rules/{rid}", conflict=400)
    except Proxied as e:
        if e.status == 404:
            raise exc.NotFound(f"Security group rule {rid} could not be found.") from None
        raise
    return Reply(202)


# -- floating IPs ------------------------------------------------------------------------
def _fip(req: Request, f: dict, nets: dict, ports: dict) -> dict:
    port = ports.get(f.get("port_id")) or {}
    return {"id": f["id"], "ip": f["floating_ip_address"],
            "fixed_ip": f.get("fixed_ip_address"),
            "instance_id": port.get("device_id") or None,
            "pool": nets.get(f["floating_network_id"], f["floating_network_id"])}


def _fip_context(req: Request, rows: list[dict]) -> tuple[dict, dict]:
    nets = {n["id"]: n["name"] for n in neutron(req, "GET", "/networks", query={
        "router:external": "True"})["networks"]}
    port_ids = sorted({f["port_id"] for f in rows if f.get("port_id")})
    ports = {p["id"]: p for p in neutron(req, "GET", "/ports", query={
        "id": port_ids})["ports"]} if port_ids else {}
    return nets, ports


@service.route("GET", "/v2.1/os-floating-ips")
def list_fips(req: Request) -> Reply:
    _gate(req, "os-floating-ips:list")
    rows = neutron(req, "GET", "/floatingips", query={
        "project_id": req.context.project_id})["floatingips"]
    nets, ports = _fip_context(req, rows)
    return Reply(200, {"floating_ips": [_fip(req, f, nets, ports) for f in rows]})


def _get_fip(req: Request, fid: str) -> dict:
    try:
        return neutron(req, "GET", f"/floatingips/{fid}")["floatingip"]
    except Proxied as e:
        if e.status in (400, 404):
            raise exc.NotFound(f"Floating IP not found for ID {fid}") from None
        raise


@service.route("GET", "/v2.1/os-floating-ips/{fip_id}")
def show_fip(req: Request) -> Reply:
    _gate(req, "os-floating-ips:show")
    f = _get_fip(req, req.params["fip_id"])
    nets, ports = _fip_context(req, [f])
    return Reply(200, {"floating_ip": _fip(req, f, nets, ports)})


@service.route("POST", "/v2.1/os-floating-ips")
def create_fip(req: Request) -> Reply:
    _gate(req, "os-floating-ips:create")
    body = req.json() if req.body else None
    validate(body, {"type": ["object", "null"], "properties": {
        "pool": {"type": ["string", "null"]}}})
    pool = (body or {}).get("pool")
    nets = neutron(req, "GET", "/networks", query={"router:external": "True"})["networks"]
    match = [n for n in nets if pool in (n["name"], n["id"])] if pool else nets[:1]
    if not match:
        raise exc.NotFound("Floating IP pool not found." if pool else
                           "No more floating IPs available.")
    try:
        made = neutron(req, "POST", "/floatingips", {"floatingip": {
            "floating_network_id": match[0]["id"]}})["floatingip"]
    except Proxied as e:
        if e.status == 409:
            raise exc.NotFound(f"No more floating IPs in pool {match[0]['name']}.") \
                from None
        if e.status == 403:
            raise exc.Forbidden("Maximum number of floating IPs exceeded") from None
        raise
    return Reply(200, {"floating_ip": _fip(req, made, {match[0]["id"]: match[0]["name"]},
                                           {})})


@service.route("DELETE", "/v2.1/os-floating-ips/{fip_id}")
def delete_fip(req: Request) -> Reply:
    _gate(req, "os-floating-ips:delete")
    f = _get_fip(req, req.params["fip_id"])
    neutron(req, "DELETE", f"/floatingips/{f['id']}")
    return Reply(202)


@service.route("GET", "/v2.1/os-floating-ip-pools")
def pools(req: Request) -> Reply:
    _gate(req, "os-floating-ips:list")
    nets = neutron(req, "GET", "/networks", query={"router:external": "True"})["networks"]
    return Reply(200, {"floating_ip_pools": [{"name": n["name"]} for n in nets]})


# -- networks ----------------------------------------------------------------------------
_NET_FIELDS = ("cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6",
               "gateway_v6", "netmask_v6")
_NET_ADMIN = ("created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge",
              "vlan", "vpn_public_address", "vpn_public_port", "vpn_private_address",
              "dhcp_start", "project_id", "host", "bridge_interface", "multi_host",
              "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp",
              "share_address")


def _network(req: Request, n: dict) -> dict:
    body = {"id": n["id"], "label": n["name"], **{k: None for k in _NET_FIELDS}}
    if req.context.is_admin:
        body.update({k: None for k in _NET_ADMIN})
    return body


def _visible_networks(req: Request) -> list[dict]:
    return neutron(req, "GET", "/networks")["networks"]


def _one_network(req: Request, nid: str) -> dict:
    try:
        return neutron(req, "GET", f"/networks/{nid}")["network"]
    except Proxied as e:
        if e.status == 404:
            raise exc.NotFound(f"Network {nid} could not be found.") from None
        raise


@service.route("GET", "/v2.1/os-networks")
def list_networks(req: Request) -> Reply:
    _gate(req, "os-networks:list")
    return Reply(200, {"networks": [_network(req, n) for n in _visible_networks(req)]})


@service.route("GET", "/v2.1/os-networks/{network_id}")
def show_network(req: Request) -> Reply:
    _gate(req, "os-networks:show")
    return Reply(200, {"network": _network(req, _one_network(req, req.params[
        "network_id"]))})


def _gone(req: Request) -> Reply:
    if at_least(req, "2.36"):
        raise NotFound404()
    raise Gone("Gone")


for _method, _path in (("POST", "/v2.1/os-networks"),
                       ("DELETE", "/v2.1/os-networks/{network_id}"),
                       ("POST", "/v2.1/os-networks/add"),
                       ("POST", "/v2.1/os-networks/{network_id}/action"),
                       ("POST", "/v2.1/os-tenant-networks"),
                       ("DELETE", "/v2.1/os-tenant-networks/{network_id}")):
    service.route(_method, _path)(_gone)


def _tenant_network(n: dict) -> dict:
    return {"id": n["id"], "cidr": "None", "label": n["name"]}


@service.route("GET", "/v2.1/os-tenant-networks")
def list_tenant_networks(req: Request) -> Reply:
    _gate(req, "os-tenant-networks:list")
    return Reply(200, {"networks": [_tenant_network(n) for n in _visible_networks(req)]})


@service.route("GET", "/v2.1/os-tenant-networks/{network_id}")
def show_tenant_network(req: Request) -> Reply:
    _gate(req, "os-tenant-networks:show")
    return Reply(200, {"network": _tenant_network(_one_network(req, req.params[
        "network_id"]))})
