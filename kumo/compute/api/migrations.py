"""``GET /os-migrations`` (Compute API "Migrations (os-migrations)"), admin only: the
moves of instances (cold migrations, resizes, live migrations, evacuations) newest
first, filtered by ``host``, ``status``, ``migration_type``, ``instance_uuid``,
``source_compute`` (and 2.80's ``user_id``/``project_id``). ``migration_type`` and
``links`` from 2.23, ``uuid`` from 2.59, ``user_id``/``project_id`` from 2.80. From 2.59
paged: ``limit``, ``marker`` (a migration's uuid), ``changes-since`` (2.66
``changes-before``), ``migrations_links`` with the next page; unknown parameters are
400 from 2.59 (Nova's query schema)."""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.listing import link, plain
from kumo.compute.api import at_least, service
from kumo.compute.models import Flavor

P = "os_compute_api:"
FILTERS = ("host", "status", "migration_type", "instance_uuid", "source_compute")


def _flavor_seqs(req: Request, ids: set) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    with req.cloud.compute.read() as s:
        return dict(s.execute(sa.select(Flavor.id, Flavor.seq).where(
            Flavor.id.in_(ids))).all())


def _time(value):
    """Nova's migration times: ``2016-01-29T13:42:02.000000`` (no zone)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def render(req: Request, m, seqs: dict) -> dict:
    body = {"id": m.id, "created_at": _time(m.created_at),
            "updated_at": _time(m.updated_at),
            "instance_uuid": m.instance_uuid, "status": m.status,
            "source_compute": m.source_compute, "source_node": m.source_node,
            "dest_compute": m.dest_compute, "dest_node": m.dest_node,
            "dest_host": m.dest_host, "old_instance_type_id": seqs.get(m.old_flavor_id),
            "new_instance_type_id": seqs.get(m.new_flavor_id)}
    if at_least(req, "2.23"):
        body["migration_type"] = m.migration_type
        if m.migration_type == "live-migration" and m.status in (
                "queued", "preparing", "running", "post-migrating"):
            base = req.url_base
            body["links"] = [
                {"rel": "self", "href": f"{base}/v2.1/servers/{m.instance_uuid}/"
                                        f"migrations/{m.id}"},
                {"rel": "bookmark", "href": f"{base}/servers/{m.instance_uuid}/"
                                            f"migrations/{m.id}"}]
    if at_least(req, "2.59"):
        body["uuid"] = m.uuid
    if at_least(req, "2.80"):
        body["user_id"], body["project_id"] = m.user_id, m.project_id
    return body


@service.route("GET", "/v2.1/os-migrations")
def list_migrations(req: Request) -> Reply:
    req.context.enforce(P + "os-migrations:index", {})
    q = plain(req.query)
    query = {k: q[k] for k in FILTERS if q.get(k)}
    if at_least(req, "2.80"):
        query.update({k: q[k] for k in ("user_id", "project_id") if q.get(k)})
    paging = None
    if at_least(req, "2.59"):
        allowed = set(FILTERS) | {"hidden", "limit", "marker", "changes-since"}
        if at_least(req, "2.66"):
            allowed.add("changes-before")
        if at_least(req, "2.80"):
            allowed |= {"user_id", "project_id"}
        unknown = sorted(k for k in q if k not in allowed)
        if unknown:  # Nova's 2.59 query schema: additionalProperties false
            raise exc.BadRequest("Invalid input for query parameters "
                                 f"{unknown[0]}. Value: {q[unknown[0]]}. Additional "
                                 "properties are not allowed.")
        paging = {k: _one(q[k]) for k in ("limit", "marker", "changes-since",
                                          "changes-before") if k in q}
    rows, more = req.cloud.compute.lifecycle.migrations(query, paging)
    seqs = _flavor_seqs(req, {m.old_flavor_id for m, _ in rows}
                        | {m.new_flavor_id for m, _ in rows})
    body = {"migrations": [render(req, m, seqs) for m, _ in rows]}
    if more and rows:  # 2.59: the next page after the last one's uuid
        body["migrations_links"] = [link(req.url("/v2.1/os-migrations"), req.query,
                                         "next", rows[-1][0].uuid, q.get("limit"))]
    return Reply(200, body)


def _one(value):
    """A query parameter given once (Nova's ``single_param``); 400 if repeated."""
    if isinstance(value, list):
        raise exc.BadRequest("Invalid input for query parameters: given more than once.")
    return value
