"""Compute's lists on the one list engine (:mod:`kumo.common.listing`, Nova dialect):
servers, flavors, key pairs and hypervisors, keyset-paged in SQL (Compute API
"Paginated collections": ``limit`` at most the ``api_max_limit`` setting, ``marker``,
``<collection>_links``; 400 ``badRequest`` for a bad limit and "marker [x] not found"
for an unknown marker).

Handlers pass the request's parameters as a plain dict and what the microversion
allows as plain flags; nothing here sees HTTP.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.listing import NOVA, Dialect, Key, Params, keys_of, page, to_bool
from kumo.common.timeutils import parse_isotime
from kumo.compute.models import Flavor, Host, Instance, KeyPair

#: server ``sort_key`` -> column (Nova's ``VALID_SORT_KEYS`` we can honour).
SERVER_SORT = {"created_at": Instance.created_at, "display_name": Instance.display_name,
               "uuid": Instance.id, "updated_at": Instance.updated_at,
               "launched_at": Instance.launched_at, "vm_state": Instance.vm_state,
               "task_state": Instance.task_state, "power_state": Instance.power_state,
               "hostname": Instance.hostname, "display_description": Instance.description,
               "key_name": Instance.key_name, "image_ref": Instance.image_id,
               "availability_zone": Instance.availability_zone,
               "project_id": Instance.project_id, "user_id": Instance.user_id,
               "host": Instance.host, "node": Instance.node,
               "terminated_at": Instance.terminated_at, "locked": Instance.locked,
               "instance_type_id": Instance.memory_mb}
FLAVOR_SORT = {"flavorid": Flavor.id, "id": Flavor.id, "name": Flavor.name,
               "memory_mb": Flavor.ram, "ram": Flavor.ram, "vcpus": Flavor.vcpus,
               "root_gb": Flavor.disk, "disk": Flavor.disk, "swap": Flavor.swap,
               "created_at": Flavor.created_at}
_TRUE = ("true", "1", "yes")
#: Nova's key pair lists (2.35) name an unknown marker in their own words.
KEYPAIRS = Dialect("nova", marker_missing="Marker {marker} could not be found.")


@dataclass(frozen=True)
class ServerQuery:
    """What the request's microversion and the caller's rights allow a server list."""

    admin: bool = False            # index:get_all_tenants
    changes_before: bool = False   # 2.66
    strict_status: bool = False    # 2.38: an unknown status is a 400
    tags: bool = False             # 2.26
    locked: bool = False           # 2.73
    user_filters: bool = False     # 2.83: config_drive... for non-admins too


def _time(name: str, text: str | None):
    """A ``changes-since``/``changes-before`` value as naive UTC; 400 unless it is an
    ISO 8601 time that exists in UTC (``0001-01-01T00:00:00+01:00`` does not)."""
    if not text:
        return None
    try:
        return parse_isotime(text)
    except (ValueError, OverflowError):
        raise exc.BadRequest(f"Invalid input for query parameters {name}. Value: "
                             f"{text}. It is not a 'date-time'.") from None


def _regex(text: str):
    try:
        re.compile(text)
    except re.error:
        raise exc.BadRequest(f"Invalid regular expression {text}") from None
    return text


class Lists:
    """``compute.lists``: the compute lists; each returns ``(rows, more)``."""

    def __init__(self, compute):
        self.compute = compute

    @property
    def max_limit(self) -> int:
        return int(getattr(self.compute.settings, "api_max_limit", 1000) or 1000)

    # -- servers -------------------------------------------------------------------------
    def servers(self, ctx, filters: dict, how: ServerQuery = ServerQuery()
                ) -> tuple[list[Instance], bool]:
        """One page of servers by the reference's filters (``filters``: the request's
        parameters as a plain dict): project scope (``all_tenants``, ``project_id``),
        ``changes-since``/``changes-before``, ``deleted``, ``status``, ``name``/``ip``/
        ``ip6`` (regular expressions), ``reservation_id``, ``key_name``,
        ``availability_zone``, ``user_id``, ``uuid``, ``image``, ``flavor``, ``locked``,
        ``config_drive``,
        tags, admin's ``host``/``node``; ``sort_key``/``sort_dir`` pairs (default
        ``created_at`` desc; the row's sequence number breaks ties); ``limit``,
        ``marker``."""
        from kumo.compute.api.render import STATUS_FILTER, status

        q = Params(filters)
        I = Instance
        admin = how.admin
        base = sa.select(I)
        all_tenants = admin and "all_tenants" in q and q.get("all_tenants", "").lower() \
            not in ("0", "false", "off", "no")
        project = q.get("project_id") or q.get("tenant_id")
        if not all_tenants:
            # Nova (lp:#1185290): without all_tenants, tenant_id/project_id are
            # ignored and the list is the caller's project's
            base = base.where(I.project_id == (ctx.project_id or ""))
        elif project:
            base = base.where(I.project_id == project)
        stmt = base
        since = _time("changes-since", q.get("changes-since"))
        before = _time("changes-before", q.get("changes-before")) \
            if how.changes_before else None
        if since is not None and before is not None and since > before:
            raise exc.BadRequest("The value of changes-since must be less than or equal "
                                 "to changes-before.")
        if since is not None:
            stmt = stmt.where(I.updated_at >= since)
        if before is not None:
            stmt = stmt.where(I.updated_at <= before)
        deleted = admin and q.get("deleted", "").lower() in _TRUE
        if since is None and before is None and not deleted:
            stmt = stmt.where(I.deleted.is_(False))
        elif deleted:
            stmt = stmt.where(I.deleted.is_(True))
        keep = []
        if "status" in q:
            wanted = [s.upper() for s in q.getlist("status")]
            bad = [s for s in wanted if s not in STATUS_FILTER]
            if bad and how.strict_status:
                raise exc.BadRequest("Invalid status value")
            states = [STATUS_FILTER[s] for s in wanted if s in STATUS_FILTER]
            if not states:
                stmt = stmt.where(sa.false())
            stmt = stmt.where(I.vm_state.in_([s[0] for s in states]))
            if wanted == ["DELETED"]:
                stmt = stmt.where(I.deleted.is_(True))
            keep.append(lambda rows: [r for r in rows if status(
                r.vm_state, r.task_state) in wanted or (r.deleted and "DELETED" in wanted)])
        for key, column in (("reservation_id", I.reservation_id), ("key_name", I.key_name),
                            ("availability_zone", I.availability_zone),
                            ("user_id", I.user_id), ("uuid", I.id)):
            if key in q:
                stmt = stmt.where(column == q[key])
        if "image" in q:
            stmt = stmt.where(I.image_id == q["image"].rstrip("/").rsplit("/", 1)[-1])
        if admin:
            for key, column in (("host", I.host), ("node", I.node)):
                if key in q:
                    stmt = stmt.where(column == q[key])
        if "name" in q:
            stmt = stmt.where(I.display_name.regexp_match(_regex(q["name"])))
        if "config_drive" in q and (admin or how.user_filters):
            # Nova: a regular expression on the stored string ("True" or "")
            stmt = stmt.where(I.config_drive.regexp_match(_regex(q["config_drive"])))
        if "locked" in q and how.locked:
            stmt = stmt.where(I.locked.is_(q["locked"].lower() in _TRUE))
        if "flavor" in q:
            flavor = q["flavor"]
            keep.append(lambda rows: [r for r in rows
                                      if (r.flavor or {}).get("id") == flavor])
        if how.tags:
            for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
                if key in q:
                    keep.append(_tag_filter(key, set(q[key].split(","))))
        for key in ("ip", "ip6"):
            if key in q:
                keep.append(self._ip_filter(key, _regex(q[key])))
        pairs = NOVA.sort_pairs(q, [("created_at", "desc")], SERVER_SORT)
        if not admin and any(k in ("host", "node") for k, _ in pairs):
            bad = next(k for k, _ in pairs if k in ("host", "node"))
            raise exc.Forbidden(f"Only administrators can sort servers by {bad}")
        keys = keys_of(pairs, SERVER_SORT, ("seq", I.seq))
        limit = NOVA.limit(q.get("limit"), self.max_limit)
        if limit is None:
            limit = self.max_limit
        with self.compute.read() as s:
            start = NOVA.start(s, base, I.id, q.get("marker"), keys)

            def keep_all(rows):
                for f in keep:
                    rows = f(rows)
                return rows
            return page(s, stmt, keys, start=start, limit=limit,
                        keep=keep_all if keep else None)

    def _ip_filter(self, key: str, pattern: str):
        version = 4 if key == "ip" else 6
        compiled = re.compile(pattern)
        compute = self.compute

        def keep(rows):
            if not rows:
                return rows
            with compute.read() as s:
                addresses = compute.servers.addresses(s, rows)
            return [r for r in rows if any(
                compiled.search(a["addr"]) for addrs in addresses[r.id].values()
                for a in addrs if a["version"] == version)]
        return keep

    # -- flavors -------------------------------------------------------------------------
    def flavors(self, ctx, filters: dict) -> tuple[list[Flavor], bool]:
        """Flavors by the reference's filters: ``is_public`` (admin: ``none``/``all``
        lists all), ``minDisk``, ``minRam``, ``sort_key`` (default ``flavorid``),
        ``sort_dir`` (default ``asc``), ``limit``, ``marker`` (a flavor id)."""
        q = Params(filters)
        base = sa.select(Flavor)
        visible = self.compute.flavors._visible(ctx)
        if visible is not None:
            base = base.where(visible)
        stmt = base
        public = (q.get("is_public") or "").lower()
        if ctx.is_admin:
            if public in ("true", "1", "yes", "t", "on"):
                stmt = stmt.where(Flavor.is_public.is_(True))
            elif public in ("false", "0", "no", "f", "off"):
                stmt = stmt.where(Flavor.is_public.is_(False))
        for key, column in (("minDisk", Flavor.disk), ("minRam", Flavor.ram)):
            if key in q:
                try:
                    value = int(q[key])
                except ValueError:
                    raise exc.BadRequest(f"Invalid {key} filter [{q[key]}]") from None
                # no 32-bit column holds more (PostgreSQL cannot even bind it)
                if value > 2 ** 31 - 1:
                    stmt = stmt.where(sa.false())
                elif value >= 0:
                    stmt = stmt.where(column >= value)
        key = q.get("sort_key", "flavorid")
        if key not in FLAVOR_SORT:
            raise exc.BadRequest(f"Invalid sort_key: {key}")
        direction = q.get("sort_dir", "asc")
        if direction not in ("asc", "desc"):
            raise exc.BadRequest(f"Invalid sort_dir: {direction}")
        keys = keys_of([(key, direction == "asc")], FLAVOR_SORT, ("flavorid", Flavor.id))
        limit = NOVA.limit(q.get("limit"), self.max_limit)
        with self.compute.read() as s:
            start = NOVA.start(s, base, Flavor.id, q.get("marker"), keys)
            return page(s, stmt, keys, start=start, limit=limit)

    # -- key pairs -----------------------------------------------------------------------
    def keypairs(self, user_id: str, limit: str | None = None,
                 marker: str | None = None) -> tuple[list[KeyPair], bool]:
        """A user's key pairs by name; ``limit`` (the raw parameter, 2.35) and
        ``marker`` (a key pair name)."""
        base = sa.select(KeyPair).where(KeyPair.user_id == user_id)
        keys = [Key("name", KeyPair.name, True), Key("id", KeyPair.id, True)]
        n = NOVA.limit(limit, self.max_limit)
        with self.compute.read() as s:
            start = KEYPAIRS.start(s, base, KeyPair.name, marker, keys)
            return page(s, base, keys, start=start, limit=n)

    # -- hypervisors ---------------------------------------------------------------------
    def hypervisors(self, filters: dict, by_uuid: bool, paged: bool
                    ) -> tuple[list[Host], bool]:
        """Hypervisors (compute hosts) by id; ``hypervisor_hostname_pattern`` (a
        substring; 404 when none match), and from 2.33 (``paged``) ``limit`` and
        ``marker`` (the hypervisor's id: its node UUID when ``by_uuid`` (2.53), else
        its number)."""
        q = Params(filters)
        base = sa.select(Host)
        stmt = base
        pattern = q.get("hypervisor_hostname_pattern")
        keep = None
        if pattern and by_uuid:  # a case-sensitive substring (SQLite's LIKE is not)
            def keep(rows):
                return [h for h in rows if pattern in h.hypervisor_hostname]
        keys = [Key("id", Host.id, True)]
        limit = marker = None
        if paged and "limit" in q:
            raw = q["limit"]
            if not (raw.isascii() and raw.isdigit()):  # Nova: a non-negative integer
                raise exc.BadRequest("Invalid input for query parameters limit. Value: "
                                     f"{raw}. '{raw}' is not a 'non-negative integer'")
            limit = min(int(raw), self.max_limit)
        if paged:
            marker = q.get("marker")
        with self.compute.read() as s:
            if keep is not None and not page(s, stmt, keys, limit=0, keep=keep)[1]:
                raise exc.NotFound(f"Hypervisor with hostname pattern {pattern} not "
                                   "found")
            if not (by_uuid or marker is None or (marker.isascii() and marker.isdigit()
                                                 and int(marker) < 2 ** 31)):
                raise NOVA.missing(marker)
            start = NOVA.start(s, base, Host.node_uuid if by_uuid else Host.id,
                               marker if by_uuid or marker is None else int(marker), keys)
            return page(s, stmt, keys, start=start, limit=limit, keep=keep)

    # -- usage ---------------------------------------------------------------------------
    def usage_servers(self, start, end, project_id: str | None = None,
                      limit: str | None = None, marker: str | None = None
                      ) -> tuple[list[Instance], bool]:
        """The servers that ran within [``start``, ``end``] (of ``project_id``, else
        every project's), in creation order; ``limit`` (the raw parameter) and
        ``marker`` (a server id) page them (Nova 2.40)."""
        I = Instance
        base = sa.select(I)
        if project_id is not None:
            base = base.where(I.project_id == project_id)
        stmt = base.where(I.created_at < end, sa.or_(I.terminated_at.is_(None),
                                                     I.terminated_at > start))
        keys = [Key("seq", I.seq, True)]
        n = NOVA.limit(limit, self.max_limit) if limit is not None else None
        with self.compute.read() as s:
            start_at = NOVA.start(s, base, I.id, marker, keys)
            return page(s, stmt, keys, start=start_at, limit=n)

    def servers_on(self, hosts: list[str]) -> dict[str, list[dict]]:
        """``{host: [{"name": instance name, "uuid"}]}`` of the live servers on
        ``hosts``."""
        from kumo.compute.feed import instance_name

        I = Instance
        out: dict[str, list[dict]] = {h: [] for h in hosts}
        with self.compute.read() as s:
            for host, seq, uuid in s.execute(sa.select(I.host, I.seq, I.id).where(
                    I.host.in_(hosts), I.deleted.is_(False)).order_by(I.seq)):
                out[host].append({"name": instance_name(seq), "uuid": uuid})
        return out


def _tag_filter(key: str, tags: set[str]):
    def keep(rows):
        out = []
        for r in rows:
            have = set(r.tags or [])
            ok = {"tags": tags <= have, "tags-any": bool(tags & have),
                  "not-tags": not tags <= have, "not-tags-any": not tags & have}[key]
            if ok:
                out.append(r)
        return out
    return keep


__all__ = ["Lists", "ServerQuery", "to_bool"]
