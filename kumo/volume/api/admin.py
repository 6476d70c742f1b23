"""Quotas, limits, availability zones, services, capabilities and pools (Block Storage
API v3 "Quota sets extension (os-quota-sets)", "Limits (limits)", "Availability zones
(os-availability-zone)", "Services (os-services)", "Capabilities for storage back
ends (capabilities)", "Back-end storage pools")."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.timeutils import isotime
from kumo.volume import schemas
from kumo.volume.api import at_least, service
from kumo.volume.api.volumes import target
from kumo.volume.errors import InvalidInput, NotFoundError
from kumo.volume.quotas import NON_QUOTA_KEYS
from kumo.volume.scheduling import capabilities as capabilities_of


def _quota_project(req: Request) -> str:
    project = req.params["project_id"]
    if project != req.context.project_id:
        req.context.enforce("volume_extension:quotas:update", target(req, project))
    return project


def _limits(body: dict, skip: tuple = ()) -> dict[str, int]:
    """The body's limits as integers, -1..2^31-1 (Cinder's ``validate_integer``);
    keys are checked against the resources by the manager."""
    values = {}
    for key, value in body.items():
        if key in skip:
            continue
        value = int(value)
        if value < -1 or value > schemas.MAX_INT:
            raise InvalidInput(f"Invalid input received: Quota limit {value} for {key} "
                               "must be -1 or between 0 and 2147483647.")
        values[key] = value
    return values


@service.route("GET", "/v3/os-quota-sets/{project_id}")
def show_quotas(req: Request) -> Reply:
    """A project's quota set: the global resources and ``volumes_<type>``,
    ``gigabytes_<type>``, ``snapshots_<type>`` per volume type; with ``usage=true``
    each is ``{"limit", "in_use", "reserved", "allocated"}``."""
    project = _quota_project(req)
    req.context.enforce("volume_extension:quotas:show", target(req, project))
    quotas = req.cloud.volumes.quota.show(project, usage=req.flag("usage"))
    return Reply(200, {"quota_set": {"id": project, **quotas}})


@service.route("GET", "/v3/os-quota-sets/{project_id}/defaults")
def show_defaults(req: Request) -> Reply:
    req.context.enforce("volume_extension:quotas:show", target(req))
    return Reply(200, {"quota_set": {"id": req.params["project_id"],
                                     **req.cloud.volumes.quota.show_class("default")}})


@service.route("PUT", "/v3/os-quota-sets/{project_id}")
def update_quotas(req: Request) -> Reply:
    """Set a project's limits; a key that is no resource, a value out of range or a
    limit below the usage is a 400 and nothing changes. Answers the limits (no
    ``id``, as Cinder)."""
    body = req.json(schemas.QUOTA_SET)["quota_set"]
    project = req.params["project_id"]
    req.context.enforce("volume_extension:quotas:update", target(req, project))
    if not body:
        raise InvalidInput("Invalid input received: quota_set must not be empty.")
    values = _limits(body, NON_QUOTA_KEYS)
    return Reply(200, {"quota_set": req.cloud.volumes.quota.set(project, values)})


@service.route("DELETE", "/v3/os-quota-sets/{project_id}")
def delete_quotas(req: Request) -> Reply:
    req.context.enforce("volume_extension:quotas:delete",
                        target(req, req.params["project_id"]))
    req.cloud.volumes.quota.delete(req.params["project_id"])
    return Reply(200)


@service.route("GET", "/v3/os-quota-class-sets/{class_name}")
def show_quota_class(req: Request) -> Reply:
    req.context.enforce("volume_extension:quota_classes", target(req))
    name = req.params["class_name"]
    return Reply(200, {"quota_class_set": {"id": name,
                                           **req.cloud.volumes.quota.show_class(name)}})


@service.route("PUT", "/v3/os-quota-class-sets/{class_name}")
def update_quota_class(req: Request) -> Reply:
    """Set a quota class's limits (the ``default`` class feeds every project's
    defaults); per-type keys as in quota sets."""
    body = req.json(schemas.QUOTA_CLASS_SET)["quota_class_set"]
    req.context.enforce("volume_extension:quota_classes", target(req))
    name = req.params["class_name"]
    if len(name) > 255 or not name.strip():
        raise InvalidInput("Invalid input received: quota class name is too long or "
                           "empty.")
    values = _limits(body)
    return Reply(200, {"quota_class_set": req.cloud.volumes.quota.set_class(name,
                                                                            values)})


@service.route("GET", "/v3/limits")
def limits(req: Request) -> Reply:
    req.context.enforce("limits_extension:used_limits", target(req))
    q = req.cloud.volumes.quota.show(req.context.project_id, usage=True)
    absolute = {
        "maxTotalVolumes": q["volumes"]["limit"],
        "maxTotalSnapshots": q["snapshots"]["limit"],
        "maxTotalVolumeGigabytes": q["gigabytes"]["limit"],
        "maxTotalBackups": q["backups"]["limit"],
        "maxTotalBackupGigabytes": q["backup_gigabytes"]["limit"],
        "totalVolumesUsed": q["volumes"]["in_use"],
        "totalSnapshotsUsed": q["snapshots"]["in_use"],
        "totalGigabytesUsed": q["gigabytes"]["in_use"],
        "totalBackupsUsed": q["backups"]["in_use"],
        "totalBackupGigabytesUsed": q["backup_gigabytes"]["in_use"],
    }
    return Reply(200, {"limits": {"rate": [], "absolute": absolute}})


@service.route("GET", "/v3/os-availability-zone")
def zones(req: Request) -> Reply:
    req.context.enforce("volume_extension:availability_zone_list", target(req))
    return Reply(200, {"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}}]})


@service.route("GET", "/v3/os-services")
def services(req: Request) -> Reply:
    req.context.enforce("volume_extension:services:index", target(req))
    out = []
    for svc in req.cloud.volumes.services():
        if "binary" in req.query and req.query["binary"] != svc["binary"]:
            continue
        # Cinder's host filter: the host itself or its backends (host@backend)
        if "host" in req.query and req.query["host"] != svc["host"] and \
                not svc["host"].startswith(req.query["host"] + "@"):
            continue
        row = {**svc, "updated_at": isotime(svc["updated_at"]), "frozen": False,
               "replication_status": "disabled", "active_backend_id": None}
        if at_least(req, "3.7"):  # clustered services came with 3.7
            row["cluster"] = None
        out.append(row)
    return Reply(200, {"services": out})


SERVICE_SET = {"type": "object", "required": ["host", "binary"],
               "properties": {"host": {"type": "string", "maxLength": 255},
                              "binary": {"type": "string", "maxLength": 255},
                              "disabled_reason": {"type": ["string", "null"],
                                                  "maxLength": 255}}}


@service.route("PUT", "/v3/os-services/{action}")
def update_service(req: Request) -> Reply:
    """``disable``, ``disable-log-reason`` and ``enable`` (others: 404)."""
    action = req.params["action"]
    if action in ("freeze", "thaw"):
        return _freeze_thaw(req, action)
    if action not in ("disable", "disable-log-reason", "enable"):
        raise NotFoundError(f"Unknown action {action}.")
    body = req.json(SERVICE_SET)
    req.context.enforce("volume_extension:services:update", target(req))
    if action == "disable-log-reason" and not (body.get("disabled_reason") or
                                               "").strip():
        raise InvalidInput("Invalid input received: Disabled reason contains invalid "
                           "characters or is too long")
    svc = req.cloud.volumes.set_service(body["host"], body["binary"],
                                        action != "enable", body.get("disabled_reason"))
    out = {"host": svc["host"], "binary": svc["binary"], "service": svc["binary"],
           "status": svc["status"], "disabled": svc["status"] == "disabled"}
    if action == "disable-log-reason":
        out["disabled_reason"] = svc["disabled_reason"]
    return Reply(200, out)


def _freeze_thaw(req: Request, action: str) -> Reply:
    """``freeze``/``thaw`` (Cinder's replication admin actions on a backend): 400 for
    a host that runs no cinder-volume service; Kumo's backends have no replication,
    so there is nothing to freeze, and a known host is a 400 that says so."""
    body = req.json({"type": "object", "required": ["host"],
                     "properties": {"host": {"type": "string", "maxLength": 255}}})
    req.context.enforce("volume_extension:services:update", target(req))
    hosts = {svc["host"] for svc in req.cloud.volumes.services()
             if svc["binary"] == "cinder-volume"}
    if body["host"] not in hosts:
        raise InvalidInput(f"Invalid input received: Host {body['host']} not found.")
    raise InvalidInput(f"Invalid input received: the backend of {body['host']} has no "
                       f"replication to {action}.")


def _pool(req: Request, name: str, detail: bool) -> dict:
    manager = req.cloud.volumes
    pool = {"name": manager.host_of(name)}
    if detail:
        with manager.read() as s:
            used = manager.backend_used_gb(s, name)
        capacity = req.cloud.settings.volume_backend_capacity_gb
        # what the scheduler matches types' extra specs against, and the capacity
        pool["capabilities"] = {
            **capabilities_of(name), "total_capacity_gb": capacity,
            "free_capacity_gb": max(0, capacity - used), "allocated_capacity_gb": used,
            "timestamp": isotime(None)}
    return pool


@service.route("GET", "/v3/scheduler-stats/get_pools")
def pools(req: Request) -> Reply:
    req.context.enforce("scheduler_extension:scheduler_stats:get_pools", target(req))
    return Reply(200, {"pools": [_pool(req, n, req.flag("detail"))
                                 for n in req.cloud.volumes.backends]})


@service.route("GET", "/v3/capabilities/{host}")
def capabilities(req: Request) -> Reply:
    req.context.enforce("volume_extension:capabilities", target(req))
    manager = req.cloud.volumes
    name = req.params["host"].partition("#")[0].partition("@")[2] or req.params["host"]
    if name not in manager.backends:
        raise NotFoundError(f"Service {req.params['host']} could not be found.")
    return Reply(200, {"namespace": f"OS::Storage::Capabilities::{req.params['host']}",
                       "vendor_name": "Kumo", "volume_backend_name": name,
                       "pool_name": name, "driver_version": "1.0",
                       "storage_protocol": "file", "display_name": None,
                       "description": None, "visibility": None,
                       "replication_targets": [], "properties": {
                           "thin_provisioning": {"title": "Thin Provisioning",
                                                 "description": "Sparse files",
                                                 "type": "boolean"}}})


@service.route("GET", "/v3/os-hosts")
def hosts(req: Request) -> Reply:
    """The hosts of the volume services (Cinder's admin-only ``os-hosts``)."""
    req.context.enforce("volume_extension:hosts", target(req))
    return Reply(200, {"hosts": [
        {"service-status": "available" if svc["state"] == "up" else "unavailable",
         "service": svc["binary"], "zone": svc["zone"], "service-state": svc["status"],
         "host_name": svc["host"], "last-update": isotime(svc["updated_at"])}
        for svc in req.cloud.volumes.services()]})


@service.route("GET", "/v3/os-hosts/{host}")
def show_host(req: Request) -> Reply:
    """A cinder-volume host's usage (Cinder's ``os-hosts`` show): a ``(total)``
    resource, then one per project with volumes there; counts and GiB as strings.
    404 for a host that runs no enabled cinder-volume service."""
    req.context.enforce("volume_extension:hosts", target(req))
    host = req.params["host"]
    if not any(svc["host"] == host and svc["binary"] == "cinder-volume"
               and svc["status"] == "enabled" for svc in req.cloud.volumes.services()):
        raise NotFoundError("Host not found")
    usage = req.cloud.volumes.host_usage(host)

    def resource(project, vols, vgb, snaps, sgb):
        return {"resource": {"host": host, "project": project, "volume_count": str(vols),
                             "total_volume_gb": str(vgb), "snapshot_count": str(snaps),
                             "total_snapshot_gb": str(sgb)}}
    total = [sum(u[i] for u in usage.values()) for i in range(4)]
    return Reply(200, {"host": [resource("(total)", *total)] + [
        resource(project, *u) for project, u in sorted(usage.items())]})
