"""Host aggregates (Compute API "Host aggregates (os-aggregates)").

An aggregate is a named set of compute hosts with metadata; the metadata key
``availability_zone`` makes it an availability zone, as Nova keeps it. A host in such an
aggregate is in that zone (else in the one its agent reports, ``nova`` by default): the
scheduler (:meth:`kumo.compute.scheduler.Scheduler.candidates`) and
``os-availability-zone`` read :meth:`Aggregates.zones_of`. A host is in at most one
zone: adding it to a second aggregate of another zone is Nova's 409. Every change bumps
the ``compute_hosts`` revision so the scheduler's cached host facts are re-read.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute.hosts import bump_hosts, integer_id
from kumo.compute.models import Aggregate, AggregateHost, Host, Instance

AZ = "availability_zone"


class AggregateNotFound(exc.NotFound):
    message = "Aggregate %(id)s could not be found."


class Aggregates:
    def __init__(self, compute):
        self.compute = compute

    # -- reads ---------------------------------------------------------------------------
    def _get(self, s, agg_id) -> Aggregate:
        number = integer_id(agg_id)
        row = None if number is None else s.get(Aggregate, number)
        if row is None:
            raise AggregateNotFound(id=agg_id)
        return row

    def hosts_of(self, s, ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            for agg, host in s.execute(sa.select(AggregateHost.aggregate_id,
                                                 AggregateHost.host)
                                       .where(AggregateHost.aggregate_id.in_(ids))
                                       .order_by(AggregateHost.host)):
                out[agg].append(host)
        return out

    def list(self) -> list[tuple[Aggregate, list[str]]]:
        with self.compute.read() as s:
            rows = list(s.scalars(sa.select(Aggregate).order_by(Aggregate.id)))
            hosts = self.hosts_of(s, [r.id for r in rows])
            return [(r, hosts[r.id]) for r in rows]

    def get(self, agg_id) -> tuple[Aggregate, list[str]]:
        with self.compute.read() as s:
            row = self._get(s, agg_id)
            return row, self.hosts_of(s, [row.id])[row.id]

    @staticmethod
    def zones_of(session) -> dict[str, str]:
        """``{host: zone}`` for hosts in an aggregate with an availability zone."""
        out = {}
        for host, meta in session.execute(sa.select(AggregateHost.host, Aggregate.meta)
                                          .join(Aggregate, Aggregate.id ==
                                                AggregateHost.aggregate_id)):
            if (meta or {}).get(AZ):
                out[host] = meta[AZ]
        return out

    # -- writes --------------------------------------------------------------------------
    def _zone_conflict(self, s, row: Aggregate, hosts: list[str], zone: str | None,
                       action: str) -> None:
        """409 if a host of ``hosts`` is in another aggregate with another zone."""
        if not zone or not hosts:
            return
        for other in s.scalars(sa.select(Aggregate).join(
                AggregateHost, AggregateHost.aggregate_id == Aggregate.id).where(
                AggregateHost.host.in_(hosts), Aggregate.id != row.id)):
            theirs = (other.meta or {}).get(AZ)
            if theirs and theirs != zone:
                if action == "add":
                    raise exc.Conflict(
                        f"Cannot add host to aggregate {row.id}. Reason: One or more "
                        f"hosts already in availability zone(s) ['{theirs}'].")
                raise exc.BadRequest(
                    f"Cannot update aggregate {row.id}. Reason: One or more hosts "
                    f"contain instances in this zone.")

    def _zone_in_use(self, s, row: Aggregate, hosts: list[str], new: str | None) -> None:
        """Nova refuses to change the zone of an aggregate whose hosts run servers
        that asked for the old zone."""
        old = (row.meta or {}).get(AZ)
        if not hosts or old == new or old is None:
            return
        used = s.scalar(sa.select(Instance.id).where(
            Instance.host.in_(hosts), Instance.deleted.is_(False),
            Instance.requested_az == old).limit(1))
        if used is not None:
            raise exc.BadRequest(f"Cannot update aggregate {row.id}. Reason: One or more "
                                 "hosts contain instances in this zone.")

    def _check_zone_name(self, s, row_id, zone: str | None) -> None:
        if zone is None:
            return
        if not zone.strip():
            raise exc.BadRequest("Invalid input for field/attribute availability_zone.")

    def create(self, name: str, zone: str | None) -> Aggregate:
        now = utcnow()
        with self.compute.db.session() as s:
            if s.scalar(sa.select(Aggregate.id).where(Aggregate.name == name)) is not None:
                raise exc.Conflict(f"Aggregate {name} already exists.")
            self._check_zone_name(s, None, zone)
            row = Aggregate(uuid=str(uuid.uuid4()), name=name,
                            meta={AZ: zone} if zone else {}, created_at=now,
                            updated_at=None)
            s.add(row)
            s.flush()
            return row

    def update(self, agg_id, attrs: dict) -> tuple[Aggregate, list[str]]:
        with self.compute.db.session() as s:
            row = self._get(s, agg_id)
            hosts = self.hosts_of(s, [row.id])[row.id]
            if "name" in attrs and attrs["name"] != row.name:
                if s.scalar(sa.select(Aggregate.id).where(
                        Aggregate.name == attrs["name"])) is not None:
                    raise exc.Conflict(f"Aggregate {attrs['name']} already exists.")
                row.name = attrs["name"]
            if AZ in attrs:
                self._set_zone(s, row, hosts, attrs[AZ])
            row.updated_at = utcnow()
            return row, hosts

    def _set_zone(self, s, row: Aggregate, hosts: list[str], zone: str | None) -> None:
        self._check_zone_name(s, row.id, zone)
        self._zone_conflict(s, row, hosts, zone, "update")
        self._zone_in_use(s, row, hosts, zone)
        meta = dict(row.meta or {})
        if zone:
            meta[AZ] = zone
        else:
            meta.pop(AZ, None)
        row.meta = meta
        bump_hosts(s)

    def delete(self, agg_id) -> None:
        with self.compute.db.session() as s:
            row = self._get(s, agg_id)
            if self.hosts_of(s, [row.id])[row.id]:
                raise exc.BadRequest(f"Cannot perform action 'delete' on aggregate "
                                     f"{row.id}. Reason: Host aggregate is not empty.")
            s.delete(row)

    def add_host(self, agg_id, host: str) -> tuple[Aggregate, list[str]]:
        with self.compute.db.session() as s:
            row = self._get(s, agg_id)
            if s.scalar(sa.select(Host.id).where(Host.host == host)) is None:
                raise exc.NotFound(f"Compute host {host} could not be found.")
            hosts = self.hosts_of(s, [row.id])[row.id]
            if host in hosts:
                raise exc.Conflict(f"Aggregate {row.id} already has host {host}.")
            self._zone_conflict(s, row, [host], (row.meta or {}).get(AZ), "add")
            s.add(AggregateHost(aggregate_id=row.id, host=host))
            row.updated_at = utcnow()
            bump_hosts(s)
            return row, sorted(hosts + [host])

    def remove_host(self, agg_id, host: str) -> tuple[Aggregate, list[str]]:
        with self.compute.db.session() as s:
            row = self._get(s, agg_id)
            hosts = self.hosts_of(s, [row.id])[row.id]
            if host not in hosts:
                if s.scalar(sa.select(Host.id).where(Host.host == host)) is None:
                    raise exc.NotFound(f"Compute host {host} could not be found.")
                raise exc.NotFound(f"Aggregate {row.id} has no host {host}.")
            s.execute(sa.delete(AggregateHost).where(AggregateHost.aggregate_id == row.id,
                                                     AggregateHost.host == host))
            row.updated_at = utcnow()
            bump_hosts(s)
            return row, [h for h in hosts if h != host]

    def set_metadata(self, agg_id, metadata: dict) -> tuple[Aggregate, list[str]]:
        """Set keys (a ``None`` value removes the key); ``availability_zone`` moves the
        aggregate's hosts to that zone."""
        with self.compute.db.session() as s:
            row = self._get(s, agg_id)
            hosts = self.hosts_of(s, [row.id])[row.id]
            if AZ in metadata:
                self._set_zone(s, row, hosts, metadata[AZ])
            meta = dict(row.meta or {})
            for key, value in metadata.items():
                if key == AZ:
                    continue
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
            row.meta = meta
            row.updated_at = utcnow()
            return row, hosts
