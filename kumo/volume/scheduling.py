"""Which backends can take a volume of a type: Cinder's capabilities filter over what
each backend reports (the pools' ``capabilities``).

A type's extra spec takes part when its key is unscoped (``vendor_name``) or in the
``capabilities:`` scope (``capabilities:volume_backend_name``); other scoped keys
(``hw:...``, ``qos:...``) are for someone else and ignored. A backend
passes when it reports every such key and each value matches: a plain value
compares equal as text; a value starting with an operator compares as Cinder's
``extra_specs_ops`` does (``<is> True``, ``<in> x``, ``<all-in> x y``,
``<or> a <or> b``, ``s== x``, ``>= 10``...). So a type asking for a ``volume_backend_name``, ``storage_protocol`` or
``vendor_name`` no backend has, or for a capability no backend reports, places its
volumes nowhere: they end in ``error`` with a user message (Cinder's "No valid
backend"), see :mod:`kumo.volume.messages`.
"""
from __future__ import annotations

import operator

#: What every backend reports besides its name (the file and fake drivers alike).
COMMON = {"vendor_name": "Kumo", "driver_version": "1.0", "storage_protocol": "file",
          "thin_provisioning_support": True, "thick_provisioning_support": False,
          "multiattach": True, "online_extend_support": True, "QoS_support": False,
          "reserved_percentage": 0, "consistencygroup_support": False}


def capabilities(name: str) -> dict:
    """The capabilities backend ``name`` reports (static ones; capacity is checked
    apart, by :meth:`~kumo.volume.manager.VolumeManager.check_capacity`)."""
    return {**COMMON, "volume_backend_name": name, "pool_name": name}


def _bool(value) -> bool:
    return str(value).strip().lower() in ("1", "t", "true", "on", "y", "yes")


def _num(op):
    return lambda x, y: op(float(x), float(y))


_OPS = {"<in>": None, "<is>": None,
        "=": _num(operator.ge), "==": _num(operator.eq), "!=": _num(operator.ne),
        ">=": _num(operator.ge), "<=": _num(operator.le),
        "s==": operator.eq, "s!=": operator.ne, "s<": operator.lt, "s<=": operator.le,
        "s>": operator.gt, "s>=": operator.ge}


def _text(value) -> str:
    return str(value) if not isinstance(value, bool) else ("True" if value else "False")


def matches(value, req: str | None) -> bool:
    """Whether a reported capability ``value`` satisfies the spec value ``req``."""
    if req is None:
        return value is None
    words = str(req).split()
    op = words.pop(0) if words else None
    if op not in ("<or>", "<all-in>") and op not in _OPS:
        return _text(value) == str(req)
    if value is None:
        return False
    if op == "<or>":  # "<or> a <or> b"
        alternatives = [w for i, w in enumerate(words) if i % 2 == 0]
        return _text(value) in alternatives
    if op == "<all-in>":  # every word is in the value
        return bool(words) and all(w in _text(value) for w in words)
    if not words:
        return False
    arg = words[0]
    try:
        if op == "<is>":
            return _bool(value) is _bool(arg)
        if op == "<in>":
            return arg in _text(value)
        if op.startswith("s"):
            return bool(_OPS[op](_text(value), arg))
        return bool(_OPS[op](value, arg))
    except (TypeError, ValueError):
        return False


def satisfies(caps: dict, specs: dict) -> bool:
    """Whether a backend reporting ``caps`` can take a type with ``specs``."""
    for key, req in specs.items():
        scope = key.split(":")
        if len(scope) > 1:
            if scope[0] != "capabilities":
                continue
            scope = scope[1:]
        cap = caps
        for part in scope:
            if not isinstance(cap, dict) or part not in cap:
                return False
            cap = cap[part]
        values = cap if isinstance(cap, list) else [cap]
        if not any(matches(v, req) for v in values):
            return False
    return True


def candidates(backends, specs: dict) -> list[str]:
    """The names among ``backends`` whose capabilities satisfy ``specs``."""
    return [name for name in backends if satisfies(capabilities(name), specs)]
