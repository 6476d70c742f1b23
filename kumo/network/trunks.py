"""Trunks (Networking API v2.0 "Trunk networking": ``/v2.0/trunks``, extensions
``trunk`` and ``trunk-details``): a parent port carrying sub-ports, each a port of its
own told apart on the parent by ``segmentation_type``/``segmentation_id``
(VLAN-aware instances).

- **Create** ``{port_id, sub_ports?, name, description, admin_state_up}``: 404 for an
  invisible port; 409 ``TrunkPortInUse`` when the parent (or a sub-port) already is a
  trunk's parent or sub-port; 409 ``DuplicateSubPort`` for a segmentation repeated on
  the trunk; 400 for a bad segmentation (``vlan`` needs an id 1..4094; ``inherit``
  takes the sub-port network's VLAN segment and is a 400 on other network types; other
  types are 400); 409 ``SubPortMtuGreaterThanTrunkPortMtu`` when a sub-port's network
  MTU exceeds the parent's.
- ``PUT .../add_subports`` / ``remove_subports`` (``{"sub_ports": [...]}``, answered
  with the trunk itself, unwrapped, as Neutron), ``GET .../get_subports``; both 409
  ``TrunkDisabled`` when ``admin_state_up`` is false; removing a port that is not a
  sub-port of the trunk is 404 ``SubPortNotFound``. All or nothing.
- **Delete**: 409 ``TrunkInUse`` while the parent port is bound to a host.
- **Ports**: deleting a parent is 409 ``PortInUseAsTrunkParent``, a sub-port 409
  ``PortInUseAsSubPort`` (:meth:`Trunks.refuse_port_delete`). Sub-ports get
  ``device_owner: trunk:subport``, ``device_id`` = the trunk and the parent's
  ``binding:host_id`` (following it when the parent is bound elsewhere:
  :meth:`Trunks.parent_moved`), so the host's agent plugs them. A parent port shows
  ``trunk_details`` ``{trunk_id, sub_ports: [{port_id, segmentation_type,
  segmentation_id, mac_address}]}`` (``null`` on other ports).

**Status** is computed when rendered, never stored (Neutron's values): ``DOWN`` while
the parent is unbound; bound, with no sub-ports: ``ACTIVE`` once the parent port is,
else ``BUILD``; with sub-ports, the host's Linux bridge agent decides: its heartbeat's
``configurations["trunk"]`` says whether it can make VLAN devices (``{"vlan": bool,
"reason"}``, :mod:`kumo.agent.trunk`): when it cannot (this kernel has no 802.1Q) or
says nothing, ``DEGRADED`` (the sub-ports carry nothing; the reason is in ``openstack
network agent show``); when it can, ``ACTIVE`` once the parent and every sub-port are
``ACTIVE``, else ``BUILD``. A trunk is never ``ACTIVE`` while a sub-port carries
nothing.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import core, ports as pmodels, security, taas as models

T, SP, P = models.Trunk, models.SubPort, pmodels.Port
OWNER = "trunk:subport"
L2_AGENT = "Linux bridge agent"


class TrunkNotFound(exc.NotFound):
    message = "Trunk %(trunk_id)s could not be found."


class SubPortNotFound(exc.NotFound):
    message = ("SubPort on trunk %(trunk_id)s with parent port %(port_id)s could not be "
               "found.")


class TrunkPortInUse(exc.Conflict):
    message = "Port %(port_id)s is in use by another trunk."


class DuplicateSubPort(exc.Conflict):
    message = ("segmentation_type %(segmentation_type)s and segmentation_id "
               "%(segmentation_id)s already in use on trunk %(trunk_id)s.")


class TrunkInUse(exc.Conflict):
    message = "Trunk %(trunk_id)s is currently in use."


class TrunkDisabled(exc.Conflict):
    message = "Trunk %(trunk_id)s is currently disabled."


class PortInUseAsTrunkParent(exc.Conflict):
    message = "Port %(port_id)s is currently a parent port for trunk %(trunk_id)s."


class PortInUseAsSubPort(exc.Conflict):
    message = "Port %(port_id)s is currently a subport for trunk %(trunk_id)s."


class SubPortMtuGreaterThanTrunkPortMtu(exc.Conflict):
    message = ("MTU %(port_mtu)s of subport %(port_id)s cannot be greater than MTU "
               "%(trunk_mtu)s of trunk %(trunk_id)s.")


def _invalid(reason: str) -> exc.BadRequest:
    return exc.BadRequest(f"Invalid input for sub_ports. Reason: {reason}")


class Trunks:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(T, ctx)

    def get(self, session, ctx: RequestContext, trunk_id: str) -> models.Trunk:
        row = session.scalar(sa.select(T).where(T.id == trunk_id, self.visible(ctx)))
        if row is None:
            raise TrunkNotFound(trunk_id=trunk_id)
        return row

    # -- checks --------------------------------------------------------------------------
    def _in_use(self, session, port_id: str) -> bool:
        return bool(session.scalar(sa.select(T.id).where(T.port_id == port_id))
                    or session.scalar(sa.select(SP.trunk_id).where(SP.port_id == port_id)))

    def _segmentation(self, session, spec: dict, port) -> tuple[str, int]:
        kind = spec.get("segmentation_type") or "vlan"
        if kind == "inherit":
            network = session.get(core.Network, port.network_id)
            if network.network_type != "vlan" or network.segmentation_id is None:
                raise _invalid(f"segmentation type inherit needs the subport's network "
                               f"to be a VLAN network; {network.id} is "
                               f"{network.network_type}.")
            return "vlan", int(network.segmentation_id)
        if kind != "vlan":
            raise _invalid(f"segmentation type {kind} is not supported: vlan, inherit.")
        seg = spec.get("segmentation_id")
        if isinstance(seg, str) and seg.isdigit():
            seg = int(seg)
        if not isinstance(seg, int) or isinstance(seg, bool) or not 1 <= seg <= 4094:
            raise _invalid(f"segmentation_id {seg!r} is not a VLAN id (1..4094).")
        return "vlan", seg

    def _add(self, session, ctx: RequestContext, trunk, parent, specs: list[dict]) -> None:
        taken = {(s.segmentation_type, s.segmentation_id) for s in session.scalars(
            sa.select(SP).where(SP.trunk_id == trunk.id))}
        parent_mtu = session.get(core.Network, parent.network_id).mtu
        seen_ports = set()
        for spec in specs:
            port = self.net.ports.get(session, ctx, spec["port_id"])
            if port.id == parent.id or port.id in seen_ports or self._in_use(session,
                                                                             port.id):
                raise TrunkPortInUse(port_id=port.id)
            seen_ports.add(port.id)
            kind, seg = self._segmentation(session, spec, port)
            if (kind, seg) in taken:
                raise DuplicateSubPort(segmentation_type=kind, segmentation_id=seg,
                                       trunk_id=trunk.id)
            taken.add((kind, seg))
            mtu = session.get(core.Network, port.network_id).mtu
            if mtu and parent_mtu and mtu > parent_mtu:
                raise SubPortMtuGreaterThanTrunkPortMtu(port_id=port.id, port_mtu=mtu,
                                                        trunk_id=trunk.id,
                                                        trunk_mtu=parent_mtu)
            session.add(SP(port_id=port.id, trunk_id=trunk.id, segmentation_type=kind,
                           segmentation_id=seg))
            session.flush()
            self._claim(session, trunk, port, parent.host_id)

    def _claim(self, session, trunk, port, host: str) -> None:
        from kumo.network.port_api import SERVICE

        self.net.ports.update(session, SERVICE, port, {
            "device_owner": OWNER, "device_id": trunk.id, "binding:host_id": host or ""})

    def _release(self, session, port) -> None:
        from kumo.network.port_api import SERVICE

        self.net.ports.update(session, SERVICE, port, {
            "device_owner": "", "device_id": "", "binding:host_id": ""})

    # -- CRUD ----------------------------------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict) -> models.Trunk:
        parent = self.net.ports.get(session, ctx, attrs["port_id"])
        if self._in_use(session, parent.id):
            raise TrunkPortInUse(port_id=parent.id)
        row = T(project_id=attrs.get("project_id") or attrs.get("tenant_id")
                or ctx.project_id or "", name=attrs.get("name") or "",
                description=attrs.get("description") or "",
                admin_state_up=attrs.get("admin_state_up", True), port_id=parent.id)
        stamp(row)
        session.add(row)
        session.flush()
        self._add(session, ctx, row, parent, attrs.get("sub_ports") or [])
        self.net.changed(session, "port", parent.id)
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        for key in ("name", "description", "admin_state_up"):
            if key in attrs:
                setattr(row, key, attrs[key] if key == "admin_state_up"
                        else attrs[key] or "")
        touch(row)

    def delete(self, session, ctx: RequestContext, row) -> None:
        parent = session.get(P, row.port_id)
        if parent is not None and parent.host_id:
            raise TrunkInUse(trunk_id=row.id)
        subs = list(session.scalars(sa.select(SP).where(SP.trunk_id == row.id)))
        for sub in subs:
            session.delete(sub)
        session.flush()
        for sub in subs:
            port = session.get(P, sub.port_id)
            if port is not None:
                self._release(session, port)
        session.delete(row)
        session.flush()
        if parent is not None:
            self.net.changed(session, "port", parent.id)

    def add_subports(self, session, ctx: RequestContext, row, specs: list[dict]) -> None:
        if not row.admin_state_up:
            raise TrunkDisabled(trunk_id=row.id)
        parent = session.get(P, row.port_id)
        self._add(session, ctx, row, parent, specs)
        touch(row)
        self.net.changed(session, "port", parent.id)

    def remove_subports(self, session, ctx: RequestContext, row, specs: list[dict]) -> None:
        if not row.admin_state_up:
            raise TrunkDisabled(trunk_id=row.id)
        ids = [s["port_id"] for s in specs]
        subs = {s.port_id: s for s in session.scalars(
            sa.select(SP).where(SP.trunk_id == row.id, SP.port_id.in_(ids or [""])))}
        for port_id in ids:
            if port_id not in subs:
                raise SubPortNotFound(trunk_id=row.id, port_id=port_id)
        for sub in subs.values():
            session.delete(sub)
        session.flush()
        for port_id in ids:
            port = session.get(P, port_id)
            if port is not None:
                self._release(session, port)
        touch(row)
        self.net.changed(session, "port", row.port_id)

    # -- reactions -----------------------------------------------------------------------
    def refuse_port_delete(self, resource, event, trigger, payload) -> None:
        """``PORT`` ``BEFORE_DELETE``: 409 for a trunk's parent or sub-port."""
        session, port = payload.session, payload.latest_state
        trunk = session.scalar(sa.select(T.id).where(T.port_id == port.id))
        if trunk:
            raise PortInUseAsTrunkParent(port_id=port.id, trunk_id=trunk)
        trunk = session.scalar(sa.select(SP.trunk_id).where(SP.port_id == port.id))
        if trunk:
            raise PortInUseAsSubPort(port_id=port.id, trunk_id=trunk)

    def parent_moved(self, session, port) -> None:
        """A port's binding changed (:meth:`kumo.network.ports.Ports.update`): when it
        is a trunk's parent, its sub-ports follow it to the new host."""
        trunk = session.scalar(sa.select(T).where(T.port_id == port.id))
        if trunk is None:
            return
        for sub in session.scalars(sa.select(SP).where(SP.trunk_id == trunk.id)):
            sub_port = session.get(P, sub.port_id)
            if sub_port is not None and sub_port.host_id != port.host_id:
                self._claim(session, trunk, sub_port, port.host_id)

    # -- rendering -----------------------------------------------------------------------
    def subports_of(self, session, trunk_ids: list[str]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {t: [] for t in trunk_ids}
        if not trunk_ids:
            return out
        for sub in session.scalars(sa.select(SP).where(SP.trunk_id.in_(trunk_ids))
                                   .order_by(SP.segmentation_id, SP.port_id)):
            out[sub.trunk_id].append({"segmentation_id": sub.segmentation_id,
                                      "segmentation_type": sub.segmentation_type,
                                      "port_id": sub.port_id})
        return out

    def extras(self, session, rows: list) -> dict:
        """``sub_ports``, ``status`` and ``tags`` of trunks."""
        subs = self.subports_of(session, [r.id for r in rows])
        port_ids = {r.port_id for r in rows} | {s["port_id"] for v in subs.values()
                                                for s in v}
        ports = {r.id: (r.host_id or "", r.status) for r in session.execute(
            sa.select(P.id, P.host_id, P.status).where(P.id.in_(sorted(port_ids) or [""])))}
        hosts = {h for h, _ in ports.values() if h}
        vlan: dict[str, bool] = {}
        if hosts:
            A = security.Agent
            for host, conf in session.execute(sa.select(A.host, A.configurations).where(
                    A.agent_type == L2_AGENT, A.host.in_(sorted(hosts)))):
                vlan[host] = bool(((conf or {}).get("trunk") or {}).get("vlan"))
        status = {}
        for r in rows:
            host, state = ports.get(r.port_id, ("", "DOWN"))
            status[r.id] = trunk_status(host, state, [ports.get(s["port_id"], ("", "DOWN"))
                                                      for s in subs[r.id]],
                                        vlan.get(host, False))
        return {"sub_ports": subs, "status": status,
                "tags": self.net.tags_of(session, [r.id for r in rows])}

    def port_extras(self, session, rows: list) -> dict:
        """``trunk_details`` of ports (None for ports that are no trunk's parent)."""
        ids = [r.id for r in rows]
        details: dict[str, dict | None] = {i: None for i in ids}
        trunks = dict(session.execute(sa.select(T.port_id, T.id).where(
            T.port_id.in_(ids or [""]))).all()) if ids else {}
        if trunks:
            subs = self.subports_of(session, list(trunks.values()))
            macs = dict(session.execute(sa.select(P.id, P.mac_address).where(P.id.in_(
                [s["port_id"] for v in subs.values() for s in v] or [""]))).all())
            for port_id, trunk_id in trunks.items():
                details[port_id] = {"trunk_id": trunk_id, "sub_ports": [
                    {**s, "mac_address": macs.get(s["port_id"])} for s in subs[trunk_id]]}
        return {"trunk_details": details}


def trunk_status(host: str, state: str, subports: list[tuple[str, str]],
                 vlan: bool) -> str:
    """A trunk's status from its parent's ``host``/``state``, its sub-ports' ``(host,
    status)`` and whether the host's agent makes VLAN devices."""
    if not host:
        return "DOWN"
    if not subports:
        return "ACTIVE" if state == "ACTIVE" else "BUILD"
    if not vlan:
        return "DEGRADED"
    if state == "ACTIVE" and all(s == "ACTIVE" for _, s in subports):
        return "ACTIVE"
    return "BUILD"
