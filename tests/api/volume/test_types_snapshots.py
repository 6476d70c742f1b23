"""Volume types (extra specs, access, the default type) and snapshots (metadata,
update, delete) through the ``openstack`` CLI and raw calls."""
from __future__ import annotations

from tests.api.volume.conftest import assert_fault, wait_gone, wait_status


def test_type_cli(cloud, cinder, admin, demo, member, unique):
    name = unique("type")
    created = cloud.cli("volume", "type", "create", "--property", "a=b", "--private",
                        "--description", "mine", name)
    assert created["name"] == name and created["is_public"] is False
    shown = cloud.cli("volume", "type", "show", name)
    assert shown["properties"] in ({"a": "b"}, "a='b'")
    cloud.cli("volume", "type", "set", "--property", "c=d", name, parse=False)
    specs = cinder.request(admin, "GET", f"/types/{created['id']}/extra_specs").json()
    assert specs["extra_specs"] == {"a": "b", "c": "d"}
    cloud.cli("volume", "type", "unset", "--property", "a", name, parse=False)
    specs = cinder.request(admin, "GET", f"/types/{created['id']}/extra_specs").json()
    assert specs["extra_specs"] == {"c": "d"}
    # private: the member's project sees it only once given access
    assert_fault(cinder.request(member, "GET", f"/types/{created['id']}"), 404,
                 "itemNotFound")
    cloud.cli("volume", "type", "set", "--project", member.project_id_, name, parse=False)
    assert cinder.request(member, "GET", f"/types/{created['id']}").status_code == 200
    access = cinder.request(admin, "GET",
                            f"/types/{created['id']}/os-volume-type-access").json()
    assert access["volume_type_access"] == [{"volume_type_id": created["id"],
                                             "project_id": member.project_id_}]
    # users may not manage types; the name is unique
    assert_fault(cinder.request(demo, "POST", "/types", json={
        "volume_type": {"name": unique("t")}}), 403, "forbidden")
    assert_fault(cinder.request(admin, "POST", "/types", json={
        "volume_type": {"name": name}}), 409, "conflictingRequest")
    listed = {t["Name"] for t in cloud.cli("volume", "type", "list")}
    assert {"__DEFAULT__", "file-1", "file-2", name} <= listed
    # a type in use cannot go
    resp = cinder.request(member, "POST", "/volumes", json={
        "volume": {"size": 1, "volume_type": name}})
    assert resp.status_code == 202, resp.text
    vid = resp.json()["volume"]["id"]
    # the unscoped spec c=d names a capability no backend reports, so (as Cinder's
    # capabilities filter) the volume is not placed and ends in error: still a volume
    # of the type
    wait_status(cinder, member, "volumes", vid, "error")
    assert_fault(cinder.request(admin, "DELETE", f"/types/{created['id']}"), 400,
                 "badRequest")
    cinder.request(member, "DELETE", f"/volumes/{vid}")
    wait_gone(cinder, member, "volumes", vid)
    cloud.cli("volume", "type", "delete", name, parse=False)
    assert_fault(cinder.request(admin, "GET", f"/types/{created['id']}"), 404,
                 "itemNotFound")


def test_default_type(cinder, admin, demo):
    default = cinder.request(demo, "GET", "/types/default").json()["volume_type"]
    assert default["name"] == "__DEFAULT__"
    assert_fault(cinder.request(admin, "DELETE", f"/types/{default['id']}"), 400,
                 "badRequest")


def test_volume_on_the_second_backend(cinder, demo, cloud, make):
    vol = make(demo, "volumes", {"size": 1, "volume_type": "file-2"})
    assert vol["volume_type"] == "file-2"
    assert (cloud.state_dir / "volumes" / "file-2" / f"volume-{vol['id']}").exists()


def test_snapshot_cli(cloud, cinder, demo, make, unique):
    vol = make(demo, "volumes", {"size": 1})
    name = unique("snap")
    snap = cloud.cli("volume", "snapshot", "create", "--volume", vol["id"],
                     "--property", "k=v", name, cloud="kumo")
    wait_status(cinder, demo, "snapshots", snap["id"], "available")
    shown = cloud.cli("volume", "snapshot", "show", name, cloud="kumo")
    assert shown["volume_id"] == vol["id"] and shown["size"] == 1
    assert shown["properties"] in ({"k": "v"}, "k='v'")
    cloud.cli("volume", "snapshot", "set", "--name", name + "-2", "--property", "x=y",
              name, cloud="kumo", parse=False)
    meta = cinder.request(demo, "GET", f"/snapshots/{snap['id']}/metadata").json()
    assert meta["metadata"] == {"k": "v", "x": "y"}
    cloud.cli("volume", "snapshot", "unset", "--property", "k", name + "-2",
              cloud="kumo", parse=False)
    meta = cinder.request(demo, "GET", f"/snapshots/{snap['id']}/metadata").json()
    assert meta["metadata"] == {"x": "y"}
    listed = cloud.cli("volume", "snapshot", "list", "--volume", vol["id"], cloud="kumo")
    assert [s["ID"] for s in listed] == [snap["id"]]
    # the snapshot counts against the quota's snapshots and gigabytes
    project = demo.current_project_id
    usage = cinder.request(demo, "GET", f"/os-quota-sets/{project}",
                           params={"usage": "true"}).json()["quota_set"]
    assert usage["snapshots"]["in_use"] >= 1
    cloud.cli("volume", "snapshot", "delete", name + "-2", cloud="kumo", parse=False)
    wait_gone(cinder, demo, "snapshots", snap["id"])
    assert not (cloud.state_dir / "volumes" / "file-1" / f"snapshot-{snap['id']}").exists()


def test_snapshot_with_force_of_in_use(cinder, admin, make):
    vol = make(admin, "volumes", {"size": 1})
    cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
        "os-reset_status": {"status": "in-use"}})
    snap = make(admin, "snapshots", {"volume_id": vol["id"], "force": True})
    assert snap["volume_id"] == vol["id"]
    cinder.request(admin, "POST", f"/volumes/{vol['id']}/action", json={
        "os-reset_status": {"status": "available"}})


def test_type_for_unknown_backend_accepted(cinder, admin, unique):
    """As Cinder: the type is made; its volumes fail to schedule (test_messages.py)."""
    resp = cinder.request(admin, "POST", "/types", json={"volume_type": {
        "name": unique("t"), "extra_specs": {"volume_backend_name": "nope"}}})
    assert resp.status_code == 200, resp.text
    cinder.request(admin, "DELETE", f"/types/{resp.json()['volume_type']['id']}")


def test_qos_specs_cli(cloud, cinder, admin, demo, unique):
    name = unique("qos")
    qos = cloud.cli("volume", "qos", "create", "--consumer", "front-end", "--property",
                    "total_iops_sec=500", name)
    assert qos["consumer"] == "front-end"
    vtype = cloud.cli("volume", "type", "create", unique("qtype"))
    cloud.cli("volume", "qos", "associate", name, vtype["id"], parse=False)
    shown = cinder.request(admin, "GET", f"/qos-specs/{qos['id']}/associations").json()
    assert shown["qos_associations"] == [{"association_type": "volume_type",
                                          "name": vtype["name"], "id": vtype["id"]}]
    assert cinder.request(admin, "GET", f"/types/{vtype['id']}").json()["volume_type"][
        "qos_specs_id"] == qos["id"]
    cloud.cli("volume", "qos", "set", "--property", "read_iops_sec=100", name, parse=False)
    cloud.cli("volume", "qos", "unset", "--property", "total_iops_sec", name, parse=False)
    specs = cinder.request(admin, "GET", f"/qos-specs/{qos['id']}").json()["qos_specs"]
    assert specs["specs"] == {"read_iops_sec": "100"}
    # associated: no delete without force; users may not see QoS at all
    assert_fault(cinder.request(admin, "DELETE", f"/qos-specs/{qos['id']}"), 400,
                 "badRequest")
    assert_fault(cinder.request(demo, "GET", "/qos-specs"), 403, "forbidden")
    assert_fault(cinder.request(admin, "POST", "/qos-specs", json={"qos_specs": {
        "name": name}}), 409, "conflictingRequest")
    assert_fault(cinder.request(admin, "POST", "/qos-specs", json={"qos_specs": {
        "name": unique("q"), "consumer": "sideways"}}), 400, "badRequest")
    cloud.cli("volume", "qos", "disassociate", "--volume-type", vtype["id"], name,
              parse=False)
    cloud.cli("volume", "qos", "delete", name, parse=False)
    assert_fault(cinder.request(admin, "GET", f"/qos-specs/{qos['id']}"), 404,
                 "itemNotFound")
    cloud.cli("volume", "type", "delete", vtype["id"], parse=False)
