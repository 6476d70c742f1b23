"""The ports other services own: what compute may do with networking, and nothing more.

Compute never reads or writes networking's tables; it calls :class:`PortAPI`
(``cloud.networking.port_api``). The write methods take the session of the caller's
write transaction, which must hold the network revision (``Compute.write(network=True)``
enters :meth:`kumo.network.manager.Networking.write` first), so an instance and its
ports are made or removed together: a failure leaves neither. The read methods
taking a session read through it; those without one open their own read.

Operations on a port a server already owns (bind, unbind, delete, facts) act with
networking's own service context (:data:`SERVICE`), not the caller's: the port is
the service's, whoever asks. Operations choosing a network, a port or a security
group for a server use the caller's context, so a caller only ever reaches what it
may see (a 404 there is for the caller to turn into its own 400).

Shapes:

- a port fact (:meth:`facts`): ``{"id", "mac_address", "mtu", "network_id",
  "network_name", "status", "fixed_ips": [{"subnet_id", "ip_address", "cidr",
  "gateway_ip", "version"}]}``;
- a server's port as compute records it: ``{"port_id", "network_id", "created"}``
  (``created``: made for the server, deleted with it; else given, unbound).
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network import dns
from kumo.network.models import core as ncore
from kumo.network.models import l3 as nl3
from kumo.network.models import ports as nports
from kumo.network.models import security as nsec

#: The ``device_owner`` of a server's ports (Nova's).
OWNER = "compute:nova"

#: Networking acting on ports it serves another service (no caller's visibility).
SERVICE = RequestContext(roles=["admin", "service"], system_scope="all")

_P, _N = nports.Port, ncore.Network


class PortInUse(exc.Conflict):
    message = "Port %(port_id)s is still in use."


class PortAPI:
    """See the module doc."""

    def __init__(self, networking):
        self.net = networking

    # -- choosing (caller's visibility; own read) ----------------------------------------
    def auto_networks(self, ctx: RequestContext) -> list[str]:
        """Ids of the non-external networks the caller's project owns or that are
        shared, oldest first (Nova's "auto"/no-networks choice)."""
        with self.net.read() as s:
            return list(s.scalars(sa.select(_N.id).where(
                _N.external.is_(False),
                sa.or_(_N.project_id == (ctx.project_id or ""), _N.shared.is_(True)))
                .order_by(_N.created_at)))

    def auto_allocate(self, ctx: RequestContext) -> str:
        """The caller's project's auto-allocated network ("get me a network", Nova's
        ``networks: "auto"`` when no network is available), built on first use in a
        write transaction of its own (:mod:`kumo.network.auto_topology`); 409
        AutoAllocationFailure when the cloud has no default external network or
        subnet pool."""
        with self.net.write() as s:
            return self.net.auto_topology.get(s, ctx, ctx.project_id or "")["id"]

    def check_network(self, ctx: RequestContext, network_id: str) -> None:
        """NotFound unless the caller may attach a port to ``network_id``."""
        with self.net.read() as s:
            network = self.net.networks.row(s, ctx, network_id)
            if not ctx.is_admin and not self.net.networks.shared_with(
                    s, network, ctx.project_id):
                raise exc.NotFound(f"Network {network_id} could not be found.")

    def check_port(self, ctx: RequestContext, port_id: str) -> str:
        """The network id of the caller's free port ``port_id``; NotFound if the caller
        cannot see it, :class:`PortInUse` (409) if a device has it."""
        with self.net.read() as s:
            port = self.net.ports.get(s, ctx, port_id)
            if port.device_id:
                raise PortInUse(port_id=port_id)
            return port.network_id

    def find_security_group(self, ctx: RequestContext, name: str) -> tuple[str, str] | None:
        """``(id, name)`` of the caller's group named or with id ``name`` (admins: any
        project's), or None."""
        SG = nsec.SecurityGroup
        stmt = sa.select(SG.id, SG.name).where(sa.or_(SG.id == name, SG.name == name))
        if not ctx.is_admin:
            stmt = stmt.where(SG.project_id == (ctx.project_id or ""))
        with self.net.read() as s:
            found = s.execute(stmt).first()
        return (found.id, found.name) if found is not None else None

    # -- writes (inside the caller's networking write transaction) ------------------------
    def default_security_group(self, session, project_id: str) -> str:
        """The id of ``project_id``'s default group (made if missing)."""
        return self.net.security_groups.default_group_id(session, project_id)

    def create(self, session, ctx: RequestContext, *, network_id: str, device_id: str,
               host: str | None, project_id: str, fixed_ip: str | None = None,
               security_groups: list[str] | None = None,
               dns_name: str | None = None) -> dict:
        """A new port for server ``device_id`` on ``network_id``, bound to ``host``,
        with the caller's visibility (NotFound for a network it may not use; Neutron's
        errors for addresses and quotas). ``dns_name``: the server's hostname, as Nova
        gives it (dns-integration; ignored when not a valid DNS name). Returns
        ``{"port_id", "network_id", "created": True}``."""
        attrs = {"network_id": network_id, "device_id": device_id,
                 "device_owner": OWNER, "binding:host_id": host,
                 "project_id": project_id}
        if dns_name:
            try:
                attrs["dns_name"] = dns.check_name(dns_name)
            except exc.BadRequest:
                pass
        if fixed_ip:
            attrs["fixed_ips"] = [{"ip_address": fixed_ip}]
        if security_groups is not None:
            attrs["security_groups"] = security_groups
        network = self.net.networks.row(session, ctx, network_id)
        port = self.net.ports.create(session, ctx, attrs, network=network)
        return {"port_id": port.id, "network_id": port.network_id, "created": True}

    def attach(self, session, ctx: RequestContext, port_id: str, device_id: str,
               host: str | None) -> dict:
        """Give the caller's free port ``port_id`` to server ``device_id``, bound to
        ``host``; 409 :class:`PortInUse` if a device has it. Returns ``{"port_id",
        "network_id", "created": False}``."""
        port = self.net.ports.get(session, ctx, port_id)
        if port.device_id:
            raise PortInUse(port_id=port.id)
        self.net.ports.update(session, ctx, port, {
            "device_id": device_id, "device_owner": OWNER, "binding:host_id": host})
        return {"port_id": port.id, "network_id": port.network_id, "created": False}

    def bind(self, session, port_ids: list[str], host: str | None) -> None:
        """Bind the server's ports to ``host`` (None: no host); ports gone are skipped."""
        for port in self._rows(session, port_ids):
            self.net.ports.update(session, SERVICE, port, {"binding:host_id": host or ""})

    def unbind(self, session, port_ids: list[str]) -> None:
        """Give the server's given ports back: no device, no owner, no host."""
        for port in self._rows(session, port_ids):
            self.net.ports.update(session, SERVICE, port, {
                "device_id": "", "device_owner": "", "binding:host_id": ""})

    def delete(self, session, port_ids: list[str]) -> None:
        """Delete the ports made for the server (their addresses go back to the pools,
        floating IPs on them are disassociated)."""
        for port in self._rows(session, port_ids):
            self.net.ports.delete(session, SERVICE, port)

    def release(self, session, ports: list[dict]) -> None:
        """A server letting ``ports`` (``{"port_id", "created"}``) go: the ones made for
        it are deleted, the given ones unbound."""
        self.delete(session, [p["port_id"] for p in ports if p.get("created")])
        self.unbind(session, [p["port_id"] for p in ports if not p.get("created")])

    # -- reads (through the caller's session) --------------------------------------------
    def facts(self, session, port_ids: list[str]) -> dict[str, dict]:
        """``{port_id: fact}`` (module doc) for the ports that exist."""
        if not port_ids:
            return {}
        rows = session.execute(sa.select(_P.id, _P.mac_address, _P.network_id, _P.status,
                                         _N.mtu, _N.name)
                               .join(_N, _N.id == _P.network_id)
                               .where(_P.id.in_(port_ids)))
        ips = self.net.ports.fixed_ips_of(session, list(port_ids))
        subnet_ids = {ip["subnet_id"] for v in ips.values() for ip in v}
        S = nports.Subnet
        subnets = {s.id: s for s in session.execute(sa.select(
            S.id, S.cidr, S.gateway_ip, S.ip_version).where(S.id.in_(subnet_ids)))} \
            if subnet_ids else {}
        out = {}
        for r in rows:
            fixed = []
            for ip in ips.get(r.id, []):
                sub = subnets.get(ip["subnet_id"])
                fixed.append({"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"],
                              "cidr": sub.cidr if sub else None,
                              "gateway_ip": sub.gateway_ip if sub else None,
                              "version": sub.ip_version if sub else 4})
            out[r.id] = {"id": r.id, "mac_address": r.mac_address, "mtu": r.mtu,
                         "network_id": r.network_id, "network_name": r.name,
                         "status": r.status, "fixed_ips": fixed}
        return out

    def floating_ips(self, session, port_ids: list[str]) -> dict[str, list[str]]:
        """``{port_id: [floating address]}`` for the ports with floating IPs."""
        out: dict[str, list[str]] = {}
        if not port_ids:
            return out
        F = nl3.FloatingIP
        for f in session.execute(sa.select(F.fixed_port_id, F.floating_ip_address)
                                 .where(F.fixed_port_id.in_(port_ids))):
            out.setdefault(f.fixed_port_id, []).append(f.floating_ip_address)
        return out

    # -- Nova's security group and floating IP actions (issue 16) ------------------------
    def security_groups(self, session, port_ids: list[str]) -> dict[str, list[str]]:
        """``{port_id: [group id]}`` of the server's ports."""
        return self.net.ports.security_groups_of(session, list(port_ids)) if port_ids else {}

    def set_security_groups(self, session, port_ids: list[str], groups: list[str]) -> None:
        """Give each port exactly ``groups`` (ids), as networking's own service."""
        for port in self._rows(session, port_ids):
            self.net.ports.update(session, SERVICE, port, {"security_groups": groups})

    def floating_ip(self, session, ctx: RequestContext, address: str):
        """The caller's floating IP with ``address`` (row), or None."""
        F = nl3.FloatingIP
        row = session.scalar(sa.select(F).where(F.floating_ip_address == address))
        if row is None or (not ctx.is_admin and row.project_id != ctx.project_id):
            return None
        return row

    def associate_floating_ip(self, session, ctx: RequestContext, row, port_id: str | None,
                              fixed_ip: str | None = None) -> None:
        """Associate floating IP ``row`` with ``port_id`` (None: disassociate); the
        floating IP part's errors."""
        attrs = {"port_id": port_id}
        if port_id and fixed_ip:
            attrs["fixed_ip_address"] = fixed_ip
        self.net.floatingips.update(session, ctx, row, attrs)

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _rows(session, port_ids: list[str]) -> list[nports.Port]:
        if not port_ids:
            return []
        found = {p.id: p for p in session.scalars(sa.select(_P).where(_P.id.in_(port_ids)))}
        return [found[i] for i in port_ids if i in found]
