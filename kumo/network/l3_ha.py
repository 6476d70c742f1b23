"""L3 HA on the controller (Networking API v2.0 extension ``l3-ha``; Neutron's
``l3_hamode_db``): the hidden HA networks, the VRIDs and the ``ha-`` ports.

Internal API (``networking.l3_ha``; every write inside
:meth:`kumo.network.manager.Networking.write`):

- :meth:`L3HA.setup` ``(session, ctx, router)``: a VRID for the router on its
  project's HA network (made on first use); 409 NoVRIDAvailable past 254 routers.
- :meth:`L3HA.add_port` / :meth:`L3HA.remove_port` ``(session, ctx, router, agent)``:
  the router's ``network:router_ha_interface`` port for one hosting agent (bound to its
  host, project ``""``, name ``HA port tenant <project>``).
- :meth:`L3HA.teardown` ``(session, ctx, router)``: its ports and VRID; the HA network
  goes with the project's last HA router.
- :meth:`L3HA.render` ``(session, router_ids)`` -> ``{router_id: {"vr_id", "cidr",
  "ports": {host: port}}}`` for the data-plane snapshot.

**The HA network** is an ordinary VXLAN network named ``HA network tenant
<project-id>`` with one subnet ``l3_ha_net_cidr`` (169.254.192.0/18: no gateway, no
DHCP) and port security off. Its ``project_id`` is ``""``, as in Neutron, so the
project never sees it (admins do); its row in ``network_ha_router_network`` ties it to
the project. VRRP runs over it between the router's hosts, through the L2 agents'
VXLAN like any tenant traffic.

**VRIDs**: 1..254 per HA network (VRRP's 8-bit id, 0 and 255 reserved), the lowest
free one; the 255th HA router of a project is a 409 ``NoVRIDAvailable`` and, as the
whole request is one transaction, leaves nothing behind (not even a new HA network).
"""
from __future__ import annotations

import dataclasses
import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network import l3
from kumo.network.models import core as cmodels
from kumo.network.models import ports as pmodels
from kumo.network.models.l3_ha import HARouterNetwork, HARouterVRID

HA_OWNER = "network:router_ha_interface"
HA_NETWORK_NAME = "HA network tenant %s"
HA_SUBNET_NAME = "HA subnet tenant %s"
HA_PORT_NAME = "HA port tenant %s"
VRID_RANGE = range(1, 255)
P = pmodels.Port


class NoVRIDAvailable(exc.Conflict):
    message = ("No more Virtual Router Identifier (VRID) available when creating "
               "router %(router_id)s. The limit of number of HA Routers per tenant is "
               "254.")


class HARouterAdminStateUp(exc.Conflict):
    """Converting legacy <-> HA needs the router down first (Neutron's rule)."""
    message = ("Cannot change HA attribute of active routers. Please set router "
               "admin_state_up to False prior to upgrade")


class L3HA:
    """See the module doc."""

    def __init__(self, networking):
        self.net = networking

    # -- reads -----------------------------------------------------------------------
    def network_of(self, session, project_id: str) -> str | None:
        """The id of ``project_id``'s HA network, or None."""
        return session.scalar(sa.select(HARouterNetwork.network_id).where(
            HARouterNetwork.project_id == project_id))

    def vr_id(self, session, router_id: str) -> int | None:
        return session.scalar(sa.select(HARouterVRID.vr_id).where(
            HARouterVRID.router_id == router_id))

    def ports(self, session, router_id: str) -> list:
        """The router's HA port rows, oldest first."""
        return list(session.scalars(sa.select(P).where(
            P.device_id == router_id, P.device_owner == HA_OWNER)
            .order_by(P.created_at, P.id)))

    def render(self, session, router_ids: list[str]) -> dict[str, dict]:
        """``{router_id: {"vr_id", "network_id", "cidr", "ports": {host: {"port_id",
        "network_id", "mac_address", "ip_address", "prefixlen"}}}}`` for HA routers."""
        if not router_ids:
            return {}
        V = HARouterVRID
        out: dict[str, dict] = {}
        for r in session.execute(sa.select(V.router_id, V.vr_id, V.network_id).where(
                V.router_id.in_(router_ids))):
            out[r.router_id] = {"vr_id": r.vr_id, "network_id": r.network_id,
                                "cidr": self.net.settings.l3_ha_net_cidr, "ports": {}}
        if not out:
            return out
        ports = list(session.scalars(sa.select(P).where(
            P.device_id.in_(list(out)), P.device_owner == HA_OWNER)))
        ips = l3.fixed_ips(session, [p.id for p in ports])
        for p in ports:
            if not p.host_id or not ips[p.id]:
                continue
            ip = ips[p.id][0]
            out[p.device_id]["ports"][p.host_id] = {
                "port_id": p.id, "network_id": p.network_id, "mac_address": p.mac_address,
                "ip_address": ip["ip_address"],
                "prefixlen": ipaddress.ip_network(ip["cidr"]).prefixlen}
        return out

    # -- writes ----------------------------------------------------------------------
    def _ensure_network(self, session, ctx: RequestContext, project_id: str) -> str:
        net_id = self.network_of(session, project_id)
        if net_id is not None:
            return net_id
        admin = dataclasses.replace(l3.elevated(ctx), project_id=project_id)
        network = self.net.networks.create(session, admin, {
            "name": HA_NETWORK_NAME % project_id, "admin_state_up": True,
            "shared": False, "port_security_enabled": False})
        network.project_id = ""
        session.flush()
        subnet = self.net.subnets.create(session, admin, network, {
            "name": HA_SUBNET_NAME % project_id, "ip_version": 4,
            "cidr": self.net.settings.l3_ha_net_cidr, "gateway_ip": None,
            "enable_dhcp": False})
        subnet.project_id = ""
        session.add(HARouterNetwork(project_id=project_id, network_id=network.id))
        session.flush()
        self.net.changed(session, "network", network.id)
        return network.id

    def setup(self, session, ctx: RequestContext, router) -> int:
        """Give ``router`` a VRID on its project's HA network (made on first use);
        returns it. 409 NoVRIDAvailable when the project's 254 are taken."""
        have = self.vr_id(session, router.id)
        if have is not None:
            return have
        net_id = self._ensure_network(session, ctx, router.project_id)
        used = set(session.scalars(sa.select(HARouterVRID.vr_id).where(
            HARouterVRID.network_id == net_id)))
        vr_id = next((v for v in VRID_RANGE if v not in used), None)
        if vr_id is None:
            raise NoVRIDAvailable(router_id=router.id)
        session.add(HARouterVRID(network_id=net_id, vr_id=vr_id, router_id=router.id))
        session.flush()
        return vr_id

    def add_port(self, session, ctx: RequestContext, router, agent) -> None:
        """The router's HA port for ``agent`` (bound to its host), unless it exists."""
        if any(p.host_id == agent.host for p in self.ports(session, router.id)):
            return
        self.setup(session, ctx, router)
        net_id = self.network_of(session, router.project_id)
        ctx = dataclasses.replace(ctx, project_id=router.project_id)
        l3._new_port(self.net, session, ctx, {
            "name": HA_PORT_NAME % router.project_id, "network_id": net_id,
            "device_id": router.id, "device_owner": HA_OWNER,
            "binding:host_id": agent.host, "port_security_enabled": False}, "")

    def remove_port(self, session, ctx: RequestContext, router_id: str, host: str) -> None:
        """Delete the router's HA port bound to ``host`` (if any)."""
        for port in self.ports(session, router_id):
            if port.host_id == host:
                l3._drop_port(self.net, session, ctx, port)

    def prune(self, session, ctx: RequestContext, router, hosts) -> None:
        """Delete the router's HA ports bound to a host not in ``hosts`` (after the
        router was placed again: a legacy <-> distributed conversion of an HA router
        may move it to other agents)."""
        keep = set(hosts)
        for port in self.ports(session, router.id):
            if port.host_id not in keep:
                l3._drop_port(self.net, session, ctx, port)

    def teardown(self, session, ctx: RequestContext, router) -> None:
        """Remove the router's HA ports and VRID; the project's HA network goes with its
        last HA router."""
        for port in self.ports(session, router.id):
            l3._drop_port(self.net, session, ctx, port)
        net_id = session.scalar(sa.select(HARouterVRID.network_id).where(
            HARouterVRID.router_id == router.id))
        session.execute(sa.delete(HARouterVRID).where(HARouterVRID.router_id == router.id))
        session.flush()
        if net_id is None:
            return
        if session.scalar(sa.select(HARouterVRID.vr_id).where(
                HARouterVRID.network_id == net_id).limit(1)) is not None:
            return
        if session.scalar(sa.select(P.id).where(P.network_id == net_id).limit(1)):
            return  # someone else's port: keep the network
        network = session.get(cmodels.Network, net_id)
        session.execute(sa.delete(HARouterNetwork).where(
            HARouterNetwork.network_id == net_id))
        if network is not None:
            self.net.networks.delete(session, l3.elevated(ctx), network)
        session.flush()
