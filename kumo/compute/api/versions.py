"""Version discovery (Compute API "API Versions"): ``GET /compute/`` lists the
versions, ``GET /compute/v2.1/`` shows v2.1 with its microversion range."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.compute.api import MAX_VERSION, MIN_VERSION, service, vstr


def version(req: Request) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": vstr(MAX_VERSION),
            "min_version": vstr(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": req.url("/v2.1/")},
                      {"rel": "describedby", "type": "text/html",
                       "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    return Reply(200, {"versions": [version(req)]})


@service.route("GET", "/v2.1", authenticated=False)
def show(req: Request) -> Reply:
    return Reply(200, {"version": version(req)})
