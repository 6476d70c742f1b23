"""Distributed virtual routers (Networking API v2.0 extension ``dvr``; Neutron's
``l3_dvr_db`` and ``dvr_mac_db``), the server side.

Internal API (``networking.dvr``; every write inside
:meth:`kumo.network.manager.Networking.write` unless said otherwise):

- :func:`agent_mode` ``(configurations)``: an L3 agent's ``agent_mode`` as it reports
  it in its heartbeat (``legacy`` when absent);
- :meth:`Dvr.eligible` ``(agent, router)``: whether the L3 agent scheduler may host
  ``router`` on ``agent``: a distributed router's centralized part (SNAT, the gateway
  port) only on ``dvr_snat`` agents, a legacy router on ``legacy`` or ``dvr_snat``
  ones (as Neutron's schedulers; ``dvr`` agents host no router);
- :meth:`Dvr.check_update` ``(row, attrs)``: converting ``distributed`` needs the
  router down (409 :class:`RouterConversionConflict`);
- :meth:`Dvr.sync` ``(session, ctx, router)``: the router's ``sg-`` ports (device
  owner ``network:router_centralized_snat``, one per internal subnet while the router
  is distributed and has a gateway, bound to the SNAT host) and the ``fg-`` ports of its
  external network (:meth:`sync_fip_gateways`);
- :meth:`Dvr.sync_fip_gateways` ``(session, ctx, network_id)``: one ``fg-`` port
  (``network:floatingip_agent_gateway``, project ``""``, ``device_id`` the host's L3
  agent id, bound to the host) per host that has a floating IP of a distributed router
  on ``network_id`` whose fixed port is bound to it; others are deleted;
- :meth:`Dvr.announce` ``(session, router)``: the router's interface networks and
  subnets announced to the hosts holding it (they enter and leave with an interface);
- :meth:`Dvr.host_mac` / :meth:`Dvr.ensure_host_mac` ``(host)`` (the latter in its
  own transaction, after a ``dvr``/``dvr_snat`` L3 agent's heartbeat): the host's
  distributed MAC (``dvr_base_mac`` ``fa:16:3f`` + 3 bytes derived from the host name,
  the next free one on a collision), table ``network_dvr_host_mac``;
- :meth:`Dvr.decorate` ``(session, host, items)``: the feed's router items get
  ``snat_ports`` (the ``sg-`` ports, rendered as interfaces) and, for ``host``,
  ``dvr_host_mac``.

Where a distributed router lives on the data plane: a ``qrouter-`` on every host with
a port on one of its interfaces' networks (:func:`kumo.network.scope.attached_routers`
already gives those hosts the router), its ``snat-`` on the hosting (``dvr_snat``)
agent's host, and its floating IPs on the hosts of their fixed ports
(:func:`kumo.network.scope.dvr_floatingips`). Interface ports of a distributed router
stay unbound (every host has its own leg); its gateway and ``sg-`` ports are bound to
the SNAT host. A distributed router with ``ha`` (DVR+HA) is placed as HA routers are
(:mod:`kumo.network.l3_ha`: several ``dvr_snat`` agents, ``ha-`` ports, a VRID), its
``snat-`` runs on each of them under keepalived, and its gateway and ``sg-`` ports
follow the reported master (:meth:`kumo.network.l3_scheduler.L3Scheduler.report_ha_states`).
"""
from __future__ import annotations

import hashlib

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.models import dvr as models
from kumo.network.models import l3 as l3models
from kumo.network.models import ports as pmodels
from kumo.network.models import security as smodels

AGENT_MODES = ("legacy", "dvr", "dvr_snat")
DVR_MODES = ("dvr", "dvr_snat")
SNAT_OWNER = "network:router_centralized_snat"
FG_OWNER = "network:floatingip_agent_gateway"
IF_OWNER = "network:router_interface"
DVR_BASE_MAC = (0xFA, 0x16, 0x3F)
L3_AGENT = "L3 agent"
R, F, P, A = l3models.Router, l3models.FloatingIP, pmodels.Port, smodels.Agent
M = models.DvrHostMac


class RouterConversionConflict(exc.Conflict):
    message = ("Cannot change the 'distributed' attribute of active routers. Please set "
               "router admin_state_up to False prior to upgrade")


def agent_mode(configurations: dict | None) -> str:
    """The ``agent_mode`` an L3 agent reported (``legacy`` when none)."""
    mode = (configurations or {}).get("agent_mode") or "legacy"
    return mode if mode in AGENT_MODES else "legacy"


def candidate_mac(host: str, attempt: int = 0) -> str:
    """The ``attempt``-th distributed MAC candidate for ``host``."""
    digest = hashlib.sha256(f"{host}/{attempt}".encode()).digest()[:3]
    return ":".join(f"{b:02x}" for b in (*DVR_BASE_MAC, *digest))


class Dvr:
    """See the module doc."""

    def __init__(self, networking):
        self.net = networking

    # -- agents ------------------------------------------------------------------------
    @staticmethod
    def eligible(agent: smodels.Agent, router: l3models.Router | None) -> bool:
        mode = agent_mode(agent.configurations)
        if router is not None and router.distributed:
            return mode == "dvr_snat"
        return mode in ("legacy", "dvr_snat")

    def host_mac(self, session, host: str) -> str | None:
        return session.scalar(sa.select(M.mac_address).where(M.host == host))

    def ensure_host_mac(self, host: str, configurations: dict | None = None) -> str | None:
        """Allocate ``host``'s distributed MAC when its L3 agent reports a DVR mode and it
        has none (a read when it has one); routers the host holds are announced to it."""
        if agent_mode(configurations) not in DVR_MODES:
            return None
        with self.net.read() as s:
            mac = self.host_mac(s, host)
        if mac:
            return mac
        from kumo.network import scope

        with self.net.write() as s:
            mac = self.host_mac(s, host)
            if mac:
                return mac
            taken = set(s.scalars(sa.select(M.mac_address)))
            attempt = 0
            while (mac := candidate_mac(host, attempt)) in taken:
                attempt += 1
            s.add(M(host=host, mac_address=mac))
            s.flush()
            for router_id in s.scalars(scope.attached_routers(host)):
                self.net.changed(s, "router", router_id, host=host)
        return mac

    # -- routers ------------------------------------------------------------------------
    def check_update(self, row: l3models.Router, attrs: dict) -> bool:
        """Whether the update converts the router (legacy <-> distributed); 409
        :class:`RouterConversionConflict` while the router is up."""
        if "distributed" not in attrs or bool(attrs["distributed"]) == bool(row.distributed):
            return False
        if row.admin_state_up:
            raise RouterConversionConflict()
        return True

    def snat_ports(self, session, router_ids: list[str]) -> dict[str, list]:
        out: dict[str, list] = {r: [] for r in router_ids}
        if router_ids:
            for port in session.scalars(sa.select(P).where(
                    P.device_id.in_(router_ids), P.device_owner == SNAT_OWNER)
                    .order_by(P.created_at, P.id)):
                out[port.device_id].append(port)
        return out

    def sync(self, session, ctx: RequestContext, router: l3models.Router,
             gw_networks: tuple = ()) -> None:
        """Make the router's ``sg-`` ports and the ``fg-`` ports of its (and
        ``gw_networks``') external networks match (see the module doc)."""
        from kumo.network import l3

        want: dict[str, str] = {}  # subnet id -> network id
        if router.distributed and router.gw_port_id:
            ifaces = self.net.routers.interface_ports(session, [router.id])[router.id]
            ips = l3.fixed_ips(session, [p.id for p in ifaces])
            for port in ifaces:
                for ip in ips[port.id]:
                    want.setdefault(ip["subnet_id"], port.network_id)
        have = self.snat_ports(session, [router.id])[router.id]
        held = l3.fixed_ips(session, [p.id for p in have])
        changed = False
        for port in have:
            subnets = {i["subnet_id"] for i in held[port.id]}
            if not subnets & set(want):
                l3._drop_port(self.net, session, ctx, port)
                changed = True
            else:
                for s in subnets:
                    want.pop(s, None)
        host = self.net.l3_scheduler.hosts(session, [router.id]).get(router.id) or ""
        for subnet_id, network_id in want.items():
            port = l3._new_port(self.net, session, ctx, {
                "network_id": network_id, "device_id": router.id,
                "device_owner": SNAT_OWNER, "binding:host_id": host,
                "fixed_ips": [{"subnet_id": subnet_id}]}, router.project_id)
            self.net.changed(session, "port", port.id)
            changed = True
        if changed:
            session.flush()
            self.net.changed(session, "router", router.id)
        for network_id in dict.fromkeys((router.gw_network_id, *gw_networks)):
            if network_id:
                self.sync_fip_gateways(session, ctx, network_id)

    def announce(self, session, router: l3models.Router) -> None:
        """For a distributed router: announce its interface networks and their subnets
        to the hosts holding it (a host routes onto all of them, so they enter or leave
        its state with an interface; call before removing one and after adding one)."""
        if not router.distributed:
            return
        from kumo.network import scope

        hosts = scope.router_hosts(session, router.id)
        if not hosts:
            return
        nets = set(session.scalars(sa.select(P.network_id).where(
            P.device_id == router.id, P.device_owner == IF_OWNER)))
        for net in sorted(nets):
            self.net.changed(session, "network", net, hosts=hosts)
            for subnet in session.scalars(sa.select(pmodels.Subnet.id).where(
                    pmodels.Subnet.network_id == net)):
                self.net.changed(session, "subnet", subnet, hosts=hosts)

    # -- floating IP gateways ----------------------------------------------------------
    def sync_fip_gateways(self, session, ctx: RequestContext, network_id: str | None) -> None:
        """The ``fg-`` ports of external network ``network_id`` (see the module doc)."""
        if not network_id:
            return
        from kumo.network import l3

        FP = sa.orm.aliased(P)
        hosts = set(session.scalars(
            sa.select(FP.host_id).select_from(F)
            .join(FP, FP.id == F.fixed_port_id).join(R, R.id == F.router_id)
            .where(F.floating_network_id == network_id, R.distributed.is_(True),
                   FP.host_id != "").distinct()))
        agents = {a.host: a for a in session.scalars(sa.select(A).where(
            A.agent_type == L3_AGENT, A.host.in_(hosts)))} if hosts else {}
        hosts = {h for h in hosts if h in agents
                 and agent_mode(agents[h].configurations) in DVR_MODES}
        have = list(session.scalars(sa.select(P).where(
            P.network_id == network_id, P.device_owner == FG_OWNER)))
        for port in have:
            if port.host_id in hosts:
                hosts.discard(port.host_id)
            else:
                self.net.changed(session, "port", port.id, "delete")
                l3._drop_port(self.net, session, ctx, port)
        for host in sorted(hosts):
            port = l3._new_port(self.net, session, ctx, {
                "network_id": network_id, "device_id": agents[host].id,
                "device_owner": FG_OWNER, "binding:host_id": host}, "")
            self.net.changed(session, "port", port.id)
        session.flush()

    # -- the feed ----------------------------------------------------------------------
    def decorate(self, session, host: str | None, items: list[dict]) -> None:
        """Add ``snat_ports`` (rendered as the router's interfaces are) to distributed
        router items and, when ``host`` is given, ``dvr_host_mac`` (None until the
        host's agent reported a DVR mode)."""
        from kumo.network import l3

        dist = [i["id"] for i in items if i.get("distributed")]
        if not dist:
            return
        snat = self.snat_ports(session, dist)
        ips = l3.fixed_ips(session, [p.id for v in snat.values() for p in v])
        mac = self.host_mac(session, host) if host else None
        keys = ("subnet_id", "ip_address", "cidr", "gateway_ip")
        for item in items:
            if item.get("distributed"):
                item["snat_ports"] = [
                    {"port_id": p.id, "network_id": p.network_id,
                     "mac_address": p.mac_address,
                     "fixed_ips": [{k: i[k] for k in keys} for i in ips[p.id]]}
                    for p in snat[item["id"]]]
                item["dvr_host_mac"] = mac
