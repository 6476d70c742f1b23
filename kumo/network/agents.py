"""Networking agents and availability zones (Networking API v2.0: "Agents",
"Availability zones").

The data plane reports each of its agents with :meth:`Agents.heartbeat`; an agent is
``alive`` while its last heartbeat is younger than ``Settings.agent_down_time_s``.
Heartbeats are not desired state: they do not advance the change feed, except that an
``L3 agent``'s heartbeat schedules the routers no agent hosts yet
(:meth:`kumo.network.l3_scheduler.L3Scheduler.schedule_unhosted`, in a write
transaction of its own, only when there is such a router).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from kumo.common.timeutils import utcnow
from kumo.network import exceptions as nexc
from kumo.network import peers
from kumo.network.manager import new_id
from kumo.network.models import security as models

A = models.Agent
#: Agent type -> (binary, topic), as Neutron's reference agents report them.
AGENT_TYPES = {
    "Linux bridge agent": ("neutron-linuxbridge-agent", "N/A"),
    "DHCP agent": ("neutron-dhcp-agent", "dhcp_agent"),
    "L3 agent": ("neutron-l3-agent", "l3_agent"),
    "Metadata agent": ("neutron-metadata-agent", "N/A"),
}
#: Agent types that serve an availability zone.
ZONED = ("DHCP agent", "L3 agent")
DEFAULT_ZONE = "nova"


class Agents:
    def __init__(self, networking):
        self.net = networking

    def alive_clause(self):
        horizon = utcnow() - dt.timedelta(seconds=self.net.settings.agent_down_time_s)
        return A.heartbeat_timestamp > horizon

    def where(self, alive: set[bool]):
        """The clause of a list filtered on ``alive`` (the values asked for: both or
        none is every agent)."""
        if alive == {True}:
            return self.alive_clause()
        if alive == {False}:
            return ~self.alive_clause()
        return None

    def alive(self, rows: list) -> dict[str, bool]:
        """``{agent id: alive}`` for rendering (see :meth:`is_alive`)."""
        return {r.id: self.is_alive(r) for r in rows}

    def is_alive(self, row: models.Agent) -> bool:
        return (utcnow() - row.heartbeat_timestamp).total_seconds() < \
            self.net.settings.agent_down_time_s

    def get(self, session, agent_id: str) -> models.Agent:
        row = session.get(A, agent_id)
        if row is None:
            raise nexc.AgentNotFound(id=agent_id)
        return row

    def heartbeat(self, session, host: str, agent_type: str, binary: str | None = None,
                  configurations: dict | None = None, availability_zone: str | None = None,
                  resources_synced: bool | None = None, start_flag: bool = False
                  ) -> models.Agent:
        """Record a heartbeat of ``agent_type`` on ``host`` (creating the agent on its
        first one; ``start_flag`` marks an agent restart). Returns the row."""
        now = utcnow()
        default_binary, topic = AGENT_TYPES.get(agent_type, (binary or "", "N/A"))
        zone = availability_zone or (DEFAULT_ZONE if agent_type in ZONED else None)
        row = session.scalar(sa.select(A).where(A.agent_type == agent_type, A.host == host))
        if row is None:
            row = A(id=new_id(), agent_type=agent_type, host=host, admin_state_up=True,
                    created_at=now, started_at=now, topic=topic)
            session.add(row)
        elif start_flag:
            row.started_at = now
        old_tunnel = (row.configurations or {}).get("tunneling_ip")
        self._fill(row, binary or row.binary or default_binary, configurations, zone,
                   resources_synced, now)
        if (agent_type == peers.L2_AGENT_TYPE
                and (row.configurations or {}).get("tunneling_ip") != old_tunnel):
            session.info["tunnel_moved"] = host
        session.flush()
        return row

    def record_heartbeat(self, **report) -> dict:
        """:meth:`heartbeat` in its own transaction (retried once if two first
        heartbeats of one agent race); returns ``{"id"}``."""
        for attempt in (1, 2):
            try:
                with self.net.db.session() as s:
                    row = self.heartbeat(s, **report)
                    moved = s.info.get("tunnel_moved")
                    result = {"id": row.id}
                if moved:
                    peers.tunnel_moved(self.net, moved)
                if report.get("agent_type") == "L3 agent":
                    # a dvr/dvr_snat host's distributed MAC
                    self.net.dvr.ensure_host_mac(report["host"], report.get("configurations"))
                    self._schedule_unhosted()
                return result
            except sa_exc.IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _schedule_unhosted(self) -> None:
        """After an L3 agent's heartbeat: place routers no agent hosts (a write only
        when there is one)."""
        scheduler = self.net.l3_scheduler
        if scheduler.has_unhosted():
            with self.net.write() as s:
                scheduler.schedule_unhosted(s)

    @staticmethod
    def _fill(row, binary, configurations, zone, resources_synced, now) -> None:
        row.binary = binary
        if configurations is not None or row.configurations is None:
            row.configurations = configurations or {}
        row.availability_zone = zone
        if resources_synced is not None:
            row.resources_synced = resources_synced
        row.heartbeat_timestamp = now

    def update(self, session, row: models.Agent, attrs: dict) -> None:
        for key in ("admin_state_up", "description"):
            if key in attrs:
                setattr(row, key, attrs[key])

    def delete(self, session, row: models.Agent) -> None:
        """Delete the agent (call inside ``Networking.write``): an L3 agent's routers
        become unhosted first, their ports unbound."""
        if row.agent_type == "L3 agent":
            self.net.l3_scheduler.forget_agent(session, row)
        session.delete(row)

    def availability_zones(self) -> list[dict]:
        """The zones of networks and routers (:func:`kumo.network.zones.zones`)."""
        from kumo.network import zones

        with self.net.read() as session:
            return zones.zones(session)
