"""The scheduler: picks a compute host for a server (Nova's filter scheduler, in
process, inside the create transaction so concurrent creates see each other's claims).

Filters: the host's service is enabled and up (heartbeat within
``agent_down_time_s``), in the requested availability zone, not already tried for this
boot, with room for the flavor's RAM, vCPUs and disk after the allocation ratios
(``scheduler_*_allocation_ratio``), and the server group's ``affinity`` /
``anti-affinity`` policy. Weighers: free RAM (spread), then the soft policies
(``soft-affinity`` prefers hosts with members, ``soft-anti-affinity`` hosts without).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute.hosts import hosts_revision
from kumo.compute.models import Host

#: How stale (s) the scheduler's view of heartbeat times may be.
SEEN_RECHECK_S = 2.0


class NoValidHost(exc.KumoError):
    """No host fits. ``message`` is Nova's fault text; ``reason`` says why, for the
    log (how many hosts were considered and what rejected them)."""

    status = 500
    message = "No valid host was found. There are not enough hosts available."
    reason = ""


@dataclass(slots=True)
class Candidate:
    host: str
    node: str
    az: str
    free_ram: float
    free_vcpus: float
    free_disk: float
    members: int = 0


class Scheduler:
    def __init__(self, compute):
        self.compute = compute
        self._static: tuple[int, list[tuple]] | None = None
        self._seen: tuple[float, set[str]] | None = None

    def candidates(self, session, az: str | None = None) -> list[Candidate]:
        """Enabled, up hosts (in ``az`` if given) with their free capacity after the
        ratios.

        The hosts' static facts are cached per process while the ``compute_hosts``
        revision is unchanged (one primary-key read checks it), and their heartbeat
        times are re-read at most every :data:`SEEN_RECHECK_S` seconds (small next to
        ``agent_down_time_s``), so a decision over 1,000 hosts costs the usage
        aggregate and a loop, not 1,000 rows."""
        st = self.compute.settings
        rev = hosts_revision(session)
        if self._static is None or self._static[0] != rev:
            H = Host
            rows = session.connection().execute(sa.select(
                H.host, H.hypervisor_hostname, H.availability_zone, H.memory_mb, H.vcpus,
                H.local_gb).where(H.disabled.is_(False), H.forced_down.is_(False))).all()
            from kumo.compute.aggregates import Aggregates
            zones = Aggregates.zones_of(session)  # an aggregate's zone wins (os-aggregates)
            self._static = (rev, [(r[0], r[1], zones.get(r[0], r[2]), *r[3:]) for r in rows])
            self._seen = None
        now = time.monotonic()
        if self._seen is None or now - self._seen[0] > SEEN_RECHECK_S:
            since = utcnow() - dt.timedelta(seconds=st.agent_down_time_s)
            up = {h for (h,) in session.connection().execute(
                sa.select(Host.host).where(Host.last_seen >= since))}
            self._seen = (now, up)
        up = self._seen[1]
        rows = [r for r in self._static[1] if r[0] in up and (not az or r[2] == az)]
        used = self.compute.hosts.usage(session) if rows else {}
        ram_r, cpu_r = st.scheduler_ram_allocation_ratio, st.scheduler_cpu_allocation_ratio
        disk_r = st.scheduler_disk_allocation_ratio
        empty = {"vcpus": 0, "ram": 0, "disk": 0}
        out = []
        for host, node, zone, ram, vcpus, disk in rows:
            u = used.get(host, empty)
            out.append(Candidate(host, node, zone, ram * ram_r - u["ram"],
                                 vcpus * cpu_r - u["vcpus"], disk * disk_r - u["disk"]))
        return out

    def select(self, session, flavor: dict, count: int = 1, az: str | None = None,
               group=None, exclude: tuple = (), group_hosts: list[str] | None = None,
               candidates: list[Candidate] | None = None) -> list[Candidate]:
        """``count`` hosts for servers of ``flavor`` (``{"vcpus", "ram", "disk"}``),
        claiming capacity in ``candidates`` as it goes; raises :class:`NoValidHost`.
        ``group`` is the server group row; ``group_hosts`` the hosts of its members."""
        pool = candidates if candidates is not None else self.candidates(session, az)
        hosts_of_group = list(group_hosts or [])
        chosen = []
        policy = group.policy if group is not None else None
        max_per_host = int((group.rules or {}).get("max_server_per_host", 1)) \
            if group is not None else 1
        for _ in range(count):
            fits = []
            for c in pool:
                if c.host in exclude or (az and c.az != az):
                    continue
                if (c.free_ram < flavor["ram"] or c.free_vcpus < flavor["vcpus"]
                        or c.free_disk < flavor["disk"]):
                    continue
                members = hosts_of_group.count(c.host)
                if policy == "affinity" and hosts_of_group and members == 0:
                    continue
                if policy == "anti-affinity" and members >= max_per_host:
                    continue
                fits.append((c, members))
            if not fits:
                err = NoValidHost()
                err.reason = _rejections(pool, flavor, az, exclude, policy,
                                         hosts_of_group, max_per_host)
                raise err

            def weight(item):
                c, members = item
                bonus = 0
                if policy == "soft-affinity":
                    bonus = members
                elif policy == "soft-anti-affinity":
                    bonus = -members
                return (bonus, c.free_ram, c.host)
            best = max(fits, key=weight)[0]
            best.free_ram -= flavor["ram"]
            best.free_vcpus -= flavor["vcpus"]
            best.free_disk -= flavor["disk"]
            hosts_of_group.append(best.host)
            chosen.append(best)
        return chosen


def _rejections(pool, flavor, az, exclude, policy, hosts_of_group, max_per_host) -> str:
    """Why no host in ``pool`` fits (the first filter rejecting each host), for the
    log: ``"2 candidate host(s) (enabled and up); rejected by ram 2"``."""
    counts: dict[str, int] = {}
    for c in pool:
        members = hosts_of_group.count(c.host)
        if c.host in exclude:
            why = "already tried"
        elif az and c.az != az:
            why = "availability zone"
        elif c.free_ram < flavor["ram"]:
            why = "ram"
        elif c.free_vcpus < flavor["vcpus"]:
            why = "vcpus"
        elif c.free_disk < flavor["disk"]:
            why = "disk"
        elif policy == "affinity" and hosts_of_group and members == 0:
            why = "server group affinity"
        elif policy == "anti-affinity" and members >= max_per_host:
            why = "server group anti-affinity"
        else:
            why = "claimed by this request"
        counts[why] = counts.get(why, 0) + 1
    zone = f", in zone {az}" if az else ""
    text = f"{len(pool)} candidate host(s) (enabled and up{zone})"
    if counts:
        text += "; rejected by " + ", ".join(f"{k} {v}" for k, v in counts.items())
    return text + (f"; needs {flavor['vcpus']} vCPU, {flavor['ram']} MB RAM, "
                   f"{flavor['disk']} GB disk")
