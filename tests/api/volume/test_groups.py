"""Group types (3.11) and generic volume groups (3.13), issue 13: an admin makes a
group type with specs; a member makes a group of a volume type, creates a volume in
it, adds and removes another, cannot delete a member volume alone, and deletes the
group with its volumes. Bad input is a Cinder fault and changes nothing."""
from __future__ import annotations

from tests.api.volume.conftest import assert_fault, wait_gone, wait_status

V = "3.20"


def test_group_types_and_specs(cinder, admin, demo, unique):
    name = unique("gt")
    assert_fault(cinder.request(admin, "GET", "/group_types", version="3.10"), 404,
                 "itemNotFound")
    assert cinder.request(demo, "POST", "/group_types", json={"group_type": {
        "name": name}}, version=V).status_code == 403
    resp = cinder.request(admin, "POST", "/group_types", json={"group_type": {
        "name": name, "description": "d", "group_specs": {"consistent": "<is> False"}}},
        version=V)
    assert resp.status_code == 202, resp.text  # Cinder's (and Tempest's) 202
    gt = resp.json()["group_type"]
    assert gt["group_specs"] == {"consistent": "<is> False"} and gt["is_public"] is True
    try:
        assert_fault(cinder.request(admin, "POST", "/group_types", json={"group_type": {
            "name": name}}, version=V), 409, "conflictingRequest")
        base = f"/group_types/{gt['id']}/group_specs"
        assert cinder.request(admin, "POST", base, json={"group_specs": {"k": "v"}},
                              version=V).status_code == 202
        assert cinder.request(admin, "GET", base, version=V).json()["group_specs"] == {
            "consistent": "<is> False", "k": "v"}
        assert cinder.request(admin, "PUT", f"{base}/k", json={"k": "w"},
                              version=V).json() == {"k": "w"}
        assert_fault(cinder.request(admin, "PUT", f"{base}/k", json={"x": "w"},
                                    version=V), 400, "badRequest")
        assert cinder.request(admin, "DELETE", f"{base}/k", version=V).status_code == 202
        assert_fault(cinder.request(admin, "GET", f"{base}/k", version=V), 404,
                     "itemNotFound")
        shown = cinder.request(demo, "GET", f"/group_types/{gt['id']}",
                               version=V).json()["group_type"]
        assert shown["name"] == name and "group_specs" not in shown
        resp = cinder.request(admin, "PUT", f"/group_types/{gt['id']}", json={
            "group_type": {"description": "e"}}, version=V)
        assert resp.status_code == 200 and resp.json()["group_type"]["description"] == "e"
        assert gt["id"] in {t["id"] for t in cinder.request(
            demo, "GET", "/group_types", version=V).json()["group_types"]}
        assert_fault(cinder.request(admin, "GET", "/group_types/default", version=V),
                     404, "itemNotFound")
    finally:
        assert cinder.request(admin, "DELETE", f"/group_types/{gt['id']}",
                              version=V).status_code == 202
    assert_fault(cinder.request(admin, "GET", f"/group_types/{gt['id']}", version=V),
                 404, "itemNotFound")


def test_groups_with_volumes(cloud, cinder, admin, demo, make, unique):
    gt = cinder.request(admin, "POST", "/group_types", json={"group_type": {
        "name": unique("gt")}}, version=V).json()["group_type"]
    try:
        _groups(cloud, cinder, admin, demo, make, gt)
    finally:
        cinder.request(admin, "DELETE", f"/group_types/{gt['id']}", version=V)


def _groups(cloud, cinder, admin, demo, make, gt):
    before = {g["id"] for g in cinder.request(demo, "GET", "/groups",
                                              version=V).json()["groups"]}
    for bad in ({"volume_types": ["file-1"]}, {"group_type": gt["id"]},
                {"group_type": gt["id"], "volume_types": []},
                {"group_type": gt["id"], "volume_types": ["file-1"],
                 "availability_zone": "elsewhere"}):
        assert_fault(cinder.request(demo, "POST", "/groups", json={"group": bad},
                                    version=V), 400, "badRequest")
    assert_fault(cinder.request(demo, "POST", "/groups", json={"group": {
        "group_type": "00000000-0000-0000-0000-000000000000", "volume_types": [
            "file-1"]}}, version=V), 404, "itemNotFound")
    assert_fault(cinder.request(demo, "POST", "/groups", json={"group": {
        "group_type": gt["id"], "volume_types": ["no-such-type"]}}, version=V), 404,
        "itemNotFound")
    assert {g["id"] for g in cinder.request(demo, "GET", "/groups",
                                            version=V).json()["groups"]} == before

    resp = cinder.request(demo, "POST", "/groups", json={"group": {
        "name": "g1", "group_type": gt["id"], "volume_types": ["file-1"]}}, version=V)
    assert resp.status_code == 202, resp.text
    gid = resp.json()["group"]["id"]
    types = {t["name"]: t["id"] for t in cinder.request(
        admin, "GET", "/types").json()["volume_types"]}
    shown = cinder.request(demo, "GET", f"/groups/{gid}", version=V).json()["group"]
    assert shown["status"] == "available" and shown["group_type"] == gt["id"]
    assert shown["volume_types"] == [types["file-1"]]

    # a volume made in the group; one of another type is refused
    inside = make(demo, "volumes", {"size": 1, "volume_type": "file-1", "group_id": gid},
                  version=V)
    assert inside["group_id"] == gid
    assert_fault(cinder.request(demo, "POST", "/volumes", json={"volume": {
        "size": 1, "volume_type": "file-2", "group_id": gid}}, version=V), 400,
        "badRequest")
    # a member volume cannot be deleted alone
    assert_fault(cinder.request(demo, "DELETE", f"/volumes/{inside['id']}"), 400,
                 "badRequest")
    # add and remove another
    other = make(demo, "volumes", {"size": 1, "volume_type": "file-1"})
    wrong = make(demo, "volumes", {"size": 1, "volume_type": "file-2"})
    assert_fault(cinder.request(demo, "PUT", f"/groups/{gid}", json={"group": {
        "add_volumes": f"{other['id']},{wrong['id']}"}}, version=V), 400, "badRequest")
    assert cinder.request(demo, "GET", f"/volumes/{other['id']}", version=V).json()[
        "volume"]["group_id"] is None  # nothing changed
    assert cinder.request(demo, "PUT", f"/groups/{gid}", json={"group": {
        "add_volumes": other["id"], "name": "g2"}}, version=V).status_code == 202
    detail = cinder.request(demo, "GET", "/groups/detail", params={"list_volume": "true"},
                            version="3.25").json()["groups"]
    mine = next(g for g in detail if g["id"] == gid)
    assert mine["name"] == "g2" and sorted(mine["volumes"]) == sorted(
        [inside["id"], other["id"]])
    assert cinder.request(demo, "PUT", f"/groups/{gid}", json={"group": {
        "remove_volumes": other["id"]}}, version=V).status_code == 202
    assert cinder.request(demo, "GET", f"/volumes/{other['id']}", version=V).json()[
        "volume"]["group_id"] is None
    # the CLI lists it
    listed = cloud.cli("--os-volume-api-version", V, "volume", "group", "list",
                       cloud="kumo")
    assert gid in {g["ID"] for g in listed}

    # delete: needs delete-volumes while it has volumes
    assert_fault(cinder.request(demo, "POST", f"/groups/{gid}/action", json={
        "delete": {"delete-volumes": False}}, version=V), 400, "badRequest")
    assert_fault(cinder.request(admin, "DELETE", f"/group_types/{gt['id']}",
                                version=V), 400, "badRequest")  # in use
    assert cinder.request(demo, "POST", f"/groups/{gid}/action", json={
        "delete": {"delete-volumes": True}}, version=V).status_code == 202
    assert_fault(cinder.request(demo, "GET", f"/groups/{gid}", version=V), 404,
                 "itemNotFound")
    wait_gone(cinder, demo, "volumes", inside["id"])
    wait_status(cinder, demo, "volumes", other["id"], "available")
