"""Roles, implied roles, grants and the role assignment list (direct, effective through
groups and implied roles, inherited), and that removing a role removes access."""
from __future__ import annotations

import pytest
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc

from tests.api.helpers import assert_fault, project_scope


def _rows(assignments) -> set[tuple]:
    """(actor id, project id, role id) of each assignment."""
    out = set()
    for a in assignments:
        actor = (a.user or a.group)["id"]
        out.add((actor, a.scope["project"]["id"], a.role["id"]))
    return out


def test_role_crud(admin, api, unique):
    name = unique("role")
    role = admin.identity.create_role(name=name, description="made by a test")
    assert role.name == name and role.domain_id is None
    assert admin.identity.get_role(role.id).description == "made by a test"
    assert [r.id for r in admin.identity.roles(name=name)] == [role.id]
    assert {"admin", "member", "reader"} <= {r.name for r in admin.identity.roles()}

    admin.identity.update_role(role, description="changed")
    assert admin.identity.get_role(role.id).description == "changed"

    admin.identity.delete_role(role)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_role(role.id)
    assert list(admin.identity.roles(name=name)) == []


def test_domain_specific_role(admin, api, make_user, unique):
    domain = admin.identity.create_domain(name=unique("dom"))
    name = unique("role")
    role = admin.identity.create_role(name=name, domain_id=domain.id)
    assert role.domain_id == domain.id
    # Listed with its domain only, and its name may be reused globally.
    assert list(admin.identity.roles(name=name)) == []
    assert [r.id for r in admin.identity.roles(domain_id=domain.id)] == [role.id]
    assert admin.identity.create_role(name=name).id != role.id
    # It cannot be granted on a project of another domain.
    person = make_user(role=None)
    other = admin.identity.create_project(name=unique("proj"), domain_id="default")
    resp = api.put(f"/v3/projects/{other.id}/users/{person.id}/roles/{role.id}", conn=admin)
    assert_fault(resp, 403, "Forbidden")
    inside = admin.identity.create_project(name=unique("proj"), domain_id=domain.id)
    admin.identity.assign_project_role_to_user(inside, person.id, role)
    assert _rows(admin.identity.role_assignments(user_id=person.id)) == {
        (person.id, inside.id, role.id)}


def test_grant_check_list_and_revoke(admin, api, make_user, ids):
    person = make_user(role=None)
    project = admin.identity.create_project(name=person.name + "-p", domain_id="default")
    assert not admin.identity.validate_user_has_project_role(project, person.id, ids["member"])

    admin.identity.assign_project_role_to_user(project, person.id, ids["member"])
    assert admin.identity.validate_user_has_project_role(project, person.id, ids["member"])
    rows = list(admin.identity.role_assignments(user_id=person.id))
    assert _rows(rows) == {(person.id, project.id, ids["member"])}
    assert rows[0].links["assignment"].endswith(
        f"/v3/projects/{project.id}/users/{person.id}/roles/{ids['member']}")

    resp = api.get("/v3/role_assignments", conn=admin, params={
        "user.id": person.id, "include_names": "1"})
    [row] = resp.json()["role_assignments"]
    assert row["user"]["name"] == person.name
    assert row["user"]["domain"] == {"id": "default", "name": "Default"}
    assert row["scope"]["project"]["name"] == project.name
    assert row["role"]["name"] == "member"

    # Filters by project and by role.
    by_project = _rows(admin.identity.role_assignments(scope_project_id=project.id))
    assert by_project == {(person.id, project.id, ids["member"])}
    assert list(admin.identity.role_assignments(user_id=person.id, role_id=ids["admin"])) == []

    # Listing the grants on the pair.
    resp = api.get(f"/v3/projects/{project.id}/users/{person.id}/roles", conn=admin)
    assert [r["id"] for r in resp.json()["roles"]] == [ids["member"]]

    admin.identity.unassign_project_role_from_user(project, person.id, ids["member"])
    assert list(admin.identity.role_assignments(user_id=person.id)) == []
    resp = api.delete(f"/v3/projects/{project.id}/users/{person.id}/roles/{ids['member']}",
                      conn=admin)
    assert_fault(resp, 404, "Not Found")


def test_effective_assignments_through_group_and_implied_roles(admin, api, make_user, unique,
                                                               ids):
    person = make_user(role=None)
    project = admin.identity.create_project(name=unique("proj"), domain_id="default")
    group = admin.identity.create_group(name=unique("group"), domain_id="default")
    admin.identity.add_user_to_group(person.id, group.id)
    admin.identity.assign_project_role_to_group(project, group, ids["admin"])

    # Direct assignments: the group's grant only, nothing for the user.
    assert list(admin.identity.role_assignments(user_id=person.id)) == []
    assert _rows(admin.identity.role_assignments(group_id=group.id)) == {
        (group.id, project.id, ids["admin"])}

    # Effective: the user holds admin through the group, and manager, member and
    # reader implied.
    effective = list(admin.identity.role_assignments(user_id=person.id, effective=True))
    assert _rows(effective) == {(person.id, project.id, ids[r])
                                for r in ("admin", "manager", "member", "reader")}
    for a in effective:
        assert a.group is None
        assert a.links["membership"].endswith(f"/v3/groups/{group.id}/users/{person.id}")
    implied = [a for a in effective if a.role["id"] != ids["admin"]]
    assert all(a.links["prior_role"].endswith(f"/v3/roles/{ids['admin']}") for a in implied)

    resp = api.get("/v3/role_assignments", conn=admin, params={
        "user.id": person.id, "effective": "", "include_names": ""})
    assert sorted(r["role"]["name"] for r in resp.json()["role_assignments"]) == [
        "admin", "manager", "member", "reader"]

    # The token sees the same roles.
    _, token = api.token(person.name, person.password, project_scope(project.id))
    assert {r["name"] for r in token["roles"]} == {"admin", "manager", "member", "reader"}

    # effective with a group filter is refused.
    resp = api.get("/v3/role_assignments", conn=admin, params={
        "group.id": group.id, "effective": ""})
    assert_fault(resp, 400, "Bad Request")

    # Leaving the group takes it all away.
    admin.identity.remove_user_from_group(person.id, group.id)
    assert list(admin.identity.role_assignments(user_id=person.id, effective=True)) == []


def test_removing_role_revokes_access(admin, api, make_user, connect, ids):
    person = make_user()
    conn = connect(person)
    token = conn.session.get_token()
    resp = api.get(f"/v3/projects/{person.project_id}", token=token)
    assert resp.status_code == 200

    admin.identity.unassign_project_role_from_user(person.project_id, person.id, ids["member"])

    assert_fault(api.get(f"/v3/projects/{person.project_id}", token=token), 401,
                 "Unauthorized")
    resp = api.get("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": token})
    assert_fault(resp, 404, "Not Found")
    assert_fault(api.login(person.name, person.password, project_scope(person.project_id)),
                 401, "Unauthorized")
    # The sdk cannot get a new token for that project either.
    fresh = connect(person)
    with pytest.raises(ks_exc.Unauthorized):
        fresh.session.get_token()


def test_deleting_role_project_or_user_revokes_their_tokens(admin, api, make_user, unique):
    role = admin.identity.create_role(name=unique("role"))
    by_role = make_user(role=None)
    project = admin.identity.create_project(name=unique("proj"), domain_id="default")
    admin.identity.assign_project_role_to_user(project, by_role.id, role)
    role_token, body = api.token(by_role.name, by_role.password, project_scope(project.id))
    assert [r["name"] for r in body["roles"]] == [role.name]
    by_project = make_user()
    project_token, _ = api.token(by_project.name, by_project.password,
                                 project_scope(by_project.project_id))
    by_user = make_user()
    user_token, _ = api.token(by_user.name, by_user.password,
                              project_scope(by_user.project_id))
    for token in (role_token, project_token, user_token):
        assert api.get("/v3/auth/catalog", token=token).status_code == 200

    admin.identity.delete_role(role)
    admin.identity.delete_project(by_project.project_id)
    admin.identity.delete_user(by_user.id)

    for token in (role_token, project_token, user_token):
        assert_fault(api.get("/v3/auth/catalog", token=token), 401, "Unauthorized")
    assert_fault(api.login(by_role.name, by_role.password, project_scope(project.id)), 401,
                 "Unauthorized")


def test_implied_roles_api(admin, api, unique, ids):
    prior = admin.identity.create_role(name=unique("prior"))
    implied = admin.identity.create_role(name=unique("implied"))
    path = f"/v3/roles/{prior.id}/implies/{implied.id}"
    resp = api.put(path, conn=admin)
    assert resp.status_code == 201
    body = resp.json()["role_inference"]
    assert body["prior_role"]["id"] == prior.id and body["implies"]["id"] == implied.id
    assert api.get(path, conn=admin).status_code == 200
    assert api.head(path, conn=admin).status_code == 204

    resp = api.get(f"/v3/roles/{prior.id}/implies", conn=admin)
    assert [r["id"] for r in resp.json()["role_inference"]["implies"]] == [implied.id]
    resp = api.get("/v3/role_inferences", conn=admin)
    rules = {r["prior_role"]["id"]: [i["id"] for i in r["implies"]]
             for r in resp.json()["role_inferences"]}
    assert rules[prior.id] == [implied.id]
    assert rules[ids["admin"]] == [ids["manager"]]  # Keystone's bootstrap chain
    assert rules[ids["manager"]] == [ids["member"]]
    assert rules[ids["member"]] == [ids["reader"]]

    # A cycle is refused.
    resp = api.put(f"/v3/roles/{implied.id}/implies/{prior.id}", conn=admin)
    assert_fault(resp, 400, "Bad Request")
    assert_fault(api.get(f"/v3/roles/{implied.id}/implies/{prior.id}", conn=admin), 404,
                 "Not Found")

    assert api.delete(path, conn=admin).status_code == 204
    assert_fault(api.get(path, conn=admin), 404, "Not Found")


def test_inherited_grant_reaches_subprojects(admin, api, make_user, unique, ids):
    person = make_user(role=None)
    parent = admin.identity.create_project(name=unique("parent"), domain_id="default")
    child = admin.identity.create_project(name=unique("child"), parent_id=parent.id)
    path = (f"/v3/OS-INHERIT/projects/{parent.id}/users/{person.id}/roles/"
            f"{ids['reader']}/inherited_to_projects")
    assert api.put(path, conn=admin).status_code == 204
    assert api.get(path, conn=admin).status_code == 204

    resp = api.get("/v3/role_assignments", conn=admin, params={"user.id": person.id})
    [row] = resp.json()["role_assignments"]
    assert row["scope"]["project"]["id"] == parent.id
    assert row["scope"]["OS-INHERIT:inherited_to"] == "projects"
    assert row["links"]["assignment"] == api.base + path

    effective = list(admin.identity.role_assignments(user_id=person.id, effective=True))
    assert _rows(effective) == {(person.id, child.id, ids["reader"])}
    assert effective[0].links["assignment"] == api.base + path
    # include_subtree lists the grants on the project and below it.
    admin.identity.assign_project_role_to_user(child, person.id, ids["member"])
    resp = api.get("/v3/role_assignments", conn=admin, params={
        "scope.project.id": parent.id, "include_subtree": "true"})
    rows = {(r["scope"]["project"]["id"], r["role"]["id"])
            for r in resp.json()["role_assignments"]}
    assert rows == {(parent.id, ids["reader"]), (child.id, ids["member"])}
    admin.identity.unassign_project_role_from_user(child, person.id, ids["member"])
    # The inherited grant scopes to the child, not to the parent.
    api.token(person.name, person.password, project_scope(child.id))
    assert_fault(api.login(person.name, person.password, project_scope(parent.id)), 401,
                 "Unauthorized")


def test_domain_and_system_assignments(admin, api, make_user, ids):
    person = make_user(role=None)
    admin.identity.assign_domain_role_to_user("default", person.id, ids["reader"])
    assert admin.identity.validate_user_has_domain_role("default", person.id, ids["reader"])
    [row] = admin.identity.role_assignments(user_id=person.id)
    assert row.scope == {"domain": {"id": "default"}}

    resp = api.get("/v3/role_assignments", conn=admin, params={"scope.system": "all"})
    system_rows = resp.json()["role_assignments"]
    assert {"user": {"id": ids["admin_user"]}, "role": {"id": ids["admin"]},
            "scope": {"system": {"all": True}}} in [
        {k: v for k, v in r.items() if k != "links"} for r in system_rows]

    admin.identity.unassign_domain_role_from_user("default", person.id, ids["reader"])
    assert list(admin.identity.role_assignments(user_id=person.id)) == []


def test_grant_unknown_parties_is_404(admin, api, make_user, ids):
    person = make_user()
    base = f"/v3/projects/{person.project_id}/users/{person.id}/roles"
    before = list(admin.identity.role_assignments(user_id=person.id))
    assert_fault(api.put(f"{base}/{'0' * 32}", conn=admin), 404, "Not Found")
    assert_fault(api.put(f"/v3/projects/{'0' * 32}/users/{person.id}/roles/{ids['member']}",
                         conn=admin), 404, "Not Found")
    assert_fault(api.put(f"/v3/projects/{person.project_id}/users/{'0' * 32}/roles/"
                         f"{ids['member']}", conn=admin), 404, "Not Found")
    after = list(admin.identity.role_assignments(user_id=person.id))
    assert _rows(after) == _rows(before)
