"""Networks and their segments (Networking API v2.0: "Networks", "Provider network",
"Networks multiple provider extension" is not supported; one segment per network).

Tenant networks are VXLAN with a VNI allocated from ``Settings.vni_ranges`` (MTU 1450);
flat networks sit on a configured physical network (MTU 1500). ``shared`` and
``router:external`` make a network visible to every project (with an RBAC entry for
``*``); RBAC policies can share it with single projects.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.callbacks import DBEventPayload, Event, Resource
from kumo.common.context import RequestContext
from kumo.common.policy import sees_all
from kumo.network import exceptions as nexc, zones
from kumo.network import peers, scope
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import core as models

VXLAN_OVERHEAD = 50
NETWORK_TYPES = ("vxlan", "flat")


class Networks:
    def __init__(self, networking):
        self.net = networking

    # -- visibility ----------------------------------------------------------------
    def shared_clause(self, ctx: RequestContext):
        """Networks visible to a non-admin beyond their own: shared, RBAC-granted to
        their project (or to every project) as shared or external, or external by the
        flag alone (no ``access_as_external`` policy narrows who sees it)."""
        return _shared(ctx.project_id or "")

    def visible(self, ctx: RequestContext):
        return visible_clause(models.Network, ctx, self.shared_clause(ctx))

    def get(self, session, ctx: RequestContext, network_id: str) -> models.Network:
        """The network if the caller may see it; 404 (NetworkNotFound) otherwise."""
        row = session.scalar(_GET[sees_all(ctx)], {"id": network_id,
                                                  "project": ctx.project_id or ""})
        if row is None:
            raise nexc.NetworkNotFound(id=network_id)
        return row

    def row(self, session, ctx: RequestContext, network_id: str) -> sa.Row:
        """As :meth:`get`, but the network's columns as a read-only Core row (no ORM
        object): for callers that only read it, e.g. a port create."""
        row = session.connection().execute(_ROW[sees_all(ctx)], {
            "id": network_id, "project": ctx.project_id or ""}).first()
        if row is None:
            raise nexc.NetworkNotFound(id=network_id)
        return row

    def shared_with(self, session, network: models.Network, project_id: str) -> bool:
        """True if ``project_id`` may attach ports to ``network`` (owner, shared, RBAC)."""
        if network.project_id == project_id or network.shared:
            return True
        return session.scalar(sa.select(models.RBACPolicy.id).where(
            models.RBACPolicy.object_id == network.id,
            models.RBACPolicy.action == "access_as_shared",
            models.RBACPolicy.target_tenant.in_([project_id, "*"]))) is not None

    def snapshot(self, session, host: str | None, keys: dict | None = None) -> dict:
        """Desired state for the data plane: the L2 facts of every network ``host`` has
        a bound port on (all networks when ``host`` is None), with ``l2_population``,
        the ports other hosts have on it (:mod:`kumo.network.peers`). ``keys``
        (``{collection: [ids]}``): only those ids (:meth:`kumo.network.feed.Feed.snapshot`)."""
        stmt = sa.select(models.Network).order_by(models.Network.id)
        stmt = scope.keyed(stmt, keys, "networks", models.Network.id)
        if stmt is None:
            return {}
        if host is not None:
            stmt = stmt.where(models.Network.id.in_(scope.networks_of(host)))
        rows = list(session.scalars(stmt))
        if not rows:
            return {"networks": []}
        l2pop = peers.l2_population(session, host,
                                    [r.id for r in rows] if keys is not None else None)
        return {"networks": [
            {"id": r.id, "project_id": r.project_id, "admin_state_up": r.admin_state_up,
             "network_type": r.network_type, "physical_network": r.physical_network,
             "segmentation_id": r.segmentation_id, "mtu": r.mtu, "external": r.external,
             "port_security_enabled": r.port_security_enabled,
             "dns_domain": r.dns_domain or "",
             "revision_number": r.revision_number,
             "l2_population": l2pop.get(r.id, [])} for r in rows]}

    # -- create / update / delete --------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict) -> models.Network:
        """Create a network from API attributes (``provider:*``, ``router:external``
        already checked by policy). 409 when a requested segment is taken, 503 when no
        VNI is left."""
        settings = self.net.settings
        network_type = attrs.get("provider:network_type") or "vxlan"
        if network_type not in NETWORK_TYPES:
            raise nexc.InvalidInput(error_message=f"network_type value '{network_type}' "
                                                  "not supported")
        physnet = attrs.get("provider:physical_network")
        seg_id = attrs.get("provider:segmentation_id")
        if network_type == "flat":
            if seg_id is not None:
                raise nexc.InvalidInput(error_message="segmentation_id specified for flat "
                                                      "provider network")
            physnet = physnet or (settings.physical_networks[0]
                                  if settings.physical_networks else None)
            if physnet not in settings.physical_networks:
                raise nexc.InvalidInput(error_message=f"physical_network '{physnet}' unknown "
                                                      "for flat provider network")
            if session.scalar(sa.select(models.Network.id).where(
                    models.Network.network_type == "flat",
                    models.Network.physical_network == physnet)):
                raise exc.Conflict(f"Unable to create the flat network. Physical network "
                                   f"{physnet} is in use.")
            mtu = settings.physnet_mtu
        else:
            if physnet is not None:
                raise nexc.InvalidInput(error_message="physical_network specified for vxlan "
                                                      "network")
            seg_id = self._allocate_vni(session, seg_id)
            mtu = settings.physnet_mtu - VXLAN_OVERHEAD
        requested_mtu = attrs.get("mtu")
        if requested_mtu is not None:
            if requested_mtu > mtu:
                raise nexc.InvalidInput(error_message=f"Requested MTU is too big, maximum is "
                                                      f"{mtu}")
            mtu = requested_mtu
        row = models.Network(
            project_id=attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id,
            name=attrs.get("name") or "", description=attrs.get("description") or "",
            admin_state_up=attrs.get("admin_state_up", True), status="ACTIVE",
            shared=attrs.get("shared", False), external=attrs.get("router:external", False),
            mtu=mtu, network_type=network_type, physical_network=physnet,
            segmentation_id=seg_id,
            port_security_enabled=attrs.get("port_security_enabled", True),
            availability_zone_hints=zones.check_hints(
                session, "network", attrs.get("availability_zone_hints")),
            dns_domain=attrs.get("dns_domain") or "", is_default=attrs.get("is_default", False))
        self.net.auto_topology.check_default_network(session, None, row.is_default,
                                                     row.external)
        stamp(row)
        session.add(row)
        session.flush()
        for action, on in (("access_as_shared", row.shared),
                           ("access_as_external", row.external)):
            if on:  # Neutron's '*' policy for the flag
                self.net.rbac.wildcard(session, row, action, True)
        self.net.changed(session, "network", row.id)
        self.net.qos.bind(session, ctx, "network", row, attrs, created=True)
        return row

    def _allocate_vni(self, session, requested: int | None) -> int:
        used = set(session.scalars(sa.select(models.Network.segmentation_id).where(
            models.Network.network_type == "vxlan")))
        if requested is not None:
            if not 1 <= requested <= 2 ** 24 - 1:
                raise nexc.InvalidInput(error_message=f"segmentation_id {requested} out of "
                                                      "range 1-16777215")
            if requested in used:
                raise exc.Conflict(f"Unable to create the network. The VXLAN {requested} is "
                                   "in use.")
            return requested
        for low, high in self.net.settings.vni_range_list:
            for vni in range(low, high + 1):
                if vni not in used:
                    return vni
        raise nexc.NoNetworkAvailable()

    def update(self, session, ctx: RequestContext, row: models.Network, attrs: dict) -> None:
        """Apply updatable attributes; provider attributes cannot change once set."""
        for key in ("provider:network_type", "provider:physical_network",
                    "provider:segmentation_id"):
            if key in attrs:
                current = {"provider:network_type": row.network_type,
                           "provider:physical_network": row.physical_network,
                           "provider:segmentation_id": row.segmentation_id}[key]
                if attrs[key] != current:
                    raise nexc.InvalidInput(error_message="Plugin does not support updating "
                                                          "provider attributes")
        if "mtu" in attrs and attrs["mtu"] is not None:
            limit = self.net.settings.physnet_mtu - (
                VXLAN_OVERHEAD if row.network_type == "vxlan" else 0)
            if attrs["mtu"] > limit:
                raise nexc.InvalidInput(error_message=f"Requested MTU is too big, maximum "
                                                      f"is {limit}")
            row.mtu = attrs["mtu"]
        self.net.callbacks.publish(
            Resource.NETWORK, Event.BEFORE_UPDATE, self,
            DBEventPayload(ctx, resource_id=row.id, states=(row, attrs),
                           request_body=attrs, session=session))
        mapping = {"name": "name", "description": "description",
                   "admin_state_up": "admin_state_up", "shared": "shared",
                   "router:external": "external", "port_security_enabled":
                   "port_security_enabled", "dns_domain": "dns_domain",
                   "is_default": "is_default"}
        for key, column in mapping.items():
            if key in attrs:
                setattr(row, column, attrs[key] if attrs[key] is not None else "")
        if not row.external:  # is_default is an external network's (auto-allocation)
            row.is_default = False if "is_default" not in attrs else row.is_default
        self.net.auto_topology.check_default_network(session, row.id, row.is_default,
                                                     row.external)
        for key, action in (("shared", "access_as_shared"),
                            ("router:external", "access_as_external")):
            if key in attrs:  # Neutron's '*' policy follows the flag
                self.net.rbac.wildcard(session, row, action, bool(attrs[key]))
        touch(row)
        self.net.changed(session, "network", row.id)
        self.net.qos.bind(session, ctx, "network", row, attrs)

    def delete(self, session, ctx: RequestContext, row: models.Network) -> None:
        """Delete; 409 NetworkInUse while ports other than DHCP ports remain. Publishes
        ``NETWORK`` ``BEFORE_DELETE`` (the in-use checks) and ``PRECOMMIT_DELETE`` (the
        parts owning rows on the network remove them: subnets, DHCP ports) with a
        :class:`~kumo.common.callbacks.DBEventPayload` whose state is the row."""
        payload = DBEventPayload(ctx, resource_id=row.id, states=(row,), session=session)
        self.net.callbacks.publish(Resource.NETWORK, Event.BEFORE_DELETE, self, payload)
        self.net.callbacks.publish(Resource.NETWORK, Event.PRECOMMIT_DELETE, self, payload)
        session.execute(sa.delete(models.RBACPolicy).where(
            models.RBACPolicy.object_id == row.id))
        self.net.delete_tags(session, row.id)
        session.delete(row)
        self.net.changed(session, "network", row.id, "delete")


def _shared(project):
    """:meth:`Networks.shared_clause` for ``project`` (a value or a bind parameter)."""
    rbac = sa.select(models.RBACPolicy.object_id).where(
        sa.or_(models.RBACPolicy.target_tenant == project,
               models.RBACPolicy.target_tenant == "*"))
    narrowed = sa.select(models.RBACPolicy.object_id).where(
        models.RBACPolicy.action == "access_as_external")
    return sa.or_(models.Network.shared,
                  sa.and_(models.Network.external, models.Network.id.not_in(narrowed)),
                  models.Network.id.in_(rbac))


def _visible_to(project):
    return sa.or_(models.Network.project_id == project, _shared(project))


_N = models.Network.__table__
# By id, visible to the caller; built once per kind of caller (admin or not).
_GET = {True: sa.select(models.Network).where(models.Network.id == sa.bindparam("id")),
        False: sa.select(models.Network).where(models.Network.id == sa.bindparam("id"),
                                                _visible_to(sa.bindparam("project")))}
_ROW = {True: sa.select(_N).where(_N.c.id == sa.bindparam("id")),
        False: sa.select(_N).where(_N.c.id == sa.bindparam("id"),
                                   _visible_to(sa.bindparam("project")))}
