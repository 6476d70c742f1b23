"""Per-server sub-resources: metadata ("Server metadata (servers, metadata)"), tags
("Server tags (servers, tags)", 2.26+), port interfaces ("Port interfaces (servers,
os-interface)"), addresses ("Servers IPs (servers, ips)") and instance actions
("Servers actions (servers, os-instance-actions)")."""
from __future__ import annotations

from urllib.parse import quote

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import utcnow
from kumo.compute import schemas
from kumo.compute.api import at_least, render, service
from kumo.compute.api.servers import get_row

P = "os_compute_api:"


def _mutate(req: Request, rule: str, apply):
    """Run ``apply(row)`` on the server in a write (locked servers refuse non-admins);
    the server is changed for the agents' feed too."""
    compute = req.cloud.compute
    row = get_row(req)
    req.context.enforce(P + rule, {"project_id": row.project_id})
    with compute.write() as s:
        row = compute.servers.get(s, req.context, row.id)
        compute.servers.check_unlocked(req.context, row)
        result = apply(s, row)
        row.updated_at = utcnow()
        compute.changed(s, row)
        return result


# -- metadata ----------------------------------------------------------------------------
@service.route("GET", "/v2.1/servers/{server_id}/metadata")
def list_metadata(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "server-metadata:index", {"project_id": row.project_id})
    return Reply(200, {"metadata": dict(row.meta or {})})


def _set_meta(req: Request, rule: str, new, replace: bool):
    def apply(s, row):
        if row.vm_state not in ("active", "paused", "suspended", "stopped", "shelved",
                                "shelved_offloaded", "building", "resized") \
                and row.vm_state != "error":
            raise exc.Conflict(f"Cannot update metadata of instance {row.id} in "
                               f"vm_state {row.vm_state}")
        meta = dict(new) if replace else {**(row.meta or {}), **new}
        req.cloud.compute.quotas.check_metadata(s, row.project_id, meta)
        row.meta = meta
        return meta
    return _mutate(req, rule, apply)


@service.route("POST", "/v2.1/servers/{server_id}/metadata")
def update_metadata(req: Request) -> Reply:
    new = req.json(schemas.METADATA_BODY)["metadata"]
    return Reply(200, {"metadata": _set_meta(req, "server-metadata:update", new, False)})


@service.route("PUT", "/v2.1/servers/{server_id}/metadata")
def replace_metadata(req: Request) -> Reply:
    new = req.json(schemas.METADATA_BODY)["metadata"]
    return Reply(200, {"metadata": _set_meta(req, "server-metadata:update_all", new,
                                             True)})


@service.route("GET", "/v2.1/servers/{server_id}/metadata/{key}")
def show_metadata(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "server-metadata:show", {"project_id": row.project_id})
    key = req.params["key"]
    if key not in (row.meta or {}):
        raise exc.NotFound("Metadata item was not found")
    return Reply(200, {"meta": {key: row.meta[key]}})


@service.route("PUT", "/v2.1/servers/{server_id}/metadata/{key}")
def set_metadata_item(req: Request) -> Reply:
    meta = req.json(schemas.META_ONE)["meta"]
    if list(meta) != [req.params["key"]]:
        raise exc.BadRequest("Request body and URI mismatch")
    _set_meta(req, "server-metadata:create", meta, False)
    return Reply(200, {"meta": meta})


@service.route("DELETE", "/v2.1/servers/{server_id}/metadata/{key}")
def delete_metadata_item(req: Request) -> Reply:
    key = req.params["key"]

    def apply(s, row):
        if key not in (row.meta or {}):
            raise exc.NotFound("Metadata item was not found")
        row.meta = {k: v for k, v in row.meta.items() if k != key}
    _mutate(req, "server-metadata:delete", apply)
    return Reply(204)


# -- tags ------------------------------------------------------------------------------------
def _tags_version(req: Request) -> None:
    if not at_least(req, "2.26"):
        raise exc.NotFound("The resource could not be found.")


@service.route("GET", "/v2.1/servers/{server_id}/tags")
def list_tags(req: Request) -> Reply:
    _tags_version(req)
    row = get_row(req)
    req.context.enforce(P + "os-server-tags:index", {"project_id": row.project_id})
    return Reply(200, {"tags": list(row.tags or [])})


@service.route("PUT", "/v2.1/servers/{server_id}/tags")
def replace_tags(req: Request) -> Reply:
    _tags_version(req)
    tags = list(dict.fromkeys(req.json(schemas.TAGS_BODY)["tags"]))

    def apply(s, row):
        row.tags = tags
    _mutate(req, "os-server-tags:update_all", apply)
    return Reply(200, {"tags": tags})


@service.route("DELETE", "/v2.1/servers/{server_id}/tags")
def delete_tags(req: Request) -> Reply:
    _tags_version(req)

    def apply(s, row):
        row.tags = []
    _mutate(req, "os-server-tags:delete_all", apply)
    return Reply(204)


@service.route("GET", "/v2.1/servers/{server_id}/tags/{tag}")
def check_tag(req: Request) -> Reply:
    _tags_version(req)
    row = get_row(req)
    req.context.enforce(P + "os-server-tags:show", {"project_id": row.project_id})
    if req.params["tag"] not in (row.tags or []):
        raise exc.NotFound(f"Tag {req.params['tag']} could not be found.")
    return Reply(204)


@service.route("PUT", "/v2.1/servers/{server_id}/tags/{tag}")
def add_tag(req: Request) -> Reply:
    _tags_version(req)
    tag = req.params["tag"]
    if len(tag) > 60 or "," in tag or "/" in tag:
        raise exc.BadRequest(f"Invalid tag {tag}")

    def apply(s, row):
        if tag in (row.tags or []):
            return False
        if len(row.tags or []) >= 50:
            raise exc.BadRequest("The number of tags exceeded the per-server limit 50")
        row.tags = list(row.tags or []) + [tag]
        return True
    added = _mutate(req, "os-server-tags:update", apply)
    return Reply(201 if added else 204, None, {
        "Location": req.url(f"/v2.1/servers/{req.params['server_id']}/tags/"
                            f"{quote(tag, safe='')}")})


@service.route("DELETE", "/v2.1/servers/{server_id}/tags/{tag}")
def delete_tag(req: Request) -> Reply:
    _tags_version(req)
    tag = req.params["tag"]

    def apply(s, row):
        if tag not in (row.tags or []):
            raise exc.NotFound(f"Tag {tag} could not be found.")
        row.tags = [t for t in row.tags if t != tag]
    _mutate(req, "os-server-tags:delete", apply)
    return Reply(204)


# -- addresses -------------------------------------------------------------------------------
@service.route("GET", "/v2.1/servers/{server_id}/ips")
def ips(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "servers:show", {"project_id": row.project_id})
    with req.cloud.compute.read() as s:
        addresses = req.cloud.compute.servers.addresses(s, [row])[row.id]
    return Reply(200, {"addresses": render.basic_addresses(addresses)})


@service.route("GET", "/v2.1/servers/{server_id}/ips/{network_label}")
def ips_of_network(req: Request) -> Reply:
    """``{label: [{"version", "addr"}]}``; 404 "Instance is not a member of specified
    network" (Compute API "Show IP Details")."""
    row = get_row(req)
    req.context.enforce(P + "servers:show", {"project_id": row.project_id})
    label = req.params["network_label"]
    with req.cloud.compute.read() as s:
        addresses = req.cloud.compute.servers.addresses(s, [row])[row.id]
    if label not in addresses:
        raise exc.NotFound("Instance is not a member of specified network")
    return Reply(200, render.basic_addresses({label: addresses[label]}))


# -- interfaces ------------------------------------------------------------------------------
def _attachment(req: Request, port: dict) -> dict:
    return {"port_id": port["id"], "net_id": port["network_id"],
            "mac_addr": port["mac_address"], "port_state": port.get("status", "DOWN"),
            "fixed_ips": [{"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}
                          for ip in port["fixed_ips"]]} | (
        {"tag": None} if at_least(req, "2.70") else {})


def _ports(req: Request, row) -> list[dict]:
    ids = [p["port_id"] for p in row.ports]
    with req.cloud.compute.read() as s:
        facts = req.cloud.compute.servers.port_facts(s, ids)
    return [facts[i] for i in ids if i in facts]


@service.route("GET", "/v2.1/servers/{server_id}/os-interface")
def list_interfaces(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "os-attach-interfaces:list", {"project_id": row.project_id})
    return Reply(200, {"interfaceAttachments": [_attachment(req, p)
                                                for p in _ports(req, row)]})


@service.route("GET", "/v2.1/servers/{server_id}/os-interface/{port_id}")
def show_interface(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "os-attach-interfaces:show", {"project_id": row.project_id})
    for p in _ports(req, row):
        if p["id"] == req.params["port_id"]:
            return Reply(200, {"interfaceAttachment": _attachment(req, p)})
    raise exc.NotFound(f"Port {req.params['port_id']} is not attached")


@service.route("POST", "/v2.1/servers/{server_id}/os-interface")
def attach_interface(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "os-attach-interfaces:create", {"project_id": row.project_id})
    body = req.json(schemas.INTERFACE_CREATE)["interfaceAttachment"]
    if body.get("port_id") and (body.get("net_id") or body.get("fixed_ips")):
        raise exc.BadRequest("Must not input both network_id and port_id")
    made = req.cloud.compute.servers.attach_interface(req.context, row.id, body)
    fresh = get_row(req)
    for p in _ports(req, fresh):
        if p["id"] == made["port_id"]:
            return Reply(200, {"interfaceAttachment": _attachment(req, p)})
    raise exc.KumoError()


@service.route("DELETE", "/v2.1/servers/{server_id}/os-interface/{port_id}")
def detach_interface(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "os-attach-interfaces:delete", {"project_id": row.project_id})
    req.cloud.compute.servers.detach_interface(req.context, row.id, req.params["port_id"])
    return Reply(202)


# -- instance actions ------------------------------------------------------------------------
def _action(req: Request, a, events: bool) -> dict:
    body = {"action": a.action, "instance_uuid": a.instance_id, "message": a.message,
            "project_id": a.project_id, "request_id": a.request_id,
            "start_time": a.start_time.isoformat(), "user_id": a.user_id}
    if at_least(req, "2.58"):
        body["updated_at"] = a.updated_at.isoformat()
    if events and req.context.can(P + "os-instance-actions:events"):
        out = []
        for e in a.events or []:
            item = {"event": e["event"], "start_time": e["start_time"],
                    "finish_time": e["finish_time"], "result": e["result"]}
            if at_least(req, "2.62"):
                item["host"] = e.get("host") or ""
                item["hostId"] = ""
            if req.context.can(P + "os-instance-actions:events:details"):
                item["traceback"] = e.get("traceback")
                if at_least(req, "2.84"):
                    item["details"] = e.get("traceback")
            out.append(item)
        body["events"] = out
    return body


@service.route("GET", "/v2.1/servers/{server_id}/os-instance-actions")
def list_actions(req: Request) -> Reply:
    rows = req.cloud.compute.actions.list(req.context, req.params["server_id"])
    req.context.enforce(P + "os-instance-actions:list",
                        {"project_id": rows[0].project_id if rows else
                         req.context.project_id})
    return Reply(200, {"instanceActions": [_action(req, a, False) for a in rows]})


@service.route("GET", "/v2.1/servers/{server_id}/os-instance-actions/{request_id}")
def show_action(req: Request) -> Reply:
    a = req.cloud.compute.actions.get(req.context, req.params["server_id"],
                                      req.params["request_id"])
    req.context.enforce(P + "os-instance-actions:show", {"project_id": a.project_id})
    return Reply(200, {"instanceAction": _action(req, a, True)})
