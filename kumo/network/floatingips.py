"""Floating IPs (Networking API v2.0: "Floating IPs (floatingips)", "Floating IP port
details").

``networking.floatingips`` (every call inside
:meth:`kumo.network.manager.Networking.write`):

- :meth:`FloatingIPs.create` / :meth:`FloatingIPs.update` / :meth:`FloatingIPs.delete`
  / :meth:`FloatingIPs.get` as the API does them;
- :meth:`FloatingIPs.set_status` ``(fip_id, status)`` (and ``set_statuses``): the data
  plane reports ``ACTIVE`` / ``DOWN`` / ``ERROR``, in a transaction of its own (not
  inside ``write``; :mod:`kumo.network.status`);
- :meth:`FloatingIPs.release_port`: subscribed (``Networking._subscribe``) to a port's
  deletion, it disassociates the floating IPs bound to that port.

A floating IP owns a port (``network:floatingip``, project ``""``) on its external
network holding its IPv4 address. Associated, it names the internal port, one of that
port's IPv4 fixed IPs, and the router whose gateway is on the floating IP's network and
which has an interface on the fixed IP's subnet.
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common.context import RequestContext
from kumo.db import Prepared
from kumo.network import exceptions as nexc
from kumo.network import status as status_reports
from kumo.network.exceptions import (
    BadRequest, ExternalGatewayForFloatingIPNotFound, ExternalIpAddressExhausted,
    FloatingIPPortAlreadyAssociated)
from kumo.network.l3 import (
    FIP_OWNER, FIP_STATUSES, IF_OWNER, _drop_port, _new_port, _releasing, fixed_ips)
from kumo.network.manager import new_id, stamp, touch, visible_clause
from kumo.network.models import l3 as models
from kumo.network.models import ports as pmodels

R, F, P, S = models.Router, models.FloatingIP, pmodels.Port, pmodels.Subnet


class FloatingIPs:
    """Floating IPs (see the module doc)."""

    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(F, ctx)

    def extras(self, session, rows: list) -> dict:
        """What rendering floating IPs needs besides their rows (the extras of
        :data:`kumo.network.definitions.FLOATINGIP`): ``tags`` and ``ports`` (the
        associated ports' rows by id, for ``port_details``)."""
        port_ids = [r.fixed_port_id for r in rows if r.fixed_port_id]
        ports = {p.id: p for p in session.scalars(
            sa.select(pmodels.Port).where(pmodels.Port.id.in_(port_ids)))} if port_ids else {}
        return {"tags": self.net.tags_of(session, [r.id for r in rows]), "ports": ports,
                "port_forwardings": self.net.port_forwardings.of(
                    session, [r.id for r in rows]),
                "qos_policy_id": self.net.qos.bound(session, "floatingip",
                                                    [r.id for r in rows])}

    def get(self, session, ctx: RequestContext, fip_id: str) -> models.FloatingIP:
        """The floating IP if the caller may see it; 404 FloatingIPNotFound otherwise."""
        row = session.scalar(sa.select(F).where(F.id == fip_id, self.visible(ctx)))
        if row is None:
            raise nexc.FloatingIPNotFound(id=fip_id)
        return row

    # -- create / update / delete --------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict) -> models.FloatingIP:
        """Allocate a floating IP on ``floating_network_id`` (``subnet_id`` and
        ``floating_ip_address`` optional) and associate it when ``port_id`` is given.
        404 NetworkNotFound, 400 BadRequest (network not external, subnet not on it, no
        IPv4 subnet), 400 ExternalIpAddressExhausted, 409 IpAddressAlreadyAllocated."""
        network = self.net.networks.get(session, ctx, attrs["floating_network_id"])
        if not network.external:
            raise BadRequest(resource="floatingip",
                             msg=f"Network {network.id} is not a valid external network")
        row = F(id=new_id(), project_id=attrs.get("project_id") or attrs.get("tenant_id")
                or ctx.project_id, name="", description=attrs.get("description") or "",
                floating_network_id=network.id, status="DOWN",
                dns_name=attrs.get("dns_name") or "", dns_domain=attrs.get("dns_domain") or "")
        stamp(row)
        subnet = self._pick_subnet(session, network.id, attrs.get("subnet_id"),
                                   attrs.get("floating_ip_address"))
        spec = {"subnet_id": subnet.id}
        if attrs.get("floating_ip_address"):
            spec["ip_address"] = attrs["floating_ip_address"]
        try:
            port = _new_port(self.net, session, ctx, {
                "network_id": network.id, "device_id": row.id, "device_owner": FIP_OWNER,
                "fixed_ips": [spec]}, "")
        except nexc.IpAddressGenerationFailure:
            raise ExternalIpAddressExhausted(net_id=network.id) from None
        row.floating_port_id = port.id
        row.floating_ip_address = fixed_ips(session, [port.id])[port.id][0]["ip_address"]
        session.add(row)
        session.flush()
        if attrs.get("port_id"):
            self.net.port_forwardings.refuse_associate(session, row)
            self._associate(session, ctx, row, attrs["port_id"], attrs.get("fixed_ip_address"))
        self.net.changed(session, "floatingip", row.id)
        self.net.dvr.sync_fip_gateways(session, ctx, row.floating_network_id)
        self.net.qos.bind(session, ctx, "floatingip", row, attrs)
        return row

    def _pick_subnet(self, session, network_id: str, subnet_id: str | None,
                     address: str | None):
        subnets = list(session.scalars(sa.select(S).where(
            S.network_id == network_id, S.ip_version == 4).order_by(S.created_at, S.id)))
        if subnet_id:
            subnet = next((s for s in subnets if s.id == subnet_id), None)
            if subnet is None:
                raise BadRequest(resource="floatingip", msg=(
                    f"Subnet {subnet_id} is not an IPv4 subnet of network {network_id}"))
            return subnet
        if address:
            ip = ipaddress.ip_address(address)
            for subnet in subnets:
                if ip in ipaddress.ip_network(subnet.cidr):
                    return subnet
            raise nexc.InvalidIpForNetwork(ip_address=address)
        if not subnets:
            raise BadRequest(resource="floatingip", msg=(
                f"Network {network_id} does not contain any IPv4 subnet"))
        return subnets[0]

    def update(self, session, ctx: RequestContext, row: models.FloatingIP,
               attrs: dict) -> None:
        """Apply ``description``; ``port_id`` (with optional ``fixed_ip_address``)
        associates, ``port_id: null`` disassociates. Errors as :meth:`_associate`."""
        if "description" in attrs:
            row.description = attrs["description"] or ""
        if "port_id" in attrs:
            if attrs["port_id"]:
                self.net.port_forwardings.refuse_associate(session, row)
            self.net.changed(session, "floatingip", row.id)  # for the router it leaves
            if attrs["port_id"]:
                self._associate(session, ctx, row, attrs["port_id"],
                                attrs.get("fixed_ip_address"))
            else:
                self._disassociate(row)
        touch(row)
        self.net.changed(session, "floatingip", row.id)
        if "port_id" in attrs:
            session.flush()
            self.net.dvr.sync_fip_gateways(session, ctx, row.floating_network_id)
        self.net.qos.bind(session, ctx, "floatingip", row, attrs)

    def _associate(self, session, ctx: RequestContext, row: models.FloatingIP,
                   port_id: str, fixed_ip: str | None) -> None:
        """404 PortNotFound, 400 BadRequest (router/DHCP/floating IP port, no such or no
        IPv4 fixed IP, several IPv4 addresses and none chosen), 404
        ExternalGatewayForFloatingIPNotFound, 409 FloatingIPPortAlreadyAssociated."""
        port = self.net.ports.get(session, ctx, port_id)
        if port.device_owner.startswith("network:"):
            raise BadRequest(resource="floatingip", msg=(
                f"Port {port.id} has owner {port.device_owner} and therefore cannot be "
                f"associated with a floating IP"))
        ips = fixed_ips(session, [port.id])[port.id]
        if fixed_ip:
            chosen = next((i for i in ips if i["ip_address"] == fixed_ip), None)
            if chosen is None:
                raise BadRequest(resource="floatingip",
                                 msg=f"Port {port.id} does not have fixed ip {fixed_ip}")
            if chosen["ip_version"] != 4:
                raise BadRequest(resource="floatingip", msg=(
                    f"Cannot create floating IP and bind it to {fixed_ip}, since that is "
                    f"not an IPv4 address"))
        else:
            v4 = [i for i in ips if i["ip_version"] == 4]
            if not v4:
                raise BadRequest(resource="floatingip", msg=(
                    f"Cannot add floating IP to port {port.id} that has no fixed IPv4 "
                    f"addresses"))
            if len(v4) > 1:
                raise BadRequest(resource="floatingip", msg=(
                    f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a "
                    f"specific IPv4 address when assigning a floating IP"))
            chosen = v4[0]
        router_id = self._router_for(session, row.floating_network_id, chosen["subnet_id"])
        if router_id is None:
            raise ExternalGatewayForFloatingIPNotFound(
                external_network_id=row.floating_network_id, subnet_id=chosen["subnet_id"],
                port_id=port.id)
        if session.scalar(sa.select(F.id).where(
                F.floating_network_id == row.floating_network_id, F.fixed_port_id == port.id,
                F.fixed_ip_address == chosen["ip_address"], F.id != row.id)):
            raise FloatingIPPortAlreadyAssociated(
                floating_ip_address=row.floating_ip_address, fip_id=row.id, port_id=port.id,
                fixed_ip=chosen["ip_address"], net_id=row.floating_network_id)
        if (row.fixed_port_id, row.fixed_ip_address) != (port.id, chosen["ip_address"]):
            row.status = "DOWN"
        row.fixed_port_id, row.fixed_ip_address = port.id, chosen["ip_address"]
        row.router_id = router_id

    @staticmethod
    def _router_for(session, network_id: str, subnet_id: str) -> str | None:
        """A router with its gateway on ``network_id`` and an interface on
        ``subnet_id``."""
        IA = pmodels.IPAllocation
        return session.scalar(
            sa.select(R.id).join(P, sa.and_(P.device_id == R.id, P.device_owner == IF_OWNER))
            .join(IA, IA.port_id == P.id)
            .where(R.gw_network_id == network_id, IA.subnet_id == subnet_id)
            .order_by(R.created_at, R.id).limit(1))

    @staticmethod
    def _disassociate(row: models.FloatingIP) -> None:
        if row.fixed_port_id:
            row.status = "DOWN"
        row.fixed_port_id = row.fixed_ip_address = row.router_id = None

    def delete(self, session, ctx: RequestContext, row: models.FloatingIP) -> None:
        """Delete the floating IP and release its address."""
        port = session.get(P, row.floating_port_id)
        self.net.changed(session, "floatingip", row.id, "delete")  # its router's host
        self.net.delete_tags(session, row.id)
        for pf in self.net.port_forwardings.of(session, [row.id])[row.id]:
            session.delete(pf)
        session.delete(row)
        session.flush()
        if port is not None:
            _drop_port(self.net, session, ctx, port)
        self.net.dvr.sync_fip_gateways(session, ctx, row.floating_network_id)

    def drop_disassociated(self, resource, event, trigger, payload) -> None:
        """``NETWORK`` ``BEFORE_DELETE``, before the in-use check: an external network
        going takes its floating IPs that are not associated with a port (any
        project's), as Neutron's ``delete_disassociated_floatingips``; an associated one
        keeps its port, so the network stays in use (409). One transaction: a refused
        delete leaves them all."""
        session = payload.session
        for row in list(session.scalars(sa.select(models.FloatingIP).where(
                models.FloatingIP.floating_network_id == payload.resource_id,
                models.FloatingIP.fixed_port_id.is_(None)))):
            self.delete(session, payload.context, row)

    # -- data plane and hooks --------------------------------------------------------
    def set_status(self, fip_id: str, status: str) -> None:
        """The data plane's report (``ACTIVE``/``DOWN``/``ERROR``) in a short
        transaction of its own, no revision row, no feed change
        (:mod:`kumo.network.status`); 404 FloatingIPNotFound, 400 for another status."""
        self._check_status(status)
        if not status_reports.set_status(self.net.db, F.__table__, fip_id, status):
            raise nexc.FloatingIPNotFound(id=fip_id)

    def set_statuses(self, statuses: dict[str, str]) -> list[str]:
        """Many floating IPs' reports (``{id: status}``) in one such transaction;
        returns the unknown ids."""
        for status in statuses.values():
            self._check_status(status)
        return status_reports.set_statuses(self.net.db, F.__table__, statuses)

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in FIP_STATUSES:
            raise BadRequest(resource="floatingip", msg=f"Invalid status {status}")

    def release_port(self, resource, event, trigger, payload) -> None:
        """``PORT`` ``PRECOMMIT_DELETE`` (subscribed in :mod:`kumo.network.manager`):
        floating IPs bound to the port going are disassociated (their own ports,
        deleted by this area, pass untouched)."""
        session, port = payload.session, payload.latest_state
        if port.id in _releasing(session):
            return
        if _BOUND_TO.first(session, {"p": port.id}) is None:
            return
        for row in list(session.scalars(sa.select(F).where(F.fixed_port_id == port.id))):
            self.net.changed(session, "floatingip", row.id)  # for the router it leaves
            self._disassociate(row)
            touch(row)
            self.net.changed(session, "floatingip", row.id)
            session.flush()
            self.net.dvr.sync_fip_gateways(session, RequestContext(roles=["admin"]),
                                              row.floating_network_id)
        session.flush()


_BOUND_TO = Prepared(sa.select(F.__table__.c.id).where(
    F.__table__.c.fixed_port_id == sa.bindparam("p")).limit(1))
