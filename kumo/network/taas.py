"""Tap-as-a-Service (the ``taas`` extension of the tap-as-a-service project:
``/v2.0/taas/tap_services``, ``/v2.0/taas/tap_flows``): port mirroring.

A **tap service** names the port mirrored traffic is delivered to (the analyzer's port;
one service per port, else 409). A **tap flow** mirrors its ``source_port``'s traffic to
a service: ``direction`` ``IN`` (what the port receives), ``OUT`` (what it sends) or
``BOTH``. Both ports must be the caller's (403 ``PortDoesNotBelongToTenant``, as
TaaS; an admin may use any); a flow's source cannot be its service's own port (400).
``vlan_filter`` (TaaS's ``taas-vlan-filter``, for VLAN-tagged SR-IOV traffic) is
refused with a 400 when set: the Linux bridge data plane carries untagged frames and
this kernel has no 802.1Q, so the extension is not listed.

**Statuses** are computed when rendered (never stored), from the ports' bindings:
a service is ``ACTIVE`` when its port is bound and ``ACTIVE``, else ``DOWN``; a flow
is ``ACTIVE`` when both ports are bound and ``ACTIVE``, ``ERROR`` when they are on
different hosts and the service's host has no known tunneling address (its Linux
bridge agent never reported one), else ``DOWN``.

**Data plane**: the feed's ports carry ``tap_mirrors`` and ``tap_tunnel``
(:meth:`Taas.annotate`). A source port's flows are mirrored by the agent's ``taas``
driver (:mod:`kumo.agent.taas`) with ``tc`` on the port's tap, to the service port's
tap when it is on the same host, else into a VXLAN device ``tsv<vni>`` towards the
service host's tunneling address, with the tap service's own VXLAN id (``vni``,
allocated from :data:`TUNNEL_IDS`, outside the tenant networks' range); on the
service's host a ``tsv<vni>`` device receives it and hands it to the service port's
tap. A flow created or deleted, or either end re-bound, is a change of its source
port and of its service's port; a port deleted takes its flows and the service on it
(with that service's flows) along, as TaaS does.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.common.policy import sees_all
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import ports as pmodels, taas as models

TS, TF, P = models.TapService, models.TapFlow, pmodels.Port
DIRECTIONS = ("IN", "OUT", "BOTH")
#: VXLAN ids of tap services (traffic mirrored from other hosts), above the tenant
#: networks' ``vni_ranges`` (which must stay below 16,700,000).
TUNNEL_IDS = (16_700_000, 16_777_215)


class TapServiceNotFound(exc.NotFound):
    message = "Tap Service %(tap_id)s does not exist"


class TapFlowNotFound(exc.NotFound):
    message = "Tap Flow %(flow_id)s does not exist"


class PortDoesNotBelongToTenant(exc.Forbidden):
    message = "The specified port does not belong to the tenant"


class TapServiceNotBelongToTenant(exc.Forbidden):
    message = "Specified Tap Service does not belong to the tenant"


class TapServiceLimitReached(exc.Conflict):
    message = "Reached the maximum quota for Tap Services"


class InUse(exc.Conflict):
    """A second tap service on a port. Upstream TaaS has no such check (its plugin
    lets several services share a port); Kumo refuses because each tap service port
    receives one VXLAN id (``tap_tunnel``). No TaaS exception fits, so the fault's
    ``type`` (the class name) is neutron-lib's generic 409 ``InUse`` (the base of
    Neutron's ``*InUse`` conflicts), with a message naming the port and the service."""
    message = ("Unable to complete operation on port %(port_id)s: it is already the "
               "port of tap service %(tap_id)s.")


TapServicePortInUse = InUse


class Taas:
    """The tap services part (``networking.taas``); its flows are
    :attr:`flows` (``networking.parts["tap_flows"]``)."""

    def __init__(self, networking):
        self.net = networking
        self.flows = TapFlows(self)

    # -- tap services ------------------------------------------------------------------
    def visible(self, ctx: RequestContext):
        return visible_clause(TS, ctx)

    def visible_flows(self, ctx: RequestContext):
        return visible_clause(TF, ctx)

    def get(self, session, ctx: RequestContext, tap_id: str) -> models.TapService:
        row = session.scalar(sa.select(TS).where(TS.id == tap_id, self.visible(ctx)))
        if row is None:
            raise TapServiceNotFound(tap_id=tap_id)
        return row

    def _own_port(self, session, ctx: RequestContext, port_id: str, project: str):
        port = self.net.ports.get(session, ctx, port_id)
        if port.project_id != project and not sees_all(ctx):
            raise PortDoesNotBelongToTenant()
        return port

    def create(self, session, ctx: RequestContext, attrs: dict) -> models.TapService:
        project = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id or ""
        port = self._own_port(session, ctx, attrs["port_id"], project)
        held = session.scalar(sa.select(TS.id).where(TS.port_id == port.id))
        if held:
            raise TapServicePortInUse(port_id=port.id, tap_id=held)
        row = TS(project_id=project, name=attrs.get("name") or "",
                 description=attrs.get("description") or "", port_id=port.id,
                 vni=self._tunnel_id(session))
        stamp(row)
        session.add(row)
        session.flush()
        return row

    @staticmethod
    def _tunnel_id(session) -> int:
        """The next free VXLAN id of :data:`TUNNEL_IDS` (writers are serialized)."""
        top = session.scalar(sa.select(sa.func.max(TS.vni)))
        if top is None or top < TUNNEL_IDS[0]:
            return TUNNEL_IDS[0]
        if top < TUNNEL_IDS[1]:
            return top + 1
        used = set(session.scalars(sa.select(TS.vni)))
        for vni in range(TUNNEL_IDS[0], TUNNEL_IDS[1] + 1):
            if vni not in used:
                return vni
        raise TapServiceLimitReached()

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        touch(row)

    def delete(self, session, ctx: RequestContext, row) -> None:
        sources = set(session.scalars(sa.select(TF.source_port)
                                      .where(TF.tap_service_id == row.id)))
        session.execute(sa.delete(TF).where(TF.tap_service_id == row.id))
        port_id = row.port_id
        session.delete(row)
        session.flush()
        for source in sorted(sources | {port_id}):
            self.net.changed(session, "port", source)

    # -- tap flows ---------------------------------------------------------------------
    def get_flow(self, session, ctx: RequestContext, flow_id: str) -> models.TapFlow:
        row = session.scalar(sa.select(TF).where(TF.id == flow_id, self.visible_flows(ctx)))
        if row is None:
            raise TapFlowNotFound(flow_id=flow_id)
        return row

    def create_flow(self, session, ctx: RequestContext, attrs: dict) -> models.TapFlow:
        project = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id or ""
        if attrs.get("vlan_filter"):
            raise exc.BadRequest(
                "Invalid input for vlan_filter. Reason: VLAN filtering (taas-vlan-filter) "
                "is not supported: the data plane carries untagged frames.")
        service = self.get(session, ctx, attrs["tap_service_id"])
        if service.project_id != project and not sees_all(ctx):
            raise TapServiceNotBelongToTenant()
        port = self._own_port(session, ctx, attrs["source_port"], project)
        if port.id == service.port_id:
            raise exc.BadRequest("Invalid input for source_port. Reason: the source port "
                                 "is the tap service's own port.")
        row = TF(project_id=project, name=attrs.get("name") or "",
                 description=attrs.get("description") or "", tap_service_id=service.id,
                 source_port=port.id, direction=attrs["direction"], vlan_filter=None)
        stamp(row)
        session.add(row)
        session.flush()
        self.net.changed(session, "port", port.id)
        self.net.changed(session, "port", service.port_id)
        return row

    def update_flow(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        self.update(session, ctx, row, attrs)

    def delete_flow(self, session, ctx: RequestContext, row) -> None:
        source = row.source_port
        service = session.scalar(sa.select(TS.port_id).where(TS.id == row.tap_service_id))
        session.delete(row)
        session.flush()
        for port_id in (source, service):
            if port_id and session.get(P, port_id) is not None:
                self.net.changed(session, "port", port_id)

    # -- rendering -----------------------------------------------------------------------
    def _ports(self, session, ids: set[str]) -> dict[str, tuple[str, str]]:
        """port id -> (host, status)."""
        if not ids:
            return {}
        return {r.id: (r.host_id or "", r.status) for r in session.execute(
            sa.select(P.id, P.host_id, P.status).where(P.id.in_(sorted(ids))))}

    def service_extras(self, session, rows: list) -> dict:
        ports = self._ports(session, {r.port_id for r in rows})
        status = {}
        for r in rows:
            host, state = ports.get(r.port_id, ("", "DOWN"))
            status[r.id] = "ACTIVE" if host and state == "ACTIVE" else "DOWN"
        return {"status": status}

    def flow_extras(self, session, rows: list) -> dict:
        services = dict(session.execute(sa.select(TS.id, TS.port_id).where(
            TS.id.in_(sorted({r.tap_service_id for r in rows}) or [""]))).all())
        ports = self._ports(session, {r.source_port for r in rows} | set(services.values()))
        status, tunnels = {}, None
        for r in rows:
            src = ports.get(r.source_port, ("", "DOWN"))
            dst = ports.get(services.get(r.tap_service_id, ""), ("", "DOWN"))
            status[r.id] = flow_status(src, dst)
            if src[0] and dst[0] and src[0] != dst[0]:
                if tunnels is None:
                    from kumo.network import peers
                    tunnels = peers.tunnel_ips(session)
                if dst[0] not in tunnels:
                    status[r.id] = "ERROR"
        return {"status": status}

    # -- data plane ----------------------------------------------------------------------
    def annotate(self, session, ports: list[dict]) -> None:
        """Add to the feed's rendered ports ``tap_mirrors`` (a source port's flows:
        ``[{"id", "direction", "to"}]``, ``to`` the service port's id, plus ``"vni"``
        and ``"remote"``, the service host's tunneling address, when that port is bound
        to another host) and ``tap_tunnel`` (a service port receiving mirrored traffic
        from other hosts: ``{"vni"}``, else None). Flows with an unbound end, or whose
        remote host has no known tunneling address, have no data plane."""
        from kumo.network import peers

        by_id = {p["id"]: p for p in ports}
        for p in ports:
            p["tap_mirrors"] = []
            p["tap_tunnel"] = None
        if not by_id or session.scalar(sa.select(TF.id).limit(1)) is None:
            return  # the common case: no flows at all, one indexed read
        SPo, SRC = sa.orm.aliased(P), sa.orm.aliased(P)
        ids = sorted(by_id)
        stmt = (sa.select(TF.id, TF.source_port, TF.direction, TS.port_id, TS.vni,
                          SPo.host_id.label("target_host"), SRC.host_id.label("source_host"))
                .join(TS, TS.id == TF.tap_service_id).join(SPo, SPo.id == TS.port_id)
                .join(SRC, SRC.id == TF.source_port)
                .where(sa.or_(TF.source_port.in_(ids), TS.port_id.in_(ids)))
                .order_by(TF.id))
        tunnels = None
        for r in session.execute(stmt):
            if not r.source_host or not r.target_host:
                continue
            remote = r.source_host != r.target_host
            if r.source_port in by_id:
                item = {"id": r.id, "direction": r.direction, "to": r.port_id}
                if remote:
                    tunnels = peers.tunnel_ips(session) if tunnels is None else tunnels
                    if r.target_host not in tunnels:
                        continue
                    item.update(vni=r.vni, remote=tunnels[r.target_host])
                by_id[r.source_port]["tap_mirrors"].append(item)
            if remote and r.port_id in by_id:
                by_id[r.port_id]["tap_tunnel"] = {"vni": r.vni}

    def port_moved(self, session, port) -> None:
        """A port's binding changed (:meth:`kumo.network.ports.Ports.update`): the
        other ends of its tap flows (the sources of a service on it, the service ports
        of flows from it) are changed too, since their mirrors and tunnels depend on
        where it is."""
        others = set(session.scalars(
            sa.select(TF.source_port).join(TS, TS.id == TF.tap_service_id)
            .where(TS.port_id == port.id)))
        others |= set(session.scalars(
            sa.select(TS.port_id).join(TF, TF.tap_service_id == TS.id)
            .where(TF.source_port == port.id)))
        for other in sorted(others - {port.id}):
            self.net.changed(session, "port", other)

    def drop_port(self, resource, event, trigger, payload) -> None:
        """``PORT`` ``PRECOMMIT_DELETE``: the flows from the port go, and the tap service
        on it with its flows (each flow's source port is told)."""
        session, port = payload.session, payload.latest_state
        services = list(session.scalars(sa.select(TS).where(TS.port_id == port.id)))
        for service in services:
            self.delete(session, None, service)
        if session.scalar(sa.select(TF.id).where(TF.source_port == port.id).limit(1)):
            session.execute(sa.delete(TF).where(TF.source_port == port.id))
            session.flush()


class TapFlows:
    """The tap flows part: the generic routes' ``visible/get/create/update/delete``."""

    def __init__(self, taas: Taas):
        self.taas = taas

    def visible(self, ctx):
        return self.taas.visible_flows(ctx)

    def get(self, session, ctx, flow_id):
        return self.taas.get_flow(session, ctx, flow_id)

    def create(self, session, ctx, attrs):
        return self.taas.create_flow(session, ctx, attrs)

    def update(self, session, ctx, row, attrs):
        self.taas.update_flow(session, ctx, row, attrs)

    def delete(self, session, ctx, row):
        self.taas.delete_flow(session, ctx, row)


def flow_status(source: tuple[str, str], target: tuple[str, str]) -> str:
    """A flow's status from its source and service ports' ``(host, status)``: ACTIVE
    when both are bound and ACTIVE (on one host or two), else DOWN."""
    if source[0] and target[0] and source[1] == target[1] == "ACTIVE":
        return "ACTIVE"
    return "DOWN"
