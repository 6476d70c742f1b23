"""The Compute API v2.1 (Nova) under ``/compute``: one module per area registers its
routes on ``service``.

Microversions ("Microversions" in the API guide): the request's
``OpenStack-API-Version: compute X.Y`` (or ``X-OpenStack-Nova-API-Version: X.Y``;
``latest`` is :data:`MAX_VERSION`) is parsed before routing into
``req.context.microversion`` (a ``(major, minor)`` tuple; 2.1 when absent); outside
[:data:`MIN_VERSION`, :data:`MAX_VERSION`] the answer is 406, a malformed one 400. Every
reply carries both headers with the version used, and ``Vary``.

Errors are Nova's fault bodies, ``{"<name>": {"code": N, "message": "..."}}`` with
``itemNotFound``, ``badRequest``, ``forbidden``, ``conflictingRequest``, ``overLimit``...
"""
from __future__ import annotations

import logging
import re

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.common.http import Pending, Reply, Request, Service, media_type

LOG = logging.getLogger(__name__)

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)

FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
               404: "itemNotFound", 405: "badMethod", 406: "notAcceptable",
               409: "conflictingRequest", 410: "gone", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}


def nova_fault(error: exc.KumoError) -> dict:
    """Nova's fault body: ``{"itemNotFound": {"code": 404, "message": ...}}``."""
    name = FAULT_NAMES.get(error.status, "computeFault")
    return {name: {"code": error.status, "message": error.message}}


#: The request body types Nova accepts ("text/plain" and none count as JSON too).
SUPPORTED_CONTENT_TYPES = ("application/json", "application/vnd.openstack.compute+json")


def nova_media_type(req: Request) -> None:
    """Nova's rule: a Content-Type other than JSON's (or text/plain, or empty) is a 415
    ``badMediaType`` "Unsupported Content-Type"."""
    kind = media_type(req)
    if kind and kind != "text/plain" and kind not in SUPPORTED_CONTENT_TYPES:
        raise exc.UnsupportedMediaType("Unsupported Content-Type")


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
            service, _, value = item.strip().partition(" ")
            if service.lower() == "compute":
                text = value.strip()
    if text is None:
        text = req.headers.get("x-openstack-nova-api-version")
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


class ComputeService(Service):
    """A :class:`Service` that negotiates the microversion before routing."""

    def match(self, method: str, path: str):
        """As :meth:`Service.match`, but a path ending in ``/`` names an empty id
        (``DELETE /v2.1/os-security-groups/``, ``GET /v2.1/os-volumes/``): where the
        collection has an item route for the method, or does not take the method, it
        is Nova's 404, not the collection nor a 405 (Tempest's "without passing id"
        tests)."""
        empty_id = path.endswith("/") and path.strip("/").count("/") >= 1
        try:
            found = super().match(method, path)
        except exc.MethodNotAllowed:
            if empty_id:
                raise exc.NotFound("The resource could not be found.") from None
            raise
        if empty_id:
            # ``GET /v2.1/os-volumes/``: the item route with an empty id (Nova's 404,
            # Tempest's "without passing id" tests), not the collection
            try:
                item = super().match(method, path + "x")[0]
            except (exc.NotFound, exc.MethodNotAllowed):
                item = None
            if item is not None and item is not found[0] and "{" in item.path:
                raise exc.NotFound("The resource could not be found.")
        return found

    def context_for(self, req: Request, route):
        version = parse_version(req)  # 400/406 before the token is even looked at
        ctx = super().context_for(req, route)
        if ctx is not None:
            ctx.microversion = version
        return ctx

    def _run(self, req: Request, step) -> Reply | Pending:
        reply = super()._run(req, step)  # the request id headers are added after
        if isinstance(reply, Pending):
            return reply
        if req.path.startswith("/v2.1"):
            try:
                version = parse_version(req)
            except exc.KumoError:
                version = MIN_VERSION
            reply.headers["OpenStack-API-Version"] = f"compute {vstr(version)}"
            reply.headers["X-OpenStack-Nova-API-Version"] = vstr(version)
            reply.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return reply


def at_least(req: Request, version: str) -> bool:
    """True if the request's microversion is ``version`` ("2.47") or newer."""
    major, minor = version.split(".")
    return getattr(req.context, "microversion", MIN_VERSION) >= (int(major), int(minor))


#: Nova's ``[api] max_limit``: the most items one page of a list holds.
MAX_LIMIT = 1000


def limited(req: Request, items: list) -> list:
    """Nova's ``common.limited`` over a whole list: ``offset`` items skipped, then at
    most ``limit`` (absent or 0: :data:`MAX_LIMIT`, and never more); 400 with Nova's
    words for a value that is not a non-negative integer."""
    values = {}
    for key, default in (("limit", 0), ("offset", 0)):
        raw = req.query.get(key)
        try:
            values[key] = default if raw is None else int(raw)
        except ValueError:
            raise exc.BadRequest(f"{key} param must be an integer") from None
        if values[key] < 0:
            raise exc.BadRequest(f"{key} param must be positive")
    limit = min(MAX_LIMIT, values["limit"] or MAX_LIMIT)
    return items[values["offset"]:values["offset"] + limit]


def ctx_of(req: Request) -> RequestContext:
    return req.context


service = ComputeService("compute", "/compute", nova_fault, nova_media_type)
service.request_id_headers = ("x-openstack-request-id", "x-compute-request-id")

from kumo.compute import policies  # noqa: E402,F401  (registers the default rules)
from kumo.compute.api import (  # noqa: E402,F401
    admin, agent, flavors, groups, keypairs, servers, server_actions, server_extras,
    versions, volumes)
from kumo.compute.api import (  # noqa: E402,F401  (issue 16)
    aggregates, assisted_snapshots, extensions, images, migrations, network_proxies,
    operations, quota_classes, server_migrations, volume_proxies)

__all__ = ["service", "at_least", "MIN_VERSION", "MAX_VERSION"]
