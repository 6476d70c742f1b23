"""The Networking service's logic core, with no HTTP in it.

:class:`Networking` composes the per-area parts (networks, subnets and ports, routers and
floating IPs, security groups, RBAC, quotas) around one database. Everything they share
is here:

- :meth:`Networking.write` is the one write transaction: it takes the ``network``
  revision row (an ``UPDATE ... value+1``, which also serializes network writers on
  PostgreSQL as SQLite's ``BEGIN IMMEDIATE`` does), so change-feed revisions are
  monotonic in commit order, and IPAM and VNI allocation never race;
- :meth:`Networking.changed` appends to the change feed the data plane watches;
- standard attributes (:func:`stamp`, :func:`touch`), tags, ``If-Match`` revision checks
  and project visibility (:func:`visible_clause`) for every resource.
"""
from __future__ import annotations

import contextlib
import uuid
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common import exceptions as exc
from kumo.common.callbacks import PRIORITY_DEFAULT, CallbackRegistry, Event, Resource
from kumo.common.context import RequestContext
from kumo.common.policy import sees_all
from kumo.common.timeutils import utcnow
from kumo.config import Settings
from kumo.db import Database, Prepared
from kumo.identity import models as identity_models
from kumo.network import exceptions as nexc
from kumo.network.models import core as models

AREA = "network"


def new_id() -> str:
    """A dashed UUID, Neutron's id shape."""
    return str(uuid.uuid4())


def stamp(row, ctx_project: str | None = None) -> None:
    """Fill the standard attributes of a new row (id, times, revision 0)."""
    now = utcnow()
    if not getattr(row, "id", None):
        row.id = new_id()
    row.created_at = now
    row.updated_at = now
    row.revision_number = 0
    if ctx_project is not None and not row.project_id:
        row.project_id = ctx_project


def touch(row) -> None:
    """A changed row: new ``updated_at`` and ``revision_number + 1``."""
    row.updated_at = utcnow()
    row.revision_number = (row.revision_number or 0) + 1


def check_if_match(row, if_match: str | None) -> None:
    """``If-Match: revision_number=N``: 412 unless the row is at revision N."""
    if not if_match:
        return
    for part in if_match.split(","):
        part = part.strip()
        if part.startswith("revision_number="):
            try:
                expected = int(part.split("=", 1)[1])
            except ValueError:
                raise exc.BadRequest(f"Invalid If-Match header: {if_match}") from None
            if row.revision_number != expected:
                raise nexc.RevisionNumberConstraintFailed(expected=expected,
                                                          current=row.revision_number)


class Networking:
    """Facade over the networking parts; see each part for its operations.

    The parts and their subscriptions are listed here, where the service is built:
    nothing is registered by importing a module. Every part always exists (the
    migrations always create every area's tables), so parts call each other directly
    (``self.net.security_groups.default_group_id(...)``) where one needs the other's
    answer, and cross-part reactions to a change (a network or port going away) go
    through :attr:`callbacks` (:mod:`kumo.common.callbacks`)."""

    def __init__(self, settings: Settings, db: Database):
        from kumo.network.agents import Agents
        from kumo.network.auto_topology import AutoTopology
        from kumo.network.dvr import Dvr
        from kumo.network.feed import Feed
        from kumo.network.floatingips import FloatingIPs
        from kumo.network.fwaas import FirewallGroups, FirewallPolicies, FirewallRules
        from kumo.network.metering import MeteringLabelRules, MeteringLabels
        from kumo.network.logging_service import Logs
        from kumo.network.l3 import Routers
        from kumo.network.l3_ha import L3HA
        from kumo.network.l3_scheduler import L3Scheduler
        from kumo.network.address_groups import AddressGroups
        from kumo.network.netviews import IPAvailability, Segments
        from kumo.network.networks import Networks
        from kumo.network.ports import Ports
        from kumo.network.portforwarding import PortForwardings
        from kumo.network.qos import Qos
        from kumo.network.quotas import Quotas
        from kumo.network.rbac import Rbac
        from kumo.network.security import SecurityGroups
        from kumo.network.subnetpools import AddressScopes, SubnetPools
        from kumo.network.subnets import Subnets
        from kumo.network.taas import Taas
        from kumo.network.trunks import Trunks

        self.settings = settings
        self.db = db
        self.callbacks = CallbackRegistry()
        self.networks = Networks(self)
        self.subnets = Subnets(self)
        self.ports = Ports(self)
        self.address_scopes = AddressScopes(self)
        self.subnetpools = SubnetPools(self)
        self.l3_scheduler = L3Scheduler(self)
        self.routers = Routers(self)
        self.l3_ha = L3HA(self)
        self.dvr = Dvr(self)
        self.floatingips = FloatingIPs(self)
        self.port_forwardings = PortForwardings(self)
        self.auto_topology = AutoTopology(self)
        self.security_groups = SecurityGroups(self)
        self.agents = Agents(self)
        self.quotas = Quotas(self)
        self.rbac = Rbac(self)
        self.segments, self.ip_availability = Segments(self), IPAvailability(self)
        self.address_groups = AddressGroups(self)
        self.qos = Qos(self)
        self.firewall_rules = FirewallRules(self)
        self.firewall_policies = FirewallPolicies(self)
        self.firewall_groups = FirewallGroups(self)
        self.metering_labels = MeteringLabels(self)
        self.metering_label_rules = MeteringLabelRules(self)
        self.logs = Logs(self)
        self.taas = Taas(self)
        self.tap_flows = self.taas.flows
        self.trunks = Trunks(self)
        #: name -> part, for the API's generic collection handlers
        #: (``networking.parts["subnets"]``).
        self.parts = {"networks": self.networks, "subnets": self.subnets,
                      "ports": self.ports, "address_scopes": self.address_scopes,
                      "subnetpools": self.subnetpools, "l3_scheduler": self.l3_scheduler,
                      "routers": self.routers, "l3_ha": self.l3_ha, "dvr": self.dvr,
                      "floatingips": self.floatingips,
                      "security_groups": self.security_groups, "agents": self.agents,
                      "quotas": self.quotas, "rbac": self.rbac,
                      "port_forwardings": self.port_forwardings,
                      "auto_topology": self.auto_topology,
                      "segments": self.segments, "ip_availability": self.ip_availability,
                      "address_groups": self.address_groups,
                      "qos": self.qos,
                      "firewall_rules": self.firewall_rules,
                      "firewall_policies": self.firewall_policies,
                      "firewall_groups": self.firewall_groups,
                      "metering_labels": self.metering_labels,
                      "metering_label_rules": self.metering_label_rules,
                      "logs": self.logs,
                      "taas": self.taas, "tap_flows": self.tap_flows,
                      "trunks": self.trunks}
        #: the data plane's desired state: each part's ``{collection: [items]}``.
        self.feed = Feed(self, [self.networks.snapshot, self.subnets.snapshot,
                                self.ports.snapshot, self.routers.snapshot,
                                self.security_groups.snapshot])
        from kumo.network.port_api import PortAPI

        #: what other services (compute) may do with ports, inside their transaction.
        self.port_api = PortAPI(self)
        self._subscribe()

    def _subscribe(self) -> None:
        """Who reacts to what (see each callback's doc)."""
        on = self.callbacks.subscribe
        # a network's sharing turned off: 409 while other projects have ports on it
        on(self.ports.refuse_unshare, Resource.NETWORK, Event.BEFORE_UPDATE)
        # a network going: 409 NetworkInUse while ports other than DHCP ports remain;
        # then its subnets go (with their addresses) and its DHCP ports
        # (an external network's floating IPs without a port go first, as Neutron's)
        on(self.floatingips.drop_disassociated, Resource.NETWORK, Event.BEFORE_DELETE,
           priority=PRIORITY_DEFAULT - 1)
        on(self.ports.refuse_network_in_use, Resource.NETWORK, Event.BEFORE_DELETE)
        on(self.subnets.drop_network_subnets, Resource.NETWORK, Event.PRECOMMIT_DELETE,
           priority=100)
        on(self.ports.drop_network_ports, Resource.NETWORK, Event.PRECOMMIT_DELETE,
           priority=200)
        # a port going through DELETE /ports: 409 for ports routers and floating IPs
        # own; then floating IPs on it are disassociated (for every delete)
        on(self.routers.refuse_port_delete, Resource.PORT, Event.BEFORE_DELETE)
        # ... and for trunks' parents and sub-ports
        on(self.trunks.refuse_port_delete, Resource.PORT, Event.BEFORE_DELETE)
        on(self.floatingips.release_port, Resource.PORT, Event.PRECOMMIT_DELETE)
        # ... and port forwardings to it are deleted
        on(self.port_forwardings.drop_port, Resource.PORT, Event.PRECOMMIT_DELETE)
        # ... and it leaves its firewall group
        on(self.firewall_groups.release_port, Resource.PORT, Event.PRECOMMIT_DELETE)
        # ... and tap flows from it, the tap service on it (with its flows)
        on(self.taas.drop_port, Resource.PORT, Event.PRECOMMIT_DELETE)

    @contextlib.contextmanager
    def write(self) -> Iterator[orm.Session]:
        """A write transaction holding the network revision (see the module doc)."""
        with self.db.session() as session:
            if "network_revision" not in session.info:
                session.info["network_revision"] = _next_revision(session)
            yield session

    def read(self):
        return self.db.session(readonly=True)

    def changed(self, session: orm.Session, resource_type: str, resource_id: str,
                op: str = "update", host: str | None = None,
                hosts: Iterable[str] | None = None) -> None:
        """Append a change of ``resource_type``/``resource_id`` to the feed, at this
        transaction's revision (call inside :meth:`write`), for the hosts it concerns:
        ``host`` and ``hosts`` when given, else those :func:`kumo.network.scope.hosts_for`
        finds in the transaction's current state. A change concerning no host is one
        host-less row (only unfiltered watchers see it). Repeated calls in one
        transaction write each (host, object, op) once."""
        from kumo.network import scope

        if host is not None or hosts is not None:
            targets = set(hosts or ())
            if host is not None:
                targets.add(host)
        else:
            targets = scope.hosts_for(session, resource_type, resource_id) or set()
        targets.discard("")
        seen = session.info.setdefault("network_changes", set())
        rows = []
        at = utcnow()
        for target in sorted(targets) or [None]:
            key = (resource_type, resource_id, op, target)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"revision": session.info["network_revision"],
                         "resource_type": resource_type, "resource_id": resource_id,
                         "host": target, "op": op, "at": at})
        if not rows:
            return
        session.connection().execute(_ADD_CHANGE, rows)
        # whose watches to wake: the hosts the rows are for; a host-less network or
        # security group row is routed when read, to the hosts it concerns now
        wake = set(targets)
        if not targets and resource_type == "network":
            wake = scope.network_hosts(session, [resource_id])
        elif not targets and resource_type == "security_group":
            wake = scope.group_hosts(session, [resource_id])
        self.feed.wrote(session, wake)

    def check_quota(self, session, project_id: str, resource: str, delta: int = 1) -> None:
        """409 OverQuota if ``project_id`` may not have ``delta`` more ``resource``s."""
        self.quotas.check(session, project_id, resource, delta)

    # -- lists ------------------------------------------------------------------
    def page(self, session, collection, where, query, url: str, *,
             core_rows: bool = False) -> tuple[list, list[dict]]:
        """One page of a list: the rows of ``collection.model`` matching ``where`` (a
        part's visibility clause, or None), filtered, sorted and paged by
        ``collection`` (:meth:`kumo.common.collection.Collection.query` over the
        list's query parameters ``query``; ``url`` for the links). ``core_rows``:
        read-only table rows instead of ORM objects (several times faster to load).
        Returns ``(rows, <collection>_links)``."""
        stmt = sa.select(collection.model.__table__ if core_rows else collection.model)
        if where is not None:
            stmt = stmt.where(where)
        return collection.query(session, stmt, query, url)

    # -- tags -------------------------------------------------------------------
    def tags_of(self, session, ids: list[str]) -> dict[str, list[str]]:
        """Tags of many resources at once: id -> sorted tags."""
        out: dict[str, list[str]] = {i: [] for i in ids}
        if not ids:
            return out
        for chunk in range(0, len(ids), 500):
            for row in session.execute(sa.select(models.Tag.resource_id, models.Tag.tag).where(
                    models.Tag.resource_id.in_(ids[chunk:chunk + 500]))):
                out[row.resource_id].append(row.tag)
        for tags in out.values():
            tags.sort()
        return out

    def set_tags(self, session, row, tags: list[str]) -> None:
        self.delete_tags(session, row.id)
        self.add_tags(session, row.id, tags)
        touch(row)

    def add_tags(self, session, resource_id: str, tags: list[str]) -> list[str]:
        """Tag a resource created in this transaction (no revision change); returns its
        tags as rendered (sorted, without duplicates)."""
        tags = list(dict.fromkeys(tags))
        if tags:
            _ADD_TAG.run(session, [{"resource_id": resource_id, "tag": t} for t in tags])
        return sorted(tags)

    def delete_tags(self, session, resource_id: str) -> None:
        _DROP_TAGS.run(session, {"r": resource_id})

    def project_exists(self, project_id: str) -> bool:
        with self.db.session(readonly=True) as s:
            return s.get(identity_models.Project, project_id) is not None


_ADD_CHANGE = sa.insert(models.Change.__table__)
_ADD_TAG = Prepared(sa.insert(models.Tag.__table__))
_DROP_TAGS = Prepared(sa.delete(models.Tag.__table__).where(
    models.Tag.__table__.c.resource_id == sa.bindparam("r")))
_REVISION = sa.table("kumo_revision", sa.column("name"), sa.column("value"))
#: Built once: a Core statement, not an ORM bulk update (which costs milliseconds).
_BUMP = Prepared(sa.update(_REVISION).where(_REVISION.c.name == AREA)
                 .values(value=_REVISION.c.value + 1).returning(_REVISION.c.value))


def _next_revision(session: orm.Session) -> int:
    from kumo.db.models import Revision

    value = _BUMP.scalar(session)
    if value is None:
        session.add(Revision(name=AREA, value=1))
        session.flush()
        value = 1
    return value


def tag_filter(model):
    """A :class:`~kumo.common.collection.Collection` tag filter for ``model``."""
    def apply(stmt, op: str, tags: list[str]):
        if not tags:
            return stmt
        has = sa.select(models.Tag.resource_id).where(models.Tag.tag.in_(tags))
        if op in ("tags", "not-tags"):
            has = has.group_by(models.Tag.resource_id).having(
                sa.func.count(sa.distinct(models.Tag.tag)) == len(set(tags)))
        clause = model.id.in_(has)
        return stmt.where(clause if not op.startswith("not-") else ~clause)
    return apply


def visible_clause(model, ctx: RequestContext, shared_clause=None):
    """SQL for "rows this caller may see": all for admin and the service role
    (:func:`kumo.common.policy.sees_all`), else own project's rows (plus
    ``shared_clause``, e.g. shared or RBAC-granted networks)."""
    if sees_all(ctx):
        return sa.true()
    clause = model.project_id == (ctx.project_id or "")
    if shared_clause is not None:
        clause = sa.or_(clause, shared_clause)
    return clause
