"""Flavors, extra specs and flavor access (Compute API "Flavors", "Flavors extra-specs
(flavors, os-flavor-extra-specs)", "Flavors access (flavors, os-flavor-access)")."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.listing import plain
from kumo.compute import definitions, schemas
from kumo.compute.api import at_least, render, service
from kumo.compute.api.servers import next_links

P = "os_compute_api:"


@service.route("GET", "/v2.1/flavors")
def list_flavors(req: Request) -> Reply:
    req.context.enforce(P + "flavors:index")
    rows, more = req.cloud.compute.lists.flavors(req.context, plain(req.query))
    body = {"flavors": [render.flavor(req, r, brief=True) for r in rows]}
    nxt = next_links(req, rows, more, "flavors")
    if nxt:
        body["flavors_links"] = nxt
    return Reply(200, body)


@service.route("GET", "/v2.1/flavors/detail")
def list_detail(req: Request) -> Reply:
    req.context.enforce(P + "flavors:index")
    rows, more = req.cloud.compute.lists.flavors(req.context, plain(req.query))
    body = {"flavors": [render.flavor(req, r) for r in rows]}
    nxt = next_links(req, rows, more, "flavors/detail")
    if nxt:
        body["flavors_links"] = nxt
    return Reply(200, body)


@service.route("GET", "/v2.1/flavors/{flavor_id}")
def show(req: Request) -> Reply:
    req.context.enforce(P + "flavors:show")
    row = req.cloud.compute.flavors.get(req.context, req.params["flavor_id"])
    return Reply(200, {"flavor": render.flavor(req, row)})


@service.route("POST", "/v2.1/flavors")
def create(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-manage:create")
    attrs = req.json(definitions.FLAVOR_CREATE)["flavor"]
    if "description" in attrs and not at_least(req, "2.55"):
        raise exc.BadRequest("Additional properties are not allowed ('description' was "
                             "unexpected)")
    if not attrs["name"].strip():
        raise exc.BadRequest("Invalid input for field/attribute name.")
    row = req.cloud.compute.flavors.create(attrs)
    return Reply(200, {"flavor": render.flavor(req, row)})


@service.route("PUT", "/v2.1/flavors/{flavor_id}")
def update(req: Request) -> Reply:
    if not at_least(req, "2.55"):
        raise exc.MethodNotAllowed()
    req.context.enforce(P + "os-flavor-manage:update")
    attrs = req.json(definitions.FLAVOR_UPDATE)["flavor"]
    row = req.cloud.compute.flavors.update_description(req.params["flavor_id"],
                                                       attrs["description"])
    return Reply(200, {"flavor": render.flavor(req, row)})


@service.route("DELETE", "/v2.1/flavors/{flavor_id}")
def delete(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-manage:delete")
    req.cloud.compute.flavors.delete(req.params["flavor_id"])
    return Reply(202)


# -- extra specs ---------------------------------------------------------------------------
@service.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs")
def list_specs(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-extra-specs:index")
    row = req.cloud.compute.flavors.get(req.context, req.params["flavor_id"])
    return Reply(200, {"extra_specs": dict(row.extra_specs or {})})


@service.route("POST", "/v2.1/flavors/{flavor_id}/os-extra_specs")
def create_specs(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-extra-specs:create")
    specs = req.json(schemas.EXTRA_SPECS)["extra_specs"]
    specs = {k: str(v) if not isinstance(v, str) else v for k, v in specs.items()}
    req.cloud.compute.flavors.set_extra_specs(req.context, req.params["flavor_id"], specs)
    return Reply(200, {"extra_specs": specs})


@service.route("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def show_spec(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-extra-specs:show")
    row = req.cloud.compute.flavors.get(req.context, req.params["flavor_id"])
    key = req.params["key"]
    if key not in (row.extra_specs or {}):
        raise exc.NotFound(f"Flavor {row.id} has no extra specs with key {key}.")
    return Reply(200, {key: row.extra_specs[key]})


@service.route("PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def update_spec(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-extra-specs:update")
    body = req.json(schemas.EXTRA_SPEC_ONE)
    key = req.params["key"]
    if key not in body:
        raise exc.BadRequest("Request body and URI mismatch")
    if len(body) > 1:
        raise exc.BadRequest("Request body contains too many items")
    value = body[key] if isinstance(body[key], str) else str(body[key])
    req.cloud.compute.flavors.set_extra_specs(req.context, req.params["flavor_id"],
                                              {key: value})
    return Reply(200, {key: value})


@service.route("DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
def delete_spec(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-extra-specs:delete")
    req.cloud.compute.flavors.delete_extra_spec(req.context, req.params["flavor_id"],
                                                req.params["key"])
    return Reply(200)


# -- access ----------------------------------------------------------------------------------
@service.route("GET", "/v2.1/flavors/{flavor_id}/os-flavor-access")
def list_access(req: Request) -> Reply:
    req.context.enforce(P + "os-flavor-access")
    return Reply(200, {"flavor_access": req.cloud.compute.flavors.access(
        req.context, req.params["flavor_id"])})


@service.route("POST", "/v2.1/flavors/{flavor_id}/action")
def flavor_action(req: Request) -> Reply:
    body = req.json(schemas.FLAVOR_ACTION)
    flavors = req.cloud.compute.flavors
    fid = req.params["flavor_id"]
    if "addTenantAccess" in body:
        req.context.enforce(P + "os-flavor-access:add_tenant_access")
        out = flavors.add_access(req.context, fid, body["addTenantAccess"]["tenant"])
    else:
        req.context.enforce(P + "os-flavor-access:remove_tenant_access")
        out = flavors.remove_access(req.context, fid, body["removeTenantAccess"]["tenant"])
    return Reply(200, {"flavor_access": out})
