"""The L3 agent scheduler (Networking API v2.0: "L3 agent scheduler", extension
``l3_agent_scheduler``): which L3 agent hosts each router.

Internal API (``networking.l3_scheduler``; every write inside
:meth:`kumo.network.manager.Networking.write`):

- :meth:`L3Scheduler.place` ``(session, router)``: schedule an unhosted router to the
  least-loaded alive L3 agent (if any), then bind the router's ports to the hosting
  agent's host. Called by the routers area on create, gateway change and interface add.
- :meth:`L3Scheduler.schedule_unhosted` ``(session)``: place every unhosted router
  (an L3 agent's heartbeat calls it, so routers made while no agent was alive get one).
- :meth:`L3Scheduler.add` / :meth:`L3Scheduler.remove`: the admin routes
  ``POST /v2.0/agents/{id}/l3-routers`` and ``DELETE .../l3-routers/{router_id}``.
- :meth:`L3Scheduler.reschedule_from_dead` ``(session)``: move routers off L3 agents
  that are down (the periodic job ``l3_reschedule`` calls it).
- :meth:`L3Scheduler.hosts` ``(session, router_ids)`` -> ``{router_id: host}`` (the
  feed's router items carry it as ``"host"``).

**Least loaded**: among alive (heartbeat younger than ``agent_down_time_s``),
``admin_state_up`` L3 agents, the one hosting the fewest routers; ties go to the
smallest host name. A router is hosted by one agent at most (no HA).

**Port binding**: the router's gateway and interface ports get ``binding:host_id`` =
the hosting agent's host (``""`` when unhosted), and each change is appended to the
feed with the new host (and a ``delete`` for the old host), so exactly the hosting
host's agent realizes the router's legs.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.network import peers
from kumo.network.manager import touch
from kumo.network.models import l3 as l3models
from kumo.network.models import ports as pmodels
from kumo.network.models import security as smodels
from kumo.network.models.l3_agent import RouterL3AgentBinding

L3_AGENT = "L3 agent"
ROUTER_PORT_OWNERS = ("network:router_gateway", "network:router_interface")
B, A, R, P = RouterL3AgentBinding, smodels.Agent, l3models.Router, pmodels.Port


class InvalidL3Agent(exc.NotFound):
    message = "Agent %(id)s is not a L3 Agent or has been disabled"


class RouterHostedByL3Agent(exc.Conflict):
    message = ("The router %(router_id)s has been already hosted by the L3 Agent "
               "%(agent_id)s.")


class RouterNotHostedByL3Agent(exc.Conflict):
    message = "The router %(router_id)s is not hosted by L3 agent %(agent_id)s."


class L3Scheduler:
    """See the module doc."""

    def __init__(self, networking):
        self.net = networking

    # -- reads -----------------------------------------------------------------------
    def hosting_agent(self, session, router_id: str) -> smodels.Agent | None:
        """The agent row hosting ``router_id``, or None."""
        return session.scalar(sa.select(A).join(B, B.l3_agent_id == A.id)
                              .where(B.router_id == router_id))

    def hosts(self, session, router_ids: list[str] | None = None) -> dict[str, str]:
        """``{router_id: host}`` for hosted routers (all of them when ``router_ids`` is
        None)."""
        stmt = sa.select(B.router_id, A.host).join(A, A.id == B.l3_agent_id)
        if router_ids is not None:
            if not router_ids:
                return {}
            stmt = stmt.where(B.router_id.in_(router_ids))
        return {r.router_id: r.host for r in session.execute(stmt)}

    def routers_of(self, session, agent_id: str) -> list[str]:
        """Ids of the routers agent ``agent_id`` hosts."""
        return list(session.scalars(sa.select(B.router_id).where(B.l3_agent_id == agent_id)
                                    .order_by(B.router_id)))

    def l3_agent(self, session, agent_id: str) -> smodels.Agent:
        """The agent, 404 AgentNotFound; 404 InvalidL3Agent unless an L3 agent."""
        row = self.net.agents.get(session, agent_id)
        if row.agent_type != L3_AGENT:
            raise InvalidL3Agent(id=agent_id)
        return row

    def _least_loaded(self, session) -> smodels.Agent | None:
        load = (sa.select(B.l3_agent_id, sa.func.count().label("n"))
                .group_by(B.l3_agent_id).subquery())
        return session.scalar(
            sa.select(A).outerjoin(load, load.c.l3_agent_id == A.id)
            .where(A.agent_type == L3_AGENT, A.admin_state_up.is_(True),
                   self.net.agents.alive_clause())
            .order_by(sa.func.coalesce(load.c.n, 0), A.host, A.id).limit(1))

    # -- writes ----------------------------------------------------------------------
    def place(self, session, router: l3models.Router) -> str | None:
        """Schedule ``router`` if unhosted and an agent is alive; bind its ports to the
        hosting host. Returns the host (None: unhosted)."""
        agent = self.hosting_agent(session, router.id)
        if agent is None:
            agent = self._least_loaded(session)
            if agent is not None:
                session.add(B(router_id=router.id, l3_agent_id=agent.id))
                session.flush()
                self.net.changed(session, "router", router.id)
        host = agent.host if agent is not None else None
        self.bind_ports(session, router.id, host)
        return host

    def has_unhosted(self) -> bool:
        """Whether some router has no hosting agent (a read of its own)."""
        with self.net.read() as s:
            return s.scalar(sa.select(R.id).where(
                ~sa.exists().where(B.router_id == R.id)).limit(1)) is not None

    def schedule_unhosted(self, session) -> int:
        """Place every router no agent hosts; returns how many got an agent."""
        ids = list(session.scalars(sa.select(R.id).where(
            ~sa.exists().where(B.router_id == R.id)).order_by(R.created_at, R.id)))
        placed = 0
        for router_id in ids:
            row = session.get(R, router_id)
            if row is not None and self.place(session, row):
                placed += 1
        return placed

    def bind_ports(self, session, router_id: str, host: str | None) -> None:
        """Set ``binding:host_id`` of the router's gateway and interface ports to
        ``host`` (``""`` for None), with feed changes for the new and old hosts."""
        host = host or ""
        for port in session.scalars(sa.select(P).where(
                P.device_id == router_id, P.device_owner.in_(ROUTER_PORT_OWNERS))):
            if port.host_id == host:
                continue
            old = port.host_id
            port.host_id = host
            touch(port)
            session.flush()
            if old:
                self.net.changed(session, "port", port.id, "delete", host=old)
            self.net.changed(session, "port", port.id, host=host or None)
            groups = self.net.ports.security_groups_of(session, [port.id])[port.id]
            peers.wake(self.net, session, port.network_id, groups, [old, host], port.id)
        session.flush()

    def add(self, session, agent: smodels.Agent, router: l3models.Router) -> None:
        """Host ``router`` on ``agent`` (404 InvalidL3Agent when the agent is disabled;
        409 RouterHostedByL3Agent when another agent hosts it; a no-op when this one
        does)."""
        if not agent.admin_state_up:
            raise InvalidL3Agent(id=agent.id)
        current = self.hosting_agent(session, router.id)
        if current is not None:
            if current.id == agent.id:
                return
            raise RouterHostedByL3Agent(router_id=router.id, agent_id=current.id)
        session.add(B(router_id=router.id, l3_agent_id=agent.id))
        session.flush()
        self.bind_ports(session, router.id, agent.host)
        self.net.changed(session, "router", router.id)

    def remove(self, session, agent: smodels.Agent, router_id: str) -> None:
        """Stop hosting ``router_id`` on ``agent`` (409 RouterNotHostedByL3Agent); its
        ports are unbound. It is placed again on the next L3 agent heartbeat."""
        binding = session.get(B, router_id)
        if binding is None or binding.l3_agent_id != agent.id:
            raise RouterNotHostedByL3Agent(router_id=router_id, agent_id=agent.id)
        self.net.changed(session, "router", router_id)  # for the host it leaves
        session.delete(binding)
        session.flush()
        self.bind_ports(session, router_id, None)
        self.net.changed(session, "router", router_id)

    def forget_agent(self, session, agent: smodels.Agent) -> None:
        """Before ``agent`` is deleted: unhost its routers and unbind their ports."""
        for router_id in self.routers_of(session, agent.id):
            self.net.changed(session, "router", router_id)  # for the host it leaves
            session.delete(session.get(B, router_id))
            session.flush()
            self.bind_ports(session, router_id, None)
            self.net.changed(session, "router", router_id)

    def forget_router(self, session, router_id: str) -> None:
        """Before a router is deleted: drop its binding."""
        session.execute(sa.delete(B).where(B.router_id == router_id))

    def stranded(self, session) -> list[str]:
        """Ids of routers hosted by an L3 agent that is down (no heartbeat for
        ``agent_down_time_s``), when some alive agent could take them (else ``[]``:
        they stay where they are). As in Neutron, routers stay on an agent that is
        only administratively disabled."""
        alive = self.net.agents.alive_clause()
        ids = list(session.scalars(
            sa.select(B.router_id).join(A, A.id == B.l3_agent_id)
            .where(~alive).order_by(B.router_id)))
        if not ids or self._least_loaded(session) is None:
            return []
        return ids

    def reschedule_from_dead(self, session) -> list[str]:
        """Move every :meth:`stranded` router to the least-loaded alive agent
        (Neutron's ``allow_automatic_l3agent_failover``), re-binding its ports (feed
        changes for the old and new hosts). Returns the ids of the routers moved. Run
        periodically (:mod:`kumo.common.periodic`)."""
        moved = []
        for router_id in self.stranded(session):
            router = session.get(R, router_id)
            if router is None:
                continue
            session.delete(session.get(B, router_id))
            session.flush()
            if self.place(session, router) is not None:  # feed changes: place's
                moved.append(router_id)
        return moved
