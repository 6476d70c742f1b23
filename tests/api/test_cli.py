"""The ``openstack`` command against Kumo: a few end-to-end runs (each costs a second or
two, so the checks around them go through openstacksdk)."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc


def test_token_issue_and_catalog_list(cloud, admin, ids):
    token = cloud.cli("token", "issue", cloud="kumo")
    assert token["project_id"] == ids["demo_project"]
    assert token["user_id"] == ids["demo_user"]
    assert token["expires"]
    # The issued token is a real one.
    assert admin.identity.validate_token(token["id"]).user["id"] == ids["demo_user"]

    catalog = cloud.cli("catalog", "list", cloud="kumo")
    identity = next(entry for entry in catalog if entry["Type"] == "identity")
    assert identity["Name"] == "keystone"
    urls = {e["interface"]: e["url"] for e in identity["Endpoints"]}
    assert urls == {i: cloud.url + "/identity" for i in ("public", "internal", "admin")}


def test_project_create_set_delete(cloud, admin, unique):
    name = unique("cli-proj")
    created = cloud.cli("project", "create", name, "--description", "from the cli",
                        "--tag", "cli")
    assert created["name"] == name
    assert created["domain_id"] == "default"
    assert created["enabled"] is True
    assert created["tags"] == ["cli"]
    assert admin.identity.get_project(created["id"]).description == "from the cli"

    cloud.cli("project", "set", name, "--description", "changed", "--disable", parse=False)
    shown = cloud.cli("project", "show", name)
    assert shown["id"] == created["id"]
    assert shown["description"] == "changed" and shown["enabled"] is False

    cloud.cli("project", "delete", name, parse=False)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_project(created["id"])


def test_users_groups_roles_and_assignments(cloud, admin, unique, ids):
    project = admin.identity.create_project(name=unique("cli-proj"), domain_id="default")
    user_name = unique("cli-user")
    user = cloud.cli("user", "create", user_name, "--password", "cli-pass-1",
                     "--email", "cli@example.com")
    assert user["name"] == user_name and user["enabled"] is True
    group = cloud.cli("group", "create", unique("cli-group"))
    cloud.cli("group", "add", "user", group["id"], user["id"], parse=False)
    assert admin.identity.check_user_in_group(user["id"], group["id"]) is True
    role = cloud.cli("role", "create", unique("cli-role"))
    assert admin.identity.get_role(role["id"]).name == role["name"]

    cloud.cli("role", "add", "--user", user_name, "--project", project.name, "member",
              parse=False)
    # The group gets admin: admin implies manager implies member implies reader.
    admin.identity.assign_project_role_to_group(project, group["id"], ids["admin"])

    direct = cloud.cli("role", "assignment", "list", "--user", user_name,
                       "--project", project.name, "--names")
    assert [(a["Role"], a["User"], a["Project"]) for a in direct] == [
        ("member", f"{user_name}@Default", f"{project.name}@Default")]

    effective = cloud.cli("role", "assignment", "list", "--user", user_name,
                          "--project", project.name, "--effective", "--names")
    assert sorted(a["Role"] for a in effective) == ["admin", "manager", "member", "reader"]
    assert all(a["User"] == f"{user_name}@Default" for a in effective)
    assert all(a["Group"] == "" for a in effective)

    cloud.cli("user", "set", user_name, "--disable", "--email", "new@example.com",
              parse=False)
    fetched = admin.identity.get_user(user["id"])
    assert fetched.is_enabled is False and fetched.email == "new@example.com"

    cloud.cli("user", "delete", user_name, parse=False)
    with pytest.raises(sdk_exc.NotFoundException):
        admin.identity.get_user(user["id"])
    assert list(admin.identity.role_assignments(scope_project_id=project.id,
                                                user_id=user["id"])) == []

