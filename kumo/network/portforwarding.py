"""Floating IP port forwardings (Networking API v2.0: "Floating IPs port forwarding";
extensions floatingip-port-forwarding, floating-ip-port-forwarding-description,
floating-ip-port-forwarding-port-ranges, expose-port-forwarding-in-fip).

``networking.port_forwardings`` (every call inside
:meth:`kumo.network.manager.Networking.write` or ``read``):

- :meth:`PortForwardings.create` / ``update`` / ``delete`` / ``get`` / ``visible_of``
  as the API does them, always under a floating IP the caller may see;
- :meth:`PortForwardings.refuse_associate` ``(session, fip)``: the floating IPs area
  calls it before associating a floating IP with a port (409 while it forwards ports);
- :meth:`PortForwardings.drop_port` (``PORT PRECOMMIT_DELETE``): forwardings to a port
  going are deleted.

A floating IP with forwardings is not associated with a port (``port_id`` stays null,
and associating it is a 409 ``FipInUseByPortForwarding``) but names the router that
connects its external network with the internal port's subnet (``router_id``); the L3
agent realizes each forwarding as DNAT of ``floating:external_port`` to
``internal_ip_address:internal_port`` in that router's namespace
(:mod:`kumo.agent.dataplane.portfwd`). The router is chosen by the first forwarding;
later ones must reach the same router (400 otherwise), and the last one deleted
clears it.
"""
from __future__ import annotations

import ipaddress
import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network import exceptions as nexc
from kumo.network.models import fwd
from kumo.network.models import l3 as l3models

PF, F = fwd.PortForwarding, l3models.FloatingIP
PROTOCOLS = ("tcp", "udp")


class PortForwardingNotFound(exc.NotFound):
    message = "Port Forwarding %(id)s could not be found."


class FipInUseByPortForwarding(exc.Conflict):
    message = "Floating IP %(id)s in use by Port Forwarding resources."


class PortForwardingConflict(exc.Conflict):
    message = ("Cannot create port forwarding on floating IP %(fip_id)s: it is associated "
               "with port %(port_id)s.")


def parse_range(value, name: str) -> tuple[int, int]:
    """``80`` / ``"80"`` / ``"80:90"`` -> ``(first, last)``; 400 when malformed, outside
    1..65535 or decreasing."""
    text = str(value)
    parts = text.split(":")
    try:
        if len(parts) not in (1, 2):
            raise ValueError
        first, last = int(parts[0]), int(parts[-1])
    except ValueError:
        raise exc.BadRequest(f"Invalid input for {name}. Reason: '{value}' is not a valid "
                             "port number or range.") from None
    if not (1 <= first <= 65535 and 1 <= last <= 65535) or last < first:
        raise exc.BadRequest(f"Invalid input for {name}. Reason: '{value}' is not in "
                             "range 1 through 65535 or not increasing.")
    return first, last


class PortForwardings:
    """Port forwardings of floating IPs (see the module doc)."""

    def __init__(self, networking):
        self.net = networking

    # -- reading -----------------------------------------------------------------------
    def of(self, session, fip_ids: list[str]) -> dict[str, list]:
        """Forwarding rows by floating IP id (every id present)."""
        out: dict[str, list] = {i: [] for i in fip_ids}
        if fip_ids:
            for row in session.scalars(sa.select(PF).where(PF.floatingip_id.in_(fip_ids))
                                       .order_by(PF.external_port_start, PF.id)):
                out[row.floatingip_id].append(row)
        return out

    def get(self, session, ctx: RequestContext, fip, pf_id: str):
        row = session.scalar(sa.select(PF).where(PF.id == pf_id,
                                                 PF.floatingip_id == fip.id))
        if row is None:
            raise PortForwardingNotFound(id=pf_id)
        return row

    # -- writing -----------------------------------------------------------------------
    def create(self, session, ctx: RequestContext, fip, attrs: dict):
        """A forwarding on ``fip``: ``internal_port_id`` (a port the caller may see),
        ``internal_ip_address`` (one of its fixed IPv4 addresses), ``protocol`` and
        the ports (``internal_port``/``external_port`` or the ``*_range`` forms, of
        equal length). 404 PortNotFound, 404 ExternalGatewayForFloatingIPNotFound,
        409 when ``fip`` is associated with a port, 400 for a bad address, range or a
        duplicate external port."""
        if fip.fixed_port_id:
            raise PortForwardingConflict(fip_id=fip.id, port_id=fip.fixed_port_id)
        row = PF(id=str(uuid.uuid4()), floatingip_id=fip.id, description="")
        self._apply(session, ctx, fip, row, attrs, creating=True)
        session.add(row)
        session.flush()
        self.net.changed(session, "floatingip", fip.id)
        return row

    def update(self, session, ctx: RequestContext, fip, row, attrs: dict) -> None:
        self._apply(session, ctx, fip, row, attrs, creating=False)
        session.flush()
        self.net.changed(session, "floatingip", fip.id)

    def delete(self, session, ctx: RequestContext, fip, row) -> None:
        session.delete(row)
        session.flush()
        if not session.scalar(sa.select(PF.id).where(PF.floatingip_id == fip.id).limit(1)):
            self.net.changed(session, "floatingip", fip.id)  # for the router it leaves
            fip.router_id = None
            fip.status = "DOWN"
        self._touch(fip)
        self.net.changed(session, "floatingip", fip.id)

    def _apply(self, session, ctx, fip, row, attrs: dict, creating: bool) -> None:
        from kumo.network.l3 import fixed_ips

        if "description" in attrs:
            row.description = attrs["description"] or ""
        if "protocol" in attrs:
            row.protocol = attrs["protocol"]
        elif creating:
            raise exc.BadRequest("Failed to parse request. Required attribute 'protocol' "
                                 "not specified")
        internal = self._ports(attrs, "internal")
        external = self._ports(attrs, "external")
        if creating and (internal is None or external is None):
            missing = "internal_port" if internal is None else "external_port"
            raise exc.BadRequest(f"Failed to parse request. Required attribute '{missing}' "
                                 "not specified")
        if internal is not None:
            row.internal_port_start, row.internal_port_end = internal
        if external is not None:
            row.external_port_start, row.external_port_end = external
        if (row.internal_port_end - row.internal_port_start
                != row.external_port_end - row.external_port_start
                and row.internal_port_start != row.internal_port_end):
            raise nexc.BadRequest(resource="port_forwarding", msg=(
                "The internal and external port ranges must have the same size, or the "
                "internal one a single port"))
        port_id = attrs.get("internal_port_id", row.internal_port_id if not creating
                            else None)
        address = attrs.get("internal_ip_address", row.internal_ip_address if not creating
                            else None)
        if creating and not port_id:
            raise exc.BadRequest("Failed to parse request. Required attribute "
                                 "'internal_port_id' not specified")
        port = self.net.ports.get(session, ctx, port_id)
        ips = [i for i in fixed_ips(session, [port.id])[port.id] if i["ip_version"] == 4]
        if address is None:
            if len(ips) != 1:
                raise exc.BadRequest("Failed to parse request. Required attribute "
                                     "'internal_ip_address' not specified")
            address = ips[0]["ip_address"]
        chosen = next((i for i in ips if i["ip_address"] == address), None)
        if chosen is None:
            raise nexc.BadRequest(resource="port_forwarding", msg=(
                f"Requested internal IP address {address} is not suitable for internal "
                f"neutron port {port.id}, as its fixed_ips are "
                f"{', '.join(i['ip_address'] for i in ips) or 'none'}"))
        if port.device_owner.startswith("network:"):
            raise nexc.BadRequest(resource="port_forwarding", msg=(
                f"Port {port.id} has owner {port.device_owner} and therefore cannot be the "
                "internal port of a port forwarding"))
        row.internal_port_id, row.internal_ip_address = port.id, chosen["ip_address"]
        router_id = self.net.floatingips._router_for(session, fip.floating_network_id,
                                                     chosen["subnet_id"])
        if router_id is None:
            raise nexc.ExternalGatewayForFloatingIPNotFound(
                external_network_id=fip.floating_network_id,
                subnet_id=chosen["subnet_id"], port_id=port.id)
        others = [o for o in session.scalars(sa.select(PF).where(
            PF.floatingip_id == fip.id)) if o.id != row.id]
        if fip.router_id and others and fip.router_id != router_id:
            raise nexc.BadRequest(resource="port_forwarding", msg=(
                f"The internal port {port.id} is not reachable through router "
                f"{fip.router_id}, which the other port forwardings of floating IP "
                f"{fip.id} use"))
        for o in others:
            if o.protocol == row.protocol and not (
                    row.external_port_end < o.external_port_start
                    or o.external_port_end < row.external_port_start):
                raise nexc.BadRequest(resource="port_forwarding", msg=(
                    "A duplicate port forwarding entry with same attributes already "
                    f"exists, conflicting values are {{'floatingip_id': '{fip.id}', "
                    f"'external_port': {o.external_port_start}, "
                    f"'protocol': '{o.protocol}'}}"))
        clash = session.scalar(sa.select(PF.id).where(
            PF.internal_port_id == row.internal_port_id, PF.id != row.id,
            PF.internal_ip_address == row.internal_ip_address,
            PF.protocol == row.protocol, PF.internal_port_start == row.internal_port_start))
        if clash:
            raise nexc.BadRequest(resource="port_forwarding", msg=(
                "A duplicate port forwarding entry with same attributes already exists, "
                f"conflicting values are {{'internal_port_id': '{row.internal_port_id}', "
                f"'internal_ip_address': '{row.internal_ip_address}', "
                f"'internal_port': {row.internal_port_start}, "
                f"'protocol': '{row.protocol}'}}"))
        if fip.router_id != router_id:
            self.net.changed(session, "floatingip", fip.id)  # for a router it leaves
            fip.router_id = router_id
        self._touch(fip)

    @staticmethod
    def _ports(attrs: dict, side: str) -> tuple[int, int] | None:
        single, ranged = attrs.get(f"{side}_port"), attrs.get(f"{side}_port_range")
        if single is not None and ranged is not None:
            first, last = parse_range(ranged, f"{side}_port_range")
            if (first, last) != parse_range(single, f"{side}_port"):
                raise exc.BadRequest(f"Invalid input: give either {side}_port or "
                                     f"{side}_port_range, not both")
            return first, last
        if single is not None:
            return parse_range(single, f"{side}_port")
        if ranged is not None:
            return parse_range(ranged, f"{side}_port_range")
        return None

    @staticmethod
    def _touch(fip) -> None:
        from kumo.network.manager import touch
        touch(fip)

    # -- hooks -------------------------------------------------------------------------
    def refuse_associate(self, session, fip) -> None:
        """409 FipInUseByPortForwarding when ``fip`` has forwardings."""
        if session.scalar(sa.select(PF.id).where(PF.floatingip_id == fip.id).limit(1)):
            raise FipInUseByPortForwarding(id=fip.id)

    def drop_port(self, resource, event, trigger, payload) -> None:
        """``PORT`` ``PRECOMMIT_DELETE``: forwardings to the port going are deleted (a
        floating IP left with none loses its router)."""
        session, port = payload.session, payload.latest_state
        rows = list(session.scalars(sa.select(PF).where(PF.internal_port_id == port.id)))
        if not rows:
            return
        fip_ids = {r.floatingip_id for r in rows}
        for row in rows:
            session.delete(row)
        session.flush()
        for fip in session.scalars(sa.select(F).where(F.id.in_(fip_ids))):
            self.net.changed(session, "floatingip", fip.id)
            if not session.scalar(sa.select(PF.id).where(PF.floatingip_id == fip.id)
                                  .limit(1)):
                fip.router_id = None
                fip.status = "DOWN"
            self._touch(fip)
            self.net.changed(session, "floatingip", fip.id)

    # -- data plane ----------------------------------------------------------------------
    @staticmethod
    def snapshot_item(row) -> dict:
        """A forwarding as the data plane sees it (in its floating IP's item)."""
        return {"id": row.id, "protocol": row.protocol,
                "internal_ip_address": row.internal_ip_address,
                "internal_port_id": row.internal_port_id,
                "internal_port": [row.internal_port_start, row.internal_port_end],
                "external_port": [row.external_port_start, row.external_port_end]}


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
