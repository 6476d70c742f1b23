"""``/v3/OS-EP-FILTER`` (Identity API v3 "OS-EP-FILTER"): endpoint groups and
project-endpoint associations."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.identity.api import render, service

EP = "/v3/OS-EP-FILTER"
_FILTERS = {"type": "object"}
CREATE = {"type": "object", "required": ["endpoint_group"], "properties": {
    "endpoint_group": {"type": "object", "required": ["name", "filters"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": ["string", "null"]}, "filters": _FILTERS},
        "additionalProperties": False}}}
UPDATE = {"type": "object", "required": ["endpoint_group"], "properties": {
    "endpoint_group": {"type": "object", "minProperties": 1, "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": ["string", "null"]}, "filters": _FILTERS},
        "additionalProperties": False}}}


def _group(req, g) -> dict:
    return {"id": g.id, "name": g.name, "description": g.description,
            "filters": dict(g.filters or {}),
            "links": render.links(req, f"{EP}/endpoint_groups/{g.id}")}


def _ef(req: Request):
    return req.cloud.identity.endpoint_filter


def _projects(req: Request, ids) -> list[dict]:
    resources = req.cloud.identity.resources
    return [render.project(req, resources.get_project(p)) for p in sorted(ids)]


@service.route("POST", f"{EP}/endpoint_groups")
def create_endpoint_group(req: Request) -> Reply:
    req.context.enforce("identity:create_endpoint_group")
    group = _ef(req).create_group(req.json(CREATE)["endpoint_group"])
    return Reply(201, {"endpoint_group": _group(req, group)})


@service.route("GET", f"{EP}/endpoint_groups")
def list_endpoint_groups(req: Request) -> Reply:
    req.context.enforce("identity:list_endpoint_groups")
    groups = _ef(req).list_groups(req.query.get("name"))
    return Reply(200, render.collection(req, "endpoint_groups",
                                        [_group(req, g) for g in groups]))


@service.route("GET", f"{EP}/endpoint_groups/{{group_id}}")
def get_endpoint_group(req: Request) -> Reply:
    req.context.enforce("identity:get_endpoint_group")
    return Reply(200, {"endpoint_group": _group(req, _ef(req).get_group(
        req.params["group_id"]))})


@service.route("PATCH", f"{EP}/endpoint_groups/{{group_id}}")
def update_endpoint_group(req: Request) -> Reply:
    req.context.enforce("identity:update_endpoint_group")
    group = _ef(req).update_group(req.params["group_id"],
                                  req.json(UPDATE)["endpoint_group"])
    return Reply(200, {"endpoint_group": _group(req, group)})


@service.route("DELETE", f"{EP}/endpoint_groups/{{group_id}}")
def delete_endpoint_group(req: Request) -> Reply:
    req.context.enforce("identity:delete_endpoint_group")
    _ef(req).delete_group(req.params["group_id"])
    return Reply(204)


@service.route("GET", f"{EP}/endpoint_groups/{{group_id}}/endpoints")
def list_endpoints_in_group(req: Request) -> Reply:
    req.context.enforce("identity:list_endpoints_associated_with_endpoint_group")
    endpoints = _ef(req).group_endpoints(_ef(req).get_group(req.params["group_id"]))
    return Reply(200, render.collection(req, "endpoints",
                                        [render.endpoint(req, e) for e in endpoints]))


@service.route("GET", f"{EP}/endpoint_groups/{{group_id}}/projects")
def list_projects_of_group(req: Request) -> Reply:
    req.context.enforce("identity:list_projects_associated_with_endpoint_group")
    ids = _ef(req).group_project_ids(req.params["group_id"])
    return Reply(200, render.collection(req, "projects", _projects(req, ids)))


@service.route("PUT", f"{EP}/endpoint_groups/{{group_id}}/projects/{{project_id}}")
def add_group_project(req: Request) -> Reply:
    req.context.enforce("identity:add_endpoint_group_to_project")
    _ef(req).add_group_project(req.params["group_id"], req.params["project_id"])
    return Reply(204)


@service.route("GET", f"{EP}/endpoint_groups/{{group_id}}/projects/{{project_id}}")
def get_group_project(req: Request) -> Reply:
    req.context.enforce("identity:get_endpoint_group_in_project")
    _ef(req).check_group_project(req.params["group_id"], req.params["project_id"])
    project = req.cloud.identity.resources.get_project(req.params["project_id"])
    return Reply(200, {"project": render.project(req, project)})


@service.route("DELETE", f"{EP}/endpoint_groups/{{group_id}}/projects/{{project_id}}")
def remove_group_project(req: Request) -> Reply:
    req.context.enforce("identity:remove_endpoint_group_from_project")
    _ef(req).remove_group_project(req.params["group_id"], req.params["project_id"])
    return Reply(204)


@service.route("GET", f"{EP}/projects/{{project_id}}/endpoint_groups")
def list_groups_of_project(req: Request) -> Reply:
    req.context.enforce("identity:list_endpoint_groups_for_project")
    ef = _ef(req)
    groups = [ef.get_group(g) for g in sorted(ef.project_group_ids(req.params["project_id"]))]
    return Reply(200, render.collection(req, "endpoint_groups",
                                        [_group(req, g) for g in groups]))


@service.route("PUT", f"{EP}/projects/{{project_id}}/endpoints/{{endpoint_id}}")
def add_endpoint_project(req: Request) -> Reply:
    req.context.enforce("identity:add_endpoint_to_project")
    _ef(req).add_endpoint_project(req.params["project_id"], req.params["endpoint_id"])
    return Reply(204)


@service.route("GET", f"{EP}/projects/{{project_id}}/endpoints/{{endpoint_id}}")
def check_endpoint_project(req: Request) -> Reply:
    req.context.enforce("identity:check_endpoint_in_project")
    _ef(req).check_endpoint_project(req.params["project_id"], req.params["endpoint_id"])
    return Reply(204)


@service.route("DELETE", f"{EP}/projects/{{project_id}}/endpoints/{{endpoint_id}}")
def remove_endpoint_project(req: Request) -> Reply:
    req.context.enforce("identity:remove_endpoint_from_project")
    _ef(req).remove_endpoint_project(req.params["project_id"], req.params["endpoint_id"])
    return Reply(204)


@service.route("GET", f"{EP}/projects/{{project_id}}/endpoints")
def list_endpoints_of_project(req: Request) -> Reply:
    req.context.enforce("identity:list_endpoints_for_project")
    endpoints = _ef(req).project_endpoints(req.params["project_id"])
    return Reply(200, render.collection(req, "endpoints",
                                        [render.endpoint(req, e) for e in endpoints]))


@service.route("GET", f"{EP}/endpoints/{{endpoint_id}}/projects")
def list_projects_of_endpoint(req: Request) -> Reply:
    req.context.enforce("identity:list_projects_for_endpoint")
    ids = _ef(req).endpoint_project_ids(req.params["endpoint_id"])
    return Reply(200, render.collection(req, "projects", _projects(req, ids)))
