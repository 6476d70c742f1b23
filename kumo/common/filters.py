"""Keystone's list filters, kept under their old names for the identity managers: the
engine is :mod:`kumo.common.listing` (:func:`~kumo.common.listing.keystone_filter`,
the Keystone dialect; :func:`~kumo.common.listing.to_bool`).

:func:`apply` turns query parameters (a plain dict or query parameters) into SQL
conditions for the attributes a resource declares filterable: exact matches (a
repeated parameter means OR) and, where the reference allows them, Keystone's inexact
operators ``name__contains``, ``__icontains``, ``__startswith``, ``__istartswith``,
``__endswith``, ``__iendswith``.
"""
from __future__ import annotations

from kumo.common.listing import FALSE_STRINGS, INEXACT, keystone_filter, to_bool

#: ``apply(stmt, query, columns, booleans=(), inexact=())``: see
#: :func:`kumo.common.listing.keystone_filter`.
apply = keystone_filter

__all__ = ["FALSE_STRINGS", "INEXACT", "apply", "to_bool"]
