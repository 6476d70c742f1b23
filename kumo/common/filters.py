"""List filtering shared by the services' collection GETs.

:func:`apply` turns query parameters into SQL conditions for the attributes a resource
declares filterable: exact matches (a repeated parameter means OR) and, where the
reference allows them, Keystone's inexact operators ``name__contains``,
``__icontains``, ``__startswith``, ``__istartswith``, ``__endswith``, ``__iendswith``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import sqlalchemy as sa

from kumo.common import exceptions as exc

INEXACT = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")
FALSE_STRINGS = ("0", "false", "f", "no", "n", "off")


def to_bool(value: str, name: str = "value") -> bool:
    """Parse a boolean query value as OpenStack does; 400 on anything else."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "t", "yes", "y", "on", ""):
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise exc.ValidationError(f"Invalid value {value!r} for boolean filter {name}.")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply(stmt, query: Mapping[str, Sequence[str]], columns: dict[str, sa.ColumnElement],
          booleans: tuple[str, ...] = (), inexact: tuple[str, ...] = ()):
    """Add WHERE clauses to ``stmt`` for the filterable ``columns`` found in ``query``
    (a plain dict: each parameter's values in the order given).

    ``booleans`` names the boolean attributes; ``inexact`` those that accept the
    ``__contains``-style operators. Unknown parameters are ignored, as the APIs do.
    """
    for key in query.keys():
        name, _, op = key.partition("__")
        column = columns.get(name)
        if column is None:
            continue
        values = list(query[key])
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
        elif name in booleans:
            stmt = stmt.where(column == to_bool(values[-1], name))
        elif len(values) == 1:
            stmt = stmt.where(column == values[0])
        else:
            stmt = stmt.where(column.in_(values))
    return stmt
