"""The volume proxies of the Compute API (Compute API "Volume extension (os-volumes,
os-snapshots) (DEPRECATED)"), served up to 2.35 (404 "The resource could not be
found." from 2.36, as Nova): ``/os-volumes`` (list, ``detail``, create, show, delete)
and ``/os-snapshots`` (the same for volume snapshots).

As Nova calls Cinder with the user's token, each call here is a request to the Block
Storage service run in process (:func:`cinder`: its router, policy, validation and
transaction, with the caller's token); Cinder's faults come back with their status and
message (both services share the ``{"itemNotFound": {"code", "message"}}`` format).
Bodies are Nova's views: ``displayName``, ``availabilityZone``, ``createdAt``,
``attachments`` (``[{}]`` when not attached), ``volumeType``, ``snapshotId``; a
snapshot's ``size`` is its volume's. Lists take Nova's ``limit``/``offset``. Policies
``os_compute_api:os-volumes:*`` (reader to read, member to change)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.compute import schemas
from kumo.compute.api import at_least, limited, service
from kumo.compute.api.network_proxies import NotFound404, Proxied, in_process

P = "os_compute_api:os-volumes:"
_READER = "rule:admin or (role:reader and project_id:%(project_id)s)"
_MEMBER = "rule:admin or (role:member and project_id:%(project_id)s)"
register([RuleDefault(P + n, _READER) for n in (
    "list", "detail", "show", "snapshots:list", "snapshots:detail", "snapshots:show")]
    + [RuleDefault(P + n, _MEMBER) for n in (
        "create", "delete", "snapshots:create", "snapshots:delete")])


def cinder(req: Request, method: str, path: str, body=None, query: dict | None = None
           ) -> dict:
    """Run ``method /v3<path>`` on the Block Storage service (:func:`in_process`, with
    the caller's token); the reply's body, or Cinder's fault raised with its status and
    message."""
    from kumo.volume.api import service as volume

    status, payload = in_process(req, volume, "/v3", method, path, body, query)
    if status >= 400:
        fault = next(iter((payload or {}).values()), {}) if isinstance(payload, dict) \
            else {}
        raise Proxied(status, (fault or {}).get("message")
                      or "Block Storage request failed")
    return payload or {}


def _gate(req: Request, rule: str) -> None:
    if at_least(req, "2.36"):
        raise NotFound404()
    req.context.enforce(P + rule, {"project_id": req.context.project_id})


def _volume(v: dict) -> dict:
    # one entry per attachment (a multiattach volume has several), as Nova's view
    attachments = [{"id": v["id"], "volumeId": v["id"], "serverId": a.get("server_id"),
                    **({"device": a["device"]} if a.get("device") else {})}
                   for a in v.get("attachments") or []] or [{}]
    return {"id": v["id"], "status": v["status"], "size": v["size"],
            "availabilityZone": v.get("availability_zone"),
            "createdAt": v.get("created_at"), "attachments": attachments,
            "displayName": v.get("name"), "displayDescription": v.get("description"),
            "volumeType": v.get("volume_type"), "snapshotId": v.get("snapshot_id"),
            "metadata": dict(v.get("metadata") or {})}


def _snapshot(s: dict) -> dict:
    return {"id": s["id"], "volumeId": s["volume_id"], "status": s["status"],
            "size": s["size"], "createdAt": s.get("created_at"),
            "displayName": s.get("name"), "displayDescription": s.get("description")}


def _call(req: Request, method: str, path: str, body=None, query=None) -> dict:
    try:
        return cinder(req, method, path, body, query)
    except Proxied as e:
        if e.status == 404:
            raise exc.NotFound(e.message) from None
        if e.status == 413:  # Cinder's over-quota is Nova's 403
            raise exc.Forbidden(e.message) from None
        if e.status in (400, 403):
            raise
        raise exc.BadRequest(e.message) from None


# -- volumes ------------------------------------------------------------------------------
_SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1}
_VOLUME_BODY = {"type": "object", "properties": {"volume": {
    "type": "object", "properties": {
        "volume_type": {"type": "string"}, "metadata": {"type": "object"},
        "snapshot_id": {"type": "string"}, "size": _SIZE,
        "availability_zone": {"type": "string"}, "display_name": {"type": "string"},
        "display_description": {"type": "string"}},
    "required": ["size"], "additionalProperties": False}},
    "required": ["volume"], "additionalProperties": False}


def _volumes(req: Request, rule: str) -> Reply:
    _gate(req, rule)
    rows = _call(req, "GET", "/volumes/detail")["volumes"]
    return Reply(200, {"volumes": [_volume(v) for v in limited(req, rows)]})


@service.route("GET", "/v2.1/os-volumes")
def list_volumes(req: Request) -> Reply:
    return _volumes(req, "list")


@service.route("GET", "/v2.1/os-volumes/detail")
def list_volumes_detail(req: Request) -> Reply:
    return _volumes(req, "detail")


@service.route("GET", "/v2.1/os-volumes/{volume_id}")
def show_volume(req: Request) -> Reply:
    _gate(req, "show")
    v = _call(req, "GET", f"/volumes/{req.params['volume_id']}")["volume"]
    return Reply(200, {"volume": _volume(v)})


@service.route("POST", "/v2.1/os-volumes")
def create_volume(req: Request) -> Reply:
    _gate(req, "create")
    given = req.json(_VOLUME_BODY)["volume"]
    spec: dict = {"size": int(given["size"])}
    if given.get("snapshot_id") is not None:  # Nova looks the snapshot up first: 404
        _call(req, "GET", f"/snapshots/{given['snapshot_id']}")
        spec["snapshot_id"] = given["snapshot_id"]
    for ours, theirs in (("display_name", "name"), ("display_description", "description"),
                         ("volume_type", "volume_type"), ("metadata", "metadata"),
                         ("availability_zone", "availability_zone")):
        if given.get(ours) is not None:
            spec[theirs] = given[ours]
    v = _call(req, "POST", "/volumes", {"volume": spec})["volume"]
    return Reply(200, {"volume": _volume(v)},
                 {"Location": req.url(f"/v2.1/os-volumes/{v['id']}")})


@service.route("DELETE", "/v2.1/os-volumes/{volume_id}")
def delete_volume(req: Request) -> Reply:
    _gate(req, "delete")
    _call(req, "DELETE", f"/volumes/{req.params['volume_id']}")
    return Reply(202)


# -- snapshots ----------------------------------------------------------------------------
_SNAPSHOT_BODY = {"type": "object", "properties": {"snapshot": {
    "type": "object", "properties": {
        "volume_id": {"type": "string"}, "force": schemas.BOOLEAN,
        "display_name": {"type": "string"}, "display_description": {"type": "string"}},
    "required": ["volume_id"], "additionalProperties": False}},
    "required": ["snapshot"], "additionalProperties": False}


def _snapshots(req: Request, rule: str) -> Reply:
    _gate(req, rule)
    rows = _call(req, "GET", "/snapshots/detail")["snapshots"]
    return Reply(200, {"snapshots": [_snapshot(s) for s in limited(req, rows)]})


@service.route("GET", "/v2.1/os-snapshots")
def list_snapshots(req: Request) -> Reply:
    return _snapshots(req, "snapshots:list")


@service.route("GET", "/v2.1/os-snapshots/detail")
def list_snapshots_detail(req: Request) -> Reply:
    return _snapshots(req, "snapshots:detail")


@service.route("GET", "/v2.1/os-snapshots/{snapshot_id}")
def show_snapshot(req: Request) -> Reply:
    _gate(req, "snapshots:show")
    s = _call(req, "GET", f"/snapshots/{req.params['snapshot_id']}")["snapshot"]
    return Reply(200, {"snapshot": _snapshot(s)})


@service.route("POST", "/v2.1/os-snapshots")
def create_snapshot(req: Request) -> Reply:
    _gate(req, "snapshots:create")
    given = req.json(_SNAPSHOT_BODY)["snapshot"]
    spec = {"volume_id": given["volume_id"],
            "force": schemas.as_bool(given.get("force", False))}
    if given.get("display_name") is not None:
        spec["name"] = given["display_name"]
    if given.get("display_description") is not None:
        spec["description"] = given["display_description"]
    s = _call(req, "POST", "/snapshots", {"snapshot": spec})["snapshot"]
    return Reply(200, {"snapshot": _snapshot(s)})


@service.route("DELETE", "/v2.1/os-snapshots/{snapshot_id}")
def delete_snapshot(req: Request) -> Reply:
    _gate(req, "snapshots:delete")
    _call(req, "DELETE", f"/snapshots/{req.params['snapshot_id']}")
    return Reply(202)
