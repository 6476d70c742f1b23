"""Flavors, their extra specs and access lists (Compute API: "Flavors", "Flavors extra
specs", "Flavors access"). DevStack's default flavors are created by migration
``0008_compute``.

A private flavor (``is_public`` false) is visible to admins and to the projects on its
access list only; to others it is 404.
"""
from __future__ import annotations

import math
import uuid

import sqlalchemy as sa
from oslo_utils import strutils

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute import schemas
from kumo.compute.models import Flavor, FlavorAccess


class FlavorNotFound(exc.NotFound):
    message = "Flavor %(id)s could not be found."


#: The body's integer fields: (attribute, Nova's name for messages, minimum).
_INT_FIELDS = (("ram", "ram", 1), ("vcpus", "vcpus", 1), ("disk", "disk", 0),
               ("OS-FLV-EXT-DATA:ephemeral", "ephemeral", 0), ("swap", "swap", 0))


def checked_values(attrs: dict) -> dict:
    """The flavor's numbers from a schema-valid body, range-checked as Nova's
    ``flavors.create`` does (integers in their range up to ``MAX_INT``, strings
    included; ``rxtx_factor`` a float in ``(0, SQL_SP_FLOAT_MAX]``); 400 otherwise."""
    from kumo.compute.schemas import MAX_INT, SQL_SP_FLOAT_MAX

    out = {}
    for key, name, low in _INT_FIELDS:
        value = attrs.get(key)
        if value is None or value == "":
            value = 0
        try:
            out[name] = strutils.validate_integer(value, name, low, MAX_INT)
        except ValueError as e:
            raise exc.BadRequest(f"Invalid input received: {e}") from None
    rxtx = attrs.get("rxtx_factor", 1.0)
    try:
        rxtx = float(rxtx)
    except (TypeError, ValueError, OverflowError):
        rxtx = math.nan
    if not (math.isfinite(rxtx) and 0 < rxtx <= SQL_SP_FLOAT_MAX):
        raise exc.BadRequest("Invalid input received: 'rxtx_factor' argument must be a "
                             f"float between 0 and {SQL_SP_FLOAT_MAX:g}")
    out["rxtx_factor"] = rxtx
    return out


class Flavors:
    def __init__(self, compute):
        self.compute = compute

    def _visible(self, ctx):
        if ctx.is_admin:
            return None
        return sa.or_(Flavor.is_public.is_(True), Flavor.id.in_(
            sa.select(FlavorAccess.flavor_id).where(
                FlavorAccess.project_id == (ctx.project_id or ""))))

    def get(self, ctx, flavor_id: str, session=None) -> Flavor:
        """The flavor if visible to ``ctx`` (``None``: any); 404 otherwise."""
        with self.compute.db.session(readonly=session is None) as s:
            stmt = sa.select(Flavor).where(Flavor.id == str(flavor_id))
            clause = self._visible(ctx) if ctx is not None else None
            if clause is not None:
                stmt = stmt.where(clause)
            row = s.scalar(stmt)
            if row is None:
                raise FlavorNotFound(id=flavor_id)
            return row

    def create(self, attrs: dict) -> Flavor:
        """A flavor from a validated body; 409 if the name or id is taken."""
        fid = attrs.get("id") or str(uuid.uuid4())
        n = checked_values(attrs)
        row = Flavor(id=str(fid), name=attrs["name"].strip(),
                     description=attrs.get("description"), vcpus=n["vcpus"],
                     ram=n["ram"], disk=n["disk"], ephemeral=n["ephemeral"],
                     swap=n["swap"], rxtx_factor=n["rxtx_factor"],
                     is_public=schemas.as_bool(attrs.get("os-flavor-access:is_public", True)),
                     disabled=False, extra_specs={}, created_at=utcnow())
        with self.compute.db.session() as s:
            if s.scalar(sa.select(Flavor.seq).where(Flavor.name == row.name)) is not None:
                raise exc.Conflict(f"Flavor with name {row.name} already exists.")
            if s.scalar(sa.select(Flavor.seq).where(Flavor.id == row.id)) is not None:
                raise exc.Conflict(f"Flavor with ID {row.id} already exists.")
            s.add(row)
        return row

    def update_description(self, flavor_id: str, description: str | None) -> Flavor:
        with self.compute.db.session() as s:
            row = self.get(None, flavor_id, s)
            row.description = description
            return row

    def delete(self, flavor_id: str) -> None:
        with self.compute.db.session() as s:
            row = self.get(None, flavor_id, s)
            s.execute(sa.delete(FlavorAccess).where(FlavorAccess.flavor_id == row.id))
            s.delete(row)

    # -- extra specs -------------------------------------------------------------------
    def set_extra_specs(self, ctx, flavor_id: str, specs: dict) -> dict:
        with self.compute.db.session() as s:
            row = self.get(ctx, flavor_id, s)
            row.extra_specs = {**(row.extra_specs or {}), **specs}
        return specs

    def delete_extra_spec(self, ctx, flavor_id: str, key: str) -> None:
        with self.compute.db.session() as s:
            row = self.get(ctx, flavor_id, s)
            specs = dict(row.extra_specs or {})
            if key not in specs:
                raise exc.NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
            del specs[key]
            row.extra_specs = specs

    # -- access ------------------------------------------------------------------------
    def access(self, ctx, flavor_id: str) -> list[dict]:
        with self.compute.read() as s:
            row = self.get(ctx, flavor_id, s)
            if row.is_public:
                raise exc.NotFound("Access list not available for public flavors.")
            projects = s.scalars(sa.select(FlavorAccess.project_id).where(
                FlavorAccess.flavor_id == row.id).order_by(FlavorAccess.project_id))
            return [{"flavor_id": row.id, "tenant_id": p} for p in projects]

    def add_access(self, ctx, flavor_id: str, project_id: str) -> list[dict]:
        with self.compute.db.session() as s:
            row = self.get(ctx, flavor_id, s)
            if row.is_public:
                raise exc.Conflict("Can not add access to a public flavor.")
            if s.get(FlavorAccess, (row.id, project_id)) is not None:
                raise exc.Conflict(f"Flavor access already exists for flavor {row.id} "
                                   f"and project {project_id} combination.")
            s.add(FlavorAccess(flavor_id=row.id, project_id=project_id))
        return self.access(ctx, flavor_id)

    def remove_access(self, ctx, flavor_id: str, project_id: str) -> list[dict]:
        with self.compute.db.session() as s:
            row = self.get(ctx, flavor_id, s)
            found = s.get(FlavorAccess, (row.id, project_id))
            if found is None:
                raise exc.NotFound(f"Flavor access not found for {row.id} / {project_id} "
                                   "combination.")
            s.delete(found)
        return self.access(ctx, flavor_id)
