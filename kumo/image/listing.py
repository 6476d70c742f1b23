"""``GET /v2/images`` as Glance lists (Image API v2 "List images": filters, sorting,
pagination). This differs from the Neutron-style helpers of
:mod:`kumo.common.collection`:

- which images are listed by default: the caller's own, public ones and shared ones it
  has *accepted*; community images only with ``visibility=community`` (or ``all``);
  ``member_status`` (default ``accepted``; ``all``) selects shared images by the
  caller's membership status; ``os_hidden`` images only with ``os_hidden=true``;
- filters: ``name``, ``id``, ``status``, ``container_format``, ``disk_format`` (each
  also ``in:a,b``), ``visibility``, ``owner``, ``protected``, ``size_min``,
  ``size_max``, ``size``, ``virtual_size``, ``min_disk``, ``min_ram``, ``checksum``,
  ``os_hash_value`` (exact), ``tag`` (repeatable: all of them), ``created_at``/``updated_at``
  (``[op:]ISO-8601-time``, op one of ``gt gte lt lte neq eq``; 400 for anything else, as
  Glance does), and any other key is a custom property that must equal the value;
- sorting: ``sort=name:asc,created_at:desc`` or ``sort_key=k[&sort_key=k2]`` with
  ``sort_dir`` (one for all, or one each); default ``created_at`` desc; ``id`` breaks
  ties;
- ``limit`` (default 25, at most the ``api_max_limit`` setting, 1000) and ``marker``:
  a page, keyset-paged by the one list engine (:mod:`kumo.common.listing`, Glance
  dialect), with a ``next`` marker when more images follow; an unknown marker is a 400.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.listing import GLANCE, Key, Params, page, to_bool
from kumo.common.timeutils import parse_isotime
from kumo.image import models, schemas

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = {"name", "status", "container_format", "disk_format", "size", "id",
             "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram",
             "virtual_size", "protected", "os_hidden"}
NOT_FILTERS = {"limit", "marker", "sort", "sort_key", "sort_dir", "member_status",
               "visibility", "os_hidden", "size_min", "size_max", "tag"}
IN_FILTERS = ("name", "id", "status", "container_format", "disk_format", "owner")
TIME_FILTERS = ("created_at", "updated_at")
#: Other image columns Glance's database layer filters on by equality.
COLUMN_FILTERS = {"size", "virtual_size", "min_disk", "min_ram", "checksum",
                  "os_hash_algo", "os_hash_value"}
INT_COLUMNS = {"size", "virtual_size", "min_disk", "min_ram"}
#: Sizes are 64-bit columns.
MAX_SIZE = 2 ** 63 - 1
_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__",
        "neq": "__ne__", "eq": "__eq__"}


def _time_filter(key: str, expression: str):
    """Glance's ``created_at``/``updated_at`` filter: ``op:time`` or a bare time (which
    itself may contain colons); 400 for an unknown operator or a bad time."""
    op, threshold = "eq", expression
    if ":" in expression:
        try:
            parse_isotime(expression)
        except (ValueError, OverflowError):
            op, _, threshold = expression.partition(":")
    try:
        value = parse_isotime(threshold)
    except (ValueError, OverflowError):
        raise exc.BadRequest(f'Bad "{key}" query filter format. Use ISO 8601 DateTime '
                             "notation.") from None
    if op not in _OPS:
        raise exc.BadRequest("Unable to filter on a unknown operator.")
    return getattr(_column(key), _OPS[op])(value)


def _column(key: str):
    return getattr(models.Image, key)


def sort_keys(query) -> list[tuple[str, bool]]:
    """``[(attribute, ascending)]``; 400 on an unknown key or direction."""
    query = Params(query)
    out: list[tuple[str, bool]] = []
    if "sort" in query:
        if "sort_key" in query or "sort_dir" in query:
            raise exc.BadRequest("The 'sort_key' and 'sort_dir' parameters are "
                                 "deprecated and cannot be used with the 'sort' "
                                 "parameter.")
        for part in query["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, direction or "desc"))
    else:
        keys = query.getlist("sort_key")
        dirs = query.getlist("sort_dir")
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise exc.BadRequest("Number of sort dirs does not match the number of sort "
                                 "keys")
        for i, key in enumerate(keys or ["created_at"]):
            out.append((key, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")))
    result = []
    for key, direction in out:
        if key not in SORT_KEYS:
            raise exc.BadRequest(f"Invalid sort key: {key}. It should be one of the "
                                 f"following: {', '.join(sorted(SORT_KEYS))}.")
        if direction not in ("asc", "desc"):
            raise exc.BadRequest(f"Invalid sort direction: {direction}. It should be one "
                                 "of the following: asc, desc.")
        result.append((key, direction == "asc"))
    last = result[-1][1] if result else False
    for tie in ("created_at", "id"):
        if tie not in [k for k, _ in result]:
            result.append((tie, last))
    return result


def _int(query: Params, key: str) -> int | None:
    if key not in query:
        return None
    try:
        value = int(query[key])
    except ValueError:
        raise exc.BadRequest(f"{key} param must be an integer") from None
    if value < 0:
        raise exc.BadRequest(f"{key} param must be positive")
    if value > MAX_SIZE and key != "limit":
        raise exc.BadRequest(f"{key} param must be at most {MAX_SIZE}")
    return value


def _exact(query: Params, key: str):
    if key in INT_COLUMNS:
        return _int(query, key)
    return query[key]


def _where(stmt, query: Params, ctx, visible):
    image = models.Image
    member_status = query.get("member_status", "accepted")
    if member_status not in ("all", *schemas.MEMBER_STATUSES):
        raise exc.BadRequest(f"Invalid status value: {member_status}")
    visibility = query.get("visibility")
    if visibility is not None and visibility not in ("all", *schemas.VISIBILITIES):
        raise exc.BadRequest(f"Invalid visibility value: {visibility}")
    pid = ctx.project_id if ctx is not None else None
    membership = sa.select(models.ImageMember.image_id).where(
        models.ImageMember.image_id == image.id, models.ImageMember.member_id == pid)
    if member_status != "all":
        membership = membership.where(models.ImageMember.status == member_status)
    shared_ok = sa.and_(image.visibility == "shared", membership.exists())
    if visible is not None:  # not an admin
        own = image.owner == pid
        if visibility in ("community", "all"):
            stmt = stmt.where(sa.or_(own, image.visibility.in_(("public", "community")),
                                     shared_ok))
        else:
            stmt = stmt.where(sa.or_(own, image.visibility == "public", shared_ok))
    elif visibility != "all" and visibility != "community":
        stmt = stmt.where(sa.or_(image.visibility != "community", image.owner == pid))
    if visibility not in (None, "all"):
        stmt = stmt.where(image.visibility == visibility)
    if "member_status" in query and visible is None:
        stmt = stmt.where(sa.or_(image.owner == pid, shared_ok))
    if not ("os_hidden" in query and to_bool(query["os_hidden"], "os_hidden")):
        stmt = stmt.where(image.os_hidden == sa.false())
    if (size := _int(query, "size_min")) is not None:
        stmt = stmt.where(image.size >= size)
    if (size := _int(query, "size_max")) is not None:
        stmt = stmt.where(image.size <= size)
    for tag in query.getlist("tag"):
        stmt = stmt.where(sa.select(models.ImageTag.image_id).where(
            models.ImageTag.image_id == image.id, models.ImageTag.value == tag).exists())
    for key in set(query.keys()) - NOT_FILTERS:
        value = query[key]
        if key == "protected":
            stmt = stmt.where(image.protected == to_bool(value, key))
        elif key in IN_FILTERS:
            if value.startswith("in:"):
                stmt = stmt.where(_column(key).in_([v.strip('"') for v in
                                                    value[3:].split(",")]))
            else:
                stmt = stmt.where(_column(key) == value)
        elif key in TIME_FILTERS:
            stmt = stmt.where(_time_filter(key, value))
        elif key in COLUMN_FILTERS:
            stmt = stmt.where(_column(key) == _exact(query, key))
        elif key in schemas.CORE:
            continue
        else:
            stmt = stmt.where(sa.select(models.ImageProperty.image_id).where(
                models.ImageProperty.image_id == image.id,
                models.ImageProperty.name == key,
                models.ImageProperty.value == value).exists())
    return stmt


def list_images(session, ctx, query, visible, max_limit: int = MAX_LIMIT
                ) -> tuple[list, str | None]:
    """One page of images for ``ctx`` (``query``: a plain dict or query parameters);
    ``visible`` is the manager's visibility clause (None for admins). Keyset-paged by
    :mod:`kumo.common.listing` (Glance dialect). Returns ``(images, next_marker or
    None)``: a next marker when more images follow the page."""
    query = Params(query)
    keys = [Key(k, _column(k), asc) for k, asc in sort_keys(query)]
    limit = GLANCE.limit(query.get("limit"), max_limit)
    base = sa.select(models.Image)
    if visible is not None:
        base = base.where(visible)
    start = GLANCE.start(session, base, models.Image.id, query.get("marker"), keys)
    stmt = _where(sa.select(models.Image), query, ctx, visible)
    rows, more = page(session, stmt, keys, start=start, limit=limit)
    return rows, (rows[-1].id if rows and more else None)
