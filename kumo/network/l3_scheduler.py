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
  feed's router items carry it as ``"host"``; for an HA router the host its ``qr-``/
  ``qg-`` ports are bound to: the master's), :meth:`L3Scheduler.all_hosts` -> ``{router_id:
  [host]}`` (every hosting agent's host, ``"hosts"`` in the feed).
- :meth:`L3Scheduler.report_ha_states` ``(session, host, states)``: the VRRP state
  (``active``/``standby``) of the HA routers on ``host``, from its L3 agent.

**Least loaded**: among alive (heartbeat younger than ``agent_down_time_s``),
``admin_state_up`` L3 agents, the one hosting the fewest routers; ties go to the
smallest host name. A legacy router is hosted by one agent at most.

**HA routers** (``ha``) are hosted by up to ``max_l3_agents_per_router`` agents (the
least loaded ones), each with its own ``ha-`` port on the project's HA network
(:mod:`kumo.network.l3_ha`); with fewer than ``min_l3_agents_per_router`` alive it is
scheduled to those there are (a warning is logged), and an HA router with no agent
is placed by the next L3 agent heartbeat like any router. Adding an HA router to one
more agent is allowed (no 409); removing it from its master moves the mastership (the
manual failover: remove, then add back as a standby); disabling an agent
(``admin_state_up`` false) drains its HA routers the same way until it is enabled
again (:meth:`agent_toggled`). HA routers are never moved off
dead agents by :meth:`reschedule_from_dead`: VRRP fails over by itself. The router's
``qr-``/``qg-`` ports are bound to the host whose agent last reported ``active`` (the
first hosting agent until one does), so L2 population sends their traffic to the
master, as Neutron binds an HA router's ports to its active agent.

**Port binding**: the router's gateway and interface ports get ``binding:host_id`` =
the hosting agent's host (``""`` when unhosted), and each change is appended to the
feed with the new host (and a ``delete`` for the old host), so exactly the hosting
host's agent realizes the router's legs.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network import peers
from kumo.network.manager import touch
from kumo.network.models import l3 as l3models
from kumo.network.models import ports as pmodels
from kumo.network.models import security as smodels
from kumo.network.models.l3_agent import RouterL3AgentBinding

LOG = logging.getLogger(__name__)
L3_AGENT = "L3 agent"
ROUTER_PORT_OWNERS = ("network:router_gateway", "network:router_interface",
                      "network:router_centralized_snat")
B, A, R, P = RouterL3AgentBinding, smodels.Agent, l3models.Router, pmodels.Port
#: The context of the scheduler's own writes (HA ports made on a heartbeat).
SYSTEM = RequestContext(roles=["admin"])
HA_STATES = ("active", "standby")


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
    def bindings(self, session, router_id: str) -> list[tuple[smodels.Agent, str | None]]:
        """``[(agent row, ha_state)]`` of the agents hosting ``router_id``, the active
        one first, then by host."""
        return [(r[0], r[1]) for r in session.execute(
            sa.select(A, B.ha_state).join(B, B.l3_agent_id == A.id)
            .where(B.router_id == router_id)
            .order_by(sa.case((B.ha_state == "active", 0), else_=1), A.host, A.id))]

    def hosting_agent(self, session, router_id: str) -> smodels.Agent | None:
        """The agent row hosting ``router_id`` (an HA router's master, else its first
        agent), or None."""
        found = self.bindings(session, router_id)
        return found[0][0] if found else None

    def hosts(self, session, router_ids: list[str] | None = None) -> dict[str, str]:
        """``{router_id: host}`` for hosted routers (all of them when ``router_ids`` is
        None); an HA router's master host (else its first)."""
        out: dict[str, str] = {}
        for rid, hosts in self.all_hosts(session, router_ids).items():
            out[rid] = hosts[0]
        return out

    def all_hosts(self, session, router_ids: list[str] | None = None
                  ) -> dict[str, list[str]]:
        """``{router_id: [host, ...]}``, the active one first, then by host. An HA
        router leaves out agents that are administratively disabled: they stop
        running it (disabling an L3 agent drains its HA routers; a legacy router
        stays, as in Neutron)."""
        stmt = (sa.select(B.router_id, A.host).join(A, A.id == B.l3_agent_id)
                .join(R, R.id == B.router_id)
                .where(sa.or_(R.ha.is_(False), A.admin_state_up.is_(True)))
                .order_by(B.router_id, sa.case((B.ha_state == "active", 0), else_=1),
                          A.host))
        if router_ids is not None:
            if not router_ids:
                return {}
            stmt = stmt.where(B.router_id.in_(router_ids))
        out: dict[str, list[str]] = {}
        for r in session.execute(stmt):
            out.setdefault(r.router_id, []).append(r.host)
        return out

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

    def _least_loaded(self, session, router: l3models.Router | None = None,
                      zones=None) -> smodels.Agent | None:
        """The least-loaded alive agent that may host ``router``."""
        found = self._candidates(session, (), 1, router, zones)
        return found[0] if found else None

    def _candidates(self, session, exclude=(), limit: int = 1,
                    router: l3models.Router | None = None,
                    zones=None) -> list[smodels.Agent]:
        """Up to ``limit`` alive, enabled L3 agents not in ``exclude`` that may host
        ``router`` (its ``agent_mode``: :meth:`kumo.network.dvr.Dvr.eligible`), least
        loaded first; only agents of ``zones`` when given (a router's zone hints)."""
        load = (sa.select(B.l3_agent_id, sa.func.count().label("n"))
                .group_by(B.l3_agent_id).subquery())
        stmt = (sa.select(A).outerjoin(load, load.c.l3_agent_id == A.id)
                .where(A.agent_type == L3_AGENT, A.admin_state_up.is_(True),
                       self.net.agents.alive_clause())
                .order_by(sa.func.coalesce(load.c.n, 0), A.host, A.id))
        if exclude:
            stmt = stmt.where(A.id.not_in(list(exclude)))
        if zones:
            stmt = stmt.where(A.availability_zone.in_(list(zones)))
        out = []
        for agent in session.scalars(stmt):
            if len(out) >= limit:
                break
            if self.net.dvr.eligible(agent, router):
                out.append(agent)
        return out

    def _underhosted_clause(self, session):
        """SQL: routers without an agent. (HA routers with fewer agents than wanted are
        not topped up on heartbeats: that would undo an admin's removal, the manual
        failover; adding interfaces or a gateway tops them up.)"""
        return ~sa.exists().where(B.router_id == R.id)

    # -- writes ----------------------------------------------------------------------
    def place(self, session, router: l3models.Router) -> str | None:
        """Schedule ``router`` if unhosted (an HA router: to up to
        ``max_l3_agents_per_router`` agents) and an agent is alive; bind its ports to
        the hosting (master) host. Returns the host (None: unhosted)."""
        if router.ha:
            return self._place_ha(session, router)
        agent = self.hosting_agent(session, router.id)
        if agent is None:
            agent = self._least_loaded(session, router,
                                       zones=router.availability_zone_hints)
            if agent is not None:
                session.add(B(router_id=router.id, l3_agent_id=agent.id))
                session.flush()
                self.net.changed(session, "router", router.id)
        host = agent.host if agent is not None else None
        self.bind_ports(session, router.id, host)
        return host

    def _place_ha(self, session, router: l3models.Router) -> str | None:
        current = [a for a, _ in self.bindings(session, router.id)]
        room = self.net.settings.max_l3_agents_per_router - len(current)
        added = (self._candidates(session, [a.id for a in current], room, router,
                                  router.availability_zone_hints) if room > 0 else [])
        for agent in added:
            session.add(B(router_id=router.id, l3_agent_id=agent.id))
            session.flush()
            self.net.l3_ha.add_port(session, SYSTEM, router, agent)
        for agent in current:  # a router converted to HA keeps its agent
            self.net.l3_ha.add_port(session, SYSTEM, router, agent)
        if added:
            self.net.changed(session, "router", router.id)
        if len(current) + len(added) < self.net.settings.min_l3_agents_per_router:
            LOG.warning("HA router %s has %d L3 agents, fewer than "
                        "min_l3_agents_per_router (%d)", router.id,
                        len(current) + len(added),
                        self.net.settings.min_l3_agents_per_router)
        host = self.hosts(session, [router.id]).get(router.id)
        self.bind_ports(session, router.id, host)
        return host

    def has_unhosted(self) -> bool:
        """Whether some router has no hosting agent (a read of its own)."""
        with self.net.read() as s:
            return s.scalar(sa.select(R.id).where(self._underhosted_clause(s))
                            .limit(1)) is not None

    def schedule_unhosted(self, session) -> int:
        """Place every router no agent hosts; returns how many got an agent."""
        ids = list(session.scalars(sa.select(R.id).where(self._underhosted_clause(session))
                                   .order_by(R.created_at, R.id)))
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
        router = session.get(R, router_id)
        distributed = router is not None and router.distributed
        for port in session.scalars(sa.select(P).where(
                P.device_id == router_id, P.device_owner.in_(ROUTER_PORT_OWNERS))):
            # a distributed router's interfaces have a leg on every host: unbound
            want = "" if distributed and port.device_owner == ROUTER_PORT_OWNERS[1] \
                else host
            if port.host_id == want:
                continue
            old = port.host_id
            port.host_id = want
            touch(port)
            session.flush()
            if old:
                self.net.changed(session, "port", port.id, "delete", host=old)
            self.net.changed(session, "port", port.id, host=want or None)
            groups = self.net.ports.security_groups_of(session, [port.id])[port.id]
            peers.wake(self.net, session, port.network_id, groups, [old, want], port.id)
        session.flush()

    def add(self, session, agent: smodels.Agent, router: l3models.Router) -> None:
        """Host ``router`` on ``agent`` (404 InvalidL3Agent when the agent is disabled;
        409 RouterHostedByL3Agent when another agent hosts a legacy router; a no-op
        when this one does). An HA router gets one more agent (and ``ha-`` port)."""
        if not agent.admin_state_up:
            raise InvalidL3Agent(id=agent.id)
        if router.ha:
            if any(a.id == agent.id for a, _ in self.bindings(session, router.id)):
                return
            session.add(B(router_id=router.id, l3_agent_id=agent.id))
            session.flush()
            self.net.l3_ha.add_port(session, SYSTEM, router, agent)
            self.bind_ports(session, router.id, self.hosts(session, [router.id])[router.id])
            self.net.changed(session, "router", router.id)
            return
        current = self.hosting_agent(session, router.id)
        if current is not None:
            if current.id == agent.id:
                return
            raise RouterHostedByL3Agent(router_id=router.id, agent_id=current.id)
        session.add(B(router_id=router.id, l3_agent_id=agent.id))
        session.flush()
        self.bind_ports(session, router.id, agent.host)
        self.net.changed(session, "router", router.id)

    def _unbind(self, session, agent: smodels.Agent, router_id: str) -> None:
        self.net.changed(session, "router", router_id)  # for the host it leaves
        session.execute(sa.delete(B).where(B.router_id == router_id,
                                           B.l3_agent_id == agent.id))
        session.flush()
        router = session.get(R, router_id)
        if router is not None and router.ha:
            self.net.l3_ha.remove_port(session, SYSTEM, router_id, agent.host)
        self.bind_ports(session, router_id, self.hosts(session, [router_id]).get(router_id))
        self.net.changed(session, "router", router_id)

    def remove(self, session, agent: smodels.Agent, router_id: str) -> None:
        """Stop hosting ``router_id`` on ``agent`` (409 RouterNotHostedByL3Agent); its
        ports are unbound (an HA router's go to another of its agents). It is placed
        again on the next L3 agent heartbeat when no agent is left."""
        if session.get(B, (router_id, agent.id)) is None:
            raise RouterNotHostedByL3Agent(router_id=router_id, agent_id=agent.id)
        self._unbind(session, agent, router_id)

    def forget_agent(self, session, agent: smodels.Agent) -> None:
        """Before ``agent`` is deleted: unhost its routers and unbind their ports."""
        for router_id in self.routers_of(session, agent.id):
            self._unbind(session, agent, router_id)

    def forget_router(self, session, router_id: str) -> None:
        """Before a router is deleted: drop its bindings."""
        session.execute(sa.delete(B).where(B.router_id == router_id))

    def make_legacy(self, session, router: l3models.Router) -> None:
        """A router converted from HA to legacy keeps one agent (its master, else the
        first) with no HA state."""
        found = self.bindings(session, router.id)
        for agent, _ in found[1:]:
            session.execute(sa.delete(B).where(B.router_id == router.id,
                                               B.l3_agent_id == agent.id))
        session.execute(sa.update(B).where(B.router_id == router.id).values(ha_state=None))
        session.flush()

    def agent_toggled(self, session, agent: smodels.Agent) -> None:
        """After ``agent``'s ``admin_state_up`` changed: its HA routers leave it (or
        come back to it, as standbys); their ports go to another of their agents."""
        for router_id in self.routers_of(session, agent.id):
            router = session.get(R, router_id)
            if router is None or not router.ha:
                continue
            self.net.changed(session, "router", router_id)
            if not agent.admin_state_up:
                session.execute(sa.update(B).where(
                    B.router_id == router_id, B.l3_agent_id == agent.id)
                    .values(ha_state="standby"))
                session.flush()
            self.bind_ports(session, router_id, self.hosts(session, [router_id]).get(
                router_id))

    def report_ha_states(self, session, host: str, states: dict[str, str]) -> int:
        """Record the VRRP state (``active``/``standby``) of HA routers on ``host``'s
        L3 agent; a router turning active there has its ports bound to ``host``.
        Unknown routers or routers not hosted there are skipped. Returns how many
        bindings changed."""
        found_agent = session.execute(sa.select(A.id, A.admin_state_up).where(
            A.host == host, A.agent_type == L3_AGENT)).first()
        if found_agent is None:
            return 0
        agent_id = found_agent.id
        if not found_agent.admin_state_up:  # draining: it is no master of ours
            states = {r: "standby" for r in states}
        changed = 0
        for router_id, state in sorted(states.items()):
            if state not in HA_STATES:
                continue
            binding = session.get(B, (router_id, agent_id))
            if binding is None:
                continue
            if binding.ha_state != state:
                binding.ha_state = state
                changed += 1
            if state == "active":
                # one master in the database: the others become standby
                session.execute(sa.update(B).where(
                    B.router_id == router_id, B.l3_agent_id != agent_id,
                    B.ha_state == "active").values(ha_state="standby"))
            session.flush()
            found = self.bindings(session, router_id)
            if not found or found[0][1] != "active":
                continue  # no master known: the ports stay where they are
            master = found[0][0].host
            router = session.get(R, router_id)
            # a distributed router's interfaces stay unbound: only its centralized
            # ports (gateway, sg-) follow the master
            owners = ROUTER_PORT_OWNERS if router is None or not router.distributed \
                else (ROUTER_PORT_OWNERS[0], ROUTER_PORT_OWNERS[2])
            before = set(session.scalars(sa.select(P.host_id).where(
                P.device_id == router_id, P.device_owner.in_(owners))))
            if before and before != {master}:
                self.bind_ports(session, router_id, master)
                self.net.changed(session, "router", router_id)
        return changed

    def stranded(self, session) -> list[str]:
        """Ids of routers hosted by an L3 agent that is down (no heartbeat for
        ``agent_down_time_s``), when some alive agent could take them (else ``[]``:
        they stay where they are). As in Neutron, routers stay on an agent that is
        only administratively disabled."""
        alive = self.net.agents.alive_clause()
        ids = list(session.scalars(
            sa.select(B.router_id).join(A, A.id == B.l3_agent_id)
            .join(R, R.id == B.router_id)
            .where(~alive, R.ha.is_(False)).order_by(B.router_id)))
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
            session.execute(sa.delete(B).where(B.router_id == router_id))
            session.flush()
            if self.place(session, router) is not None:  # feed changes: place's
                moved.append(router_id)
        return moved
