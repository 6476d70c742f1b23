"""Routers and floating IPs (Networking API v2.0: "Routers", "Floating IPs", and the
extensions router, ext-gw-mode, extraroute, extraroute-atomic, dvr, l3-ha,
router_availability_zone, fip-port-details).

Internal API (every call inside :meth:`kumo.network.manager.Networking.write`):

- ``networking.routers``: :meth:`Routers.create` / ``update`` / ``delete`` /
  ``add_interface`` / ``remove_interface`` / ``get``, and
  :meth:`Routers.refuse_port_delete`, subscribed (``Networking._subscribe``) to a
  port's deletion (409 ServicePortInUse for router and floating IP ports);
- ``networking.floatingips`` (:mod:`kumo.network.floatingips`): create / update /
  delete / get / set_status, and ``release_port`` (subscribed to a port's deletion).

A router's gateway port (``network:router_gateway``, project ``""`` as in Neutron) holds
an address of the external network; each interface port (``network:router_interface``)
holds the gateway IP of one subnet (or the address of a port attached by ``port_id``).
A floating IP's own port (``network:floatingip``, project ``""``) holds its address.
Everything changed is appended to the feed as ``router`` / ``floatingip``.
"""
from __future__ import annotations

import dataclasses
import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network import exceptions as nexc
from kumo.network.exceptions import (
    BadRequest, ExternalIpAddressExhausted, InvalidRoutes,
    RouterExternalGatewayInUseByFloatingIp, RouterInterfaceInUseByFloatingIP,
    RouterInterfaceInUseByRoute, RouterInterfaceNotFound, RouterInterfaceNotFoundForSubnet,
    ServicePortInUse, SubnetMismatchForPort)
from kumo.network import dvr
from kumo.network import scope, zones
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import l3 as models
from kumo.network.models import ports as pmodels

GW_OWNER = "network:router_gateway"
IF_OWNER = "network:router_interface"
FIP_OWNER = "network:floatingip"
HA_OWNER = "network:router_ha_interface"
L3_OWNERS = (GW_OWNER, IF_OWNER, FIP_OWNER, HA_OWNER, dvr.SNAT_OWNER)
MAX_ROUTES = 30
FIP_STATUSES = ("ACTIVE", "DOWN", "ERROR")
R, F, P = models.Router, models.FloatingIP, pmodels.Port


# -- helpers -------------------------------------------------------------------------
def elevated(ctx: RequestContext) -> RequestContext:
    """``ctx`` with the admin role: routers and floating IPs create their ports on
    networks the caller may not attach to directly (the external network)."""
    return dataclasses.replace(ctx, roles=sorted(set(ctx.roles) | {"admin"}))


def fixed_ips(session, port_ids: list[str]) -> dict[str, list[dict]]:
    """``{port_id: [{"subnet_id", "ip_address", "cidr", "gateway_ip", "ip_version",
    "address_scope_id"}]}`` (the scope of the subnet's pool, or None)."""
    out: dict[str, list[dict]] = {p: [] for p in port_ids}
    IA, S, SP = pmodels.IPAllocation, pmodels.Subnet, pmodels.SubnetPool
    for chunk in range(0, len(port_ids), 500):
        for r in session.execute(
                sa.select(IA.port_id, IA.subnet_id, IA.ip_address, S.cidr, S.gateway_ip,
                          S.ip_version, SP.address_scope_id)
                .join(S, S.id == IA.subnet_id)
                .outerjoin(SP, SP.id == S.subnetpool_id)
                .where(IA.port_id.in_(port_ids[chunk:chunk + 500]))
                .order_by(S.created_at, S.id)):
            out[r.port_id].append({"subnet_id": r.subnet_id, "ip_address": r.ip_address,
                                   "cidr": r.cidr, "gateway_ip": r.gateway_ip,
                                   "ip_version": r.ip_version,
                                   "address_scope_id": r.address_scope_id})
    return out


def _releasing(session) -> set:
    """Ids of L3-owned ports this transaction deletes itself (the delete hooks let them
    through)."""
    return session.info.setdefault("l3_releasing", set())


def _drop_port(net, session, ctx: RequestContext, port) -> None:
    _releasing(session).add(port.id)
    net.ports.delete(session, elevated(ctx), port)


def _new_port(net, session, ctx: RequestContext, attrs: dict, project_id: str):
    port = net.ports.create(session, elevated(ctx), {
        "name": "", "admin_state_up": True, "security_groups": [], **attrs,
        "project_id": project_id or ctx.project_id})
    port.project_id = project_id
    return port


class Routers:
    """Routers (see the module doc)."""

    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(R, ctx)

    def get(self, session, ctx: RequestContext, router_id: str) -> models.Router:
        """The router if the caller may see it; 404 RouterNotFound otherwise."""
        row = session.scalar(sa.select(R).where(R.id == router_id, self.visible(ctx)))
        if row is None:
            raise nexc.RouterNotFound(id=router_id)
        return row

    def interface_ports(self, session, router_ids: list[str]) -> dict[str, list]:
        """``{router_id: [interface Port rows, oldest first]}``."""
        out: dict[str, list] = {r: [] for r in router_ids}
        if router_ids:
            for port in session.scalars(sa.select(P).where(
                    P.device_id.in_(router_ids), P.device_owner == IF_OWNER)
                    .order_by(P.created_at, P.id)):
                out[port.device_id].append(port)
        return out

    # -- create / update / delete --------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict) -> models.Router:
        """Create a router from API attributes (policy already checked); with
        ``external_gateway_info`` its gateway port too (see :meth:`set_gateway`)."""
        row = R(project_id=attrs.get("project_id") or attrs.get("tenant_id")
                or ctx.project_id, name=attrs.get("name") or "",
                description=attrs.get("description") or "",
                admin_state_up=attrs.get("admin_state_up", True), status="ACTIVE",
                enable_snat=True, routes=[], distributed=bool(attrs.get("distributed")),
                ha=bool(attrs["ha"]) if attrs.get("ha") is not None
                else bool(self.net.settings.l3_ha),
                availability_zone_hints=zones.check_hints(
                    session, "router", attrs.get("availability_zone_hints")))
        stamp(row)
        session.add(row)
        session.flush()
        if row.ha:  # a VRID first: 409 NoVRIDAvailable before anything else is made
            self.net.l3_ha.setup(session, ctx, row)
        if attrs.get("external_gateway_info"):
            self.set_gateway(session, ctx, row, attrs["external_gateway_info"])
        self.net.changed(session, "router", row.id)
        self.net.qos.bind_gateway(session, ctx, row, attrs)
        self._place(session, row)
        self.net.dvr.sync(session, ctx, row)
        return row

    def update(self, session, ctx: RequestContext, row: models.Router, attrs: dict) -> None:
        """Apply ``name``, ``description``, ``admin_state_up``, ``distributed``, ``ha``,
        ``external_gateway_info`` and ``routes`` (400 InvalidRoutes)."""
        converting_dvr = self.net.dvr.check_update(row, attrs)
        old_gw_net = row.gw_network_id
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        converting = "ha" in attrs and attrs["ha"] is not None \
            and bool(attrs["ha"]) != row.ha
        if converting and row.admin_state_up:
            raise l3_ha.HARouterAdminStateUp()
        for key in ("admin_state_up", "distributed"):
            if key in attrs:
                setattr(row, key, bool(attrs[key]))
        if converting:
            self._convert_ha(session, ctx, row, bool(attrs["ha"]))
        if "external_gateway_info" in attrs:
            self.set_gateway(session, ctx, row, attrs["external_gateway_info"])
        if "routes" in attrs:
            row.routes = self.check_routes(session, row, attrs["routes"] or [])
        touch(row)
        self.net.changed(session, "router", row.id)
        if converting_dvr:  # the centralized part may need another kind of agent
            self.net.l3_scheduler.forget_router(session, row.id)
            session.flush()
        self.net.qos.bind_gateway(session, ctx, row, attrs)
        if "external_gateway_info" in attrs or converting or converting_dvr:
            self._place(session, row)
        if converting_dvr and row.ha:  # HA ports of agents that no longer host it go
            self.net.l3_ha.prune(session, ctx, row, self.net.l3_scheduler.all_hosts(
                session, [row.id]).get(row.id, []))
        if "external_gateway_info" in attrs or converting_dvr:
            self.net.dvr.sync(session, ctx, row, gw_networks=(old_gw_net,))

    def _convert_ha(self, session, ctx: RequestContext, row: models.Router,
                    ha: bool) -> None:
        """Legacy -> HA: a VRID (the agents and ``ha-`` ports come with placing);
        HA -> legacy: the ``ha-`` ports and VRID go, one agent stays."""
        self.net.changed(session, "router", row.id)  # for every host it may leave
        if ha:
            row.ha = True
            self.net.l3_ha.setup(session, ctx, row)
        else:
            row.ha = False
            self.net.l3_ha.teardown(session, ctx, row)
            self.net.l3_scheduler.make_legacy(session, row)

    def delete(self, session, ctx: RequestContext, row: models.Router) -> None:
        """Delete; 409 RouterInUse while it has interfaces. The gateway port goes with
        it."""
        if self.interface_ports(session, [row.id])[row.id]:
            raise nexc.RouterInUse(id=row.id, reason="still has ports")
        # while its host is known (the feed routes the change there)
        self.net.changed(session, "router", row.id, "delete")
        if row.gw_port_id:
            self._clear_gateway(session, ctx, row)
        session.execute(sa.update(F).where(F.router_id == row.id).values(router_id=None))
        if row.ha:
            self.net.l3_ha.teardown(session, ctx, row)
        self.net.l3_scheduler.forget_router(session, row.id)
        self.net.delete_tags(session, row.id)
        session.delete(row)
        session.flush()

    # -- gateway -------------------------------------------------------------------
    def set_gateway(self, session, ctx: RequestContext, row: models.Router,
                    info: dict | None) -> None:
        """Set, change or (with ``None``/``{}``) clear the external gateway.

        ``info``: ``{"network_id", "enable_snat"?, "external_fixed_ips"?:
        [{"subnet_id"?, "ip_address"?}]}``. 404 NetworkNotFound, 400 BadRequest when the
        network is not external or has no subnet, 409 IpAddressAlreadyAllocated, 409
        RouterExternalGatewayInUseByFloatingIp when floating IPs need the old gateway."""
        if not info or not info.get("network_id"):
            if info and ("enable_snat" in info or "external_fixed_ips" in info):
                raise BadRequest(resource="router", msg="network_id is required in "
                                                        "external_gateway_info")
            if row.gw_port_id:
                self._clear_gateway(session, ctx, row)
            return
        network = self.net.networks.get(session, ctx, info["network_id"])
        if not network.external:
            raise BadRequest(resource="router",
                             msg=f"Network {network.id} is not an external network")
        wanted = info.get("external_fixed_ips")
        row.enable_snat = info.get("enable_snat", True)
        if row.gw_network_id == network.id and row.gw_port_id:
            if wanted is None or self._same_ips(session, row.gw_port_id, wanted):
                return
            self._clear_gateway(session, ctx, row, keep_network=True)
        elif row.gw_port_id:
            self._clear_gateway(session, ctx, row)
        subnets = list(session.scalars(sa.select(pmodels.Subnet.id).where(
            pmodels.Subnet.network_id == network.id)))
        if not subnets:
            raise BadRequest(resource="router", msg=f"No subnets defined on external "
                                                    f"network {network.id}")
        attrs = {"network_id": network.id, "device_id": row.id, "device_owner": GW_OWNER}
        if wanted:
            attrs["fixed_ips"] = wanted
        try:
            port = _new_port(self.net, session, ctx, attrs, "")
        except nexc.IpAddressGenerationFailure:
            raise ExternalIpAddressExhausted(net_id=network.id) from None
        row.gw_port_id, row.gw_network_id = port.id, network.id
        session.flush()
        self._check_routes_connected(session, row)

    @staticmethod
    def _same_ips(session, port_id: str, wanted: list[dict]) -> bool:
        have = fixed_ips(session, [port_id])[port_id]
        if len(have) != len(wanted):
            return False
        for spec in wanted:
            if not any(spec.get("subnet_id", h["subnet_id"]) == h["subnet_id"]
                       and spec.get("ip_address", h["ip_address"]) == h["ip_address"]
                       for h in have):
                return False
        return True

    def _clear_gateway(self, session, ctx: RequestContext, row: models.Router,
                       keep_network: bool = False) -> None:
        if not keep_network and session.scalar(sa.select(F.id).where(
                F.router_id == row.id, F.floating_network_id == row.gw_network_id,
                F.fixed_port_id.is_not(None)).limit(1)):
            raise RouterExternalGatewayInUseByFloatingIp(router_id=row.id,
                                                         net_id=row.gw_network_id)
        port = session.get(P, row.gw_port_id)
        row.gw_port_id, row.gw_network_id = None, None
        session.flush()
        if port is not None:
            _drop_port(self.net, session, ctx, port)
        if not keep_network:
            self._check_routes_connected(session, row)

    # -- interfaces ----------------------------------------------------------------
    def add_interface(self, session, ctx: RequestContext, row: models.Router,
                      body: dict) -> dict:
        """``PUT /routers/{id}/add_router_interface`` with ``subnet_id`` (a new port with
        the subnet's gateway IP) or ``port_id`` (an unused port of the caller's). Returns
        the interface info ``{"id", "tenant_id", "project_id", "port_id", "network_id",
        "subnet_id", "subnet_ids"}``. 400 BadRequest (both/neither given, no gateway IP,
        subnet already on the router, overlapping CIDRs, port without fixed IP or with
        two IPv4 subnets), 404 SubnetNotFound/PortNotFound, 409 PortInUse, 409
        IpAddressAlreadyAllocated (the gateway IP is held by another port)."""
        subnet_id, port_id = self._which(body)
        if port_id:
            port = self.net.ports.get(session, ctx, port_id)
            if port.device_id or port.device_owner:
                raise nexc.PortInUse(id=port.id, net_id=port.network_id,
                                     device_id=port.device_id)
            ips = fixed_ips(session, [port.id])[port.id]
            if not ips:
                raise BadRequest(resource="router",
                                 msg="Router port must have at least one fixed IP")
            if len({i["subnet_id"] for i in ips if i["ip_version"] == 4}) > 1:
                raise BadRequest(resource="router",
                                 msg="Cannot have multiple IPv4 subnets on router port")
            for ip in ips:
                self._check_attachable(session, row, ip["subnet_id"], ip["cidr"])
            port.device_id, port.device_owner = row.id, IF_OWNER
            touch(port)
            self.net.changed(session, "port", port.id, host=port.host_id or None)
            subnet_ids = list(dict.fromkeys(i["subnet_id"] for i in ips))
        else:
            subnet = self.net.subnets.get(session, ctx, subnet_id)
            if not subnet.gateway_ip:
                raise BadRequest(resource="router",
                                 msg="Subnet for router interface must have a gateway IP")
            self._check_attachable(session, row, subnet.id, subnet.cidr)
            port = _new_port(self.net, session, ctx, {
                "network_id": subnet.network_id, "device_id": row.id,
                "device_owner": IF_OWNER,
                "fixed_ips": [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}]},
                row.project_id)
            subnet_ids = [subnet.id]
        touch(row)
        self.net.changed(session, "router", row.id)
        self._place(session, row)
        self.net.dvr.sync(session, ctx, row)
        self.net.dvr.announce(session, row)
        return interface_info(row, port, subnet_ids)

    def _place(self, session, row: models.Router) -> None:
        """Schedule the router to an L3 agent if unhosted and bind its ports to the
        hosting host (:mod:`kumo.network.l3_scheduler`)."""
        self.net.l3_scheduler.place(session, row)

    @staticmethod
    def _which(body: dict) -> tuple[str | None, str | None]:
        subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
        if subnet_id and port_id and body.get("_adding", True):
            raise BadRequest(resource="router", msg="Cannot specify both subnet-id and "
                                                    "port-id")
        if not subnet_id and not port_id:
            raise BadRequest(resource="router", msg="Either subnet_id or port_id must be "
                                                    "specified")
        return subnet_id, port_id

    def _check_attachable(self, session, row: models.Router, subnet_id: str,
                          cidr: str) -> None:
        ports = self.interface_ports(session, [row.id])[row.id]
        new = ipaddress.ip_network(cidr)
        for ports_ips in fixed_ips(session, [p.id for p in ports]).values():
            for ip in ports_ips:
                if ip["subnet_id"] == subnet_id:
                    raise BadRequest(resource="router",
                                     msg=f"Router already has a port on subnet {subnet_id}")
                if ipaddress.ip_network(ip["cidr"]).overlaps(new):
                    raise BadRequest(resource="router", msg=(
                        f"Cidr {cidr} of subnet {subnet_id} overlaps with cidr "
                        f"{ip['cidr']} of subnet {ip['subnet_id']}"))

    def remove_interface(self, session, ctx: RequestContext, row: models.Router,
                         body: dict) -> dict:
        """``PUT /routers/{id}/remove_router_interface`` by ``subnet_id`` and/or
        ``port_id``; deletes the interface port and returns the interface info. 404
        RouterInterfaceNotFound / RouterInterfaceNotFoundForSubnet / SubnetNotFound, 400
        SubnetMismatchForPort, 409 RouterInterfaceInUseByRoute /
        RouterInterfaceInUseByFloatingIP."""
        subnet_id, port_id = self._which({**body, "_adding": False})
        ports = self.interface_ports(session, [row.id])[row.id]
        held = fixed_ips(session, [p.id for p in ports])
        if port_id:
            port = next((p for p in ports if p.id == port_id), None)
            if port is None:
                raise RouterInterfaceNotFound(router_id=row.id, port_id=port_id)
            if subnet_id and subnet_id not in {i["subnet_id"] for i in held[port.id]}:
                raise SubnetMismatchForPort(port_id=port_id, subnet_id=subnet_id)
        else:
            self.net.subnets.get(session, ctx, subnet_id)
            port = next((p for p in ports if any(
                i["subnet_id"] == subnet_id for i in held[p.id])), None)
            if port is None:
                raise RouterInterfaceNotFoundForSubnet(router_id=row.id, subnet_id=subnet_id)
        ips = held[port.id]
        for ip in ips:
            self._check_unused(session, row, ip, [i for p, v in held.items()
                                                  if p != port.id for i in v])
        info = interface_info(row, port, list(dict.fromkeys(i["subnet_id"] for i in ips)))
        self.net.changed(session, "router", row.id)  # also for the leaving network's hosts
        self.net.dvr.announce(session, row)
        _drop_port(self.net, session, ctx, port)
        self.net.dvr.sync(session, ctx, row)
        touch(row)
        self.net.changed(session, "router", row.id)
        return info

    def _check_unused(self, session, row: models.Router, ip: dict,
                      remaining: list[dict]) -> None:
        cidr = ipaddress.ip_network(ip["cidr"])
        others = [ipaddress.ip_network(i["cidr"]) for i in remaining]
        for route in row.routes or []:
            hop = ipaddress.ip_address(route["nexthop"])
            if hop in cidr and not any(hop in o for o in others):
                raise RouterInterfaceInUseByRoute(router_id=row.id,
                                                  subnet_id=ip["subnet_id"])
        for fixed in session.scalars(sa.select(F.fixed_ip_address).where(
                F.router_id == row.id, F.fixed_port_id.is_not(None))):
            if ipaddress.ip_address(fixed) in cidr:
                raise RouterInterfaceInUseByFloatingIP(router_id=row.id,
                                                       subnet_id=ip["subnet_id"])

    # -- routes --------------------------------------------------------------------
    def connected(self, session, row: models.Router) -> tuple[list, set]:
        """``(cidrs, addresses)`` of every port of the router (gateway included)."""
        ids = [p.id for p in self.interface_ports(session, [row.id])[row.id]]
        if row.gw_port_id:
            ids.append(row.gw_port_id)
        ips = [i for v in fixed_ips(session, ids).values() for i in v]
        return ([ipaddress.ip_network(i["cidr"]) for i in ips],
                {ipaddress.ip_address(i["ip_address"]) for i in ips})

    def check_routes(self, session, row: models.Router, routes: list[dict]) -> list[dict]:
        """Validated, normalized ``routes``: 400 for a malformed or duplicate route, 400
        InvalidRoutes when a nexthop is not on a connected subnet, is the router's own
        address, or there are more than ``MAX_ROUTES``."""
        if len(routes) > MAX_ROUTES:
            raise InvalidRoutes(routes=routes, reason=f"number of routes exceeded the "
                                                      f"maximum {MAX_ROUTES}")
        cidrs, own = self.connected(session, row)
        out = []
        for route in routes:
            item = normalize_route(route)
            addr = ipaddress.ip_address(item["nexthop"])
            if item in out:
                raise exc.BadRequest(f"Invalid input for routes. Reason: Duplicate "
                                     f"hostroute '{item}'.")
            if addr in own:
                raise InvalidRoutes(routes=routes, reason="the nexthop is used by router")
            if not any(addr in c for c in cidrs):
                raise InvalidRoutes(routes=routes,
                                    reason="the nexthop is not connected with router")
            out.append(item)
        return out

    def _check_routes_connected(self, session, row: models.Router) -> None:
        cidrs, _ = self.connected(session, row)
        for route in row.routes or []:
            if not any(ipaddress.ip_address(route["nexthop"]) in c for c in cidrs):
                raise InvalidRoutes(routes=row.routes,
                                    reason="the nexthop is not connected with router")

    # -- callbacks (subscribed in kumo.network.manager) -------------------------------
    def refuse_port_delete(self, resource, event, trigger, payload) -> None:
        """``PORT`` ``BEFORE_DELETE``: 409 ServicePortInUse for a router
        interface/gateway port or a floating IP's port whose owner still exists (the
        owner's own deletions pass)."""
        session, port = payload.session, payload.latest_state
        if port.device_owner not in L3_OWNERS or port.id in _releasing(session):
            return
        model = F if port.device_owner == FIP_OWNER else R
        if session.get(model, port.device_id) is None:
            return
        raise ServicePortInUse(port_id=port.id,
                               reason=f"has device owner {port.device_owner}")

    # -- data plane ----------------------------------------------------------------
    def snapshot(self, session, host: str | None, keys: dict | None = None) -> dict:
        """Desired L3 state: for ``host`` the routers scheduled to it and those with an
        interface on one of its networks (:mod:`kumo.network.scope`), and the floating
        IPs of the routers scheduled to it; everything when ``host`` is None. Each
        router item's ``"host"`` names the L3 agent host hosting it, or None. ``keys``:
        only those ids."""
        out: dict = {}
        if keys is None or "routers" in keys:
            stmt = sa.select(R).order_by(R.id)
            if keys is not None:
                stmt = stmt.where(R.id.in_(keys["routers"]))
            if host is not None:
                stmt = stmt.where(sa.or_(R.id.in_(scope.hosted_routers(host)),
                                         R.id.in_(scope.attached_routers(host))))
            out["routers"] = self._render_routers(session, list(session.scalars(stmt)))
            self.net.dvr.decorate(session, host, out["routers"])
            self.net.firewall_groups.decorate(session, out["routers"])
            self.net.metering_labels.decorate(session, out["routers"])
        if keys is None or "floatingips" in keys:
            stmt = sa.select(F).order_by(F.id)
            if keys is not None:
                stmt = stmt.where(F.id.in_(keys["floatingips"]))
            if host is not None:
                stmt = stmt.where(sa.or_(F.router_id.in_(scope.hosted_routers(host)),
                                         F.id.in_(scope.dvr_floatingips(host))))
            fips = list(session.scalars(stmt))
            pfs = self.net.port_forwardings.of(session, [f.id for f in fips])
            fip_qos = self.net.qos.rules_of_bound(session, "floatingip",
                                                  [f.id for f in fips])
            out["floatingips"] = [
                {"id": f.id, "floating_ip_address": f.floating_ip_address,
                 "floating_network_id": f.floating_network_id,
                 "floating_port_id": f.floating_port_id, "port_id": f.fixed_port_id,
                 "fixed_ip_address": f.fixed_ip_address, "router_id": f.router_id,
                 "status": f.status, "revision_number": f.revision_number,
                 "port_forwardings": [self.net.port_forwardings.snapshot_item(p)
                                      for p in pfs[f.id]],
                 "qos_rules": fip_qos.get(f.id, [])}
                for f in fips]
        return out

    def _render_routers(self, session, routers: list) -> list[dict]:
        if not routers:
            return []
        every = self.net.l3_scheduler.all_hosts(session, [r.id for r in routers])
        ha = self.net.l3_ha.render(session, [r.id for r in routers if r.ha])
        ifaces = self.interface_ports(session, [r.id for r in routers])
        gws = {p.id: p for p in session.scalars(sa.select(P).where(
            P.id.in_([r.gw_port_id for r in routers if r.gw_port_id])))}
        ips = fixed_ips(session, list(gws) + [p.id for v in ifaces.values() for p in v])
        gw_qos = self.net.qos.rules_of_bound(session, "router",
                                             [r.id for r in routers if r.gw_port_id])

        def port(p):
            return {"port_id": p.id, "network_id": p.network_id, "mac_address": p.mac_address,
                    "fixed_ips": [{k: i[k] for k in ("subnet_id", "ip_address", "cidr",
                                                     "gateway_ip", "address_scope_id")}
                                  for i in ips[p.id]]}
        return [{"id": r.id, "project_id": r.project_id,
                 "host": (every.get(r.id) or [None])[0], "hosts": every.get(r.id, []),
                 "admin_state_up": r.admin_state_up, "enable_snat": r.enable_snat,
                 "distributed": r.distributed, "ha": r.ha, "ha_info": ha.get(r.id),
                 "gateway": (dict(port(gws[r.gw_port_id]), qos_rules=gw_qos.get(r.id, []))
                             if r.gw_port_id in gws else None),
                 "interfaces": [port(p) for p in ifaces[r.id]],
                 "routes": list(r.routes or []),
                 "revision_number": r.revision_number} for r in routers]


def normalize_route(route: dict) -> dict:
    """``{"destination", "nexthop"}`` in canonical text; 400 when malformed."""
    dest, hop = route.get("destination"), route.get("nexthop")
    try:
        net = ipaddress.ip_network(dest)
    except (ValueError, TypeError):
        raise exc.BadRequest(f"Invalid input for routes. Reason: '{dest}' is not a valid "
                             f"IP subnet.") from None
    try:
        addr = ipaddress.ip_address(hop)
    except (ValueError, TypeError):
        raise exc.BadRequest(f"Invalid input for routes. Reason: '{hop}' is not a valid "
                             f"IP address.") from None
    return {"destination": str(net), "nexthop": str(addr)}


def interface_info(row: models.Router, port, subnet_ids: list[str]) -> dict:
    """The add/remove_router_interface response body."""
    return {"id": row.id, "tenant_id": row.project_id, "project_id": row.project_id,
            "port_id": port.id, "network_id": port.network_id,
            "subnet_id": subnet_ids[0] if subnet_ids else None, "subnet_ids": subnet_ids}



from kumo.network import l3_ha  # noqa: E402  (its exceptions; l3_ha imports this module)
