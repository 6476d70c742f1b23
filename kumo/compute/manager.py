"""The Compute facade: one object per area (flavors, key pairs, hosts, scheduler,
servers, actions, server groups, quotas) over one database, plus the feed the compute
agents watch.

Transactions: :meth:`Compute.write` opens a write transaction whose first statement
increments the ``compute`` row of ``kumo_revision`` (so feed revisions are monotonic in
commit order, as the networking feed's are). A write that also creates, binds or
deletes ports passes ``network=True``: it enters the networking write first (taking the
``network`` revision), then the compute one, in one transaction. The order is always
network then compute, so two writers never wait on each other in a cycle.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common.log import new_request_id
from kumo.common.timeutils import utcnow
from kumo.db.models import Revision
from kumo.compute import models

AREA = "compute"
_REV = Revision.__table__
_BUMP = (sa.update(_REV).where(_REV.c.name == AREA)
         .values(value=_REV.c.value + 1).returning(_REV.c.value))
_ADD_CHANGE = sa.insert(models.Change.__table__)


class Compute:
    """Facade over the compute areas; built once per process by :class:`kumo.app.Cloud`
    (``cloud.compute``)."""

    def __init__(self, cloud):
        from kumo.compute.actions import Actions
        from kumo.compute.feed import Feed
        from kumo.compute.flavors import Flavors
        from kumo.compute.groups import ServerGroups
        from kumo.compute.hosts import Hosts
        from kumo.compute.keypairs import KeyPairs
        from kumo.compute.quotas import Quotas
        from kumo.compute.scheduler import Scheduler
        from kumo.compute.servers import Servers

        self.cloud = cloud
        self.settings = cloud.settings
        self.db = cloud.db
        self.feed = Feed(self)
        self.flavors = Flavors(self)
        self.keypairs = KeyPairs(self)
        self.hosts = Hosts(self)
        self.scheduler = Scheduler(self)
        self.quotas = Quotas(self)
        self.groups = ServerGroups(self)
        self.servers = Servers(self)
        self.actions = Actions(self)
        from kumo.compute.lifecycle import Lifecycle
        self.lifecycle = Lifecycle(self)
        from kumo.compute.snapshots import Snapshots
        self.snapshots = Snapshots(self)
        from kumo.compute.aggregates import Aggregates
        self.aggregates = Aggregates(self)
        from kumo.compute.listing import Lists
        self.lists = Lists(self)

    @property
    def networking(self):
        return self.cloud.networking

    @property
    def images(self):
        return self.cloud.images

    @contextlib.contextmanager
    def write(self, network: bool = False) -> Iterator[orm.Session]:
        """A write transaction holding the compute revision (and first the network one
        when ``network``); see the module doc."""
        outer = self.networking.write() if network else self.db.session()
        with outer as session:
            if "compute_revision" not in session.info:
                value = session.execute(_BUMP).scalar()
                if value is None:
                    session.add(Revision(name=AREA, value=1))
                    session.flush()
                    value = 1
                session.info["compute_revision"] = value
            yield session

    def read(self):
        return self.db.session(readonly=True)

    def project_of(self, instance_id: str) -> str | None:
        """The project of server ``instance_id`` (None: no such server here), for
        :attr:`kumo.volume.attachments.Attachments.instance_project`."""
        with self.read() as s:
            return s.scalar(sa.select(models.Instance.project_id).where(
                models.Instance.id == instance_id, models.Instance.deleted.is_(False)))

    def volumes_changed(self, instance_id: str) -> None:
        """A server's volume attachments changed (a listener of
        :class:`kumo.volume.attachments.Attachments`): record a feed change, so the
        agent on its host maps or unmaps the volume."""
        with self.write() as s:
            row = s.scalar(sa.select(models.Instance).where(
                models.Instance.id == instance_id, models.Instance.deleted.is_(False)))
            if row is not None:
                self.changed(s, row)

    def volume_extended(self, instance_id: str, volume_id: str) -> None:
        """An attached volume grew (Cinder's ``volume-extended`` server external
        event): the server gets Nova's ``extend_volume`` instance action with its
        ``compute_extend_volume`` event (Success: the backend has the new size; the
        host's agent resizes the loop device on the feed change recorded here)."""
        with self.write() as s:
            row = s.scalar(sa.select(models.Instance).where(
                models.Instance.id == instance_id, models.Instance.deleted.is_(False)))
            if row is None:
                return
            self.actions.record(s, None, row, "extend_volume", new_request_id(),
                                event="compute_extend_volume", done=True)
            self.changed(s, row)

    def changed(self, session: orm.Session, instance: models.Instance, op: str = "update",
                host: str | None = None) -> None:
        """Record that ``instance`` changed for the feed (inside :meth:`write`): its
        ``revision`` becomes this transaction's; ``host`` defaults to its host."""
        revision = session.info["compute_revision"]
        instance.revision = revision
        host = host if host is not None else instance.host
        if host is None:
            return
        session.connection().execute(_ADD_CHANGE, {
            "revision": revision, "resource_type": "instance", "resource_id": instance.id,
            "host": host, "op": op, "at": utcnow()})
        self.feed.wrote(session, (host,))
