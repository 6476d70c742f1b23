"""Bad input to the Identity API (issue 12): a ``null`` description is allowed where
Keystone's schemas make it nullable (``validation.nullable(parameter_types.
description)``), on create and on update, and is stored as an empty description; a
description of the wrong type is 400 in Keystone's fault format and changes nothing."""
from __future__ import annotations

import pytest

from tests.api.helpers import assert_fault

KINDS = [("projects", "project", {"domain_id": "default"}),
         ("domains", "domain", {}), ("groups", "group", {"domain_id": "default"}),
         ("roles", "role", {}), ("services", "service", {"type": "t-null"}),
         ("regions", "region", {})]


@pytest.mark.parametrize("path,key,extra", KINDS)
def test_null_description(api, admin, unique, path, key, extra):
    body = {**extra, "description": None}
    if key != "region":
        body["name"] = unique(key)
    resp = api.post(f"/v3/{path}", conn=admin, json={key: body})
    assert resp.status_code == 201, resp.text
    made = resp.json()[key]
    assert made.get("description") in ("", None)
    oid = made["id"]
    try:
        resp = api.patch(f"/v3/{path}/{oid}", conn=admin,
                         json={key: {"description": "set"}})
        assert resp.status_code == 200, resp.text
        resp = api.patch(f"/v3/{path}/{oid}", conn=admin, json={key: {"description": None}})
        assert resp.status_code == 200, resp.text
        assert resp.json()[key].get("description") in ("", None)
        for bad in (1, ["x"], {"a": 1}):
            resp = api.patch(f"/v3/{path}/{oid}", conn=admin,
                             json={key: {"description": bad}})
            assert_fault(resp, 400, "Bad Request")
        shown = api.get(f"/v3/{path}/{oid}", conn=admin).json()[key]
        assert shown.get("description") in ("", None)
    finally:
        if key == "domain":
            api.patch(f"/v3/{path}/{oid}", conn=admin, json={key: {"enabled": False}})
        api.delete(f"/v3/{path}/{oid}", conn=admin)


def test_app_credential_expiry_out_of_range(api, cloud, make_user):
    """An ``expires_at`` that does not exist in UTC is 400, and nothing is made."""
    person = make_user()
    token, body = api.token(person.name, person.password,
                            {"project": {"id": person.project_id}})
    path = f"/v3/users/{person.id}/application_credentials"
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "xx"):
        resp = api.post(path, token=token, json={"application_credential": {
            "name": "late", "expires_at": when}})
        assert_fault(resp, 400, "Bad Request")
    assert api.get(path, token=token).json()["application_credentials"] == []
