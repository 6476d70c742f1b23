"""Domains, projects and project tags (Identity API v3: "Domains", "Projects",
"Project tags")."""
from __future__ import annotations

from urllib.parse import quote

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity import schemas
from kumo.identity.api import render, service
from kumo.identity.api.crud import query_filters, standard_routes

standard_routes("domain", "domains", "resources", render.domain, schemas.DOMAIN_UPDATE,
                get_target=lambda domain_id: {"target.domain.id": domain_id},
                truncate=True)


def _limit(req: Request) -> int:
    return req.cloud.settings.list_limit


# -- domains --------------------------------------------------------------------
@service.route("POST", "/v3/domains")
def create_domain(req: Request) -> Reply:
    req.context.enforce("identity:create_domain")
    ref = req.json(schemas.DOMAIN_CREATE)["domain"]
    domain = req.cloud.identity.resources.create_domain(
        ref["name"], ref.get("description") or "", ref.get("enabled", True),
        domain_id=ref.get("explicit_domain_id"), tags=ref.get("tags"),
        options=ref.get("options"))
    return Reply(201, {"domain": render.domain(req, domain)})


# -- projects -------------------------------------------------------------------
@service.route("POST", "/v3/projects")
def create_project(req: Request) -> Reply:
    req.context.enforce("identity:create_project")
    ref = req.json(schemas.PROJECT_CREATE)["project"]
    resources = req.cloud.identity.resources
    if ref.get("is_domain"):
        return _create_domain_project(req, ref)
    ctx = req.context
    domain_id = ref.get("domain_id")
    parent_id = ref.get("parent_id")
    if parent_id and not domain_id and _is_domain(req, parent_id):
        domain_id = parent_id  # the parent is a project acting as a domain
    if parent_id and parent_id == domain_id:
        parent_id = None  # Keystone: a parent equal to the domain means "top level"
    if not domain_id and not parent_id:
        domain_id = ctx.domain_id or ctx.project_domain_id or "default"
    project = resources.create_project(
        ref["name"], domain_id, parent_id, ref.get("description") or "",
        ref.get("enabled", True), ref.get("tags"), ref.get("options"))
    return Reply(201, {"project": render.project(req, project)})


# -- projects acting as domains (is_domain) ---------------------------------------
# Kumo keeps domains in their own table; a project acting as a domain is that domain
# seen through /v3/projects (same id), as Keystone shows it: is_domain true, no parent
# and no domain of its own.
def _is_domain(req: Request, project_id: str) -> bool:
    resources = req.cloud.identity.resources
    try:
        resources.get_project(project_id)
        return False
    except exc.NotFound:
        pass
    try:
        resources.get_domain(project_id)
        return True
    except exc.NotFound:
        return False


def _create_domain_project(req: Request, ref: dict) -> Reply:
    """``is_domain: true``: a new domain, shown as a project. 400 with a domain_id or
    parent_id (a project acting as a domain is a root)."""
    for key in ("domain_id", "parent_id"):
        if ref.get(key):
            raise exc.ValidationError(f"Invalid input for field '{key}': a project acting "
                                      "as a domain has none.")
    domain = req.cloud.identity.resources.create_domain(
        ref["name"], ref.get("description") or "", ref.get("enabled", True),
        tags=ref.get("tags"), options=ref.get("options"))
    return Reply(201, {"project": render.domain_project(req, domain)})


@service.route("GET", "/v3/projects")
def list_projects(req: Request) -> Reply:
    req.context.enforce("identity:list_projects")
    query = query_filters(req)
    is_domain = (query.pop("is_domain", None) or ["false"])[-1].lower()
    if is_domain not in ("true", "false"):
        raise exc.ValidationError("Invalid input for field 'is_domain': true or false.")
    if is_domain == "true":
        domains = req.cloud.identity.resources.list_domains(
            {k: v for k, v in query.items() if k in ("name", "enabled")})
        return Reply(200, render.collection(req, "projects",
                                            [render.domain_project(req, d) for d in domains],
                                            _limit(req)))
    projects = req.cloud.identity.resources.list_projects(query)
    return Reply(200, render.collection(req, "projects",
                                        [render.project(req, p) for p in projects],
                                        _limit(req)))


@service.route("GET", "/v3/projects/{project_id}")
def get_project(req: Request) -> Reply:
    project_id = req.params["project_id"]
    req.context.enforce("identity:get_project", {"target.project.id": project_id})
    resources = req.cloud.identity.resources
    if _is_domain(req, project_id):
        return Reply(200, {"project": render.domain_project(
            req, resources.get_domain(project_id))})
    project = resources.get_project(project_id)
    body = render.project(req, project)
    for kind in ("parents", "subtree"):
        if req.flag(f"{kind}_as_ids") and req.flag(f"{kind}_as_list"):
            raise exc.ValidationError(f"Cannot use {kind}_as_list and {kind}_as_ids query "
                                      "params at the same time.")
    if req.flag("parents_as_ids") or req.flag("parents_as_list"):
        parents = resources.parents(project)
        body["parents"] = ([{"project": render.project(req, p)} for p in parents]
                           if req.flag("parents_as_list") else _parents_tree(project, parents))
    if req.flag("subtree_as_ids") or req.flag("subtree_as_list"):
        subtree = resources.subtree(project_id)
        body["subtree"] = ([{"project": render.project(req, p)} for p in subtree]
                           if req.flag("subtree_as_list") else _subtree_tree(project_id, subtree))
    return Reply(200, {"project": body})


def _parents_tree(project, parents) -> dict:
    """Keystone's ``parents_as_ids``: ``{parent: {grandparent: {domain: None}}}``."""
    tree = {project.domain_id: None}
    for parent in reversed(parents):
        tree = {parent.id: tree}
    return tree


def _subtree_tree(root_id: str, subtree) -> dict | None:
    """Keystone's ``subtree_as_ids``: ``{child: {grandchild: None}}``; None if a leaf."""
    children: dict[str, list[str]] = {}
    for p in subtree:
        children.setdefault(p.parent_id, []).append(p.id)

    def walk(project_id):
        below = children.get(project_id)
        return {child: walk(child) for child in below} if below else None
    return walk(root_id)


@service.route("PATCH", "/v3/projects/{project_id}")
def update_project(req: Request) -> Reply:
    req.context.enforce("identity:update_project")
    ref = req.json(schemas.PROJECT_UPDATE)["project"]
    project_id = req.params["project_id"]
    acting = _is_domain(req, project_id)
    if ref.get("is_domain", acting) != acting:
        raise exc.ValidationError("Update of `is_domain` is not allowed.")
    ref.pop("is_domain", None)
    if acting:
        if ref.get("domain_id") or ref.get("parent_id"):
            raise exc.ValidationError("A project acting as a domain has no domain_id or "
                                      "parent_id.")
        domain = req.cloud.identity.resources.update_domain(project_id, {
            k: v for k, v in ref.items()
            if k in ("name", "description", "enabled", "tags", "options")})
        return Reply(200, {"project": render.domain_project(req, domain)})
    project = req.cloud.identity.resources.update_project(project_id, ref)
    return Reply(200, {"project": render.project(req, project)})


@service.route("DELETE", "/v3/projects/{project_id}")
def delete_project(req: Request) -> Reply:
    req.context.enforce("identity:delete_project")
    if _is_domain(req, req.params["project_id"]):
        req.cloud.identity.resources.delete_domain(req.params["project_id"])
        return Reply(204)
    req.cloud.identity.resources.delete_project(req.params["project_id"])
    return Reply(204)


# -- project tags ---------------------------------------------------------------
def _tag_target(req: Request, action: str):
    project_id = req.params["project_id"]
    req.context.enforce(action, {"target.project.id": project_id})
    return req.cloud.identity.resources.get_project(project_id)


@service.route("GET", "/v3/projects/{project_id}/tags")
def list_tags(req: Request) -> Reply:
    project = _tag_target(req, "identity:list_project_tags")
    return Reply(200, {"tags": list(project.tags)})


@service.route("PUT", "/v3/projects/{project_id}/tags")
def replace_tags(req: Request) -> Reply:
    _tag_target(req, "identity:update_project_tags")
    tags = req.json(schemas.TAGS_BODY)["tags"]
    project = req.cloud.identity.resources.set_tags(req.params["project_id"], tags)
    return Reply(200, {"tags": list(project.tags),
                       "links": render.links(req, f"/v3/projects/{project.id}/tags")})


@service.route("DELETE", "/v3/projects/{project_id}/tags")
def clear_tags(req: Request) -> Reply:
    _tag_target(req, "identity:update_project_tags")
    req.cloud.identity.resources.set_tags(req.params["project_id"], [])
    return Reply(204)


@service.route("GET", "/v3/projects/{project_id}/tags/{tag}")
def check_tag(req: Request) -> Reply:
    project = _tag_target(req, "identity:list_project_tags")
    if req.params["tag"] not in project.tags:
        raise exc.NotFound(resource="tag", id=req.params["tag"])
    return Reply(204)


@service.route("PUT", "/v3/projects/{project_id}/tags/{tag}")
def add_tag(req: Request) -> Reply:
    project = _tag_target(req, "identity:update_project_tags")
    tag = req.params["tag"]
    if tag not in project.tags:
        req.cloud.identity.resources.set_tags(project.id, list(project.tags) + [tag])
    # The tag is quoted: it may hold characters a header cannot carry (controls).
    return Reply(201, headers={"Location": req.url(
        f"/v3/projects/{project.id}/tags/{quote(tag, safe='')}")})


@service.route("DELETE", "/v3/projects/{project_id}/tags/{tag}")
def delete_tag(req: Request) -> Reply:
    project = _tag_target(req, "identity:update_project_tags")
    tag = req.params["tag"]
    if tag not in project.tags:
        raise exc.NotFound(resource="tag", id=tag)
    req.cloud.identity.resources.set_tags(project.id, [t for t in project.tags if t != tag])
    return Reply(204)
