"""Per-volume-type quotas (Block Storage API v3 "Quota sets extension", "Quota class
set extension"): ``volumes_<type>``, ``gigabytes_<type>`` and ``snapshots_<type>`` per
volume type in quota sets, defaults, usage and quota classes (openstacksdk, the
``openstack quota`` CLI, raw calls for the exact faults), enforced on volume create,
extend, retype and snapshot create; a refused request changes nothing."""
from __future__ import annotations

import pytest

from tests.api.volume.conftest import assert_fault, wait_gone, wait_status

PARTS = ("volumes", "gigabytes", "snapshots")


@pytest.fixture
def vtype(cinder, admin, unique):
    """``vtype(specs=None)``: a new public volume type's body; deleted afterwards."""
    made = []

    def create(specs: dict | None = None) -> dict:
        body = {"name": unique("qt")}
        if specs:
            body["extra_specs"] = specs
        resp = cinder.request(admin, "POST", "/types", json={"volume_type": body})
        assert resp.status_code == 200, resp.text
        made.append(resp.json()["volume_type"]["id"])
        return resp.json()["volume_type"]

    yield create
    for tid in made:
        cinder.request(admin, "DELETE", f"/types/{tid}")


def _quotas(cinder, admin, project, usage=False) -> dict:
    resp = cinder.request(admin, "GET", f"/os-quota-sets/{project}",
                          params={"usage": "true"} if usage else None)
    assert resp.status_code == 200, resp.text
    return resp.json()["quota_set"]


def _set(cinder, admin, project, **values):
    return cinder.request(admin, "PUT", f"/os-quota-sets/{project}",
                          json={"quota_set": values})


def _volumes(cinder, conn) -> list[tuple]:
    return sorted((v["id"], v["size"], v["volume_type"], v["status"]) for v in cinder.request(
        conn, "GET", "/volumes/detail").json()["volumes"])


def test_keys_per_type_sdk(admin, member, cinder, vtype):
    """Every type has its three keys, -1 by default, in the quota set, its defaults,
    its usage and the default class; a rename moves them (and the limits set), a
    delete drops them."""
    project = member.project_id_
    t = vtype()
    keys = {f"{p}_{t['name']}" for p in PARTS}
    qs = admin.block_storage.get_quota_set(project)
    assert all(qs[k] == -1 for k in keys), qs.to_dict()
    for k in ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes",
              "per_volume_gigabytes", "groups"):
        assert isinstance(qs[k], int)
    # every type there is has its keys, the default type and a backend's too
    for name in ("__DEFAULT__", "file-1", "file-2"):
        assert qs[f"volumes_{name}"] == -1
    defaults = admin.block_storage.get_quota_set_defaults(project)
    assert all(defaults[k] == -1 for k in keys)
    # (openstacksdk's QuotaClassSet drops keys it does not know: raw here)
    default_class = cinder.request(admin, "GET", "/os-quota-class-sets/default").json()[
        "quota_class_set"]
    assert all(default_class[k] == -1 for k in keys)
    usage = _quotas(cinder, admin, project, usage=True)
    for k in keys:
        assert usage[k] == {"limit": -1, "in_use": 0, "reserved": 0, "allocated": 0}

    updated = admin.block_storage.update_quota_set(
        project, **{f"volumes_{t['name']}": 3, f"gigabytes_{t['name']}": 7})
    assert updated[f"volumes_{t['name']}"] == 3 and updated[f"gigabytes_{t['name']}"] == 7
    qs = admin.block_storage.get_quota_set(project)
    assert (qs[f"volumes_{t['name']}"], qs[f"gigabytes_{t['name']}"],
            qs[f"snapshots_{t['name']}"]) == (3, 7, -1)

    # renamed: the keys (and the limits set) follow the new name
    new_name = t["name"] + "-r"
    resp = cinder.request(admin, "PUT", f"/types/{t['id']}",
                          json={"volume_type": {"name": new_name}})
    assert resp.status_code == 200, resp.text
    qs = _quotas(cinder, admin, project)
    assert not keys & set(qs)
    assert (qs[f"volumes_{new_name}"], qs[f"gigabytes_{new_name}"],
            qs[f"snapshots_{new_name}"]) == (3, 7, -1)
    # deleted: the keys go, and a new type of the name starts unlimited
    assert cinder.request(admin, "DELETE", f"/types/{t['id']}").status_code == 202
    qs = _quotas(cinder, admin, project)
    assert not any(k.endswith("_" + new_name) for k in qs)
    again = cinder.request(admin, "POST", "/types", json={
        "volume_type": {"name": new_name}}).json()["volume_type"]
    try:
        assert _quotas(cinder, admin, project)[f"volumes_{new_name}"] == -1
    finally:
        cinder.request(admin, "DELETE", f"/types/{again['id']}")


def test_bad_keys_and_values_change_nothing(admin, member, cinder, vtype):
    project = member.project_id_
    t = vtype()
    before = _quotas(cinder, admin, project)
    msg = assert_fault(_set(cinder, admin, project, volumes=5,
                            **{f"volumes_{t['name']}": 2, "volumes_no-such-type": 1}),
                       400, "badRequest")
    assert "Bad key(s) in quota set: volumes_no-such-type" in msg
    assert_fault(_set(cinder, admin, project, **{f"gigabytes_{t['name']}": -2}), 400,
                 "badRequest")
    assert_fault(_set(cinder, admin, project, **{f"snapshots_{t['name']}": 2 ** 31}),
                 400, "badRequest")
    msg = assert_fault(cinder.request(admin, "PUT", "/os-quota-class-sets/default", json={
        "quota_class_set": {f"volumes_{t['name']}": 1, "gigabytes_nope": 1}}), 400,
        "badRequest")
    assert "Bad key(s) in quota class set: gigabytes_nope" in msg
    assert _quotas(cinder, admin, project) == before
    assert cinder.request(admin, "GET", "/os-quota-class-sets/default").json()[
        "quota_class_set"][f"volumes_{t['name']}"] == -1
    # a member may not set quotas
    assert_fault(_set(cinder, member, project, **{f"volumes_{t['name']}": 1}), 403,
                 "forbidden")


def test_cli_set_and_show(cloud, admin, member, cinder, vtype):
    """``openstack quota set --volume-type`` for a project and for the default class,
    ``openstack quota show`` lists the keys."""
    project = member.project_id_
    t = vtype()
    cloud.cli("quota", "set", "--volume-type", t["name"], "--volumes", "4",
              "--gigabytes", "9", "--snapshots", "2", project, parse=False)
    shown = {r["Resource"]: r["Limit"] for r in cloud.cli("quota", "show", "--volume",
                                                           project)}
    assert (shown[f"volumes_{t['name']}"], shown[f"gigabytes_{t['name']}"],
            shown[f"snapshots_{t['name']}"]) == (4, 9, 2)
    assert shown["volumes"] == 10  # the global ones untouched (settings' default)
    usage = {r["Resource"]: r for r in cloud.cli("quota", "show", "--volume", "--usage",
                                                 project)}
    assert usage[f"volumes_{t['name']}"]["In Use"] == 0
    assert usage[f"volumes_{t['name']}"]["Limit"] == 4

    # the default class: every project without its own limit gets it
    # (`openstack quota set --class --volume-type` goes through openstacksdk's
    # QuotaClassSet, which drops the per-type keys it does not know: raw here)
    assert cinder.request(admin, "PUT", "/os-quota-class-sets/default", json={
        "quota_class_set": {f"volumes_{t['name']}": 6}}).status_code == 200
    cls = cinder.request(admin, "GET", "/os-quota-class-sets/default").json()[
        "quota_class_set"]
    assert cls[f"volumes_{t['name']}"] == 6 and cls["id"] == "default"
    assert _quotas(cinder, admin, project)[f"volumes_{t['name']}"] == 4  # its own
    other = admin.identity.get_project(admin.current_project_id).id
    assert _quotas(cinder, admin, other)[f"volumes_{t['name']}"] == 6
    defaults = cinder.request(admin, "GET", f"/os-quota-sets/{other}/defaults").json()
    assert defaults["quota_set"][f"volumes_{t['name']}"] == 6
    # a class of another name: its own rows over the default class's
    cinder.request(admin, "PUT", "/os-quota-class-sets/gold", json={
        "quota_class_set": {f"gigabytes_{t['name']}": 50}})
    gold = cinder.request(admin, "GET", "/os-quota-class-sets/gold").json()[
        "quota_class_set"]
    assert (gold["id"], gold[f"gigabytes_{t['name']}"],
            gold[f"volumes_{t['name']}"]) == ("gold", 50, 6)
    # deleting the project's quotas falls back to the class
    assert cinder.request(admin, "DELETE", f"/os-quota-sets/{project}").status_code == 200
    assert _quotas(cinder, admin, project)[f"volumes_{t['name']}"] == 6


def test_enforced_on_create_extend_snapshot(admin, member, cinder, vtype, make):
    project = member.project_id_
    t = vtype()
    name = t["name"]
    assert _set(cinder, admin, project, **{f"volumes_{name}": 1,
                                          f"gigabytes_{name}": 3,
                                          f"snapshots_{name}": 1}).status_code == 200
    before = _volumes(cinder, member)
    # more GiB than the type allows: the type's gigabytes quota, nothing made
    msg = assert_fault(cinder.request(member, "POST", "/volumes", json={
        "volume": {"size": 4, "volume_type": name}}), 413, "overLimit")
    assert msg == (f"Requested volume or snapshot exceeds allowed gigabytes_{name} "
                   "quota. Requested 4G, quota is 3G and 0G has been consumed.")
    assert _volumes(cinder, member) == before
    vol = make(member, "volumes", {"size": 1, "volume_type": name})
    msg = assert_fault(cinder.request(member, "POST", "/volumes", json={
        "volume": {"size": 1, "volume_type": name}}), 413, "overLimit")
    assert msg == f"Maximum number of volumes allowed (1) exceeded for quota 'volumes_{name}'."
    # other types (here the default one) are not limited by it
    other = make(member, "volumes", {"size": 1})
    usage = _quotas(cinder, admin, project, usage=True)
    assert usage[f"volumes_{name}"]["in_use"] == 1
    assert usage[f"gigabytes_{name}"]["in_use"] == 1
    assert usage["volumes"]["in_use"] == 2 and usage["gigabytes"]["in_use"] == 2
    assert usage["volumes___DEFAULT__"]["in_use"] == 1

    # extend past the type's GiB: 413, the volume keeps its size
    act = f"/volumes/{vol['id']}/action"
    msg = assert_fault(cinder.request(member, "POST", act, json={
        "os-extend": {"new_size": 4}}), 413, "overLimit")
    assert f"gigabytes_{name} quota. Requested 3G, quota is 3G and 1G" in msg
    body = cinder.request(member, "GET", f"/volumes/{vol['id']}").json()["volume"]
    assert (body["size"], body["status"]) == (1, "available")
    assert cinder.request(member, "POST", act, json={
        "os-extend": {"new_size": 2}}).status_code == 202
    wait_status(cinder, member, "volumes", vol["id"], "available")

    # snapshots count against the type's snapshots and gigabytes
    assert _set(cinder, admin, project, **{f"gigabytes_{name}": 6}).status_code == 200
    snap = make(member, "snapshots", {"volume_id": vol["id"]})
    usage = _quotas(cinder, admin, project, usage=True)
    assert usage[f"snapshots_{name}"]["in_use"] == 1
    assert usage[f"gigabytes_{name}"]["in_use"] == 4  # 2 GiB volume + 2 GiB snapshot
    assert usage["snapshots___DEFAULT__"]["in_use"] == 0
    snaps_before = cinder.request(member, "GET", "/snapshots").json()["snapshots"]
    msg = assert_fault(cinder.request(member, "POST", "/snapshots", json={
        "snapshot": {"volume_id": vol["id"]}}), 413, "overLimit")
    assert msg == "Maximum number of snapshots allowed (1) exceeded"
    assert cinder.request(member, "GET", "/snapshots").json()["snapshots"] == snaps_before
    # a snapshot of the other volume is of the other type
    make(member, "snapshots", {"volume_id": other["id"]})
    cinder.request(member, "DELETE", f"/snapshots/{snap['id']}")
    wait_gone(cinder, member, "snapshots", snap["id"])
    assert _set(cinder, admin, project, **{f"snapshots_{name}": 5,
                                          f"gigabytes_{name}": 3}).status_code == 200
    msg = assert_fault(cinder.request(member, "POST", "/snapshots", json={
        "snapshot": {"volume_id": vol["id"]}}), 413, "overLimit")
    assert msg == (f"Requested volume or snapshot exceeds allowed gigabytes_{name} "
                   "quota. Requested 2G, quota is 3G and 2G has been consumed.")
    # a limit under the type's usage is refused
    msg = assert_fault(_set(cinder, admin, project, **{f"gigabytes_{name}": 1}), 400,
                       "badRequest")
    assert f"Quota gigabytes_{name} limit must be equal or greater than existing " \
           "resources. Current usage is 2 and the requested limit is 1." in msg


def test_enforced_on_retype(admin, member, cinder, vtype, make):
    project = member.project_id_
    same = vtype()  # no backend asked: the default backend, a retype in place
    moved = vtype({"volume_backend_name": "file-2"})  # a retype that migrates
    assert _set(cinder, admin, project, **{f"volumes_{same['name']}": 0,
                                          f"gigabytes_{moved['name']}": 1}
                ).status_code == 200
    vol = make(member, "volumes", {"size": 2})
    snap = make(member, "snapshots", {"volume_id": vol["id"]})
    act = f"/volumes/{vol['id']}/action"
    msg = assert_fault(cinder.request(member, "POST", act, json={
        "os-retype": {"new_type": same["name"]}}), 413, "overLimit")
    assert f"'volumes_{same['name']}'" in msg
    body = cinder.request(member, "GET", f"/volumes/{vol['id']}").json()["volume"]
    assert (body["volume_type"], body["status"]) == ("__DEFAULT__", "available")
    # with room for the volume but not its snapshot's GiB... the snapshot counts too
    assert _set(cinder, admin, project, **{f"volumes_{same['name']}": 1,
                                          f"gigabytes_{same['name']}": 3}
                ).status_code == 200
    msg = assert_fault(cinder.request(member, "POST", act, json={
        "os-retype": {"new_type": same["name"]}}), 413, "overLimit")
    assert f"gigabytes_{same['name']} quota. Requested 4G" in msg
    assert _set(cinder, admin, project, **{f"gigabytes_{same['name']}": 4}
                ).status_code == 200
    assert cinder.request(member, "POST", act, json={
        "os-retype": {"new_type": same["name"]}}).status_code == 202
    wait_status(cinder, member, "volumes", vol["id"], "available")
    usage = _quotas(cinder, admin, project, usage=True)
    assert usage[f"volumes_{same['name']}"]["in_use"] == 1
    assert usage[f"snapshots_{same['name']}"]["in_use"] == 1
    assert usage[f"gigabytes_{same['name']}"]["in_use"] == 4
    assert usage["volumes___DEFAULT__"]["in_use"] == 0

    # a retype that would migrate (to file-2) is checked before anything moves
    cinder.request(member, "DELETE", f"/snapshots/{snap['id']}")
    wait_gone(cinder, member, "snapshots", snap["id"])
    msg = assert_fault(cinder.request(member, "POST", act, json={
        "os-retype": {"new_type": moved["name"], "migration_policy": "on-demand"}}),
        413, "overLimit")
    assert f"gigabytes_{moved['name']} quota. Requested 2G, quota is 1G" in msg
    body = cinder.request(admin, "GET", f"/volumes/{vol['id']}").json()["volume"]
    assert (body["volume_type"], body["status"], body["migration_status"]) == (
        same["name"], "available", None)
    assert body["os-vol-host-attr:host"].endswith("@file-1#file-1")


def test_a_longest_type_name_has_its_quota_keys(admin, member, cinder, vtype, unique):
    """A type name may be 255 characters, so ``gigabytes_<name>`` is 265: it is set and
    read back (``volume_quota.resource`` is 300 wide, as Cinder's)."""
    project = member.project_id_
    name = unique("long")
    t = vtype()
    long_name = (name + "x" * 255)[:255]
    resp = cinder.request(admin, "PUT", f"/types/{t['id']}",
                          json={"volume_type": {"name": long_name}})
    assert resp.status_code == 200, resp.text
    resp = _set(cinder, admin, project, **{f"gigabytes_{long_name}": 7})
    assert resp.status_code == 200, resp.text
    assert _quotas(cinder, admin, project)[f"gigabytes_{long_name}"] == 7
