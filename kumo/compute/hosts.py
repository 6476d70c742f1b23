"""Compute hosts as the agents report them: the ``nova-compute`` service of each host
(Compute API "Compute services (os-services)"), its hypervisor ("Hypervisors
(os-hypervisors)") and the availability zones they make ("Availability zones").

A host exists once its agent has sent a heartbeat (``POST /compute/kumo/v1/hosts/
heartbeat``); it is *up* while the last one is younger than ``agent_down_time_s``.
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kumo.common import exceptions as exc
from kumo.common.timeutils import from_timestamp, utcnow
from kumo.compute.models import Host, Instance


#: ``kumo_revision`` row counting changes of the hosts' static facts (capacity, zone,
#: enabled, forced down, added or removed; not heartbeat times): the scheduler's cache key.
HOSTS_REVISION = "compute_hosts"
_HOST = Host.__table__


def bump_hosts(session) -> None:
    """Count a change of some host's static facts (in ``session``'s transaction)."""
    from kumo.db.models import Revision

    # One statement: two first heartbeats at once must not both insert the row.
    table = Revision.__table__
    insert = (pg_insert if session.get_bind().dialect.name == "postgresql"
              else sqlite_insert)(table).values(name=HOSTS_REVISION, value=1)
    session.execute(insert.on_conflict_do_update(
        index_elements=[table.c.name], set_={"value": table.c.value + 1}))


def hosts_revision(session) -> int:
    from kumo.db.models import Revision

    return session.scalar(sa.select(Revision.value).where(
        Revision.name == HOSTS_REVISION)) or 0


def uptime_report(body: dict) -> dict:
    """The host row's uptime columns from a heartbeat ``body`` (``boot_time``: seconds
    since the epoch, ``load_average``: the 1, 5 and 15 minute averages, ``users``); all
    None when it has no ``boot_time`` (an older agent, a driver that cannot tell)."""
    if body.get("boot_time") is None:
        return {"boot_time": None, "load_average": None, "users": None}
    load = body.get("load_average") or [0, 0, 0]
    return {"boot_time": from_timestamp(body["boot_time"]),
            "load_average": ", ".join(f"{float(x):.2f}" for x in load),
            "users": int(body.get("users") or 0)}


def uptime_text(row: Host, now: dt.datetime | None = None) -> str | None:
    """The host's uptime as Nova's libvirt driver answers it (the ``uptime`` command's
    line, e.g. ``" 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12,
    0.14"``): the time now (UTC), how long since the reported boot, the users and load
    averages of the last heartbeat. None when the host reported no boot time."""
    if row.boot_time is None:
        return None
    now = now or utcnow()
    up = max(0, int((now - row.boot_time).total_seconds()))
    days, rest = divmod(up, 86400)
    hours, minutes = divmod(rest // 60, 60)
    text = f" {now:%H:%M:%S} up "
    if days:
        text += f"{days} day{'' if days == 1 else 's'}, "
    text += f"{hours:2d}:{minutes:02d}, " if hours else f"{minutes} min, "
    users = row.users or 0
    return (text + f"{users:2d} user{'' if users == 1 else 's'},  load average: "
            + (row.load_average or "0.00, 0.00, 0.00"))


def integer_id(value) -> int | None:
    """``value`` as an integer row id (Nova's legacy service, hypervisor and aggregate
    ids): an ASCII decimal below 2**31 (the ``Integer`` columns' range); None for
    anything else, which then names no row (a longer number would overflow the
    database's integer and be a 500, not the 404 it is)."""
    text = str(value)
    if text.isascii() and text.isdigit() and int(text) < 2 ** 31:
        return int(text)
    return None


class ServiceNotFound(exc.NotFound):
    message = "Service %(id)s could not be found."


class HypervisorNotFound(exc.NotFound):
    message = "Hypervisor with ID '%(id)s' could not be found."


class Hosts:
    def __init__(self, compute):
        self.compute = compute

    def heartbeat(self, body: dict) -> None:
        """Create or refresh the host ``body["host"]`` (service and hypervisor).

        A heartbeat is observed state: it takes no revision row but the
        ``compute_hosts`` one, and that only when the host's facts change. The usual
        heartbeat (same facts) is one ``UPDATE`` of the host's row, which also keeps
        what it says for the uptime (:func:`uptime_report`; not facts: the scheduler
        ignores them)."""
        now = utcnow()
        name = body["host"]
        facts = {"availability_zone": body.get("availability_zone")
                 or self.compute.settings.compute_default_availability_zone,
                 "hypervisor_type": body.get("hypervisor_type") or "fake",
                 "hypervisor_hostname": body.get("hypervisor_hostname") or name,
                 "host_ip": body.get("host_ip") or "", "driver": body.get("driver") or "",
                 **{k: int(body.get(k) or 0) for k in ("vcpus", "memory_mb", "local_gb")}}
        seen = {"last_seen": now, "updated_at": now, **uptime_report(body)}
        with self.compute.db.session() as s:
            same = s.connection().execute(sa.update(_HOST).where(
                _HOST.c.host == name, *(_HOST.c[k] == v for k, v in facts.items()))
                .values(**seen)).rowcount
            if same:
                return
            row = s.scalar(sa.select(Host).where(Host.host == name))
            if row is None:
                row = Host(host=name, service_uuid=str(uuid.uuid4()),
                           node_uuid=str(uuid.uuid4()), disabled=False, forced_down=False,
                           created_at=now, updated_at=now, last_seen=now)
                s.add(row)
            if any(getattr(row, k, None) != v for k, v in facts.items()):
                for k, v in facts.items():
                    setattr(row, k, v)
                bump_hosts(s)
            for k, v in seen.items():
                setattr(row, k, v)

    def is_up(self, row: Host, now: dt.datetime | None = None) -> bool:
        now = now or utcnow()
        return (not row.forced_down and (now - row.last_seen).total_seconds()
                <= self.compute.settings.agent_down_time_s)

    def all(self, session=None) -> list[Host]:
        with self.compute.db.session(readonly=session is None) as s:
            return list(s.scalars(sa.select(Host).order_by(Host.id)))

    def usage(self, session) -> dict[str, dict]:
        """Per host: ``{"vcpus", "ram", "disk", "count"}`` used by live instances."""
        I = Instance
        out = {}
        for host, n, vcpus, ram, disk in session.connection().execute(sa.select(
                I.host, sa.func.count(), sa.func.sum(I.vcpus), sa.func.sum(I.memory_mb),
                sa.func.sum(I.root_gb)).where(I.deleted.is_(False), I.host.is_not(None))
                .group_by(I.host)):
            out[host] = {"count": n, "vcpus": int(vcpus or 0), "ram": int(ram or 0),
                         "disk": int(disk or 0)}
        return out

    def find_service(self, session, service_id: str) -> Host:
        """By service UUID (2.53+) or legacy integer id."""
        stmt = sa.select(Host)
        number = integer_id(service_id)
        if number is not None:
            stmt = stmt.where(Host.id == number)
        else:
            stmt = stmt.where(Host.service_uuid == str(service_id))
        row = session.scalar(stmt)
        if row is None:
            raise ServiceNotFound(id=service_id)
        return row

    def find_hypervisor(self, session, hypervisor_id: str) -> Host:
        stmt = sa.select(Host)
        number = integer_id(hypervisor_id)
        if number is not None:
            stmt = stmt.where(Host.id == number)
        else:
            stmt = stmt.where(Host.node_uuid == str(hypervisor_id))
        row = session.scalar(stmt)
        if row is None:
            raise HypervisorNotFound(id=hypervisor_id)
        return row

    def by_name(self, session, host: str) -> Host | None:
        return session.scalar(sa.select(Host).where(Host.host == host))

    def set_status(self, row_id: str | None, host: str | None, disabled: bool | None,
                   reason: str | None = None, forced_down: bool | None = None) -> Host:
        with self.compute.db.session() as s:
            if row_id is not None:
                row = self.find_service(s, row_id)
            else:
                row = self.by_name(s, host or "")
                if row is None:
                    raise exc.NotFound(f"Host '{host}' is not mapped to any cell")
            if disabled is not None:
                row.disabled = disabled
                row.disabled_reason = reason if disabled else None
            if forced_down is not None:
                row.forced_down = forced_down
            row.updated_at = utcnow()
            bump_hosts(s)
            return row

    def delete_service(self, service_id: str) -> None:
        with self.compute.db.session() as s:
            row = self.find_service(s, service_id)
            if s.scalar(sa.select(Instance.id).where(
                    Instance.host == row.host, Instance.deleted.is_(False)).limit(1)):
                raise exc.Conflict("Unable to delete compute service that is hosting "
                                   "instances. Migrate or delete the instances first.")
            s.delete(row)
            bump_hosts(s)

    def zones(self) -> dict[str, list[Host]]:
        """``{zone: [host rows]}``: a host's zone is its aggregate's (os-aggregates
        ``availability_zone``), else the one its agent reports."""
        from kumo.compute.aggregates import Aggregates
        out: dict[str, list[Host]] = {}
        with self.compute.db.session(readonly=True) as s:
            rows = list(s.scalars(sa.select(Host).order_by(Host.id)))
            zones = Aggregates.zones_of(s)
        for row in rows:
            out.setdefault(zones.get(row.host, row.availability_zone), []).append(row)
        return out
