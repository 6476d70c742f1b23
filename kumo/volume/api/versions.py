"""Version discovery (Block Storage API "API versions"): ``GET /volume/`` lists the
versions (300 Multiple Choices, as Cinder), ``GET /volume/v3/`` shows v3 with its
microversion range."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.volume.api import MAX_VERSION, MIN_VERSION, service, vstr


def version(req: Request) -> dict:
    return {"id": "v3.0", "status": "CURRENT", "version": vstr(MAX_VERSION),
            "min_version": vstr(MIN_VERSION), "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": req.url("/v3/")}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    return Reply(300, {"versions": [version(req)]})


@service.route("GET", "/v3", authenticated=False)
def show(req: Request) -> Reply:
    return Reply(200, {"versions": [version(req)]})
