"""Metadata definitions, the logic (Image API v2 "Metadata definitions": namespaces,
objects, properties, tags, resource types and their associations). No HTTP here:
methods take the request context and plain validated dicts and return plain dicts
(the API's bodies, without ``self``/``schema`` links, which the API adds).

Visibility: a namespace is seen by admins, by its owner project, and by everyone when
``public``; one the caller cannot see is 404, as in Glance. Deleting a ``protected``
namespace, or an object, property, tag or association in one, is 403. Names are
unique within their kind (namespace names everywhere, the rest within a namespace):
409 otherwise. Every write is one transaction, so a bad request changes nothing.

:func:`load_definitions` is ``glance-manage db_load_metadefs``: it loads the JSON files
of ``kumo/image/metadefs/`` (namespaces skipped when already there).
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import isotime, utcnow
from kumo.db import Database
from kumo.image import models

DATA_DIR = Path(__file__).parent / "metadefs"
#: The resource types Glance's database starts with (protected: never deleted).
BASE_RESOURCE_TYPES = ("OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
                       "OS::Nova::Aggregate", "OS::Nova::Server")
KINDS = {"object": "Object", "property": "Property", "tag": "Metadata definition tag"}


def _time(value) -> str | None:
    return isotime(value, subsecond=False)


def _admin(ctx) -> bool:
    return ctx is None or ctx.is_admin


class Metadefs:
    """Namespaces and what they hold."""

    def __init__(self, db: Database):
        self.db = db

    # -- namespaces -----------------------------------------------------------------
    def _ns(self, s, ctx, namespace: str) -> models.MetadefNamespace:
        ns = s.scalar(sa.select(models.MetadefNamespace).where(
            models.MetadefNamespace.namespace == namespace))
        if ns is None or not (_admin(ctx) or ns.visibility == "public"
                              or ns.owner == ctx.project_id):
            raise exc.NotFound(f"Metadata definition namespace={namespace} was not "
                               "found.")
        return ns

    def _render_ns(self, s, ns, full: bool, resource_type: str | None = None) -> dict:
        body = {"namespace": ns.namespace, "display_name": ns.display_name,
                "description": ns.description, "visibility": ns.visibility,
                "protected": ns.protected, "owner": ns.owner,
                "created_at": _time(ns.created_at), "updated_at": _time(ns.updated_at)}
        body = {k: v for k, v in body.items() if v is not None}
        assocs = self._associations(s, ns)
        if assocs:
            body["resource_type_associations"] = assocs
        if not full:
            return body
        prefix = ""
        if resource_type:
            prefix = next((a.get("prefix") or "" for a in assocs
                           if a["name"] == resource_type), "")
        items = self._items(s, ns.id)
        props = {prefix + i.name: dict(i.body) for i in items if i.kind == "property"}
        if props:
            body["properties"] = props
        objects = [self._render_item(ns, i) for i in items if i.kind == "object"]
        if objects:
            body["objects"] = objects
        tags = [{"name": i.name} for i in items if i.kind == "tag"]
        if tags:
            body["tags"] = tags
        return body

    def list_namespaces(self, ctx, visibility: str | None = None,
                        resource_types: list[str] | None = None) -> list[dict]:
        """Namespaces the caller sees, by name; ``visibility`` and ``resource_types``
        (any of them associated) filter."""
        ns_t = models.MetadefNamespace
        with self.db.session(readonly=True) as s:
            stmt = sa.select(ns_t).order_by(ns_t.namespace)
            if not _admin(ctx):
                stmt = stmt.where(sa.or_(ns_t.visibility == "public",
                                         ns_t.owner == ctx.project_id))
            if visibility:
                stmt = stmt.where(ns_t.visibility == visibility)
            if resource_types:
                stmt = stmt.where(sa.select(models.MetadefAssociation.namespace_id).join(
                    models.MetadefResourceType).where(
                    models.MetadefAssociation.namespace_id == ns_t.id,
                    models.MetadefResourceType.name.in_(resource_types)).exists())
            return [self._render_ns(s, ns, full=False) for ns in s.scalars(stmt)]

    def get_namespace(self, ctx, namespace: str, resource_type: str | None = None) -> dict:
        """The namespace with its associations, properties (names prefixed for
        ``resource_type``), objects and tags."""
        with self.db.session(readonly=True) as s:
            return self._render_ns(s, self._ns(s, ctx, namespace), True, resource_type)

    def create_namespace(self, ctx, body: dict) -> dict:
        """Create a namespace (``private`` by default, owned by the caller's project
        unless ``owner`` is given) and whatever associations, properties, objects and
        tags the body holds. 409 if the name is taken."""
        now = utcnow()
        with self.db.session() as s:
            if s.scalar(sa.select(models.MetadefNamespace.id).where(
                    models.MetadefNamespace.namespace == body["namespace"])):
                raise exc.Conflict(f"Metadata definition namespace={body['namespace']} "
                                   "already exists.")
            ns = models.MetadefNamespace(
                id=str(uuid.uuid4()), namespace=body["namespace"],
                display_name=body.get("display_name"),
                description=body.get("description"),
                visibility=body.get("visibility", "private"),
                protected=body.get("protected", False),
                owner=body.get("owner") or (ctx.project_id if ctx else None),
                created_at=now, updated_at=now)
            s.add(ns)
            s.flush()
            for assoc in body.get("resource_type_associations", []):
                self._associate(s, ns, assoc)
            for name, prop in body.get("properties", {}).items():
                self._add_item(s, ns, "property", name, prop)
            for obj in body.get("objects", []):
                self._add_item(s, ns, "object", obj["name"], _object_body(obj))
            for tag in body.get("tags", []):
                self._add_item(s, ns, "tag", tag["name"], {})
            s.flush()
            return self._render_ns(s, ns, True)

    def update_namespace(self, ctx, namespace: str, body: dict) -> dict:
        """Replace the namespace's own attributes (a new ``namespace`` renames it; 409
        if taken)."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            new = body["namespace"]
            if new != ns.namespace and s.scalar(sa.select(models.MetadefNamespace.id).where(
                    models.MetadefNamespace.namespace == new)):
                raise exc.Conflict(f"Metadata definition namespace={new} already "
                                   "exists.")
            ns.namespace = new
            for key in ("display_name", "description"):
                setattr(ns, key, body.get(key))
            ns.visibility = body.get("visibility", ns.visibility)
            ns.protected = body.get("protected", ns.protected)
            if body.get("owner"):
                ns.owner = body["owner"]
            ns.updated_at = utcnow()
            s.flush()
            return self._render_ns(s, ns, False)

    def delete_namespace(self, ctx, namespace: str) -> None:
        """Delete it and everything in it; 403 if protected."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            if ns.protected:
                raise exc.Forbidden(f"Namespace {namespace} is protected and cannot be "
                                    "deleted.")
            s.execute(sa.delete(models.MetadefItem).where(
                models.MetadefItem.namespace_id == ns.id))
            s.execute(sa.delete(models.MetadefAssociation).where(
                models.MetadefAssociation.namespace_id == ns.id))
            s.delete(ns)

    def delete_all(self, ctx, namespace: str, kind: str) -> None:
        """``DELETE .../objects``, ``/properties``, ``/tags``: all of that kind; 403 if
        the namespace is protected."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            self._unprotected(ns, kind)
            s.execute(sa.delete(models.MetadefItem).where(
                models.MetadefItem.namespace_id == ns.id, models.MetadefItem.kind == kind))

    @staticmethod
    def _unprotected(ns, kind: str, name: str = "") -> None:
        if ns.protected:
            what = f"{KINDS[kind]} {name}".strip()
            raise exc.Forbidden(f"{what} in namespace {ns.namespace} cannot be deleted "
                                "because the namespace is protected.")

    # -- objects, properties, tags --------------------------------------------------
    @staticmethod
    def _items(s, ns_id: str, kind: str | None = None) -> list[models.MetadefItem]:
        stmt = sa.select(models.MetadefItem).where(
            models.MetadefItem.namespace_id == ns_id).order_by(
            models.MetadefItem.kind, models.MetadefItem.created_at, models.MetadefItem.name)
        if kind:
            stmt = stmt.where(models.MetadefItem.kind == kind)
        return list(s.scalars(stmt))

    @staticmethod
    def _render_item(ns, item: models.MetadefItem) -> dict:
        times = {"created_at": _time(item.created_at), "updated_at": _time(item.updated_at)}
        if item.kind == "tag":
            return {"name": item.name, **times}
        if item.kind == "property":
            return {"name": item.name, **item.body}
        return {"name": item.name, **item.body, **times}

    def _add_item(self, s, ns, kind: str, name: str, body: dict) -> models.MetadefItem:
        if s.scalar(sa.select(models.MetadefItem.id).where(
                models.MetadefItem.namespace_id == ns.id, models.MetadefItem.kind == kind,
                models.MetadefItem.name == name)):
            raise exc.Conflict(f"A {KINDS[kind].lower()} with name={name} already exists "
                               f"in namespace={ns.namespace}.")
        now = utcnow()
        item = models.MetadefItem(id=str(uuid.uuid4()), namespace_id=ns.id, kind=kind,
                                  name=name, body=body, created_at=now, updated_at=now)
        s.add(item)
        s.flush()
        return item

    def _item(self, s, ns, kind: str, name: str) -> models.MetadefItem:
        item = s.scalar(sa.select(models.MetadefItem).where(
            models.MetadefItem.namespace_id == ns.id, models.MetadefItem.kind == kind,
            models.MetadefItem.name == name))
        if item is None:
            raise exc.NotFound(f"Metadata definition {kind} not found for "
                               f"namespace={ns.namespace} and {kind}={name}.")
        return item

    def list_items(self, ctx, namespace: str, kind: str) -> list[dict]:
        with self.db.session(readonly=True) as s:
            ns = self._ns(s, ctx, namespace)
            return [self._render_item(ns, i) for i in self._items(s, ns.id, kind)]

    def get_item(self, ctx, namespace: str, kind: str, name: str) -> dict:
        with self.db.session(readonly=True) as s:
            ns = self._ns(s, ctx, namespace)
            return self._render_item(ns, self._item(s, ns, kind, name))

    def create_item(self, ctx, namespace: str, kind: str, name: str, body: dict) -> dict:
        """Add an object, property or tag; 409 if the name is taken in the namespace."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            return self._render_item(ns, self._add_item(s, ns, kind, name, body))

    def update_item(self, ctx, namespace: str, kind: str, name: str, new_name: str,
                    body: dict) -> dict:
        """Replace an item's definition (and name; 409 if taken)."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            item = self._item(s, ns, kind, name)
            if new_name != name and s.scalar(sa.select(models.MetadefItem.id).where(
                    models.MetadefItem.namespace_id == ns.id,
                    models.MetadefItem.kind == kind, models.MetadefItem.name == new_name)):
                raise exc.Conflict(f"A {KINDS[kind].lower()} with name={new_name} already "
                                   f"exists in namespace={ns.namespace}.")
            item.name = new_name
            item.body = body
            item.updated_at = utcnow()
            s.flush()
            return self._render_item(ns, item)

    def delete_item(self, ctx, namespace: str, kind: str, name: str) -> None:
        """404 if absent; 403 if the namespace is protected."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            item = self._item(s, ns, kind, name)
            self._unprotected(ns, kind, name)
            s.delete(item)

    def create_tags(self, ctx, namespace: str, names: list[str], append: bool) -> list[dict]:
        """Bulk create: the namespace's tags become ``names`` (or gain them with
        ``append``); 409 for a name given twice or, appending, already there."""
        if len(set(names)) != len(names):
            raise exc.Conflict("Duplicate tags were found in the request.")
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            if not append:
                s.execute(sa.delete(models.MetadefItem).where(
                    models.MetadefItem.namespace_id == ns.id,
                    models.MetadefItem.kind == "tag"))
            return [self._render_item(ns, self._add_item(s, ns, "tag", n, {}))
                    for n in names]

    # -- resource types ---------------------------------------------------------------
    def list_resource_types(self) -> list[dict]:
        with self.db.session(readonly=True) as s:
            return [{"name": r.name, "created_at": _time(r.created_at),
                     "updated_at": _time(r.updated_at)}
                    for r in s.scalars(sa.select(models.MetadefResourceType).order_by(
                        models.MetadefResourceType.name))]

    @staticmethod
    def _associations(s, ns) -> list[dict]:
        rows = s.execute(sa.select(models.MetadefAssociation, models.MetadefResourceType)
                         .join(models.MetadefResourceType).where(
                             models.MetadefAssociation.namespace_id == ns.id)
                         .order_by(models.MetadefResourceType.name)).all()
        out = []
        for assoc, rtype in rows:
            body = {"name": rtype.name, "prefix": assoc.prefix,
                    "properties_target": assoc.properties_target,
                    "created_at": _time(assoc.created_at),
                    "updated_at": _time(assoc.updated_at)}
            out.append({k: v for k, v in body.items() if v is not None})
        return out

    @staticmethod
    def _resource_type(s, name: str, create: bool = True):
        rtype = s.scalar(sa.select(models.MetadefResourceType).where(
            models.MetadefResourceType.name == name))
        if rtype is None and create:
            now = utcnow()
            rtype = models.MetadefResourceType(id=str(uuid.uuid4()), name=name,
                                               protected=False, created_at=now,
                                               updated_at=now)
            s.add(rtype)
            s.flush()
        return rtype

    def _associate(self, s, ns, body: dict) -> dict:
        rtype = self._resource_type(s, body["name"])
        if s.get(models.MetadefAssociation, (ns.id, rtype.id)) is not None:
            raise exc.Conflict(f"The metadata definition resource-type association of "
                               f"resource-type={rtype.name} to namespace={ns.namespace}, "
                               "already exists.")
        now = utcnow()
        assoc = models.MetadefAssociation(
            namespace_id=ns.id, resource_type_id=rtype.id, prefix=body.get("prefix"),
            properties_target=body.get("properties_target"), created_at=now,
            updated_at=now)
        s.add(assoc)
        s.flush()
        out = {"name": rtype.name, "prefix": assoc.prefix,
               "properties_target": assoc.properties_target,
               "created_at": _time(now), "updated_at": _time(now)}
        return {k: v for k, v in out.items() if v is not None}

    def list_associations(self, ctx, namespace: str) -> list[dict]:
        with self.db.session(readonly=True) as s:
            return self._associations(s, self._ns(s, ctx, namespace))

    def associate(self, ctx, namespace: str, body: dict) -> dict:
        """Associate a resource type (created if new); 409 if already associated."""
        with self.db.session() as s:
            return self._associate(s, self._ns(s, ctx, namespace), body)

    def dissociate(self, ctx, namespace: str, name: str) -> None:
        """404 if not associated; 403 if the namespace is protected."""
        with self.db.session() as s:
            ns = self._ns(s, ctx, namespace)
            rtype = self._resource_type(s, name, create=False)
            assoc = rtype and s.get(models.MetadefAssociation, (ns.id, rtype.id))
            if not assoc:
                raise exc.NotFound(f"Failed to find resource type {name} associated to "
                                   f"namespace {namespace}.")
            if ns.protected:
                raise exc.Forbidden(f"Resource type association {name} of namespace "
                                    f"{namespace} cannot be deleted because the "
                                    "namespace is protected.")
            s.delete(assoc)


def _object_body(obj: dict) -> dict:
    """What an object keeps besides its name and times."""
    return {"description": obj.get("description", ""),
            "required": obj.get("required", []),
            "properties": obj.get("properties", {})}


def load_definitions(db: Database, directory: Path = DATA_DIR) -> list[str]:
    """``glance-manage db_load_metadefs``: the base resource types, then every
    ``*.json`` namespace file of ``directory`` not loaded yet (public, protected as the
    file says, owned by no project). Returns the namespaces loaded."""
    metadefs = Metadefs(db)
    loaded = []
    with db.session() as s:
        for name in BASE_RESOURCE_TYPES:
            rtype = Metadefs._resource_type(s, name)
            rtype.protected = True
    for path in sorted(directory.glob("*.json")):
        body = json.loads(path.read_text())
        with db.session(readonly=True) as s:
            if s.scalar(sa.select(models.MetadefNamespace.id).where(
                    models.MetadefNamespace.namespace == body["namespace"])):
                continue
        body.setdefault("visibility", "public")
        body.setdefault("owner", None)
        metadefs.create_namespace(None, body)
        loaded.append(body["namespace"])
    return loaded
