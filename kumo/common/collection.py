"""Collection GET semantics of the OpenStack APIs that follow Neutron's conventions
(Networking API v2.0 "Filtering and column selection", "Sorting", "Pagination").

- filters: ``?attr=value`` on each filterable attribute; a repeated parameter means OR;
  booleans accept true/false/1/0; ``tags``/``tags-any``/``not-tags``/``not-tags-any``
  take comma-separated tags;
- ``fields=a&fields=b``: only those attributes in each item;
- ``sort_key=k&sort_dir=asc|desc`` (repeatable, paired); ``id`` breaks ties;
- ``limit=N&marker=<id>&page_reverse=true``: keyset pagination with ``<collection>_links``
  (``next``/``previous``).

:class:`Collection` describes a resource's list: its model, which query attributes map to
which columns, and which are sortable. :meth:`Collection.query` applies everything to a
SQLAlchemy ``select`` and returns the page plus links, through the one list engine
(:mod:`kumo.common.listing`, Neutron dialect). Query arguments may be plain dicts
(``{"name": "x", "id": ["a", "b"]}``) or query parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.listing import NEUTRON, Key, Params, after, link, page, to_bool

#: Neutron has no maximum page size by default; this bounds one page's work.
MAX_LIMIT = 10_000


def _at(column, key: str, value: str):
    """The condition of a time filter (``created_at=<ISO 8601>``): the time as the API
    renders it, to the second, matches every stored time within that second; an empty
    value matches none set. 400 when it is not a time (PostgreSQL cannot compare a
    timestamp column with arbitrary text)."""
    import datetime as dt

    from kumo.common.timeutils import parse_isotime

    if value == "":
        return column.is_(None)
    try:
        at = parse_isotime(value)
    except ValueError:
        raise exc.BadRequest(f"Invalid input for {key}. Reason: '{value}' is not a "
                             "valid timestamp.") from None
    if at.microsecond:
        return column == at
    try:
        return sa.and_(column >= at, column < at + dt.timedelta(seconds=1))
    except OverflowError:  # 9999-12-31T23:59:59
        return column >= at


@dataclass
class Collection:
    """How to list one resource.

    ``columns`` maps filterable attribute names to SQL expressions; ``booleans`` and
    ``integers`` name those whose query values must be converted; ``sortable`` names
    the attributes ``sort_key`` accepts (their expressions come from ``columns``);
    ``tags`` is a callable ``(stmt, op, tags) -> stmt`` applying tag filters, or None.
    ``custom`` maps attribute names to ``(stmt, values) -> stmt`` for filters that are
    not a plain column comparison.
    """

    name: str
    model: type
    columns: dict[str, sa.ColumnElement]
    booleans: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    sortable: tuple[str, ...] = ()
    tags: Callable | None = None
    custom: dict[str, Callable] = field(default_factory=dict)

    def filter(self, stmt, query):
        """Apply every recognized filter in ``query`` (a plain dict or query
        parameters, see :class:`kumo.common.listing.Params`) to ``stmt``."""
        query = Params(query)
        for key in query.keys():
            if key in ("fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"):
                continue
            if key in ("tags", "tags-any", "not-tags", "not-tags-any"):
                if self.tags is not None:
                    tags = [t for v in query.getlist(key) for t in v.split(",") if t]
                    stmt = self.tags(stmt, key, tags)
                continue
            values = query.getlist(key)
            if key in self.custom:
                stmt = self.custom[key](stmt, values)
                continue
            column = self.columns.get(key)
            if column is None:
                continue
            if key in self.booleans:
                values = [to_bool(v, key) for v in values]
            elif key in self.integers:
                try:
                    values = [int(v) for v in values]
                except ValueError:
                    raise exc.BadRequest(f"Invalid input for {key}. Reason: "
                                         f"'{values[0]}' is not an integer.") from None
                # a number no column can hold equals nothing (and SQLite cannot bind it)
                values = [v for v in values if -2 ** 63 <= v < 2 ** 63]
                if not values:
                    stmt = stmt.where(sa.false())
                    continue
            elif isinstance(getattr(column, "type", None), sa.DateTime):
                stmt = stmt.where(sa.or_(*(_at(column, key, v) for v in values)))
                continue
            values = [None if v == "" and key not in self.booleans else v for v in values]
            if len(values) == 1:
                stmt = stmt.where(column.is_(None) if values[0] is None
                                  else column == values[0])
            else:
                stmt = stmt.where(column.in_([v for v in values if v is not None]))
        return stmt

    def sort_keys(self, query) -> list[tuple[str, bool]]:
        """``[(attribute, ascending)]`` from ``sort_key``/``sort_dir``; 400 if unknown."""
        query = Params(query)
        keys = query.getlist("sort_key")
        dirs = query.getlist("sort_dir")
        if dirs and len(dirs) != len(keys):
            raise exc.BadRequest("The number of sort_keys and sort_dirs must be same.")
        out = []
        for i, key in enumerate(keys):
            if key not in self.sortable or key not in self.columns:
                raise exc.BadRequest(f"{key} is invalid attribute for sort_keys.")
            direction = dirs[i] if dirs else "asc"
            if direction not in ("asc", "desc"):
                raise exc.BadRequest(f"{direction} is invalid value for sort_dirs, valid "
                                     "values are 'asc' and 'desc'.")
            out.append((key, direction == "asc"))
        if not any(k == "id" for k, _ in out):
            out.append(("id", out[-1][1] if out else True))
        return out

    def query(self, session, stmt, query, url: str) -> tuple[list, list[dict]]:
        """Filter, sort and page ``stmt`` (a select of ``self.model`` restricted to the
        caller's visible rows, or of its table's columns for read-only Core rows, which
        load several times faster) by the Neutron dialect of
        :mod:`kumo.common.listing`; ``query`` is a plain dict or query parameters.
        Returns ``(rows, links)`` where links are the ``<collection>_links`` entries.
        An unknown marker (not among the visible rows) is a 400."""
        query = Params(query)
        keys = [Key(k, self.columns[k], asc) for k, asc in self.sort_keys(query)]
        limit = NEUTRON.limit(query.get("limit"), MAX_LIMIT) \
            if query.get("limit") is not None else None
        marker = query.get("marker")
        reverse = query.get("page_reverse") is not None and to_bool(
            query["page_reverse"], "page_reverse")
        start = NEUTRON.start(session, stmt, self.columns.get("id", self.model.id),
                              marker, keys)
        rows, more = page(session, self.filter(stmt, query), keys, start=start,
                          limit=limit, reverse=reverse)
        links = []
        if limit:
            if rows and (more or reverse):
                links.append(_link(url, query, "next", rows[-1].id, limit, False))
            if rows and (marker or (reverse and more)):
                links.append(_link(url, query, "previous", rows[0].id, limit, True))
            if reverse and not more:
                links = [link for link in links if link["rel"] != "previous"]
        return rows, links


#: Kept for callers of the old private name; see :func:`kumo.common.listing.after`.
_after = after


def _link(url: str, query, rel: str, marker: str, limit: int, reverse: bool) -> dict:
    return link(url, query, rel, marker, limit,
                extra=[("page_reverse", "True")] if reverse else (),
                drop=("page_reverse",))


def select_fields(item: dict, query) -> dict:
    """Keep only the ``fields=`` attributes (all when none are asked for)."""
    fields = [f for v in Params(query).getlist("fields") for f in v.split(",") if f]
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}
