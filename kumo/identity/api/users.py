"""Users, groups, membership and application credentials (Identity API v3: "Users",
"Groups", "Application Credentials" with their access rules)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.timeutils import parse_isotime
from kumo.identity import schemas
from kumo.identity.api import render, service
from kumo.identity.api.crud import query_filters, standard_routes

standard_routes("group", "groups", "users", render.group, schemas.GROUP_UPDATE,
                truncate=True)


def _limit(req: Request) -> int:
    return req.cloud.settings.list_limit


# -- users ------------------------------------------------------------------------
@service.route("POST", "/v3/users")
def create_user(req: Request) -> Reply:
    req.context.enforce("identity:create_user")
    ref = req.json(schemas.USER_CREATE)["user"]
    ref.setdefault("domain_id", req.context.domain_id or req.context.project_domain_id
                   or "default")
    if ref.get("default_project_id"):
        req.cloud.identity.resources.get_project(ref["default_project_id"])
    user = req.cloud.identity.users.create_user(ref)
    return Reply(201, {"user": render.user(req, user)})


@service.route("GET", "/v3/users")
def list_users(req: Request) -> Reply:
    req.context.enforce("identity:list_users")
    users = req.cloud.identity.users.list_users(query_filters(req))
    return Reply(200, render.collection(req, "users", [render.user(req, u) for u in users],
                                        _limit(req)))


@service.route("GET", "/v3/users/{user_id}")
def get_user(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:get_user", {"user_id": user_id})
    return Reply(200, {"user": render.user(req, req.cloud.identity.users.get_user(user_id))})


@service.route("PATCH", "/v3/users/{user_id}")
def update_user(req: Request) -> Reply:
    req.context.enforce("identity:update_user")
    ref = req.json(schemas.USER_UPDATE)["user"]
    if ref.get("default_project_id"):
        req.cloud.identity.resources.get_project(ref["default_project_id"])
    user = req.cloud.identity.users.update_user(req.params["user_id"], ref)
    return Reply(200, {"user": render.user(req, user)})


@service.route("DELETE", "/v3/users/{user_id}")
def delete_user(req: Request) -> Reply:
    req.context.enforce("identity:delete_user")
    req.cloud.identity.users.delete_user(req.params["user_id"])
    return Reply(204)


@service.route("POST", "/v3/users/{user_id}/password", authenticated=False)
def change_password(req: Request) -> Reply:
    """A user's own password change: proven by the original password, no token needed
    (as in Keystone, so an expired password can still be changed)."""
    ref = req.json(schemas.PASSWORD_CHANGE)["user"]
    req.cloud.identity.users.change_password(req.params["user_id"], ref["original_password"],
                                             ref["password"])
    return Reply(204)


@service.route("GET", "/v3/users/{user_id}/groups")
def list_user_groups(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:list_groups_for_user", {"user_id": user_id})
    users = req.cloud.identity.users
    users.get_user(user_id)
    groups = users.list_groups(query_filters(req), user_id=user_id)
    return Reply(200, render.collection(req, "groups", [render.group(req, g) for g in groups]))


@service.route("GET", "/v3/users/{user_id}/projects")
def list_user_projects(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:list_user_projects", {"user_id": user_id})
    identity = req.cloud.identity
    identity.users.get_user(user_id)
    ids = {a.target[1] for a in identity.assignments.list_assignments(
        user_id=user_id, effective=True) if a.target[0] == "project"}
    projects = identity.resources.list_projects(query_filters(req), ids=ids)
    return Reply(200, render.collection(req, "projects",
                                        [render.project(req, p) for p in projects]))


# -- groups -----------------------------------------------------------------------
@service.route("POST", "/v3/groups")
def create_group(req: Request) -> Reply:
    req.context.enforce("identity:create_group")
    ref = req.json(schemas.GROUP_CREATE)["group"]
    domain_id = ref.get("domain_id") or req.context.domain_id \
        or req.context.project_domain_id
    group = req.cloud.identity.users.create_group(ref["name"], domain_id,
                                                  ref.get("description") or "")
    return Reply(201, {"group": render.group(req, group)})


@service.route("GET", "/v3/groups/{group_id}/users")
def list_group_users(req: Request) -> Reply:
    req.context.enforce("identity:list_users_in_group")
    users = req.cloud.identity.users
    users.get_group(req.params["group_id"])
    members = users.list_users(query_filters(req), group_id=req.params["group_id"])
    return Reply(200, render.collection(req, "users", [render.user(req, u) for u in members]))


@service.route("PUT", "/v3/groups/{group_id}/users/{user_id}")
def add_group_user(req: Request) -> Reply:
    req.context.enforce("identity:add_user_to_group")
    req.cloud.identity.users.add_member(req.params["group_id"], req.params["user_id"])
    return Reply(204)


@service.route("GET", "/v3/groups/{group_id}/users/{user_id}")
def check_group_user(req: Request) -> Reply:
    req.context.enforce("identity:check_user_in_group")
    group_id, user_id = req.params["group_id"], req.params["user_id"]
    if not req.cloud.identity.users.is_member(group_id, user_id):
        raise exc.NotFound(f"User {user_id} is not a member of group {group_id}.")
    return Reply(204)


@service.route("DELETE", "/v3/groups/{group_id}/users/{user_id}")
def remove_group_user(req: Request) -> Reply:
    req.context.enforce("identity:remove_user_from_group")
    req.cloud.identity.users.remove_member(req.params["group_id"], req.params["user_id"])
    return Reply(204)


# -- application credentials ---------------------------------------------------
def _roles(req: Request) -> dict:
    return req.cloud.identity.assignments.roles_by_id()


@service.route("POST", "/v3/users/{user_id}/application_credentials")
def create_application_credential(req: Request) -> Reply:
    user_id = req.params["user_id"]
    ctx = req.context
    ctx.enforce("identity:create_application_credential", {"user_id": user_id})
    ref = req.json(schemas.APP_CRED_CREATE)["application_credential"]
    token = ctx.token
    if token.application_credential is not None and \
            not token.application_credential.unrestricted:
        raise exc.Forbidden("Using a restricted application credential to create another "
                            "application credential is not allowed.")
    if ctx.project_id is None:
        raise exc.Forbidden("An application credential needs a project-scoped token.")
    expires_at = None
    if ref.get("expires_at"):
        try:
            expires_at = parse_isotime(ref["expires_at"])
        except ValueError:
            raise exc.ValidationError("Invalid input for field 'expires_at': "
                                      f"{ref['expires_at']!r} is not a date-time.") from None
    cred, secret = req.cloud.identity.app_creds.create(
        user_id, ctx.project_id, ref["name"], ref.get("secret"), ref.get("description") or "",
        expires_at, ref.get("roles"), bool(ref.get("unrestricted")), ref.get("access_rules"),
        held_role_ids=token.role_ids)
    return Reply(201, {"application_credential": render.application_credential(
        req, cred, _roles(req), secret)})


@service.route("GET", "/v3/users/{user_id}/application_credentials")
def list_application_credentials(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:list_application_credentials", {"user_id": user_id})
    creds = req.cloud.identity.app_creds.list(user_id, req.query.get("name"))
    roles = _roles(req)
    return Reply(200, render.collection(req, "application_credentials", [
        render.application_credential(req, c, roles) for c in creds]))


@service.route("GET", "/v3/users/{user_id}/application_credentials/{credential_id}")
def get_application_credential(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:get_application_credential", {"user_id": user_id})
    cred = req.cloud.identity.app_creds.get(req.params["credential_id"], user_id)
    return Reply(200, {"application_credential": render.application_credential(
        req, cred, _roles(req))})


@service.route("DELETE", "/v3/users/{user_id}/application_credentials/{credential_id}")
def delete_application_credential(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:delete_application_credential", {"user_id": user_id})
    token = req.context.token
    if token.application_credential is not None and \
            not token.application_credential.unrestricted:
        raise exc.Forbidden("Using a restricted application credential to delete an "
                            "application credential is not allowed.")
    req.cloud.identity.app_creds.delete(req.params["credential_id"], user_id)
    return Reply(204)


# -- access rules (of application credentials) --------------------------------------
@service.route("GET", "/v3/users/{user_id}/access_rules")
def list_access_rules(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:list_access_rules", {"user_id": user_id})
    rules = req.cloud.identity.access_rules.list(user_id, query_filters(req))
    return Reply(200, render.collection(req, "access_rules", [
        render.access_rule(req, r) for r in rules]))


@service.route("GET", "/v3/users/{user_id}/access_rules/{access_rule_id}")
def get_access_rule(req: Request) -> Reply:
    user_id = req.params["user_id"]
    req.context.enforce("identity:get_access_rule", {"user_id": user_id})
    rule = req.cloud.identity.access_rules.get(req.params["access_rule_id"], user_id)
    return Reply(200, {"access_rule": render.access_rule(req, rule)})


@service.route("DELETE", "/v3/users/{user_id}/access_rules/{access_rule_id}")
def delete_access_rule(req: Request) -> Reply:
    """204; 403 while an application credential uses the rule (Keystone's
    ``AccessRuleInUseError``, which Tempest's ``test_delete_access_rule`` expects)."""
    user_id = req.params["user_id"]
    req.context.enforce("identity:delete_access_rule", {"user_id": user_id})
    req.cloud.identity.access_rules.delete(req.params["access_rule_id"], user_id)
    return Reply(204)
