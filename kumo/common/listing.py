"""One list engine for every service: keyset pagination pushed down to SQL, with a
dialect per API for how a request spells filters, sorting and pages and how errors and
links look.

The engine (:func:`page`):

- sorts by the requested keys and always ends with a unique tie-breaker column, so the
  order is total and a page boundary is a point in it;
- finds the marker's key values with one indexed lookup (:func:`marker_values`, in the
  caller's *visible* rows, ignoring the list's filters, as Nova, Neutron and Glance do),
  and asks SQL for the rows strictly after them (:func:`after`), ``LIMIT limit + 1``
  (the extra row says whether a next page exists). Paging through N rows costs O(N)
  in total whatever the page size, never a scan of the rows before the marker;
- ``reverse`` (Neutron's ``page_reverse``) walks the order backwards and returns the
  page in forward order;
- filters that SQL cannot evaluate portably (a predicate over rendered values, e.g.
  Nova's server status or addresses) are given as ``keep``: the engine then reads the
  rows after the marker in chunks and keeps those passing until the page is full, so
  such lists stay keyset-paged (never loaded whole).

Request parameters reach managers as plain dicts (:func:`plain`: a value is a string,
or a list when the parameter was repeated); :class:`Params` gives them the
``get``/``getlist`` view the engine and managers read. Managers never see HTTP types.

Dialects (each a :class:`Dialect` instance):

- :data:`NEUTRON` (Networking API v2.0 "Pagination", "Sorting"): ``limit``, ``marker``,
  ``page_reverse``, paired ``sort_key``/``sort_dir``; ``<collection>_links`` with
  ``next``/``previous``; 400 ``NeutronError`` for a bad limit, sort key or marker (see
  :mod:`kumo.common.collection`).
- :data:`NOVA` (Compute API "Paginated collections"): ``limit`` (at most the
  ``api_max_limit`` setting, Nova's ``[api] max_limit``), ``marker``, ``sort_key``/
  ``sort_dir``; ``<collection>_links`` with ``next``; ``badRequest`` 400 for a bad limit
  and "marker [x] not found" for an unknown marker.
- :data:`GLANCE` (Image API v2 "List images"): ``limit`` (default 25, at most the
  setting), ``marker``, ``sort_key``/``sort_dir`` or ``sort=k:dir,...``; a ``next``
  link; 400 for an unknown marker (see :mod:`kumo.image.listing`).
- :data:`CINDER` (Block Storage API v3 "List volumes"): ``limit`` (at most 1000,
  Cinder's ``osapi_max_limit``), ``marker``, ``offset`` (rows skipped after the marker),
  ``sort=key[:dir],...`` or ``sort_key``/``sort_dir`` (not both), default
  ``created_at`` desc, ``id`` breaking ties; ``<collection>_links`` with ``next``;
  ``badRequest`` 400 "Invalid input received: ..." for a bad limit, offset or sort, and
  ``itemNotFound`` 404 "Marker <id> could not be found." (Cinder's ``MarkerNotFound``)
  for an unknown marker (:meth:`CinderDialect.list`).
- :data:`KEYSTONE` (Identity API v3 "List ..."): no pagination; exact filters (a
  repeated parameter means OR) and the ``name__contains``-style inexact operators
  (:func:`keystone_filter`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlencode

import sqlalchemy as sa

from kumo.common import exceptions as exc

#: Default maximum page size (Nova's ``[api] max_limit``, Glance's ``api_limit_max``).
MAX_LIMIT = 1000
#: Rows read per SQL round trip while a ``keep`` predicate filters a page.
CHUNK = 200
INEXACT = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")
FALSE_STRINGS = ("0", "false", "f", "no", "n", "off")


# -- request parameters as plain data ---------------------------------------------------
class Params:
    """A read-only multi-valued view of query parameters given as plain data: a dict
    whose values are strings or lists of strings, a list of pairs, starlette's
    ``QueryParams`` or another :class:`Params`. ``get``/``[]`` give the last value (as
    starlette does), ``getlist`` all of them."""

    __slots__ = ("_items",)

    def __init__(self, data: Any = None):
        if isinstance(data, Params):
            items = list(data._items)
        elif data is None:
            items = []
        elif hasattr(data, "multi_items"):
            items = [(str(k), str(v)) for k, v in data.multi_items()]
        elif isinstance(data, Mapping):
            items = []
            for k, v in data.items():
                if isinstance(v, (list, tuple)):
                    items.extend((str(k), str(x)) for x in v)
                elif v is not None:
                    items.append((str(k), v if isinstance(v, str) else _text(v)))
        else:
            items = [(str(k), str(v)) for k, v in data]
        self._items = items

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in reversed(self._items):
            if k == key:
                return v
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._items if k == key]

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._items)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for k, _ in self._items))

    __iter__ = lambda self: iter(self.keys())  # noqa: E731

    def __len__(self) -> int:
        return len(self.keys())

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def without(self, *keys: str) -> "Params":
        return Params([(k, v) for k, v in self._items if k not in keys])

    def __repr__(self) -> str:
        return f"Params({self._items!r})"


_MISSING = object()


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plain(query) -> dict[str, str | list[str]]:
    """Query parameters as a plain dict for a manager: ``{key: value}``, or ``{key:
    [values]}`` when the parameter was given more than once."""
    out: dict[str, str | list[str]] = {}
    for k, v in Params(query).multi_items():
        if k in out:
            prev = out[k]
            out[k] = (prev if isinstance(prev, list) else [prev]) + [v]
        else:
            out[k] = v
    return out


def to_bool(value: str, name: str = "value") -> bool:
    """Parse a boolean query value as OpenStack does; 400 on anything else."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "t", "yes", "y", "on", ""):
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise exc.ValidationError(f"Invalid value {value!r} for boolean filter {name}.")


# -- the engine ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """One sort key: its name in the API, its SQL expression, its direction. The
    expression's ``key`` names the attribute a loaded row has it under."""

    name: str
    column: Any
    ascending: bool = True


def after(columns, ascending, values):
    """Rows strictly after ``values`` in the order of ``columns`` (keyset condition;
    NULLs sort first ascending, as SQLite does and as the order we emit says)."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j].is_(None) if values[j] is None else columns[j] == values[j]
                 for j in range(i)]
        value = values[i]
        if value is None:
            cmp = column.isnot(None) if ascending[i] else sa.false()
        elif ascending[i]:
            cmp = column > value
        else:
            cmp = sa.or_(column < value, column.is_(None)) if _nullable(column) \
                else column < value
        clauses.append(sa.and_(*equal, cmp))
    return sa.or_(*clauses)


def _nullable(column) -> bool:
    return bool(getattr(getattr(column, "expression", column), "nullable", True))


def _order(column, ascending: bool):
    """NULLs first ascending and last descending on every backend (PostgreSQL's default
    is the opposite), so :func:`after` and the order agree; a NOT NULL column gets a
    plain ``ASC``/``DESC`` (which an index can serve)."""
    if not _nullable(column):
        return column.asc() if ascending else column.desc()
    return column.asc().nulls_first() if ascending else column.desc().nulls_last()


def _value(row, column):
    return getattr(row, column.key)


def marker_values(session, stmt, id_column, marker: str, keys: list[Key]):
    """The sort-key values of the row whose ``id_column`` is ``marker`` among the rows
    of ``stmt`` (the caller's visible rows), or None when there is none."""
    found = session.execute(stmt.with_only_columns(*[k.column for k in keys])
                            .where(id_column == marker).limit(1)).first()
    return None if found is None else tuple(found)


def page(session, stmt, keys: list[Key], *, start: tuple | None = None,
         limit: int | None = None, reverse: bool = False,
         keep: Callable[[list], list] | None = None, offset: int = 0
         ) -> tuple[list, bool]:
    """One page of ``stmt`` (a select of one entity, or of table columns) in the order
    of ``keys`` (ending with a unique column), after the key values ``start`` (from
    :func:`marker_values`), at most ``limit`` rows (None: all). ``reverse`` walks the
    order backwards (the page comes back in forward order). ``keep(rows) -> rows``
    filters loaded rows for conditions SQL cannot evaluate. ``offset`` skips that many
    (kept) rows after ``start`` first (Cinder's ``offset``). Returns ``(rows, more)``,
    ``more`` telling whether rows remain past the page."""
    asc = [k.ascending != reverse for k in keys]
    columns = [k.column for k in keys]
    ordered = stmt.order_by(*[_order(c, a) for c, a in zip(columns, asc)])
    described = stmt.column_descriptions
    entity = len(described) == 1 and described[0]["expr"] is described[0]["entity"]

    def run(s):
        return list(session.scalars(s)) if entity else session.execute(s).all()

    if keep is None:
        s = ordered if start is None else ordered.where(after(columns, asc, start))
        if offset:
            s = s.offset(offset)
        rows = run(s if limit is None else s.limit(limit + 1))
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
    else:
        rows, more, cursor, skip = [], False, start, offset
        while True:
            s = ordered if cursor is None else ordered.where(after(columns, asc, cursor))
            chunk = run(s.limit(CHUNK))
            kept = keep(chunk)
            if skip:
                kept, skip = kept[skip:], max(0, skip - len(kept))
            rows.extend(kept)
            if limit is not None and len(rows) > limit:
                more, rows = True, rows[:limit]
                break
            if len(chunk) < CHUNK:
                break
            cursor = tuple(_value(chunk[-1], c) for c in columns)
    if reverse:
        rows.reverse()
    return rows, more


def link(url: str, params, rel: str, marker: str, limit: int | str | None,
         extra: Iterable[tuple[str, str]] = (), drop: tuple[str, ...] = ()) -> dict:
    """``{"rel", "href"}``: ``url`` with the request's parameters (but ``marker``,
    ``limit`` and ``drop``), then ``limit`` (unless None), ``marker`` and ``extra``, all
    URL-encoded."""
    skip = ("marker", "limit", *drop)
    items = [(k, v) for k, v in Params(params).multi_items() if k not in skip]
    if limit is not None:
        items.append(("limit", str(limit)))
    items += [("marker", str(marker)), *extra]
    return {"rel": rel, "href": f"{url}?{urlencode(items)}"}


# -- dialects -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dialect:
    """How one API spells paging: its limit rule and messages, the fault for an unknown
    marker, and the default page size (None: everything)."""

    name: str
    #: ``limit=0`` allowed (an empty page, or "no limit" where ``zero_is_all``).
    zero_ok: bool = True
    zero_is_all: bool = False
    default_limit: int | None = None
    not_integer: str = "limit param must be an integer"
    negative: str = "limit param must be positive"
    marker_missing: str = "marker [{marker}] not found"
    #: The status of an unknown marker's fault: 400, or 404 (Cinder's MarkerNotFound).
    marker_status: int = 400

    def limit(self, raw: str | None, max_limit: int = MAX_LIMIT) -> int | None:
        """The page size from a ``limit`` value: the dialect's default when absent,
        capped at ``max_limit``; 400 unless it is a non-negative integer."""
        if raw is None:
            return self.default_limit if self.default_limit is None else min(
                self.default_limit, max_limit)
        text = raw.strip()
        try:
            value = int(text)
        except ValueError:
            raise exc.BadRequest(self.not_integer.format(limit=raw)) from None
        if not text.lstrip("+-").isdigit():  # "1_0" and the like
            raise exc.BadRequest(self.not_integer.format(limit=raw))
        if value < 0 or (value == 0 and not self.zero_ok):
            raise exc.BadRequest(self.negative.format(limit=raw))
        if value == 0 and self.zero_is_all:
            return None
        return min(value, max_limit)

    def missing(self, marker: str) -> exc.KumoError:
        error = exc.NotFound if self.marker_status == 404 else exc.BadRequest
        return error(self.marker_missing.format(marker=marker))

    def start(self, session, stmt, id_column, marker, keys: list[Key]) -> tuple | None:
        """:func:`marker_values` for ``marker`` (None when there is no marker); 400 in
        this dialect's words when ``stmt`` (the visible rows) does not hold it."""
        if marker is None or marker == "":
            return None
        found = marker_values(session, stmt, id_column, marker, keys)
        if found is None:
            raise self.missing(marker)
        return found

    def sort_pairs(self, params, default: list[tuple[str, str]],
                   sortable: Iterable[str]) -> list[tuple[str, bool]]:
        """``[(name, ascending)]`` from paired ``sort_key``/``sort_dir`` (one
        ``sort_dir`` applies to every key; missing ones default to the first default
        direction); 400 for an unknown key or direction."""
        params = Params(params)
        keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
        if not keys:
            keys = [k for k, _ in default]
            dirs = dirs or [d for _, d in default]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise exc.BadRequest("The number of sort_keys and sort_dirs must be same.")
        fallback = default[0][1] if default else "asc"
        out = []
        sortable = set(sortable)
        for i, key in enumerate(keys):
            if key not in sortable:
                raise exc.BadRequest(f"Invalid sort_key {key}")
            d = dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else fallback)
            if d not in ("asc", "desc"):
                raise exc.BadRequest(f"Invalid sort_dir {d}")
            out.append((key, d == "asc"))
        return out


NEUTRON = Dialect(
    "neutron", zero_is_all=True,
    not_integer="Bad limit request: Limit must be an integer, got '{limit}'.",
    negative="Bad limit request: Limit must be an integer 0 or greater and not "
             "'{limit}'.",
    marker_missing="Marker {marker} could not be found.")
NOVA = Dialect("nova")
GLANCE = Dialect("glance", default_limit=25,
                 marker_missing="Invalid marker. Image {marker} could not be found.")
KEYSTONE = Dialect("keystone")


@dataclass(frozen=True)
class CinderDialect(Dialect):
    """Cinder's paging (see the module doc): its sort syntax, ``offset`` and
    :meth:`list`, the whole list step for a Block Storage manager."""

    invalid: str = "Invalid input received: "

    def sort_pairs(self, params, default: list[tuple[str, str]],
                   sortable: Iterable[str]) -> list[tuple[str, bool]]:
        """``[(name, ascending)]`` from ``sort=key[:dir],...`` or ``sort_key``/
        ``sort_dir`` (direction default desc); 400 for both at once, an unknown key or
        a bad direction; ``default`` when neither is given."""
        params = Params(params)
        pairs: list[tuple[str, str]] = []
        if "sort" in params:
            if "sort_key" in params or "sort_dir" in params:
                raise exc.BadRequest(
                    self.invalid + "The 'sort_key' and 'sort_dir' parameters are "
                    "deprecated and cannot be used with the 'sort' parameter.")
            for item in params["sort"].split(","):
                key, _, direction = item.strip().partition(":")
                pairs.append((key.strip(), (direction or "desc").strip().lower()))
        elif "sort_key" in params:
            pairs.append((params["sort_key"], (params.get("sort_dir") or "desc").lower()))
        sortable = set(sortable)
        for key, direction in pairs:
            if key not in sortable:
                raise exc.BadRequest(f"{self.invalid}Invalid sort key {key}")
            if direction not in ("asc", "desc"):
                raise exc.BadRequest(f"{self.invalid}Invalid sort dirs passed: "
                                     f"{direction}")
        return [(k, d == "asc") for k, d in (pairs or default)]

    def offset(self, raw: str | None) -> int:
        """Rows to skip after the marker (negative: none); 400 unless an integer."""
        if not raw:
            return 0
        try:
            return max(0, int(raw))
        except ValueError:
            raise exc.BadRequest(self.invalid + "offset must be an integer") from None

    def list(self, session, visible, stmt, params, columns: Mapping[str, Any],
             unique: tuple[str, Any], default: tuple = (("created_at", "desc"),)
             ) -> tuple[list, bool]:
        """One page of ``stmt`` (``visible``, the caller's visible rows, narrowed by
        the list's filters) by the request's ``params``: sorted by ``columns`` (name ->
        column; else ``default``, Cinder's ``created_at`` desc), then the ``unique``
        ``(name, column)``; the marker is looked up among ``visible``. Returns
        ``(rows, more)``."""
        params = Params(params)
        keys = keys_of(self.sort_pairs(params, list(default), columns),
                       columns, unique)
        limit = self.limit(params.get("limit"))
        start = self.start(session, visible, unique[1], params.get("marker"), keys)
        offset = self.offset(params.get("offset"))
        rows, more = page(session, stmt, keys, start=start, limit=limit, offset=offset)
        # Cinder links to a next page whenever this one is full, even when nothing
        # follows (the next page is then empty, without a link): Tempest's paging
        # test expects that link
        return rows, more or bool(rows and limit and len(rows) == limit)


CINDER = CinderDialect(
    "cinder",
    not_integer="Invalid input received: limit must be an integer, got {limit!r}.",
    negative="Invalid input received: limit must be >= 0",
    marker_missing="Marker {marker} could not be found.", marker_status=404)


def keys_of(pairs: list[tuple[str, bool]], columns: Mapping[str, Any],
            unique: tuple[str, Any]) -> list[Key]:
    """:class:`Key` objects for ``pairs`` over ``columns``, ended by the ``unique``
    ``(name, column)`` tie-breaker (in the last key's direction) unless already there."""
    out = [Key(name, columns[name], asc) for name, asc in pairs]
    if not any(k.name == unique[0] or k.column is unique[1] for k in out):
        out.append(Key(unique[0], unique[1], out[-1].ascending if out else True))
    return out


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def keystone_filter(stmt, params, columns: Mapping[str, Any],
                    booleans: tuple[str, ...] = (), inexact: tuple[str, ...] = ()):
    """Keystone's list filters: add WHERE clauses to ``stmt`` for the filterable
    ``columns`` found in ``params`` (plain dict or query parameters).

    Exact matches (a repeated parameter means OR); ``booleans`` are parsed as booleans;
    ``inexact`` names the attributes that accept ``__contains``, ``__icontains``,
    ``__startswith``, ``__istartswith``, ``__endswith``, ``__iendswith``. Unknown
    parameters are ignored, as Keystone does."""
    params = Params(params)
    for key in params.keys():
        name, _, op = key.partition("__")
        column = columns.get(name)
        if column is None:
            continue
        values = params.getlist(key)
        if op:
            if name not in inexact or op not in INEXACT:
                continue
            value = _escape_like(values[-1])
            lhs = sa.func.lower(column) if op.startswith("i") else column
            if op.startswith("i"):
                value = value.lower()
            pattern = {"contains": f"%{value}%", "startswith": f"{value}%",
                       "endswith": f"%{value}"}[op.lstrip("i")]
            stmt = stmt.where(lhs.like(pattern, escape="\\"))
            if not op.startswith("i"):  # SQLite's LIKE ignores case for ASCII
                raw = re.escape(values[-1])
                stmt = stmt.where(column.regexp_match(
                    {"contains": raw, "startswith": f"^{raw}",
                     "endswith": f"{raw}$"}[op]))
        elif name in booleans:
            stmt = stmt.where(column == to_bool(values[-1], name))
        elif len(values) == 1:
            stmt = stmt.where(column == values[0])
        else:
            stmt = stmt.where(column.in_(values))
    return stmt
