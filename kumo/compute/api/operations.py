"""Operator and service APIs of the Compute API reference:

- "Hosts (os-hosts)" (deprecated, 404 from 2.43): list, show (resources), update
  (``status`` enable/disable; ``maintenance_mode`` and the power actions answer 501 as
  a driver without them does).
- "Servers diagnostics (servers, diagnostics)": 2.48's standard shape, a flat
  driver-specific dict (libvirt's keys) before, from the agent's last counters.
- "Servers password (servers, os-server-password)": show and clear (the guest posts it
  to the metadata service's ``password``).
- "Create external events (os-server-external-events)": admin or service; per event
  200, 404 (no such server) or 422 (no host), the reply 200 / 207 / 404 as Nova's.
- "Server usage audit log (os-instance_usage_audit_log)": Kumo runs no usage audit
  task, so every host is reported as not run for the period.
"""
from __future__ import annotations

import calendar
import datetime as dt
import time

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import utcnow
from kumo.compute.api import at_least, service
from kumo.compute.api.servers import get_row
from kumo.compute.models import Diagnostics, Host, Instance
from kumo.compute.servers import InstanceInvalidState

P = "os_compute_api:"


class NotFound404(exc.NotFound):
    message = "The resource could not be found."


# -- os-hosts (2.1 - 2.42) ---------------------------------------------------------------
def _hosts_version(req: Request) -> None:
    if at_least(req, "2.43"):
        raise NotFound404()


def _host_row(req: Request, s, name: str) -> Host:
    row = s.scalar(sa.select(Host).where(Host.host == name))
    if row is None:
        raise exc.NotFound(f"Compute host {name} could not be found.")
    return row


@service.route("GET", "/v2.1/os-hosts")
def list_hosts(req: Request) -> Reply:
    _hosts_version(req)
    req.context.enforce(P + "os-hosts:list", {})
    zone = req.query.get("zone")
    hosts = []
    for name, rows in sorted(req.cloud.compute.hosts.zones().items()):
        for h in rows:
            if not zone or zone == name:  # Nova: a blank zone filters nothing
                hosts.append({"host_name": h.host, "service": "compute", "zone": name})
    return Reply(200, {"hosts": hosts})


@service.route("GET", "/v2.1/os-hosts/{host_name}")
def show_host(req: Request) -> Reply:
    _hosts_version(req)
    req.context.enforce(P + "os-hosts:show", {})
    c = req.cloud.compute
    with c.read() as s:
        h = _host_row(req, s, req.params["host_name"])
        per = s.execute(sa.select(Instance.project_id, sa.func.sum(Instance.vcpus),
                                  sa.func.sum(Instance.memory_mb),
                                  sa.func.sum(Instance.root_gb))
                        .where(Instance.host == h.host, Instance.deleted.is_(False))
                        .group_by(Instance.project_id).order_by(Instance.project_id)).all()

    def res(project, cpu, mem, disk):
        return {"resource": {"host": h.host, "project": project, "cpu": int(cpu or 0),
                             "memory_mb": int(mem or 0), "disk_gb": int(disk or 0)}}
    used = [sum(int(r[i] or 0) for r in per) for i in (1, 2, 3)]
    out = [res("(total)", h.vcpus, h.memory_mb, h.local_gb),
           res("(used_now)", *used), res("(used_max)", *used)]
    out += [res(*r) for r in per]
    return Reply(200, {"host": out})


@service.route("PUT", "/v2.1/os-hosts/{host_name}")
def update_host(req: Request) -> Reply:
    _hosts_version(req)
    req.context.enforce(P + "os-hosts:update", {})
    body = req.json({"type": "object", "properties": {
        "status": {"type": "string", "enum": ["enable", "disable", "Enable", "Disable",
                                              "ENABLE", "DISABLE"]},
        "maintenance_mode": {"type": "string", "enum": [
            "enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"]}},
        "anyOf": [{"required": ["status"]}, {"required": ["maintenance_mode"]}],
        "additionalProperties": False})
    name = req.params["host_name"]
    c = req.cloud.compute
    with c.read() as s:
        _host_row(req, s, name)
    if "maintenance_mode" in body:
        raise exc.NotImplementedYet("Virt driver does not implement host maintenance mode.")
    disabled = body["status"].lower() == "disable"
    c.hosts.set_status(None, name, disabled, None)
    return Reply(200, {"host": name, "status": "disabled" if disabled else "enabled"})


def _power(action: str):
    def handler(req: Request) -> Reply:
        _hosts_version(req)
        req.context.enforce(P + f"os-hosts:{action}", {})
        with req.cloud.compute.read() as s:
            _host_row(req, s, req.params["host_name"])
        raise exc.NotImplementedYet("Virt driver does not implement host power management.")
    return handler


for _action, _path in (("reboot", "reboot"), ("shutdown", "shutdown"),
                       ("start", "startup")):
    service.route("GET", "/v2.1/os-hosts/{host_name}/" + _path)(_power(_action))


# -- diagnostics -----------------------------------------------------------------------
_STATES = {0: "pending", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed",
           7: "suspended"}
_NIC = ("rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate", "tx_octets",
        "tx_errors", "tx_drop", "tx_packets", "tx_rate")
_DISK = ("read_bytes", "read_requests", "write_bytes", "write_requests", "errors_count")
#: libvirt's pre-2.48 keys: ``<tap>_<suffix>`` (the host's ``tap<port id[:11]>``, as
#: Nova's and Kumo's agents name it) from a NIC counter, ``<disk>_<suffix>``
_FLAT_NIC = (("rx", "rx_octets"), ("rx_packets", "rx_packets"), ("rx_errors", "rx_errors"),
             ("rx_drop", "rx_drop"), ("tx", "tx_octets"), ("tx_packets", "tx_packets"),
             ("tx_errors", "tx_errors"), ("tx_drop", "tx_drop"))
_FLAT_DISK = (("read_req", "read_requests"), ("read", "read_bytes"),
              ("write_req", "write_requests"), ("write", "write_bytes"),
              ("errors", "errors_count"))


def _mib(n: int | None) -> int | None:
    return None if n is None else n >> 20


def _disks(req: Request, row: Instance) -> list[str]:
    """The server's disks: ``vda`` (its root, an image's or a boot volume's), the
    device of every attached volume (``vdb``...), then its config drive (``sr0``)."""
    vm = getattr(req.cloud, "volumes", None)
    atts = vm.attachments.of_instance(row.id) if vm is not None else []
    devs = {(a.mountpoint or "").rpartition("/")[2] for a in atts
            if a.attach_status in ("attached", "detaching") and a.mountpoint}
    drive = ["sr0"] if row.config_drive == "True" else []
    return ["vda", *sorted(devs - {"vda", ""}), *drive]


def _figures(req: Request, s, row: Instance, report: dict | None) -> dict:
    """What both shapes are rendered from: the agent's last ``report`` (``None``:
    none yet, every counter ``None``) matched to the server's ports (read in session
    ``s``) and disks."""
    r = report or {}
    facts = req.cloud.compute.servers.port_facts(s, [p["port_id"] for p in row.ports])
    by_port = {n.get("port_id"): n for n in r.get("nics") or []}
    nics = [{"port_id": pid, "mac_address": f["mac_address"],
             **{k: by_port.get(pid, {}).get(k) for k in _NIC}}
            for pid, f in facts.items()]
    by_disk = {d.get("name"): d for d in r.get("disks") or []}
    disks = [{"name": n, **{k: by_disk.get(n, {}).get(k) for k in _DISK}}
             for n in _disks(req, row)]
    times = list(r.get("vcpu_times_ns") or [])
    cpus = [{"id": i, "time": times[i] if i < len(times) else None, "utilisation": None}
            for i in range(row.vcpus)]
    started = r.get("started_at")
    running = row.power_state in (1, 3, 7)  # a stopped guest has no uptime
    uptime = max(0, int(time.time() - started)) if started is not None and running \
        else None
    return {"nics": nics, "disks": disks, "cpus": cpus, "uptime": uptime,
            "used": r.get("memory_used_bytes"), "actual": r.get("memory_max_bytes"),
            "rss": r.get("memory_rss_bytes")}


@service.route("GET", "/v2.1/servers/{server_id}/diagnostics")
def diagnostics(req: Request) -> Reply:
    """Show Server Diagnostics (api-ref "Servers diagnostics"): 200 with, from 2.48,
    Nova's Diagnostics object (``state``, ``driver`` = the host's compute driver,
    ``hypervisor``, ``hypervisor_os``, ``uptime`` = seconds since the guest's init
    started, ``config_drive``, ``num_cpus``/``num_nics``/``num_disks`` (root + attached
    volumes + config drive), ``memory_details`` {``maximum`` (the flavor's), ``used``} in MiB,
    ``cpu_details`` [{``id``, ``time`` ns, ``utilisation``}], ``nic_details`` [{MAC and
    octets/packets/errors/drop, rx as the guest received}], ``disk_details`` [{bytes
    and requests read/written, ``errors_count``}]); before 2.48 libvirt's flat dict
    (``cpu<N>_time``, ``memory`` KiB, ``memory-actual``, ``memory-rss``,
    ``<disk>_read``/``_read_req``/``_write``/``_write_req``/``_errors``,
    ``<tap>_rx``/``_rx_packets``/...; only the figures known).

    Figures come from the agent's last report (sent every
    ``agent_compute_diagnostics_interval_s`` when they changed); before the first,
    and wherever the host cannot count, they are ``null`` (absent before 2.48).
    403 by policy, 404 unknown server, 409 unless the server is active, paused,
    rescued, resized, suspended or stopped on a host."""
    row = get_row(req)
    req.context.enforce(P + "os-server-diagnostics", {"project_id": row.project_id})
    if row.vm_state not in ("active", "paused", "rescued", "resized", "suspended",
                            "stopped") or row.host is None:
        raise InstanceInvalidState(row, "get_diagnostics")
    with req.cloud.compute.read() as s:
        driver = s.scalar(sa.select(Host.driver).where(Host.host == row.host)) or "fake"
        report = s.scalar(sa.select(Diagnostics.data).where(
            Diagnostics.instance_id == row.id))
        f = _figures(req, s, row, report)
    if not at_least(req, "2.48"):
        flat = {f"cpu{c['id']}_time": c["time"] for c in f["cpus"]}
        for d in f["disks"]:
            flat.update({f"{d['name']}_{k}": d[v] for k, v in _FLAT_DISK})
        for n in f["nics"]:
            flat.update({f"tap{n['port_id'][:11]}_{k}": n[v] for k, v in _FLAT_NIC})
        flat.update({"memory": row.memory_mb * 1024, "memory-actual": (
            f["actual"] >> 10 if f["actual"] is not None else None),
            "memory-rss": f["rss"] >> 10 if f["rss"] is not None else None})
        return Reply(200, {k: v for k, v in flat.items() if v is not None})
    return Reply(200, {
        "state": _STATES.get(row.power_state, "pending"), "driver": driver,
        "hypervisor": driver, "hypervisor_os": "linux", "uptime": f["uptime"],
        "config_drive": row.config_drive == "True", "num_cpus": row.vcpus,
        "num_nics": len(f["nics"]), "num_disks": len(f["disks"]),
        "memory_details": {"maximum": row.memory_mb, "used": _mib(f["used"])},
        "cpu_details": f["cpus"],
        "nic_details": [{"mac_address": n["mac_address"], **{k: n[k] for k in _NIC}}
                        for n in f["nics"]],
        "disk_details": [{k: d[k] for k in _DISK} for d in f["disks"]]})


# -- server password ---------------------------------------------------------------------
@service.route("GET", "/v2.1/servers/{server_id}/os-server-password")
def show_password(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "os-server-password:show", {"project_id": row.project_id})
    return Reply(200, {"password": (row.system_metadata or {}).get("password", "")})


@service.route("DELETE", "/v2.1/servers/{server_id}/os-server-password")
def clear_password(req: Request) -> Reply:
    row = get_row(req)
    req.context.enforce(P + "os-server-password:clear", {"project_id": row.project_id})
    req.cloud.compute.lifecycle.set_password(row.id, "", overwrite=True)
    return Reply(204)


# -- external events ---------------------------------------------------------------------
EVENT_NAMES = {"network-changed": "2.1", "network-vif-plugged": "2.1",
               "network-vif-unplugged": "2.1", "network-vif-deleted": "2.1",
               "volume-extended": "2.51", "power-update": "2.76",
               "accelerator-request-bound": "2.82", "volume-reimaged": "2.93"}


@service.route("POST", "/v2.1/os-server-external-events")
def external_events(req: Request) -> Reply:
    req.context.enforce(P + "os-server-external-events:create", {})
    names = [n for n, v in EVENT_NAMES.items() if at_least(req, v)]
    body = req.json({"type": "object", "properties": {"events": {
        "type": "array", "minItems": 1, "items": {
            "type": "object", "properties": {
                "name": {"type": "string", "enum": names},
                "server_uuid": {"type": "string", "format": "uuid"},
                "status": {"type": "string",
                           "enum": ["failed", "completed", "in-progress"]},
                "tag": {"type": "string", "maxLength": 255}},
            "required": ["name", "server_uuid"], "additionalProperties": False}}},
        "required": ["events"], "additionalProperties": False})
    ids = {e["server_uuid"] for e in body["events"]}
    with req.cloud.compute.read() as s:
        hosts = dict(s.execute(sa.select(Instance.id, Instance.host).where(
            Instance.id.in_(ids), Instance.deleted.is_(False))).all())
    out = []
    for e in body["events"]:
        ev = {"name": e["name"], "server_uuid": e["server_uuid"],
              "status": e.get("status", "completed")}
        if "tag" in e:
            ev["tag"] = e["tag"]
        if e["server_uuid"] not in hosts:
            ev["code"] = 404
        elif not hosts[e["server_uuid"]]:
            ev["code"] = 422
        else:
            ev["code"] = 200
        out.append(ev)
    codes = {e["code"] for e in out}
    if 200 not in codes:
        if codes == {404}:
            raise exc.NotFound("No instances found for any event")
        return Reply(207, {"events": out})
    return Reply(200 if codes == {200} else 207, {"events": out})


# -- instance usage audit log ----------------------------------------------------------
def _period(before: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Nova's ``last_completed_audit_period`` (unit ``month``) before ``before``."""
    end = dt.datetime(before.year, before.month, 1)
    start = dt.datetime(end.year - 1, 12, 1) if end.month == 1 else \
        dt.datetime(end.year, end.month - 1, 1)
    return start, end


def _audit(req: Request, before: dt.datetime) -> dict:
    start, end = _period(before)
    hosts = [h.host for h in req.cloud.compute.hosts.all()]
    n = len(hosts)
    fmt = "%Y-%m-%d %H:%M:%S"
    return {"hosts_not_run": hosts, "log": {}, "num_hosts": n, "num_hosts_done": 0,
            "num_hosts_not_run": n, "num_hosts_running": 0,
            "overall_status": f"0 of {n} hosts done. 0 errors.",
            "period_beginning": start.strftime(fmt), "period_ending": end.strftime(fmt),
            "total_errors": 0, "total_instances": 0}


@service.route("GET", "/v2.1/os-instance_usage_audit_log")
def audit_logs(req: Request) -> Reply:
    req.context.enforce(P + "os-instance-usage-audit-log:list", {})
    return Reply(200, {"instance_usage_audit_logs": _audit(req, utcnow())})


@service.route("GET", "/v2.1/os-instance_usage_audit_log/{before_timestamp}")
def audit_log(req: Request) -> Reply:
    req.context.enforce(P + "os-instance-usage-audit-log:show", {})
    text = req.params["before_timestamp"]
    when = None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            when = dt.datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if when is None:
        raise exc.BadRequest(f"Invalid timestamp for date {text}")
    calendar.monthrange(when.year, when.month)  # a valid calendar date
    return Reply(200, {"instance_usage_audit_log": _audit(req, when)})
