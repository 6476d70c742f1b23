"""How compute resources look on the wire, per microversion (Compute API reference:
"Servers", "Flavors", "Keypairs", "Server groups", "Hypervisors", "Compute services")."""
from __future__ import annotations

import hashlib

from kumo.common.http import Request
from kumo.common.timeutils import isotime
from kumo.compute.api import at_least
from kumo.compute.feed import instance_name
from kumo.compute.servers import access_ips_of, disk_config_of, image_shown

REBOOT = ("rebooting", "reboot_pending", "reboot_started")
HARD = ("rebooting_hard", "reboot_pending_hard", "reboot_started_hard")
REBUILD = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")
RESIZE = ("resize_prep", "resize_migrating", "resize_migrated", "resize_finish")


def status(vm: str, task: str | None) -> str:
    """Nova's status from vm_state and task_state (nova/api/openstack/common.py)."""
    if vm == "active":
        if task in REBOOT:
            return "REBOOT"
        if task in HARD:
            return "HARD_REBOOT"
        if task in REBUILD:
            return "REBUILD"
        if task in RESIZE:
            return "RESIZE"
        if task == "resize_reverting":
            return "REVERT_RESIZE"
        if task == "migrating":
            return "MIGRATING"
        return "ACTIVE"
    if vm == "stopped":
        if task in RESIZE:
            return "RESIZE"
        if task in REBUILD:
            return "REBUILD"
        return "SHUTOFF"
    if vm == "error" and task in REBUILD:
        return "REBUILD"
    if vm == "paused" and task == "migrating":
        return "MIGRATING"
    if vm == "resized" and task == "resize_reverting":
        return "REVERT_RESIZE"
    return {"building": "BUILD", "paused": "PAUSED", "suspended": "SUSPENDED",
            "resized": "VERIFY_RESIZE", "error": "ERROR", "deleted": "DELETED",
            "soft-deleted": "SOFT_DELETED", "rescued": "RESCUE", "shelved": "SHELVED",
            "shelved_offloaded": "SHELVED_OFFLOADED"}.get(vm, "UNKNOWN")


#: status filter value -> (vm_state, task_states or None for any)
STATUS_FILTER = {
    "ACTIVE": ("active", (None,)), "BUILD": ("building", None), "SHUTOFF": ("stopped", None),
    "PAUSED": ("paused", None), "ERROR": ("error", None), "DELETED": ("deleted", None),
    "VERIFY_RESIZE": ("resized", None), "SUSPENDED": ("suspended", None),
    "REBOOT": ("active", REBOOT), "HARD_REBOOT": ("active", HARD),
    "REBUILD": ("active", REBUILD), "RESIZE": ("active", RESIZE),
    "REVERT_RESIZE": ("resized", ("resize_reverting",)),
}


def links(req: Request, kind: str, id_: str) -> list[dict]:
    return [{"rel": "self", "href": req.url(f"/v2.1/{kind}/{id_}")},
            {"rel": "bookmark", "href": req.url(f"/{kind}/{id_}")}]


def host_id(project_id: str, host: str | None) -> str:
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def flavor_of(req: Request, flavor: dict) -> dict:
    if at_least(req, "2.47"):
        out = {"vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
               "ephemeral": flavor.get("ephemeral", 0), "swap": flavor.get("swap", 0),
               "original_name": flavor.get("name")}
        if req.context.can("os_compute_api:os-flavor-extra-specs:index"):
            out["extra_specs"] = dict(flavor.get("extra_specs") or {})
        return out
    return {"id": flavor.get("id"), "links": [
        {"rel": "bookmark", "href": req.url(f"/flavors/{flavor.get('id')}")}]}


def _volumes_attached(req: Request, server_id: str) -> list[dict]:
    from kumo.compute.api.volumes import volumes_attached
    if getattr(req, "cloud", None) is None or getattr(req.cloud, "volumes", None) is None:
        return []
    return volumes_attached(req, server_id)


def server(req: Request, row, addresses: dict, host_up: dict | None = None) -> dict:
    """One server as show/detail render it (admin attributes by policy)."""
    ctx = req.context
    st = status(row.vm_state, row.task_state)
    body = {
        "id": row.id, "name": row.display_name, "status": st,
        "tenant_id": row.project_id, "user_id": row.user_id,
        "metadata": dict(row.meta or {}), "hostId": host_id(row.project_id, row.host),
        "image": ({"id": image_shown(row), "links": [
            {"rel": "bookmark", "href": req.url(f"/images/{row.image_id}")}]}
            if image_shown(row) else ""),
        "flavor": flavor_of(req, row.flavor or {}),
        "created": isotime(row.created_at, subsecond=False),
        "updated": isotime(row.updated_at, subsecond=False),
        "addresses": addresses, **access_ips_of(row),
        "links": links(req, "servers", row.id), "OS-DCF:diskConfig": disk_config_of(row),
        "OS-EXT-AZ:availability_zone": row.availability_zone or "",
        "config_drive": row.config_drive or "", "key_name": row.key_name,
        "OS-SRV-USG:launched_at": isotime(row.launched_at).rstrip("Z")
        if row.launched_at else None,
        "OS-SRV-USG:terminated_at": isotime(row.terminated_at).rstrip("Z")
        if row.terminated_at else None,
        "security_groups": [{"name": n} for n in (row.security_groups or [])]
        if row.ports else [],
        "OS-EXT-STS:task_state": row.task_state, "OS-EXT-STS:vm_state": row.vm_state,
        "OS-EXT-STS:power_state": row.power_state,
        "os-extended-volumes:volumes_attached": _volumes_attached(req, row.id),
    }
    if not body["security_groups"]:  # Nova: no ports or no groups, no key
        del body["security_groups"]
    if st in ("BUILD", "ACTIVE"):
        body["progress"] = 0 if st == "BUILD" else 100
    if row.fault and st in ("ERROR", "DELETED"):
        fault = {"code": row.fault.get("code", 500), "created": row.fault.get("created"),
                 "message": row.fault.get("message")}
        if ctx.is_admin:
            fault["details"] = row.fault.get("details", "")
        body["fault"] = fault
    if ctx.can("os_compute_api:os-extended-server-attributes",
               {"project_id": row.project_id}):
        body.update({"OS-EXT-SRV-ATTR:host": row.host,
                     "OS-EXT-SRV-ATTR:instance_name": instance_name(row.seq),
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": row.node})
        if at_least(req, "2.3"):
            body.update({"OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
                         "OS-EXT-SRV-ATTR:launch_index": row.launch_index,
                         "OS-EXT-SRV-ATTR:hostname": row.hostname,
                         "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                         "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                         "OS-EXT-SRV-ATTR:user_data": row.user_data})
    elif at_least(req, "2.90"):
        body["OS-EXT-SRV-ATTR:hostname"] = row.hostname
    if at_least(req, "2.9"):
        body["locked"] = bool(row.locked)
    if at_least(req, "2.73"):
        body["locked_reason"] = row.locked_reason
    if at_least(req, "2.16") and host_up is not None and \
            ctx.can("os_compute_api:servers:show:host_status"):
        body["host_status"] = host_up.get(row.host, "") if row.host else ""
    if at_least(req, "2.19"):
        body["description"] = row.description
    if at_least(req, "2.26"):
        body["tags"] = list(row.tags or [])
    if at_least(req, "2.63"):
        body["trusted_image_certificates"] = None
    if at_least(req, "2.71"):
        body["server_groups"] = [row.server_group_id] if row.server_group_id else []
    if at_least(req, "2.96"):
        body["pinned_availability_zone"] = row.requested_az
    return body


def basic_addresses(addresses: dict) -> dict:
    """Addresses without the ``OS-EXT-IPS`` extensions (``{"version", "addr"}``), as
    Nova's ``ips`` API and the pre-2.75 update/rebuild replies show them."""
    return {label: [{"version": a["version"], "addr": a["addr"]} for a in entries]
            for label, entries in addresses.items()}


#: Keys the show view adds beyond Nova's base view (the pre-2.75 update and rebuild
#: replies are the base view: ``ViewBuilder.show`` with every ``show_*`` False).
_EXTENDED = ("OS-EXT-AZ:availability_zone", "config_drive", "key_name",
             "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at", "security_groups",
             "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
             "os-extended-volumes:volumes_attached", "host_status", "server_groups")


def base_view(req: Request, body: dict) -> dict:
    """The reply of ``PUT /servers/{id}`` and rebuild: before 2.75 Nova's base view
    (no extended attributes, basic addresses), from 2.75 the whole show view."""
    if at_least(req, "2.75"):
        return body
    out = {k: v for k, v in body.items()
           if k not in _EXTENDED and not k.startswith("OS-EXT-SRV-ATTR:")}
    out["addresses"] = basic_addresses(body.get("addresses") or {})
    return out


def flavor(req: Request, row, brief: bool = False) -> dict:
    """A flavor as its definition renders it (:data:`kumo.compute.definitions.FLAVOR`)
    for this request's microversion and policy; ``brief``: as ``GET /flavors`` lists."""
    from kumo.compute.definitions import FLAVOR, FLAVOR_BRIEF

    extras = {"at_least": lambda v: at_least(req, v), "can": req.context.can,
              "links": lambda i: links(req, "flavors", i)}
    return FLAVOR.render([row], extras, req.context,
                         only=FLAVOR_BRIEF if brief else None)[0]


def server_group(req: Request, row) -> dict:
    body = {"id": row.id, "name": row.name, "members": list(row.members or [])}
    if at_least(req, "2.64"):
        body.update({"policy": row.policy, "rules": dict(row.rules or {})})
    else:
        body.update({"policies": [row.policy], "metadata": {}})
    if at_least(req, "2.13"):
        body.update({"project_id": row.project_id, "user_id": row.user_id})
    return body
