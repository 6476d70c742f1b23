"""Version discovery and extensions (Networking API v2.0: "API versions",
"Extensions").

``GET /v2.0/extensions`` lists exactly the aliases some area registered with
:func:`register_extension`, i.e. what Kumo implements.
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.network.api import service

EXTENSIONS: dict[str, tuple[str, str]] = {}


def register_extension(alias: str, name: str, description: str) -> None:
    EXTENSIONS[alias] = (name, description)


def _ext(alias: str) -> dict:
    name, description = EXTENSIONS[alias]
    return {"alias": alias, "name": name, "description": description,
            "links": [], "updated": "2013-01-01T00:00:00-00:00"}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    return Reply(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                     "links": [{"rel": "self", "href": req.url("/v2.0/")}]}]})


@service.route("GET", "/v2.0")
def resources(req: Request) -> Reply:
    names = ["network", "subnet", "port", "router", "floatingip", "security_group",
             "security_group_rule", "subnetpool", "address_scope", "rbac_policy"]
    return Reply(200, {"resources": [
        {"name": n, "collection": n + ("es" if n.endswith("s") else "s"),
         "links": [{"rel": "self", "href": req.url(f"/v2.0/{n}s")}]} for n in names]})


@service.route("GET", "/v2.0/extensions")
def list_extensions(req: Request) -> Reply:
    return Reply(200, {"extensions": [_ext(a) for a in sorted(EXTENSIONS)]})


@service.route("GET", "/v2.0/extensions/{alias}")
def show_extension(req: Request) -> Reply:
    alias = req.params["alias"]
    if alias not in EXTENSIONS:
        raise exc.NotFound(f"Extension with alias {alias} does not exist")
    return Reply(200, {"extension": _ext(alias)})


for _alias, _name, _desc in [
    ("standard-attr-description", "standard-attr-description",
     "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers",
     "This extension will display the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps",
     "Adds created_at and updated_at fields to all Neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute",
     "Enables to set tag on resources with standard attribute."),
    ("tag-ext", "Tag support for resources", "Extends tag support to more L2 and L3 resources."),
    ("revision-if-match", "If-Match constraints based on revision_number",
     "Extension indicating that If-Match based on revision_number is supported."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
                                              "field is enabled."),
    ("net-mtu-writable", "Network MTU (writable)",
     "Provides a writable MTU attribute for a network resource."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical "
                                    "networks"),
    ("external-net", "Neutron external network", "Adds external network attribute to "
                                                 "network resource."),
    ("port-security", "Port Security", "Provides port security"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("network_availability_zone", "Network Availability Zone",
     "Availability zone support for network."),
]:
    register_extension(_alias, _name, _desc)
