"""Version discovery (Compute API "API Versions"): ``GET /compute/`` lists the
versions, v2.0 first as Nova does (the legacy API without microversions, ``SUPPORTED``)
then v2.1 (``CURRENT``); ``GET /compute/v2.1/`` shows v2.1 with its microversion range,
``GET /compute/v2/`` the v2.0 document (only discovery is served under ``/v2``)."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.compute.api import MAX_VERSION, MIN_VERSION, service, vstr


def version(req: Request, legacy: bool = False) -> dict:
    """The v2.1 document, or with ``legacy`` v2.0's (empty version range)."""
    if legacy:
        return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                "updated": "2011-01-21T11:33:21Z",
                "links": [{"rel": "self", "href": req.url("/v2/")},
                          {"rel": "describedby", "type": "text/html",
                           "href": "http://docs.openstack.org/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2"}]}
    return {"id": "v2.1", "status": "CURRENT", "version": vstr(MAX_VERSION),
            "min_version": vstr(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": req.url("/v2.1/")},
                      {"rel": "describedby", "type": "text/html",
                       "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    listed = []
    for v in (version(req, legacy=True), version(req)):
        # the list shows only each version's self link and no media types (Nova's view)
        listed.append({k: ([ln for ln in val if ln["rel"] == "self"] if k == "links" else val)
                       for k, val in v.items() if k != "media-types"})
    return Reply(200, {"versions": listed})


@service.route("GET", "/v2.1", authenticated=False)
def show(req: Request) -> Reply:
    return Reply(200, {"version": version(req)})


@service.route("GET", "/v2", authenticated=False)
def show_legacy(req: Request) -> Reply:
    return Reply(200, {"version": version(req, legacy=True)})
