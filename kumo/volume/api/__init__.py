"""The Block Storage API v3 (Cinder) under ``/volume``: one module per area registers
its routes on ``service``.

Microversions: ``OpenStack-API-Version: volume 3.X`` (``latest`` is
:data:`MAX_VERSION`) is parsed before routing into ``req.context.microversion``
(3.0 when absent); outside [:data:`MIN_VERSION`, :data:`MAX_VERSION`] the answer is
406, a malformed one 400. Replies under ``/v3`` carry the version used and ``Vary``.
Paths may carry a project id (``/v3/{project_id}/volumes``, the legacy endpoint
form): it is dropped before routing (the token's project decides, as in Cinder since
3.67 where the project id in the URL is optional).

Errors are Cinder's fault bodies, ``{"<name>": {"code": N, "message": "..."}}`` with
``badRequest``, ``itemNotFound``, ``forbidden``, ``conflictingRequest``,
``overLimit``...; other statuses (406) are ``computeFault`` as Cinder's ``Fault``
names them.
"""
from __future__ import annotations

import re

from kumo.common import exceptions as exc
from kumo.common.http import Pending, Reply, Request, Service

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)

FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
               404: "itemNotFound", 405: "badMethod", 409: "conflictingRequest",
               413: "overLimit", 415: "badMediaType", 501: "notImplemented",
               503: "serviceUnavailable"}


def cinder_fault(error: exc.KumoError) -> dict:
    """Cinder's fault body: ``{"itemNotFound": {"code": 404, "message": ...}}``."""
    name = FAULT_NAMES.get(error.status, "computeFault")
    return {name: {"code": error.status, "message": error.message}}


class NotAcceptable(exc.KumoError):
    status = 406
    title = "Not Acceptable"
    message = "Version %(version)s is not supported by the API. Minimum is %(min)s and " \
              "maximum is %(max)s."


def vstr(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


_VERSION = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


def parse_version(req: Request) -> tuple[int, int]:
    """The requested microversion (see the module doc); raises 400/406."""
    text = None
    header = req.headers.get("openstack-api-version")
    if header:
        for item in header.split(","):
            name, _, value = item.strip().partition(" ")
            if name.lower() == "volume":
                text = value.strip()
    if not text:
        return MIN_VERSION
    if text.lower() == "latest":
        return MAX_VERSION
    m = _VERSION.match(text)
    if m is None:
        raise exc.BadRequest(f"API Version String {text} is of invalid format. Must be "
                             "of format MajorNum.MinorNum.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(version=text, min=vstr(MIN_VERSION), max=vstr(MAX_VERSION))
    return version


_PROJECT_IN_PATH = re.compile(r"^/v3/([0-9a-fA-F]{32}|[0-9a-fA-F-]{36})(/.*)?$")


class VolumeService(Service):
    """A :class:`Service` that negotiates the microversion before routing and drops a
    project id from the path."""

    def _handle(self, req: Request) -> Reply | Pending:
        m = _PROJECT_IN_PATH.match(req.path)
        if m:
            req.path = "/v3" + (m.group(2) or "/")
        if req.path.endswith("/") and req.path not in ("/", "/v3/"):
            # ``GET /v3/volumes/`` is a show with an empty id, not the list: 404, as
            # Cinder (Tempest's "without passing volume id" tests)
            raise exc.NotFound("The resource could not be found.")
        return super()._handle(req)

    def context_for(self, req: Request, route):
        version = parse_version(req)
        ctx = super().context_for(req, route)
        if ctx is not None:
            ctx.microversion = version
        return ctx

    def _run(self, req: Request, step) -> Reply | Pending:
        reply = super()._run(req, step)
        if isinstance(reply, Pending):
            return reply
        if req.path.startswith("/v3"):
            try:
                version = parse_version(req)
            except exc.KumoError:
                version = MIN_VERSION
            reply.headers["OpenStack-API-Version"] = f"volume {vstr(version)}"
            reply.headers["Vary"] = "OpenStack-API-Version"
        return reply


def at_least(req: Request, version: str) -> bool:
    """True if the request's microversion is ``version`` ("3.47") or newer."""
    major, minor = version.split(".")
    return getattr(req.context, "microversion", MIN_VERSION) >= (int(major), int(minor))


service = VolumeService("volume", "/volume", cinder_fault)

from kumo.volume import policies  # noqa: E402,F401  (registers the default rules)
from kumo.volume.api import (  # noqa: E402,F401
    admin, attachments, backups, encryption, group_snapshots, groups, manage, messages,
    qos, snapshots, transfers, types, versions, volume_actions, volumes)

__all__ = ["service", "at_least", "MIN_VERSION", "MAX_VERSION"]
