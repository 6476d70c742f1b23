"""Operator views: hypervisors ("Hypervisors (os-hypervisors)"), compute services
("Compute services (os-services)"), availability zones ("Availability zones
(os-availability-zone)"), quotas ("Quota sets (os-quota-sets)"), limits ("Limits
(limits)") and usage ("Usage reports (os-simple-tenant-usage)")."""
from __future__ import annotations

import datetime as dt
import json

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.listing import plain
from kumo.common.timeutils import isotime, parse_isotime, utcnow
from kumo.compute import schemas
from kumo.compute.api import at_least, service
from kumo.compute.api.servers import next_links
from kumo.compute.hosts import uptime_text
from kumo.compute.quotas import LEGACY_2_36, LEGACY_2_57, NETWORK_PROXIES, RESOURCES

P = "os_compute_api:"


# -- hypervisors -------------------------------------------------------------------------
def _hyp_id(req: Request, h):
    return h.node_uuid if at_least(req, "2.53") else h.id


def _hypervisor(req: Request, h, usage: dict, detail: bool) -> dict:
    hosts = req.cloud.compute.hosts
    body = {"id": _hyp_id(req, h), "hypervisor_hostname": h.hypervisor_hostname,
            "state": "up" if hosts.is_up(h) else "down",
            "status": "disabled" if h.disabled else "enabled"}
    if not detail:
        return body
    u = usage.get(h.host, {"vcpus": 0, "ram": 0, "disk": 0, "count": 0})
    body.update({"host_ip": h.host_ip, "hypervisor_type": h.hypervisor_type,
                 "hypervisor_version": 1000,
                 "service": {"host": h.host, "disabled_reason": h.disabled_reason,
                             "id": h.service_uuid if at_least(req, "2.53") else h.id}})
    if at_least(req, "2.88"):
        # Nova's: the host's uptime, null when it cannot tell (down, or its driver
        # reports none)
        body["uptime"] = uptime_text(h) if hosts.is_up(h) else None
        return body
    body.update({"vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.local_gb,
                 "vcpus_used": u["vcpus"], "memory_mb_used": u["ram"],
                 "local_gb_used": u["disk"], "free_ram_mb": h.memory_mb - u["ram"],
                 "free_disk_gb": h.local_gb - u["disk"], "current_workload": 0,
                 "running_vms": u["count"], "disk_available_least": h.local_gb - u["disk"],
                 "cpu_info": {} if at_least(req, "2.28") else json.dumps({})})
    return body


def _servers_on(req: Request, hosts: list[str]) -> dict[str, list[dict]]:
    """``{host: [{"name": instance name, "uuid"}]}`` of live servers."""
    return req.cloud.compute.lists.servers_on(hosts)


def _hypervisors(req: Request, detail: bool) -> Reply:
    req.context.enforce(P + ("os-hypervisors:list-detail" if detail
                             else "os-hypervisors:list"))
    compute = req.cloud.compute
    rows, more = compute.lists.hypervisors(plain(req.query), at_least(req, "2.53"),
                                           at_least(req, "2.33"))
    with compute.read() as s:
        usage = compute.hosts.usage(s)
    body = [_hypervisor(req, h, usage, detail) for h in rows]
    if at_least(req, "2.53") and req.query.get("with_servers", "").lower() in ("true", "1"):
        servers = _servers_on(req, [h.host for h in rows])
        for item, h in zip(body, rows):
            if servers[h.host]:
                item["servers"] = servers[h.host]
    reply = {"hypervisors": body}
    links = next_links(req, rows, more, "os-hypervisors/detail" if detail
                       else "os-hypervisors", marker=lambda h: _hyp_id(req, h))
    if links:
        reply["hypervisors_links"] = links
    return Reply(200, reply)


@service.route("GET", "/v2.1/os-hypervisors/{pattern}/servers")
def hypervisor_servers(req: Request) -> Reply:
    """Before 2.53: hypervisors whose hostname contains ``pattern``, with servers."""
    if at_least(req, "2.53"):
        raise exc.NotFound("The resource could not be found.")
    req.context.enforce(P + "os-hypervisors:servers")
    compute = req.cloud.compute
    with compute.read() as s:
        rows = [h for h in compute.hosts.all(s)
                if req.params["pattern"] in h.hypervisor_hostname]
        usage = compute.hosts.usage(s)
    if not rows:
        raise exc.NotFound(f"No hypervisor matching '{req.params['pattern']}' could be "
                           "found.")
    servers = _servers_on(req, [h.host for h in rows])
    body = []
    for h in rows:
        item = _hypervisor(req, h, usage, False)
        if servers[h.host]:
            item["servers"] = servers[h.host]
        body.append(item)
    return Reply(200, {"hypervisors": body})


@service.route("GET", "/v2.1/os-hypervisors/{pattern}/search")
def hypervisor_search(req: Request) -> Reply:
    """Before 2.53: hypervisors whose hostname contains ``pattern`` (404 if none)."""
    if at_least(req, "2.53"):
        raise exc.NotFound("The resource could not be found.")
    req.context.enforce(P + "os-hypervisors:search")
    compute = req.cloud.compute
    with compute.read() as s:
        rows = [h for h in compute.hosts.all(s)
                if req.params["pattern"] in h.hypervisor_hostname]
    if not rows:
        raise exc.NotFound(f"No hypervisor matching '{req.params['pattern']}' could be "
                           "found.")
    return Reply(200, {"hypervisors": [_hypervisor(req, h, {}, False) for h in rows]})


@service.route("GET", "/v2.1/os-hypervisors/{hypervisor_id}/uptime")
def hypervisor_uptime(req: Request) -> Reply:
    """Compute API "Show Hypervisor Uptime" (before 2.88, then 404: 2.88+ shows
    ``uptime`` in the hypervisor): ``{"hypervisor": {"id", "hypervisor_hostname",
    "state", "status", "uptime"}}``, ``uptime`` being the host's ``uptime`` line as
    Nova's libvirt driver answers it (:func:`kumo.compute.hosts.uptime_text`, from the
    agent's heartbeat). 404 unknown hypervisor; 400 "Compute service of H is
    unavailable at this time." when the host is down (Nova asks only a live host);
    501 "Virt driver does not implement uptime function." when its agent reports no
    boot time (an older agent), as Nova over a driver without ``get_host_uptime``."""
    if at_least(req, "2.88"):
        raise exc.NotFound("The resource could not be found.")
    req.context.enforce(P + "os-hypervisors:uptime")
    compute = req.cloud.compute
    with compute.read() as s:
        h = compute.hosts.find_hypervisor(s, req.params["hypervisor_id"])
    if not compute.hosts.is_up(h):
        raise exc.BadRequest(f"Compute service of {h.host} is unavailable at this time.")
    text = uptime_text(h)
    if text is None:
        raise exc.NotImplementedYet("Virt driver does not implement uptime function.")
    body = _hypervisor(req, h, {}, False)
    body["uptime"] = text
    return Reply(200, {"hypervisor": body})


@service.route("GET", "/v2.1/os-hypervisors")
def hypervisors(req: Request) -> Reply:
    return _hypervisors(req, False)


@service.route("GET", "/v2.1/os-hypervisors/detail")
def hypervisors_detail(req: Request) -> Reply:
    return _hypervisors(req, True)


@service.route("GET", "/v2.1/os-hypervisors/statistics")
def statistics(req: Request) -> Reply:
    if at_least(req, "2.88"):
        raise exc.NotFound("The resource could not be found.")
    req.context.enforce(P + "os-hypervisors:statistics")
    compute = req.cloud.compute
    with compute.read() as s:
        rows = compute.hosts.all(s)
        usage = compute.hosts.usage(s)
    stats = {k: 0 for k in ("count", "current_workload", "disk_available_least",
                            "free_disk_gb", "free_ram_mb", "local_gb", "local_gb_used",
                            "memory_mb", "memory_mb_used", "running_vms", "vcpus",
                            "vcpus_used")}
    for h in rows:
        d = _hypervisor(req, h, usage, True)
        stats["count"] += 1
        for k in stats:
            if k != "count":
                stats[k] += d[k]
    return Reply(200, {"hypervisor_statistics": stats})


@service.route("GET", "/v2.1/os-hypervisors/{hypervisor_id}")
def hypervisor(req: Request) -> Reply:
    req.context.enforce(P + "os-hypervisors:show")
    compute = req.cloud.compute
    with compute.read() as s:
        h = compute.hosts.find_hypervisor(s, req.params["hypervisor_id"])
        usage = compute.hosts.usage(s)
    return Reply(200, {"hypervisor": _hypervisor(req, h, usage, True)})


# -- services --------------------------------------------------------------------------
def _service(req: Request, h, zones: dict | None = None) -> dict:
    zone = (zones or {}).get(h.host, h.availability_zone)  # an aggregate's zone wins
    body = {"id": h.service_uuid if at_least(req, "2.53") else h.id,
            "binary": "nova-compute", "host": h.host, "zone": zone,
            "status": "disabled" if h.disabled else "enabled",
            "state": "up" if req.cloud.compute.hosts.is_up(h) else "down",
            "updated_at": isotime(h.last_seen), "disabled_reason": h.disabled_reason}
    if at_least(req, "2.11"):
        body["forced_down"] = h.forced_down
    return body


@service.route("GET", "/v2.1/os-services")
def services(req: Request) -> Reply:
    req.context.enforce(P + "os-services:list")
    rows = req.cloud.compute.hosts.all()
    if "host" in req.query:
        rows = [h for h in rows if h.host == req.query["host"]]
    if req.query.get("binary") not in (None, "nova-compute"):
        rows = []
    zones = {h.host: name for name, hs in req.cloud.compute.hosts.zones().items()
             for h in hs}
    return Reply(200, {"services": [_service(req, h, zones) for h in rows]})


@service.route("PUT", "/v2.1/os-services/{service_id}")
def update_service(req: Request) -> Reply:
    req.context.enforce(P + "os-services:update")
    hosts = req.cloud.compute.hosts
    sid = req.params["service_id"]
    if not at_least(req, "2.53"):
        body = req.json(schemas.SERVICE_LEGACY)
        action = {"enable": (False, None), "disable": (True, None),
                  "disable-log-reason": (True, body.get("disabled_reason")),
                  "force-down": (None, None)}.get(sid)
        if action is None:
            raise exc.NotFound("Unknown action")
        forced = body.get("forced_down") if sid == "force-down" else None
        row = hosts.set_status(None, body["host"], action[0], action[1], forced)
        out = {"host": row.host, "binary": body["binary"]}
        if sid == "force-down":
            out["forced_down"] = row.forced_down
        else:
            out["status"] = "disabled" if row.disabled else "enabled"
            if sid == "disable-log-reason":
                out["disabled_reason"] = row.disabled_reason
        return Reply(200, {"service": out})
    body = req.json(schemas.SERVICE_UPDATE)
    if not body:
        raise exc.BadRequest("No updates were requested. Fields 'status' or "
                             "'forced_down' should be specified.")
    if "disabled_reason" in body and body.get("status") != "disabled":
        raise exc.BadRequest("Specifying 'disabled_reason' with status other than "
                             "'disabled' is invalid.")
    disabled = None if "status" not in body else body["status"] == "disabled"
    row = hosts.set_status(sid, None, disabled, body.get("disabled_reason"),
                           body.get("forced_down"))
    return Reply(200, {"service": _service(req, row)})


@service.route("DELETE", "/v2.1/os-services/{service_id}")
def delete_service(req: Request) -> Reply:
    req.context.enforce(P + "os-services:delete")
    req.cloud.compute.hosts.delete_service(req.params["service_id"])
    return Reply(204)


# -- availability zones ----------------------------------------------------------------
def _zones(req: Request, detail: bool) -> list[dict]:
    hosts = req.cloud.compute.hosts
    out = []
    for name, rows in sorted(hosts.zones().items()):
        enabled = [h for h in rows if not h.disabled]
        if not enabled and not detail:
            continue
        zone = {"zoneName": name, "zoneState": {"available": any(
            hosts.is_up(h) for h in enabled)}, "hosts": None}
        if detail:
            zone["hosts"] = {h.host: {"nova-compute": {
                "available": not h.disabled, "active": hosts.is_up(h),
                "updated_at": isotime(h.last_seen)}} for h in rows}
        out.append(zone)
    return out


@service.route("GET", "/v2.1/os-availability-zone")
def zones(req: Request) -> Reply:
    req.context.enforce(P + "os-availability-zone:list")
    return Reply(200, {"availabilityZoneInfo": _zones(req, False)})


@service.route("GET", "/v2.1/os-availability-zone/detail")
def zones_detail(req: Request) -> Reply:
    req.context.enforce(P + "os-availability-zone:detail")
    return Reply(200, {"availabilityZoneInfo": _zones(req, True)})


# -- quotas and limits -----------------------------------------------------------------
def _quota_body(req: Request, values: dict, network: dict | None = None) -> dict:
    """``values`` plus the legacy resources of the request's microversion: before 2.57
    the file injection ones, before 2.36 the network proxies (``network``: Neutron's
    values from :meth:`Quotas.network`; none given: left out)."""
    body = dict(values)
    if not at_least(req, "2.57"):
        body.update(LEGACY_2_57)
    if network is not None and not at_least(req, "2.36"):
        body.update({k: network[k] for k in LEGACY_2_36})
    return body


def _network(req: Request, session, pid: str, usage: bool = True
             ) -> tuple[dict | None, dict]:
    """:meth:`Quotas.network` when the request's microversion renders the network
    proxies (before 2.36); else ``(None, {})`` without a query."""
    if at_least(req, "2.36"):
        return None, {}
    return req.cloud.compute.quotas.network(session, pid, usage)


def _target(req: Request) -> str:
    pid = req.params["project_id"]
    req.context.enforce(P + "os-quota-sets:show", {"project_id": pid})
    return pid


@service.route("GET", "/v2.1/os-quota-sets/{project_id}")
def quota_show(req: Request) -> Reply:
    pid = _target(req)
    compute = req.cloud.compute
    with compute.read() as s:
        limits = compute.quotas.limits(s, pid)
        network = _network(req, s, pid, usage=False)[0]
    return Reply(200, {"quota_set": {"id": pid, **_quota_body(req, limits, network)}})


@service.route("GET", "/v2.1/os-quota-sets/{project_id}/detail")
def quota_detail(req: Request) -> Reply:
    pid = _target(req)
    compute = req.cloud.compute
    with compute.read() as s:
        limits = compute.quotas.limits(s, pid)
        used = compute.quotas.usage(s, pid, req.context.user_id)
        net_limits, net_used = _network(req, s, pid)
    body = {r: {"limit": limits[r], "in_use": used.get(r, 0), "reserved": 0}
            for r in RESOURCES}
    for k, v in _quota_body(req, {}, net_limits).items():
        body[k] = {"limit": v, "in_use": net_used.get(k, 0), "reserved": 0}
    return Reply(200, {"quota_set": {"id": pid, **body}})


@service.route("GET", "/v2.1/os-quota-sets/{project_id}/defaults")
def quota_defaults(req: Request) -> Reply:
    req.context.enforce(P + "os-quota-sets:defaults")
    quotas = req.cloud.compute.quotas
    with req.cloud.compute.read() as s:  # the default quota class, else the settings
        values = {r: quotas.default(r, s) for r in RESOURCES}
    network = {"fixed_ips": -1, **{nova: int(getattr(req.cloud.settings, f"quota_{q}"))
                                   for nova, q in NETWORK_PROXIES.items()}}
    return Reply(200, {"quota_set": {"id": req.params["project_id"],
                                     **_quota_body(req, values, network)}})


@service.route("PUT", "/v2.1/os-quota-sets/{project_id}")
def quota_update(req: Request) -> Reply:
    req.context.enforce(P + "os-quota-sets:update")
    values = req.json(schemas.QUOTA_UPDATE)["quota_set"]
    bad = [k for k in values if k in LEGACY_2_36 or k == "networks"]
    if bad and at_least(req, "2.36"):
        raise exc.BadRequest(f"Additional properties are not allowed ({bad[0]!r} was "
                             "unexpected)")
    values = {k: v for k, v in values.items() if k in RESOURCES}
    compute = req.cloud.compute
    limits = compute.quotas.update(req.params["project_id"], values)
    with compute.read() as s:
        network = _network(req, s, req.params["project_id"], usage=False)[0]
    return Reply(200, {"quota_set": _quota_body(req, limits, network)})


@service.route("DELETE", "/v2.1/os-quota-sets/{project_id}")
def quota_delete(req: Request) -> Reply:
    req.context.enforce(P + "os-quota-sets:delete")
    req.cloud.compute.quotas.reset(req.params["project_id"])
    return Reply(202)


#: Nova's absolute limit names per quota resource (``views/limits.py``).
LIMIT_NAMES = {"ram": ["maxTotalRAMSize"], "instances": ["maxTotalInstances"],
               "cores": ["maxTotalCores"], "key_pairs": ["maxTotalKeypairs"],
               "floating_ips": ["maxTotalFloatingIps"],
               "metadata_items": ["maxServerMeta", "maxImageMeta"],
               "injected_files": ["maxPersonality"],
               "injected_file_content_bytes": ["maxPersonalitySize"],
               "security_groups": ["maxSecurityGroups"],
               "security_group_rules": ["maxSecurityGroupRules"],
               "server_groups": ["maxServerGroups"],
               "server_group_members": ["maxServerGroupMembers"]}
#: Nova's used-limit names per quota resource.
USED_NAMES = {"totalRAMUsed": "ram", "totalCoresUsed": "cores",
              "totalInstancesUsed": "instances", "totalFloatingIpsUsed": "floating_ips",
              "totalSecurityGroupsUsed": "security_groups",
              "totalServerGroupsUsed": "server_groups"}


@service.route("GET", "/v2.1/limits")
def limits(req: Request) -> Reply:
    """Absolute limits from the project's quotas (as ``os-quota-sets`` shows them) and
    its usage, as Nova renders them: the network proxies (from Neutron's quotas) only
    before 2.36, ``maxImageMeta`` before 2.39, ``maxPersonality*`` before 2.57. No rate
    limits."""
    req.context.enforce(P + "limits")
    pid = req.context.project_id
    if req.query.get("tenant_id") and req.query["tenant_id"] != pid:
        req.context.enforce(P + "limits:other_project")
        pid = req.query["tenant_id"]
    compute = req.cloud.compute
    with compute.read() as s:
        lim = compute.quotas.limits(s, pid)
        used = compute.quotas.usage(s, pid, req.context.user_id)
        net_limits, net_used = _network(req, s, pid)
    values = _quota_body(req, lim, net_limits)
    used.update(net_used)
    absolute = {}
    for resource, value in values.items():
        for name in LIMIT_NAMES.get(resource, ()):
            if name != "maxImageMeta" or not at_least(req, "2.39"):
                absolute[name] = value
    for name, resource in USED_NAMES.items():
        if resource in values:
            absolute[name] = used.get(resource, 0)
    return Reply(200, {"limits": {"rate": [], "absolute": absolute}})


# -- usage -----------------------------------------------------------------------------
def _period(req: Request) -> tuple[dt.datetime, dt.datetime]:
    now = utcnow()
    try:
        start = parse_isotime(req.query["start"]) if "start" in req.query else now
        end = parse_isotime(req.query["end"]) if "end" in req.query else now
    except (ValueError, OverflowError):  # overflow: a time before year 1 in UTC
        raise exc.BadRequest("Invalid start time or end time.") from None
    if start > end:
        raise exc.BadRequest("Invalid start time. The start time cannot occur after the "
                             "end time.")
    return start, end


def _usage_page(req: Request, pid: str | None, detailed: bool
                ) -> tuple[list[dict], list[dict]]:
    """Usages over one page of servers (``limit``/``marker`` from 2.40) and the
    ``tenant_usage(s)_links``."""
    start, end = _period(req)
    paged = at_least(req, "2.40")
    usages, nxt = req.cloud.compute.quotas.tenant_usage_page(
        start, end, pid, detailed, req.query.get("limit") if paged else None,
        req.query.get("marker") if paged else None)
    path = "os-simple-tenant-usage" + (f"/{pid}" if pid else "")
    links = next_links(req, [nxt], True, path, marker=lambda m: m) if nxt else []
    return usages, links


@service.route("GET", "/v2.1/os-simple-tenant-usage")
def usage_list(req: Request) -> Reply:
    req.context.enforce(P + "os-simple-tenant-usage:list")
    detailed = req.query.get("detailed") in ("1", "true", "True")
    usages, links = _usage_page(req, None, detailed)
    body = {"tenant_usages": usages}
    if links:
        body["tenant_usages_links"] = links
    return Reply(200, body)


@service.route("GET", "/v2.1/os-simple-tenant-usage/{project_id}")
def usage_show(req: Request) -> Reply:
    pid = req.params["project_id"]
    req.context.enforce(P + "os-simple-tenant-usage:show", {"project_id": pid})
    found, links = _usage_page(req, pid, True)
    body = {"tenant_usage": found[0] if found else {}}
    if links:
        body["tenant_usage_links"] = links
    return Reply(200, body)
