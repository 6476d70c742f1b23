"""The desired-state feed the compute agents watch (Kumo's own API, not Nova's), the
same design as :mod:`kumo.network.feed`: list the host's instances once
(:meth:`Feed.snapshot`, consistent with one revision), watch ``compute_change`` from that
revision (:meth:`Feed.changes`, long poll), relist on 410.

Instance shape (the compute contract)::

    {"id", "name": "instance-0000000a", "display_name", "hostname", "project_id",
     "user_id", "host", "image": {"id", "container_format", "disk_format", "size",
     "checksum", "kumo_rootfs"}, "flavor": {"vcpus", "ram" (MiB), "disk" (GiB)},
     "power": "on"|"off"|"paused", "reboot_seq", "reboot_type", "rebuild_seq",
     "ports": [{"id", "mac_address", "mtu", "network_id",
                "fixed_ips": [{"subnet_id", "ip_address", "cidr", "gateway_ip"}]}],
     "user_data", "revision"}
"""
from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.compute import models
from kumo.db.models import Revision

RETENTION_REVISIONS = 100_000
MAX_WAIT_S = 30.0
MAX_BATCH = 1000
PRUNED = "compute_pruned"


class RevisionTooOld(exc.KumoError):
    status = 410
    title = "Gone"
    message = "Revision %(since)s is older than the oldest retained change; relist."


IMAGE_KEYS = ("id", "container_format", "disk_format", "size", "checksum", "kumo_rootfs")


def _port(fact: dict) -> dict:
    return {"id": fact["id"], "mac_address": fact["mac_address"], "mtu": fact["mtu"],
            "network_id": fact["network_id"], "fixed_ips": [
                {k: ip[k] for k in ("subnet_id", "ip_address", "cidr", "gateway_ip")}
                for ip in fact["fixed_ips"]]}


def instance_name(seq: int) -> str:
    """Nova's ``instance_name_template``: ``instance-%08x``."""
    return "instance-%08x" % seq


class Feed:
    def __init__(self, compute):
        self.compute = compute
        self._cond = threading.Condition()
        self._writes = 0

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._writes += 1
        if self._writes % 1000 == 0:
            self.prune()

    @staticmethod
    def current_revision(session) -> int:
        return session.scalar(sa.select(Revision.value).where(Revision.name == "compute")) or 0

    def changes(self, since: int, host: str | None = None, wait_s: float = 0.0) -> dict:
        """``{"revision": R, "changes": [{"revision", "resource_type", "resource_id",
        "op", "host"}]}`` after ``since`` for ``host``, waiting up to ``wait_s`` (max
        30) seconds for one; 410 when ``since`` is older than the retained history."""
        C = models.Change
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            with self.compute.read() as s:
                current = self.current_revision(s)
                pruned = s.scalar(sa.select(Revision.value).where(
                    Revision.name == PRUNED)) or 0
                if since < pruned:
                    raise RevisionTooOld(since=since)
                stmt = sa.select(C).where(C.revision > since)
                if host is not None:
                    stmt = stmt.where(C.host == host)
                rows = list(s.scalars(stmt.order_by(C.id).limit(MAX_BATCH + 1)))
            if rows or time.monotonic() >= deadline:
                break
            with self._cond:
                self._cond.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        if len(rows) > MAX_BATCH:
            last = rows[MAX_BATCH - 1].revision
            rows = [r for r in rows if r.revision <= last]
            current = last
        elif rows:
            current = max(current, rows[-1].revision)
        return {"revision": current if rows or since < current else since,
                "changes": [{"revision": r.revision, "resource_type": r.resource_type,
                             "resource_id": r.resource_id, "op": r.op, "host": r.host}
                            for r in rows]}

    def snapshot(self, host: str | None = None) -> dict:
        """``{"revision": R, "instances": [...]}``: every live instance on ``host``."""
        with self.compute.db.session(readonly=True) as s:
            if not self.compute.db.is_sqlite:
                s.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            revision = self.current_revision(s)
            I = models.Instance
            stmt = sa.select(I).where(I.deleted.is_(False), I.host.is_not(None))
            if host is not None:
                stmt = stmt.where(I.host == host)
            rows = list(s.scalars(stmt.order_by(I.seq)))
            return {"revision": revision, "instances": self.render(s, rows)}

    def render(self, session, rows: list[models.Instance]) -> list[dict]:
        """Instances in the contract's shape (one query for all their ports)."""
        port_ids = [p["port_id"] for r in rows for p in r.ports]
        ports = self.compute.servers.port_facts(session, port_ids)
        out = []
        for r in rows:
            out.append({
                "id": r.id, "name": instance_name(r.seq), "display_name": r.display_name,
                "hostname": r.hostname, "project_id": r.project_id, "user_id": r.user_id,
                "host": r.host, "image": {k: (r.image or {}).get(k) for k in IMAGE_KEYS},
                "flavor": {"vcpus": r.vcpus, "ram": r.memory_mb, "disk": r.root_gb},
                "power": r.power, "reboot_seq": r.reboot_seq, "reboot_type": r.reboot_type,
                "rebuild_seq": r.rebuild_seq,
                "ports": [_port(ports[p["port_id"]]) for p in r.ports
                          if p["port_id"] in ports],
                "user_data": r.user_data, "revision": r.revision})
        return out

    def prune(self) -> int:
        with self.compute.db.session() as s:
            horizon = self.current_revision(s) - RETENTION_REVISIONS
            if horizon <= 0:
                return 0
            count = s.execute(sa.delete(models.Change).where(
                models.Change.revision <= horizon)).rowcount
            if s.execute(sa.update(Revision).where(Revision.name == PRUNED)
                         .values(value=horizon)).rowcount == 0:
                s.add(Revision(name=PRUNED, value=horizon))
            return count
