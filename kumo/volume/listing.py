"""Cinder's list rules over a SQL query (Block Storage API v3 "List volumes" query
parameters): ``limit``/``marker``/``offset`` pagination, ``sort`` (``key[:dir],...``)
or ``sort_key``/``sort_dir`` (default ``created_at:desc``, ``id`` breaking ties), and
equality filters on listed columns; ``metadata`` as a JSON object (or a Python dict
literal, as cinderclient sends it). Bad values are Cinder's 400s, an unknown marker
its 404."""
from __future__ import annotations

import ast
import json

import sqlalchemy as sa

from kumo.volume.errors import InvalidInput, NotFoundError

MAX_LIMIT = 1000


def parse_limit(query) -> int | None:
    text = query.get("limit")
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"Invalid input received: limit must be an integer, got "
                           f"{text!r}.") from None
    if value < 0:
        raise InvalidInput("Invalid input received: limit must be >= 0")
    return min(value, MAX_LIMIT)


def parse_sort(query, allowed: set[str]) -> list[tuple[str, str]]:
    """``[(key, dir)]`` from ``sort`` or ``sort_key``/``sort_dir``."""
    keys: list[tuple[str, str]] = []
    if "sort" in query:
        if "sort_key" in query or "sort_dir" in query:
            raise InvalidInput("Invalid input received: The 'sort_key' and 'sort_dir' "
                               "parameters are deprecated and cannot be used with the "
                               "'sort' parameter.")
        for item in query["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            keys.append((key.strip(), (direction or "desc").strip().lower()))
    elif "sort_key" in query:
        keys.append((query["sort_key"], (query.get("sort_dir") or "desc").lower()))
    for key, direction in keys:
        if key not in allowed:
            raise InvalidInput(f"Invalid input received: Invalid sort key {key}")
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"Invalid input received: Invalid sort dirs passed: "
                               f"{direction}")
    return keys or [("created_at", "desc")]


def parse_dict(text: str, name: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
    if not isinstance(value, dict):
        raise InvalidInput(f"Invalid input received: {name} must be a dictionary, got "
                           f"{text!r}.")
    return {str(k): str(v) for k, v in value.items()}


def page(s, model, stmt, query, columns: dict[str, object]) -> tuple[list, bool]:
    """Run ``stmt`` (a select of ``model``) sorted and paginated by the query; returns
    ``(rows, more)`` where ``more`` says a next page exists."""
    keys = parse_sort(query, set(columns))
    limit = parse_limit(query)
    marker = query.get("marker")
    order = []
    for key, direction in keys:
        col = columns[key]
        order.append(col.desc().nulls_last() if direction == "desc"
                     else col.asc().nulls_first())
    if "id" not in [k for k, _ in keys]:
        order.append(model.id.desc() if keys[-1][1] == "desc" else model.id.asc())
        keys = [*keys, ("id", keys[-1][1])]
    if marker:
        row = s.scalar(stmt.where(model.id == marker))
        if row is None:
            raise NotFoundError(f"Marker {marker} could not be found.")
        # keyset condition over the sort keys (lexicographic); NULLs sort first
        cols = [(columns.get(k, getattr(model, k)), d) for k, d in keys]
        conds = []
        for i, (col, direction) in enumerate(cols):
            value = getattr(row, col.key)
            eqs = [c == getattr(row, c.key) if getattr(row, c.key) is not None
                   else c.is_(None) for c, _ in cols[:i]]
            if value is None:
                step = col.is_not(None) if direction == "asc" else sa.false()
            else:
                step = col < value if direction == "desc" else col > value
                if direction == "desc":
                    step = sa.or_(step, col.is_(None))
            conds.append(sa.and_(*eqs, step))
        stmt = stmt.where(sa.or_(*conds))
    offset = query.get("offset")
    stmt = stmt.order_by(*order)
    if offset:
        try:
            stmt = stmt.offset(max(0, int(offset)))
        except ValueError:
            raise InvalidInput("Invalid input received: offset must be an integer")
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    rows = list(s.scalars(stmt).unique())
    more = limit is not None and len(rows) > limit
    return rows[:limit] if limit is not None else rows, more
