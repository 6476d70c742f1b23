"""Domains, projects (hierarchy, tags, filters), users (own password change) and groups,
through openstacksdk."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.helpers import PASSWORD, assert_fault, project_scope


def test_project_crud(admin, api, unique):
    name = unique("proj")
    project = admin.identity.create_project(name=name, description="first", domain_id="default",
                                            tags=["blue", "green"])
    assert project.name == name
    assert project.domain_id == "default"
    assert project.parent_id == "default"  # top level: the domain is the parent
    assert project.is_enabled is True
    assert project.is_domain is False
    assert sorted(project.tags) == ["blue", "green"]

    fetched = admin.identity.get_project(project.id)
    assert (fetched.name, fetched.description) == (name, "first")
    assert admin.identity.find_project(name).id == project.id

    updated = admin.identity.update_project(project, description="second", is_enabled=False)
    assert updated.description == "second" and updated.is_enabled is False
    fetched = admin.identity.get_project(project.id)
    assert fetched.description == "second" and fetched.is_enabled is False
    assert fetched.name == name  # untouched attributes stay

    admin.identity.delete_project(project)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_project(project.id)
    assert_fault(api.get(f"/v3/projects/{project.id}", conn=admin), 404, "Not Found")


def test_project_hierarchy(admin, api, unique):
    parent = admin.identity.create_project(name=unique("parent"), domain_id="default")
    child = admin.identity.create_project(name=unique("child"), parent_id=parent.id)
    grandchild = admin.identity.create_project(name=unique("grandchild"), parent_id=child.id)
    assert child.parent_id == parent.id
    assert child.domain_id == "default"  # inherited from the parent
    assert grandchild.parent_id == child.id

    assert {p.id for p in admin.identity.projects(parent_id=parent.id)} == {child.id}

    # Keystone's *_as_ids are nested dicts, one level per generation; the domain is
    # the root of the parents.
    resp = api.get(f"/v3/projects/{parent.id}", conn=admin, params={"subtree_as_ids": ""})
    assert resp.status_code == 200
    assert resp.json()["project"]["subtree"] == {child.id: {grandchild.id: None}}
    resp = api.get(f"/v3/projects/{grandchild.id}", conn=admin, params={"parents_as_ids": ""})
    assert resp.json()["project"]["parents"] == {child.id: {parent.id: {"default": None}}}
    resp = api.get(f"/v3/projects/{grandchild.id}", conn=admin,
                   params={"parents_as_list": ""})
    parents = [p["project"]["id"] for p in resp.json()["project"]["parents"]]
    assert parents == [child.id, parent.id]
    resp = api.get(f"/v3/projects/{parent.id}", conn=admin, params={"subtree_as_list": ""})
    assert {p["project"]["id"] for p in resp.json()["project"]["subtree"]} == {
        child.id, grandchild.id}
    resp = api.get(f"/v3/projects/{grandchild.id}", conn=admin,
                   params={"parents_as_list": "", "parents_as_ids": ""})
    assert_fault(resp, 400, "Bad Request")

    # An unknown parent is 404 and creates nothing.
    resp = api.post("/v3/projects", conn=admin, json={"project": {
        "name": unique("orphan"), "parent_id": "0" * 32}})
    assert_fault(resp, 404, "Not Found")

    # Not a leaf: cannot delete; cannot disable while a child is enabled.
    assert_fault(api.delete(f"/v3/projects/{parent.id}", conn=admin), 403, "Forbidden")
    resp = api.patch(f"/v3/projects/{child.id}", conn=admin,
                     json={"project": {"enabled": False}})
    assert_fault(resp, 403, "Forbidden")
    assert admin.identity.get_project(child.id).is_enabled is True
    # Moving a project is not allowed.
    resp = api.patch(f"/v3/projects/{child.id}", conn=admin,
                     json={"project": {"parent_id": grandchild.id}})
    assert_fault(resp, 400, "Bad Request")

    admin.identity.delete_project(grandchild)
    admin.identity.delete_project(child)
    admin.identity.delete_project(parent)
    assert list(admin.identity.projects(parent_id=parent.id)) == []


def test_project_tags(admin, api, unique):
    project = admin.identity.create_project(name=unique("tagged"), domain_id="default",
                                            tags=["a"])
    path = f"/v3/projects/{project.id}/tags"
    assert api.put(f"{path}/b", conn=admin).status_code == 201
    assert api.get(f"{path}/b", conn=admin).status_code == 204
    assert_fault(api.get(f"{path}/zzz", conn=admin), 404, "Not Found")
    resp = api.get(path, conn=admin)
    assert sorted(resp.json()["tags"]) == ["a", "b"]

    resp = api.put(path, conn=admin, json={"tags": ["x", "y", "z"]})
    assert resp.status_code == 200
    assert sorted(resp.json()["tags"]) == ["x", "y", "z"]
    assert api.delete(f"{path}/y", conn=admin).status_code == 204
    assert sorted(admin.identity.get_project(project.id).tags) == ["x", "z"]

    other = admin.identity.create_project(name=unique("tagged"), domain_id="default",
                                          tags=["x"])
    mine = {project.id, other.id}
    assert {p.id for p in admin.identity.projects(tags="x,z")} & mine == {project.id}
    assert {p.id for p in admin.identity.projects(any_tags="z,x")} & mine == mine
    assert {p.id for p in admin.identity.projects(not_tags="z")} & mine == {other.id}

    # An invalid tag is refused and nothing changes.
    resp = api.put(path, conn=admin, json={"tags": ["ok", "bad/tag"]})
    assert_fault(resp, 400, "Bad Request")
    assert api.delete(path, conn=admin).status_code == 204
    assert admin.identity.get_project(project.id).tags == []


def test_project_filters(admin, api, unique):
    prefix = unique("flt")
    names = [f"{prefix}-one", f"{prefix}-two", f"{prefix}-three"]
    made = {n: admin.identity.create_project(name=n, domain_id="default") for n in names}
    admin.identity.update_project(made[names[1]], is_enabled=False)

    assert [p.id for p in admin.identity.projects(name=names[0])] == [made[names[0]].id]
    disabled = {p.id for p in admin.identity.projects(is_enabled=False)}
    assert made[names[1]].id in disabled and made[names[0]].id not in disabled
    enabled = {p.id for p in admin.identity.projects(is_enabled=True, domain_id="default")}
    assert {made[names[0]].id, made[names[2]].id} <= enabled
    assert made[names[1]].id not in enabled

    resp = api.get("/v3/projects", conn=admin, params={"name__contains": prefix})
    assert resp.status_code == 200
    assert sorted(p["name"] for p in resp.json()["projects"]) == sorted(names)
    resp = api.get("/v3/projects", conn=admin,
                   params={"name__startswith": prefix, "name__endswith": "o"})
    assert sorted(p["name"] for p in resp.json()["projects"]) == [f"{prefix}-two"]
    resp = api.get("/v3/projects", conn=admin,
                   params={"name__icontains": prefix.upper(), "enabled": "false"})
    assert [p["name"] for p in resp.json()["projects"]] == [f"{prefix}-two"]
    # A domain with no projects lists none.
    resp = api.get("/v3/projects", conn=admin, params={"domain_id": "0" * 32})
    assert resp.json()["projects"] == []


def test_domain_crud(admin, api, unique):
    name = unique("dom")
    domain = admin.identity.create_domain(name=name, description="d")
    assert domain.is_enabled is True
    project = admin.identity.create_project(name="inside", domain_id=domain.id)
    assert project.domain_id == domain.id and project.parent_id == domain.id
    assert {d.id for d in admin.identity.domains(name=name)} == {domain.id}

    # An enabled domain cannot be deleted.
    assert_fault(api.delete(f"/v3/domains/{domain.id}", conn=admin), 403, "Forbidden")
    admin.identity.update_domain(domain, is_enabled=False)
    admin.identity.delete_domain(domain)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_domain(domain.id)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_project(project.id)


def test_user_crud(admin, api, unique, ids):
    name = unique("user")
    user = admin.identity.create_user(name=name, password=PASSWORD, domain_id="default",
                                      email="someone@example.com",
                                      default_project_id=ids["demo_project"])
    assert user.name == name and user.is_enabled is True
    assert user.default_project_id == ids["demo_project"]

    resp = api.get(f"/v3/users/{user.id}", conn=admin)
    body = resp.json()["user"]
    assert body["email"] == "someone@example.com"  # extra attributes are kept
    assert "password" not in body and "password_hash" not in body
    assert body["domain_id"] == "default"

    assert [u.id for u in admin.identity.users(name=name)] == [user.id]
    assert user.id in {u.id for u in admin.identity.users(domain_id="default")}

    renamed = unique("user")
    admin.identity.update_user(user, name=renamed, email="other@example.com")
    fetched = admin.identity.get_user(user.id)
    assert fetched.name == renamed and fetched.email == "other@example.com"
    assert list(admin.identity.users(name=name)) == []

    # The new user logs in with the password; unscoped since no role is held.
    _, token = api.token(renamed, PASSWORD)
    assert token["user"]["id"] == user.id and "project" not in token

    admin.identity.delete_user(user)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_user(user.id)
    assert_fault(api.login(renamed, PASSWORD), 401, "Unauthorized")


def test_default_project_scopes_token(admin, api, make_user, ids):
    person = make_user()
    admin.identity.update_user(person.id, default_project_id=person.project_id)
    _, token = api.token(person.name, person.password)
    assert token["project"]["id"] == person.project_id
    # A default project without a role there gives an unscoped token, not an error.
    admin.identity.update_user(person.id, default_project_id=ids["demo_project"])
    _, token = api.token(person.name, person.password)
    assert "project" not in token and "roles" not in token


def test_admin_password_reset_and_disable_filter(admin, api, make_user):
    person = make_user()
    token, _ = api.token(person.name, person.password, project_scope(person.project_id))
    admin.identity.update_user(person.id, password="reset-by-admin")
    assert_fault(api.get("/v3/auth/projects", token=token), 401, "Unauthorized")
    assert_fault(api.login(person.name, person.password), 401, "Unauthorized")
    api.token(person.name, "reset-by-admin")

    admin.identity.update_user(person.id, is_enabled=False)
    assert person.id in {u.id for u in admin.identity.users(is_enabled=False)}
    assert person.id not in {u.id for u in admin.identity.users(is_enabled=True)}


def test_same_name_in_another_domain(admin, api, unique):
    domain = admin.identity.create_domain(name=unique("dom"))
    name = unique("twin")
    here = admin.identity.create_user(name=name, password=PASSWORD, domain_id="default")
    there = admin.identity.create_user(name=name, password="other-pass", domain_id=domain.id)
    assert here.id != there.id
    assert {u.id for u in admin.identity.users(name=name)} == {here.id, there.id}
    assert [u.id for u in admin.identity.users(name=name, domain_id=domain.id)] == [there.id]
    # Login by name picks the user of the named domain.
    assert api.token(name, "other-pass", domain=domain.id)[1]["user"]["id"] == there.id
    assert_fault(api.login(name, "other-pass"), 401, "Unauthorized")
    project = admin.identity.create_project(name=name, domain_id="default")
    twin = admin.identity.create_project(name=name, domain_id=domain.id)
    assert project.id != twin.id


def test_user_changes_own_password(admin, api, make_user, connect):
    person = make_user()
    conn = connect(person)
    old_token = conn.session.get_token()
    assert api.get("/v3/auth/projects", token=old_token).status_code == 200

    # The wrong original password is refused and changes nothing.
    resp = api.post(f"/v3/users/{person.id}/password", token=old_token, json={"user": {
        "original_password": "not-it", "password": "whatever-1"}})
    assert_fault(resp, 401, "Unauthorized")
    assert api.get("/v3/auth/projects", token=old_token).status_code == 200

    conn.identity.update_password(person.id, person.password, "brand-new-pass")

    assert_fault(api.login(person.name, person.password), 401, "Unauthorized")
    assert api.get("/v3/auth/projects", token=old_token).status_code == 401
    resp = api.get("/v3/auth/tokens", conn=admin, headers={"X-Subject-Token": old_token})
    assert resp.status_code == 404
    new_token, body = api.token(person.name, "brand-new-pass",
                                project_scope(person.project_id))
    assert body["user"]["id"] == person.id
    assert api.get("/v3/auth/projects", token=new_token).status_code == 200


def test_password_change_needs_both_fields(api, make_user):
    person = make_user(role=None)
    resp = api.post(f"/v3/users/{person.id}/password", json={"user": {"password": "x"}})
    assert_fault(resp, 400, "Bad Request")
    # An unknown user is 401 like a wrong password: the call needs no token, so it must
    # not tell which users exist (Keystone does the same).
    unknown = api.post(f"/v3/users/{'0' * 32}/password", json={"user": {
        "original_password": "a", "password": "b"}})
    wrong = api.post(f"/v3/users/{person.id}/password", json={"user": {
        "original_password": "a", "password": "b"}})
    assert assert_fault(unknown, 401, "Unauthorized") == assert_fault(wrong, 401,
                                                                      "Unauthorized")
    # Still the old password.
    api.token(person.name, person.password)


def test_group_crud_and_membership(admin, api, make_user, unique):
    name = unique("group")
    group = admin.identity.create_group(name=name, description="g", domain_id="default")
    assert group.name == name and group.domain_id == "default"
    assert [g.id for g in admin.identity.groups(name=name)] == [group.id]

    person = make_user(role=None)
    admin.identity.add_user_to_group(person.id, group.id)
    assert admin.identity.check_user_in_group(person.id, group.id) is True
    assert [u.id for u in admin.identity.group_users(group)] == [person.id]
    assert [g.id for g in admin.identity.user_groups(person.id)] == [group.id]

    admin.identity.update_group(group, description="changed")
    assert admin.identity.get_group(group.id).description == "changed"

    admin.identity.remove_user_from_group(person.id, group.id)
    assert admin.identity.check_user_in_group(person.id, group.id) is False
    assert list(admin.identity.group_users(group)) == []
    # Removing again: not a member.
    resp = api.delete(f"/v3/groups/{group.id}/users/{person.id}", conn=admin)
    assert_fault(resp, 404, "Not Found")

    admin.identity.delete_group(group)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_group(group.id)


def test_user_projects_and_groups(admin, api, make_user, connect, unique):
    person = make_user()
    projects = list(admin.identity.user_projects(person.id))
    assert [p.id for p in projects] == [person.project_id]
    group = admin.identity.create_group(name=unique("group"), domain_id="default")
    admin.identity.add_user_to_group(person.id, group.id)
    # The user may list their own projects and groups, not another user's.
    conn = connect(person)
    resp = api.get(f"/v3/users/{person.id}/projects", conn=conn)
    assert [p["id"] for p in resp.json()["projects"]] == [person.project_id]
    resp = api.get(f"/v3/users/{person.id}/groups", conn=conn)
    assert [g["id"] for g in resp.json()["groups"]] == [group.id]
    other = make_user()
    assert_fault(api.get(f"/v3/users/{other.id}/projects", conn=conn), 403, "Forbidden")
    assert_fault(api.get(f"/v3/users/{other.id}/groups", conn=conn), 403, "Forbidden")
