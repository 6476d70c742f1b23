"""Roles, implied roles, grants and the role assignment list (Identity API v3:
"Roles", "Role assignments", "OS-INHERIT")."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.identity import models, schemas
from kumo.identity.api import render, service
from kumo.identity.api.crud import standard_routes

standard_routes("role", "roles", "assignments", render.role, schemas.ROLE_UPDATE,
                truncate=True)


# -- roles ------------------------------------------------------------------------
@service.route("POST", "/v3/roles")
def create_role(req: Request) -> Reply:
    req.context.enforce("identity:create_role")
    ref = req.json(schemas.ROLE_CREATE)["role"]
    role = req.cloud.identity.assignments.create_role(
        ref["name"], ref.get("domain_id"), ref.get("description") or "", ref.get("options"))
    return Reply(201, {"role": render.role(req, role)})


# -- implied roles ----------------------------------------------------------------
def _inference(req: Request, prior_id: str, implied_id: str) -> dict:
    a = req.cloud.identity.assignments
    return {"role_inference": {"prior_role": render.role_ref(req, a.get_role(prior_id)),
                               "implies": render.role_ref(req, a.get_role(implied_id))},
            "links": render.links(req, f"/v3/roles/{prior_id}/implies/{implied_id}")}


@service.route("PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")
def create_implied_role(req: Request) -> Reply:
    req.context.enforce("identity:create_implied_role")
    prior, implied = req.params["prior_role_id"], req.params["implied_role_id"]
    req.cloud.identity.assignments.create_implied_role(prior, implied)
    return Reply(201, _inference(req, prior, implied))


@service.route("GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")
def get_implied_role(req: Request) -> Reply:
    req.context.enforce("identity:get_implied_role")
    prior, implied = req.params["prior_role_id"], req.params["implied_role_id"]
    req.cloud.identity.assignments.check_implied_role(prior, implied)
    if req.method == "HEAD":
        return Reply(204)
    return Reply(200, _inference(req, prior, implied))


@service.route("DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}")
def delete_implied_role(req: Request) -> Reply:
    req.context.enforce("identity:delete_implied_role")
    req.cloud.identity.assignments.delete_implied_role(req.params["prior_role_id"],
                                                       req.params["implied_role_id"])
    return Reply(204)


def _inference_list(req: Request, prior_id: str) -> dict:
    a = req.cloud.identity.assignments
    prior = a.get_role(prior_id)
    return {"prior_role": render.role_ref(req, prior),
            "implies": [render.role_ref(req, a.get_role(i))
                        for i in a.implications().get(prior_id, ())]}


@service.route("GET", "/v3/roles/{prior_role_id}/implies")
def list_implied_roles(req: Request) -> Reply:
    req.context.enforce("identity:list_implied_roles")
    prior_id = req.params["prior_role_id"]
    return Reply(200, {"role_inference": _inference_list(req, prior_id),
                       "links": render.links(req, f"/v3/roles/{prior_id}/implies")})


@service.route("GET", "/v3/role_inferences")
def list_role_inferences(req: Request) -> Reply:
    req.context.enforce("identity:list_role_inference_rules")
    priors = sorted(req.cloud.identity.assignments.implications())
    return Reply(200, {"role_inferences": [_inference_list(req, p) for p in priors],
                       "links": render.links(req, "/v3/role_inferences")})


# -- grants -----------------------------------------------------------------------
def _grant_handlers(target_kind: str, actor_kind: str, inherited: bool) -> None:
    if target_kind == "system":
        base = f"/v3/system/{actor_kind}s/{{actor_id}}/roles"
    else:
        base = f"/v3/{target_kind}s/{{target_id}}/{actor_kind}s/{{actor_id}}/roles"
        if inherited:
            base = "/v3/OS-INHERIT" + base[len("/v3"):]
    suffix = "/inherited_to_projects" if inherited else ""

    def parties(req: Request):
        target_id = "all" if target_kind == "system" else req.params["target_id"]
        return (actor_kind, req.params["actor_id"]), (target_kind, target_id)

    def put(req: Request) -> Reply:
        req.context.enforce("identity:create_grant")
        actor, target = parties(req)
        req.cloud.identity.assignments.grant(actor, target, req.params["role_id"], inherited)
        return Reply(204)

    def check(req: Request) -> Reply:
        req.context.enforce("identity:check_grant")
        actor, target = parties(req)
        req.cloud.identity.assignments.check_grant(actor, target, req.params["role_id"],
                                                   inherited)
        return Reply(204)

    def delete(req: Request) -> Reply:
        req.context.enforce("identity:revoke_grant")
        actor, target = parties(req)
        req.cloud.identity.assignments.revoke_grant(actor, target, req.params["role_id"],
                                                    inherited)
        return Reply(204)

    def listing(req: Request) -> Reply:
        req.context.enforce("identity:list_grants")
        actor, target = parties(req)
        roles = req.cloud.identity.assignments.list_grants(actor, target, inherited)
        return Reply(200, render.collection(req, "roles", [render.role(req, r) for r in roles]))

    service.route("PUT", f"{base}/{{role_id}}{suffix}")(put)
    service.route("GET", f"{base}/{{role_id}}{suffix}")(check)
    service.route("DELETE", f"{base}/{{role_id}}{suffix}")(delete)
    service.route("GET", f"{base}{suffix}")(listing)


for _target in ("project", "domain", "system"):
    for _actor in ("user", "group"):
        _grant_handlers(_target, _actor, False)
        if _target != "system":
            _grant_handlers(_target, _actor, True)


# -- the role assignment list ------------------------------------------------------
@service.route("GET", "/v3/role_assignments")
def list_role_assignments(req: Request) -> Reply:
    req.context.enforce("identity:list_role_assignments")
    q = req.query
    effective = req.flag("effective")
    if effective and q.get("group.id"):
        raise exc.ValidationError("Combining effective and group filter will always result "
                                  "in an empty list.")
    target = None
    if q.get("scope.project.id"):
        target = ("project", q["scope.project.id"])
    elif q.get("scope.domain.id"):
        target = ("domain", q["scope.domain.id"])
    elif q.get("scope.system"):
        target = ("system", "all")
    include_subtree = req.flag("include_subtree")
    if include_subtree and (target is None or target[0] != "project"):
        raise exc.ValidationError("scope.project.id needs to be specified if "
                                  "include_subtree is also specified.")
    assignments = req.cloud.identity.assignments.list_assignments(
        user_id=q.get("user.id"), group_id=q.get("group.id"), role_id=q.get("role.id"),
        target=target, effective=effective, include_subtree=include_subtree,
        inherited_only=q.get("scope.OS-INHERIT:inherited_to") == "projects")
    names = req.flag("include_names")
    items = [_render_assignment(req, a, names) for a in assignments]
    return Reply(200, render.collection(req, "role_assignments", items))


def _render_assignment(req: Request, a, names: bool) -> dict:
    identity = req.cloud.identity
    (actor_kind, actor_id), (target_kind, target_id) = a.actor, a.target
    body: dict = {}
    if target_kind == "system":
        body["scope"] = {"system": {"all": True}}
    else:
        body["scope"] = {target_kind: {"id": target_id}}
    if a.inherited:
        body["scope"]["OS-INHERIT:inherited_to"] = "projects"
    body[actor_kind] = {"id": actor_id}
    body["role"] = {"id": a.role_id}
    if names:
        _add_names(identity, body, actor_kind, actor_id, target_kind, target_id, a.role_id)
    # The grant this row comes from, as the reference's links show it.
    grant_actor = ("group", a.via_group) if a.via_group else a.actor
    grant_target = a.inherited_from or a.target
    grant_role = a.prior_role or a.role_id
    if grant_target[0] == "system":
        path = f"/v3/system/{grant_actor[0]}s/{grant_actor[1]}/roles/{grant_role}"
    else:
        path = (f"/v3/{grant_target[0]}s/{grant_target[1]}/{grant_actor[0]}s/"
                f"{grant_actor[1]}/roles/{grant_role}")
    if a.inherited or a.inherited_from:
        path = "/v3/OS-INHERIT" + path[len("/v3"):] + "/inherited_to_projects"
    links = {"assignment": req.url(path)}
    if a.via_group:
        links["membership"] = req.url(f"/v3/groups/{a.via_group}/users/{actor_id}")
    if a.prior_role:
        links["prior_role"] = req.url(f"/v3/roles/{a.prior_role}")
    body["links"] = links
    return body


def _add_names(identity, body, actor_kind, actor_id, target_kind, target_id, role_id):
    def domain_ref(domain_id):
        try:
            return {"id": domain_id, "name": identity.resources.get_domain(domain_id).name}
        except exc.NotFound:
            return {"id": domain_id}
    try:
        actor = (identity.users.get_user(actor_id) if actor_kind == "user"
                 else identity.users.get_group(actor_id))
        body[actor_kind].update(name=actor.name, domain=domain_ref(actor.domain_id))
    except exc.NotFound:
        pass
    try:
        if target_kind == "project":
            project = identity.resources.get_project(target_id)
            body["scope"]["project"].update(name=project.name,
                                            domain=domain_ref(project.domain_id))
        elif target_kind == "domain":
            body["scope"]["domain"]["name"] = identity.resources.get_domain(target_id).name
    except exc.NotFound:
        pass
    role = identity.assignments.roles_by_id().get(role_id)
    if role is not None:
        body["role"]["name"] = role.name
        if role.domain_id != models.NULL_DOMAIN_ID:
            body["role"]["domain"] = domain_ref(role.domain_id)
