"""JSON patch of an image (Image API v2 "Update image":
``application/openstack-images-v2.1-json-patch``, and the older ``-v2.0-`` form).

:func:`apply` works on plain data: the image's current attributes in, the changes out;
nothing is written until the whole patch is known to be valid, so a bad patch changes
nothing.

Errors: 400 for a malformed patch, an unsupported operation, a bad path or a value the
image schema rejects; 403 for read-only or reserved attributes and for removing a core
attribute; 409 for replacing or removing a custom property that does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kumo.common import exceptions as exc
from kumo.common.http import validate
from kumo.image import schemas

MEDIA_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
#: Core attributes a patch may change.
MUTABLE = {"name", "visibility", "protected", "os_hidden", "owner", "disk_format",
           "container_format", "min_disk", "min_ram", "tags"}
#: Core attributes that can only change while the image has no data.
QUEUED_ONLY = {"disk_format", "container_format"}


@dataclass
class Changes:
    """What a patch changes: core attributes, custom properties set and removed."""

    core: dict = field(default_factory=dict)
    props: dict = field(default_factory=dict)
    removed: set = field(default_factory=set)


_OPS = ("add", "remove", "replace")


def normalize(ops, media_type: str):
    """The older form (``application/openstack-images-v2.0-json-patch``, JSON patch
    draft 4 as Glance reads it): ``{"replace": "/name", "value": ...}``, exactly one
    of ``add``/``remove``/``replace`` naming the path, becomes the ``op``/``path`` form;
    400 otherwise. The v2.1 form is returned as is."""
    if not media_type.endswith("v2.0-json-patch") or not isinstance(ops, list):
        return ops
    out = []
    for op in ops:
        if not isinstance(op, dict):
            raise exc.BadRequest("Operations must be JSON objects.")
        kinds = [k for k in _OPS if k in op]
        if len(kinds) != 1:
            raise exc.BadRequest('Operation objects must contain exactly one member '
                                 'named "add", "remove", or "replace".')
        new = {"op": kinds[0], "path": op[kinds[0]]}
        if "value" in op:
            new["value"] = op["value"]
        out.append(new)
    return out


def _attribute(op: dict, media_type: str) -> str:
    path = op.get("path")
    if not isinstance(path, str):
        raise exc.BadRequest("Unable to find 'path' in JSON Schema change")
    if media_type.endswith("v2.0-json-patch"):
        path = "/" + path.lstrip("/")
    if not path.startswith("/") or path.count("/") != 1 or path == "/":
        raise exc.BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return path[1:].replace("~1", "/").replace("~0", "~")


def apply(current: dict, props: dict, ops, status: str,
          media_type: str = MEDIA_TYPES[0]) -> Changes:
    """Apply ``ops`` (the parsed patch) to an image whose core attributes are
    ``current`` and custom properties ``props``, in ``status``."""
    if not isinstance(ops, list):
        raise exc.BadRequest("Request body must be a JSON array of operation objects.")
    core = dict(current)
    new_props = dict(props)
    changes = Changes()
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise exc.BadRequest("Operation objects must contain exactly one member "
                                 "named \"op\".")
        kind = op["op"]
        if kind not in ("add", "replace", "remove"):
            raise exc.BadRequest(f"Invalid operation: `{kind}`. Valid operations are "
                                 "add, remove, replace.")
        name = _attribute(op, media_type)
        if kind != "remove" and "value" not in op:
            raise exc.BadRequest(f"Operation \"{kind}\" requires a member named "
                                 "\"value\".")
        value = op.get("value")
        if name in schemas.READ_ONLY or name == "id":
            raise exc.Forbidden(f"Attribute '{name}' is read-only.")
        if name.startswith(schemas.RESERVED_PREFIX) or name in schemas.RESERVED:
            raise exc.Forbidden(f"Attribute '{name}' is reserved.")
        if name in schemas.CORE:
            if name not in MUTABLE:
                raise exc.Forbidden(f"Attribute '{name}' is read-only.")
            if kind == "remove":
                raise exc.Forbidden(f"Property {name} may not be removed.")
            if name in QUEUED_ONLY and status != "queued" and value != core.get(name):
                raise exc.Forbidden(f"Attribute {name} can be only replaced for a "
                                    "queued image.")
            core[name] = value
            changes.core[name] = value
            continue
        if kind == "replace" and name not in new_props:
            raise exc.Conflict(f"Property {name} does not exist.")
        if kind == "remove":
            if name not in new_props:
                raise exc.Conflict(f"Property {name} does not exist.")
            del new_props[name]
            changes.props.pop(name, None)
            changes.removed.add(name)
        else:
            new_props[name] = value
            changes.props[name] = value
            changes.removed.discard(name)
    whole = {k: v for k, v in core.items() if k in MUTABLE}
    validate({**whole, **new_props}, schemas.IMAGE)
    schemas.check_db_ints(whole)
    return changes
