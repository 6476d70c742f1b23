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

from dataclasses import dataclass

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow


class NoValidHost(exc.KumoError):
    status = 500
    message = "No valid host was found. There are not enough hosts available."


@dataclass
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

    def candidates(self, session) -> list[Candidate]:
        """Enabled, up hosts with their free capacity after the ratios."""
        st = self.compute.settings
        now = utcnow()
        used = self.compute.hosts.usage(session)
        out = []
        for h in self.compute.hosts.all(session):
            if h.disabled or not self.compute.hosts.is_up(h, now):
                continue
            u = used.get(h.host, {"vcpus": 0, "ram": 0, "disk": 0})
            out.append(Candidate(
                h.host, h.hypervisor_hostname, h.availability_zone,
                h.memory_mb * st.scheduler_ram_allocation_ratio - u["ram"],
                h.vcpus * st.scheduler_cpu_allocation_ratio - u["vcpus"],
                h.local_gb * st.scheduler_disk_allocation_ratio - u["disk"]))
        return out

    def select(self, session, flavor: dict, count: int = 1, az: str | None = None,
               group=None, exclude: tuple = (), group_hosts: list[str] | None = None,
               candidates: list[Candidate] | None = None) -> list[Candidate]:
        """``count`` hosts for servers of ``flavor`` (``{"vcpus", "ram", "disk"}``),
        claiming capacity in ``candidates`` as it goes; raises :class:`NoValidHost`.
        ``group`` is the server group row; ``group_hosts`` the hosts of its members."""
        pool = candidates if candidates is not None else self.candidates(session)
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
                raise NoValidHost()

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
