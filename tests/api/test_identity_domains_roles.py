"""Projects acting as domains (``is_domain``) and domain-specific roles with their
implied-role rules: openstacksdk, the ``openstack`` CLI and keystoneauth sessions."""
from __future__ import annotations

from tests.api.helpers import PASSWORD, assert_fault


def test_projects_acting_as_domains(cloud, api, admin, unique):
    name = unique("dom")
    made = admin.identity.create_project(name=name, is_domain=True, description="d")
    assert made.is_domain is True and made.parent_id is None and made.domain_id is None
    # it is a domain too, with the same id
    assert admin.identity.get_domain(made.id).name == name
    shown = admin.identity.get_project(made.id)
    assert shown.is_domain is True and shown.name == name
    listed = [p.id for p in admin.identity.projects(is_domain=True)]
    assert made.id in listed and "default" in listed
    assert made.id not in [p.id for p in admin.identity.projects()]
    # a project under it lives in that domain
    child = admin.identity.create_project(name=unique("child"), parent_id=made.id)
    assert child.domain_id == made.id and child.parent_id == made.id
    assert child.is_domain is False
    # a project acting as a domain is a root, and is_domain cannot change
    resp = api.post("/v3/projects", conn=admin, json={"project": {
        "name": unique("dom"), "is_domain": True, "parent_id": child.id}})
    assert_fault(resp, 400, "Bad Request")
    resp = api.patch(f"/v3/projects/{child.id}", conn=admin,
                     json={"project": {"is_domain": True}})
    assert_fault(resp, 400, "Bad Request")
    resp = api.patch(f"/v3/projects/{made.id}", conn=admin,
                     json={"project": {"is_domain": False}})
    assert_fault(resp, 400, "Bad Request")
    # updating it updates the domain; it must be disabled before deletion
    admin.identity.update_project(made.id, description="changed")
    assert admin.identity.get_domain(made.id).description == "changed"
    resp = api.delete(f"/v3/projects/{made.id}", conn=admin)
    assert_fault(resp, 403, "Forbidden")
    admin.identity.update_project(made.id, enabled=False)
    assert admin.identity.get_domain(made.id).is_enabled is False
    assert api.delete(f"/v3/projects/{made.id}", conn=admin).status_code == 204
    assert api.get(f"/v3/domains/{made.id}", conn=admin).status_code == 404
    assert api.get(f"/v3/projects/{child.id}", conn=admin).status_code == 404


def test_domain_specific_roles_and_implications(cloud, api, admin, ids, unique):
    d1 = admin.identity.create_domain(name=unique("d1"))
    d2 = admin.identity.create_domain(name=unique("d2"))
    role_name = unique("dsr")
    r1 = cloud.cli("role", "create", "--domain", d1.id, role_name)
    assert r1["domain_id"] == d1.id
    # the same name in another domain, and globally, is another role
    r2 = admin.identity.create_role(name=role_name, domain_id=d2.id)
    assert r2.id != r1["id"]
    resp = api.post("/v3/roles", conn=admin, json={"role": {"name": role_name,
                                                            "domain_id": d1.id}})
    assert_fault(resp, 409, "Conflict")
    listed = cloud.cli("role", "list", "--domain", d1.id)
    assert [r["Name"] for r in listed] == [role_name]

    # implied roles: a domain-specific role may imply a global one, never the reverse,
    # and nothing may imply admin
    assert api.put(f"/v3/roles/{r1['id']}/implies/{ids['member']}",
                   conn=admin).status_code == 201
    assert_fault(api.put(f"/v3/roles/{ids['reader']}/implies/{r1['id']}", conn=admin),
                 403, "Forbidden")
    assert_fault(api.put(f"/v3/roles/{r2.id}/implies/{ids['admin']}", conn=admin),
                 403, "Forbidden")

    # granted on a project of its domain, it gives its implied global roles only
    project = admin.identity.create_project(name=unique("p"), domain_id=d1.id)
    other = admin.identity.create_project(name=unique("p"), domain_id=d2.id)
    user = admin.identity.create_user(name=unique("u"), password=PASSWORD,
                                      domain_id=d1.id)
    admin.identity.assign_project_role_to_user(project.id, user.id, r1["id"])
    resp = api.put(f"/v3/projects/{other.id}/users/{user.id}/roles/{r1['id']}",
                   conn=admin)
    assert_fault(resp, 403, "Forbidden")
    _, body = api.token(user.name, PASSWORD, {"project": {"id": project.id}},
                        domain=d1.id)
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}
    assert r1["id"] not in {r["id"] for r in body["roles"]}
    # the effective assignment list leaves the domain-specific role out, as Keystone
    # (Tempest's test_assignments_for_domain_roles); the plain list shows the grant
    params = {"scope.project.id": project.id, "user.id": user.id}
    plain = api.get("/v3/role_assignments", conn=admin, params=params).json()
    assert [a["role"]["id"] for a in plain["role_assignments"]] == [r1["id"]]
    effective = api.get("/v3/role_assignments?effective", conn=admin,
                        params=params).json()["role_assignments"]
    assert {a["role"]["id"] for a in effective} == {ids["member"], ids["reader"]}
