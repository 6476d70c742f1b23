"""The server actions of kumo/compute/lifecycle.py through the fake compute hosts
(fake-0, fake-1): suspend/resume, shelve/unshelve/shelveOffload, rescue/unrescue,
os-resetState, createBackup with rotation, add/removeSecurityGroup,
add/removeFloatingIp (pre-2.44), cold migration with confirm/revert, live migration,
evacuation, trigger_crash_dump, their state machines, 409s and microversions, and the
migrations they leave in os-migrations."""
from __future__ import annotations

import httpx

from tests.api.compute.conftest import assert_fault, wait_for, wait_status


def act(nova, conn, sid, body, version="2.1"):
    return nova.request(conn, "POST", f"/servers/{sid}/action", json=body, version=version)


def wait_idle(nova, conn, sid, timeout=60.0):
    """Wait until the server has no task (a snapshot's upload ended)."""
    assert wait_for(lambda: nova.request(conn, "GET", f"/servers/{sid}").json()[
        "server"]["OS-EXT-STS:task_state"] is None, timeout), f"{sid} stays busy"


def host_of(nova, admin, sid):
    return nova.request(admin, "GET", f"/servers/{sid}").json()["server"][
        "OS-EXT-SRV-ATTR:host"]


def test_suspend_resume_cli(cloud, demo, nova, boot):
    made = boot("lc-suspend")
    wait_status(nova, demo, made["id"], "ACTIVE")
    cloud.cli("server", "suspend", made["id"], cloud="kumo", parse=False)
    body = wait_status(nova, demo, made["id"], "SUSPENDED")
    assert body["OS-EXT-STS:power_state"] == 7
    assert body["OS-EXT-STS:vm_state"] == "suspended"
    msg = assert_fault(act(nova, demo, made["id"], {"suspend": None}), 409,
                       "conflictingRequest")
    assert msg == (f"Cannot 'suspend' instance {made['id']} while it is in vm_state "
                   "suspended")
    assert_fault(act(nova, demo, made["id"], {"pause": None}), 409, "conflictingRequest")
    cloud.cli("server", "resume", made["id"], cloud="kumo", parse=False)
    assert wait_status(nova, demo, made["id"], "ACTIVE")["OS-EXT-STS:power_state"] == 1
    msg = assert_fault(act(nova, demo, made["id"], {"resume": None}), 409,
                       "conflictingRequest")
    assert "while it is in vm_state active" in msg
    # Nova takes any value for suspend (Tempest sends {}), but nothing beside it
    assert_fault(act(nova, demo, made["id"], {"suspend": {}, "x": 1}), 400, "badRequest")
    actions = [a["action"] for a in nova.request(
        demo, "GET", f"/servers/{made['id']}/os-instance-actions").json()[
        "instanceActions"]]
    assert actions[:2] == ["resume", "suspend"]


def test_shelve_offload_unshelve_sdk(admin, demo, nova, boot):
    made = boot("lc-shelve")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    demo.compute.shelve_server(sid)
    body = wait_status(nova, demo, sid, "SHELVED_OFFLOADED")
    assert body["OS-EXT-STS:power_state"] == 0
    shown = nova.request(admin, "GET", f"/servers/{sid}").json()["server"]
    assert shown["OS-EXT-SRV-ATTR:host"] is None
    images = list(demo.image.images(name="lc-shelve-shelved"))
    assert len(images) == 1
    # offloaded: the host's capacity is free, the ports unbound
    ports = list(admin.network.ports(device_id=sid))
    assert ports and all(not p.binding_host_id for p in ports)
    assert_fault(act(nova, demo, sid, {"shelve": None}), 409, "conflictingRequest")
    assert_fault(act(nova, demo, sid, {"os-start": None}), 409, "conflictingRequest")
    assert_fault(act(nova, demo, sid, {"unshelve": {"availability_zone": "nowhere"}},
                     "2.77"), 400, "badRequest")
    # 2.1: any value is taken and ignored (Nova's schema before 2.77), so no 400 for
    # an unknown zone
    assert act(nova, demo, sid, {"unshelve": {"availability_zone": "nowhere"}}
               ).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert host_of(nova, admin, sid) in ("fake-0", "fake-1")
    ports = list(admin.network.ports(device_id=sid))
    assert ports and all(p.binding_host_id == host_of(nova, admin, sid) for p in ports)
    assert wait_for(lambda: not list(demo.image.images(name="lc-shelve-shelved")))


def test_shelve_offload_is_admin(demo, nova, boot):
    made = boot("lc-offload")
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert_fault(act(nova, demo, made["id"], {"shelveOffload": None}), 403, "forbidden")


def test_rescue_unrescue(demo, nova, boot):
    made = boot("lc-rescue")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    resp = act(nova, demo, sid, {"rescue": {"adminPass": "s3cret"}})
    assert resp.status_code == 200 and resp.json() == {"adminPass": "s3cret"}
    wait_status(nova, demo, sid, "RESCUE")
    assert_fault(act(nova, demo, sid, {"rescue": None}), 409, "conflictingRequest")
    assert_fault(act(nova, demo, sid, {"os-stop": None}), 409, "conflictingRequest")
    assert act(nova, demo, sid, {"unrescue": None}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert_fault(act(nova, demo, sid, {"unrescue": None}), 409, "conflictingRequest")
    resp = act(nova, demo, sid, {"rescue": None})
    assert resp.status_code == 200 and len(resp.json()["adminPass"]) == 12
    wait_status(nova, demo, sid, "RESCUE")


def test_reset_state(admin, demo, nova, boot):
    made = boot("lc-reset")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    assert_fault(act(nova, demo, sid, {"os-resetState": {"state": "error"}}), 403,
                 "forbidden")
    assert_fault(act(nova, admin, sid, {"os-resetState": {"state": "paused"}}), 400,
                 "badRequest")
    assert act(nova, admin, sid, {"os-resetState": {"state": "error"}}).status_code == 202
    wait_status(nova, demo, sid, "ERROR")
    assert act(nova, admin, sid, {"os-resetState": {"state": "active"}}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")


def test_create_backup_rotation(demo, nova, boot):
    made = boot("lc-backup")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    ids = []
    for i in range(3):
        resp = act(nova, demo, sid, {"createBackup": {
            "name": f"lc-bk-{i}", "backup_type": "daily", "rotation": 2}}, "2.45")
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["image_id"])
        if i == 0:  # one snapshot at a time, as Nova
            msg = assert_fault(act(nova, demo, sid, {"createBackup": {
                "name": "lc-bk-x", "backup_type": "daily", "rotation": 2}}), 409,
                "conflictingRequest")
            assert "task_state image_" in msg
        wait_idle(nova, demo, sid)
    assert wait_for(lambda: {i.id for i in demo.image.images() if i.name and
                             i.name.startswith("lc-bk-")} == set(ids[1:]))
    image = demo.image.get_image(ids[-1])
    assert image.status == "active" and image.size > 0
    assert image.properties["image_type"] == "backup"
    assert image.properties["backup_type"] == "daily"
    resp = act(nova, demo, sid, {"createBackup": {
        "name": "lc-bk-old", "backup_type": "weekly", "rotation": "1"}})
    assert resp.status_code == 202
    wait_idle(nova, demo, sid)
    assert resp.headers["Location"].endswith("/compute/v2.1/images/" + next(
        i.id for i in demo.image.images(name="lc-bk-old")))
    assert_fault(act(nova, demo, sid, {"createBackup": {
        "name": "x", "backup_type": "daily", "rotation": -1}}), 400, "badRequest")
    assert_fault(act(nova, demo, sid, {"createBackup": {"name": "x",
                                                        "rotation": 1}}), 400,
                 "badRequest")
    resp = act(nova, demo, sid, {"createBackup": {
        "name": "lc-bk-none", "backup_type": "daily", "rotation": 0}}, "2.45")
    assert resp.status_code == 202 and list(resp.json()) == ["image_id"]
    wait_idle(nova, demo, sid)
    assert wait_for(lambda: not [
        i for i in demo.image.images() if i.name and i.name.startswith("lc-bk-")
        and i.properties.get("backup_type") == "daily"])
    for image in demo.image.images():
        if image.name and image.name.startswith("lc-bk-"):
            demo.image.delete_image(image)


def test_security_groups_actions(cloud, demo, nova, boot, unique):
    made = boot("lc-sg")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    group = demo.network.create_security_group(name=unique("sg"))
    try:
        cloud.cli("server", "add", "security", "group", sid, group.name, cloud="kumo",
                  parse=False)
        ports = list(demo.network.ports(device_id=sid))
        assert all(group.id in p.security_group_ids for p in ports)
        names = {g["name"] for g in nova.request(demo, "GET", f"/servers/{sid}").json()[
            "server"]["security_groups"]}
        assert group.name in names
        assert_fault(act(nova, demo, sid, {"addSecurityGroup": {"name": group.name}}),
                     400, "badRequest")
        assert_fault(act(nova, demo, sid, {"addSecurityGroup": {"name": "nope-x"}}),
                     404, "itemNotFound")
        assert act(nova, demo, sid, {"removeSecurityGroup": {
            "name": group.name}}).status_code == 202
        ports = list(demo.network.ports(device_id=sid))
        assert all(group.id not in p.security_group_ids for p in ports)
        assert_fault(act(nova, demo, sid, {"removeSecurityGroup": {"name": group.name}}),
                     400, "badRequest")
        # every group removed: Nova's show has no security_groups key at all
        assert act(nova, demo, sid, {"removeSecurityGroup": {
            "name": "default"}}).status_code == 202
        assert "security_groups" not in nova.request(demo, "GET", f"/servers/{sid}").json()[
            "server"]
    finally:
        demo.compute.delete_server(sid)
        wait_for(lambda: not list(demo.network.ports(device_id=sid)))
        demo.network.delete_security_group(group, ignore_missing=True)


def test_floating_ip_actions(admin, demo, nova, boot, net, unique):
    ext = admin.network.create_network(name=unique("ext"), is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, ip_version=4, cidr="10.78.0.0/28",
                                name=unique("extsub"))
    router = demo.network.create_router(name=unique("r"),
                                        external_gateway_info={"network_id": ext.id})
    demo.network.add_interface_to_router(router, subnet_id=net[1].id)
    fip = demo.network.create_ip(floating_network_id=ext.id)
    made = boot("lc-fip")
    sid = made["id"]
    try:
        wait_status(nova, demo, sid, "ACTIVE")
        assert_fault(act(nova, demo, sid, {"addFloatingIp": {
            "address": fip.floating_ip_address}}, "2.44"), 404, "itemNotFound")
        assert act(nova, demo, sid, {"addFloatingIp": {
            "address": fip.floating_ip_address}}).status_code == 202
        port_ids = {p.id for p in demo.network.ports(device_id=sid)}
        assert demo.network.get_ip(fip.id).port_id in port_ids
        # a second floating IP for the same fixed IP: Neutron's 409 is Nova's 400
        fip2 = demo.network.create_ip(floating_network_id=ext.id)
        msg = assert_fault(act(nova, demo, sid, {"addFloatingIp": {
            "address": fip2.floating_ip_address}}), 400, "badRequest")
        assert msg.startswith(f"Unable to associate floating IP {fip2.floating_ip_address}")
        assert demo.network.get_ip(fip2.id).port_id is None
        demo.network.delete_ip(fip2)
        assert_fault(act(nova, demo, sid, {"addFloatingIp": {"address": "10.78.0.14"}}),
                     404, "itemNotFound")
        assert_fault(act(nova, demo, sid, {"addFloatingIp": {"address": "not-ip"}}),
                     400, "badRequest")
        assert act(nova, demo, sid, {"removeFloatingIp": {
            "address": fip.floating_ip_address}}).status_code == 202
        assert demo.network.get_ip(fip.id).port_id is None
        assert_fault(act(nova, demo, sid, {"removeFloatingIp": {
            "address": fip.floating_ip_address}}), 409, "conflictingRequest")
    finally:
        demo.compute.delete_server(sid)
        wait_for(lambda: not list(demo.network.ports(device_id=sid)))
        demo.network.delete_ip(fip, ignore_missing=True)
        demo.network.remove_interface_from_router(router, subnet_id=net[1].id)
        demo.network.delete_router(router, ignore_missing=True)
        admin.network.delete_network(ext, ignore_missing=True)


def test_cold_migrate_confirm_and_revert(admin, demo, nova, boot):
    made = boot("lc-migrate")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    first = host_of(nova, admin, sid)
    assert_fault(act(nova, demo, sid, {"migrate": None}), 403, "forbidden")
    assert_fault(act(nova, admin, sid, {"migrate": {"host": first}}, "2.56"), 400,
                 "badRequest")
    # Nova: ComputeHostNotFound is a 400 for migrate and live migration (404 only
    # for evacuate)
    assert_fault(act(nova, admin, sid, {"migrate": {"host": "nope"}}, "2.56"), 400,
                 "badRequest")
    for version in ("2.1", "2.30"):
        body = {"os-migrateLive": {"host": "nope", "block_migration": False}}
        if version == "2.1":
            body["os-migrateLive"]["disk_over_commit"] = False
        msg = assert_fault(act(nova, admin, sid, body, version), 400, "badRequest")
        assert msg == "Compute host nope could not be found."
    assert act(nova, admin, sid, {"migrate": None}).status_code == 202
    wait_status(nova, demo, sid, "VERIFY_RESIZE")
    second = host_of(nova, admin, sid)
    assert second != first
    migs = nova.request(admin, "GET", "/os-migrations", params={
        "instance_uuid": sid}).json()["migrations"]
    assert "migration_type" not in migs[0]  # 2.23
    migs = nova.request(admin, "GET", "/os-migrations", params={
        "instance_uuid": sid}, version="2.23").json()["migrations"]
    assert migs[0]["migration_type"] == "migration" and migs[0]["status"] == "finished"
    assert migs[0]["source_compute"] == first and migs[0]["dest_compute"] == second
    assert act(nova, demo, sid, {"revertResize": None}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert host_of(nova, admin, sid) == first
    assert act(nova, admin, sid, {"migrate": None}).status_code == 202
    wait_status(nova, demo, sid, "VERIFY_RESIZE")
    assert act(nova, demo, sid, {"confirmResize": None}).status_code == 204
    wait_status(nova, demo, sid, "ACTIVE")
    assert host_of(nova, admin, sid) == second
    statuses = [m["status"] for m in nova.request(
        admin, "GET", "/os-migrations", params={"instance_uuid": sid}, version="2.23"
    ).json()["migrations"]]
    assert statuses == ["confirmed", "reverted"]


def test_migrations_paging(admin, demo, nova, boot):
    """2.59: limit/marker (a migration uuid)/changes-since, 2.66 changes-before,
    ``migrations_links``, newest first; Nova's 400s."""
    made = boot("lc-mig-page")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    for _ in range(3):
        assert act(nova, admin, sid, {"migrate": None}).status_code == 202
        wait_status(nova, demo, sid, "VERIFY_RESIZE")
        assert act(nova, demo, sid, {"confirmResize": None}).status_code == 204
        wait_status(nova, demo, sid, "ACTIVE")

    def get(version="2.59", **params):
        return nova.request(admin, "GET", "/os-migrations", version=version,
                            params={"instance_uuid": sid, **params})
    every = get().json()
    assert "migrations_links" not in every
    uuids = [m["uuid"] for m in every["migrations"]]
    assert len(uuids) == 3
    created = [m["created_at"] for m in every["migrations"]]
    assert created == sorted(created, reverse=True)
    seen, marker = [], None
    for _ in range(5):
        body = get(limit=1, **({"marker": marker} if marker else {})).json()
        seen += [m["uuid"] for m in body["migrations"]]
        if "migrations_links" not in body:
            break
        href = body["migrations_links"][0]["href"]
        assert body["migrations_links"][0]["rel"] == "next" and "limit=1" in href
        marker = href.split("marker=")[1].split("&")[0]
        assert marker == seen[-1]
    assert seen == uuids
    assert [m["uuid"] for m in get(limit=2, marker=uuids[0]).json()["migrations"]] \
        == uuids[1:]
    assert_fault(get(marker="00000000-0000-0000-0000-000000000000"), 400, "badRequest")
    assert_fault(get(limit="x"), 400, "badRequest")
    assert_fault(get(frobnicate="1"), 400, "badRequest")  # 2.59's closed schema
    assert len(get("2.58", frobnicate="1", limit="1").json()["migrations"]) == 3
    assert get(**{"changes-since": "2999-01-01T00:00:00Z"}).json()["migrations"] == []
    assert len(get(**{"changes-since": "2000-01-01T00:00:00Z"}).json()[
        "migrations"]) == 3
    assert_fault(get(**{"changes-since": "yesterday"}), 400, "badRequest")
    assert_fault(get("2.66", **{"changes-since": "2030-01-01T00:00:00Z",
                               "changes-before": "2020-01-01T00:00:00Z"}), 400,
                 "badRequest")
    assert get("2.66", **{"changes-before": "2000-01-01T00:00:00Z"}).json()[
        "migrations"] == []
    assert_fault(get("2.65", **{"changes-before": "2000-01-01T00:00:00Z"}), 400,
                 "badRequest")


def test_cold_migrate_no_other_host(admin, demo, nova, boot):
    made = boot("lc-migrate-one")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    host = host_of(nova, admin, sid)
    other = "fake-1" if host == "fake-0" else "fake-0"
    svc = [s for s in nova.request(admin, "GET", "/os-services", version="2.53").json()[
        "services"] if s["host"] == other][0]
    assert nova.request(admin, "PUT", f"/os-services/{svc['id']}", json={
        "status": "disabled"}, version="2.53").status_code == 200
    try:
        msg = assert_fault(act(nova, admin, sid, {"migrate": None}), 400, "badRequest")
        assert msg.startswith("No valid host was found.")
        body = nova.request(demo, "GET", f"/servers/{sid}").json()["server"]
        assert body["status"] == "ACTIVE"
    finally:
        nova.request(admin, "PUT", f"/os-services/{svc['id']}", json={
            "status": "enabled"}, version="2.53")


def test_live_migrate_fake_hosts(admin, demo, nova, boot):
    made = boot("lc-live")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    first = host_of(nova, admin, sid)
    assert_fault(act(nova, demo, sid, {"os-migrateLive": {
        "host": None, "block_migration": "auto"}}, "2.25"), 403, "forbidden")
    assert_fault(act(nova, admin, sid, {"os-migrateLive": {"host": None}}, "2.25"), 400,
                 "badRequest")
    assert act(nova, admin, sid, {"os-migrateLive": {
        "host": None, "block_migration": "auto"}}, "2.25").status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert wait_for(lambda: host_of(nova, admin, sid) != first)
    migs = nova.request(admin, "GET", "/os-migrations", params={
        "instance_uuid": sid, "migration_type": "live-migration"},
        version="2.59").json()["migrations"]
    assert len(migs) == 1 and migs[0]["status"] == "completed"
    assert "uuid" in migs[0]


def test_evacuate_needs_a_down_host(admin, demo, nova, boot):
    made = boot("lc-evac")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    host = host_of(nova, admin, sid)
    msg = assert_fault(act(nova, admin, sid, {"evacuate": {}}, "2.14"), 400, "badRequest")
    assert msg == f"Compute service of {host} is still in use."
    assert_fault(act(nova, demo, sid, {"evacuate": {}}, "2.14"), 403, "forbidden")
    svc = [s for s in nova.request(admin, "GET", "/os-services", version="2.53").json()[
        "services"] if s["host"] == host][0]
    assert nova.request(admin, "PUT", f"/os-services/{svc['id']}", json={
        "forced_down": True}, version="2.53").status_code == 200
    try:
        resp = act(nova, admin, sid, {"evacuate": {"onSharedStorage": False}})
        assert resp.status_code == 200 and "adminPass" in resp.json()
        wait_status(nova, demo, sid, "ACTIVE")
        assert host_of(nova, admin, sid) != host
    finally:
        nova.request(admin, "PUT", f"/os-services/{svc['id']}", json={
            "forced_down": False}, version="2.53")


def test_trigger_crash_dump_httpx(cloud, demo, nova, boot):
    made = boot("lc-crash")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    url = f"{nova.base}/servers/{sid}/action"
    headers = {"X-Auth-Token": demo.session.get_token()}
    with httpx.Client(timeout=30) as client:
        resp = client.post(url, json={"trigger_crash_dump": None}, headers={
            **headers, "OpenStack-API-Version": "compute 2.16"})
        assert resp.status_code == 400
        assert resp.json()["badRequest"]["message"] == \
            "There is no such action: trigger_crash_dump"
        resp = client.post(url, json={"trigger_crash_dump": None}, headers={
            **headers, "OpenStack-API-Version": "compute 2.17"})
        assert resp.status_code == 202
        resp = client.post(url, json={"os-stop": None}, headers=headers)
        assert resp.status_code == 202
    wait_status(nova, demo, sid, "SHUTOFF")
    resp = act(nova, demo, sid, {"suspend": None})
    assert resp.json()["conflictingRequest"]["message"] == (
        f"Cannot 'suspend' instance {sid} while it is in vm_state stopped")
    assert_fault(act(nova, demo, sid, {"trigger_crash_dump": None}, "2.17"), 409,
                 "conflictingRequest")


# -- reply bodies (issue 16's priority 2) ------------------------------------------------
def test_ips_by_network(demo, nova, boot, net):
    made = boot("lc-ips")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    body = nova.request(demo, "GET", f"/servers/{sid}/ips").json()
    label = net[0].name
    assert list(body) == ["addresses"] and list(body["addresses"]) == [label]
    entry = body["addresses"][label][0]
    assert set(entry) == {"version", "addr"} and entry["version"] == 4
    resp = nova.request(demo, "GET", f"/servers/{sid}/ips/{label}")
    assert resp.status_code == 200 and resp.json() == {label: body["addresses"][label]}
    msg = assert_fault(nova.request(demo, "GET", f"/servers/{sid}/ips/nope"), 404,
                       "itemNotFound")
    assert msg == "Instance is not a member of specified network"
    server = demo.compute.get_server(sid)
    assert label in server.addresses


def test_update_and_rebuild_reply_bodies(demo, nova, boot, image_id):
    made = boot("lc-upd")
    sid = made["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    base = {"id", "name", "status", "tenant_id", "user_id", "metadata", "hostId",
            "image", "flavor", "created", "updated", "addresses", "accessIPv4",
            "accessIPv6", "links", "OS-DCF:diskConfig", "progress"}
    body = nova.request(demo, "PUT", f"/servers/{sid}", json={
        "server": {"name": "lc-upd-2"}}).json()["server"]
    assert set(body) == base and body["name"] == "lc-upd-2"
    body = nova.request(demo, "PUT", f"/servers/{sid}", json={
        "server": {"name": "lc-upd-3"}}, version="2.26").json()["server"]
    assert set(body) == base | {"locked", "description", "tags"}
    body = nova.request(demo, "PUT", f"/servers/{sid}", json={
        "server": {"name": "lc-upd-4"}}, version="2.75").json()["server"]
    shown = nova.request(demo, "GET", f"/servers/{sid}", version="2.75").json()["server"]
    assert set(body) == set(shown)
    resp = act(nova, demo, sid, {"rebuild": {"imageRef": image_id}})
    assert resp.status_code == 202
    body = resp.json()["server"]
    assert set(body) == (base - {"progress"}) | {"adminPass"} or \
        set(body) == base | {"adminPass"}
    assert len(body["adminPass"]) == 12
    wait_status(nova, demo, sid, "ACTIVE")
    body = act(nova, demo, sid, {"rebuild": {"imageRef": image_id, "adminPass": "pw"}},
               "2.57").json()["server"]
    assert body["adminPass"] == "pw" and "user_data" in body and "key_name" in body
    assert "OS-EXT-STS:vm_state" not in body


def test_flavor_is_public_strings(cloud, admin, nova, unique):
    made = []
    try:
        for given, expected in (("True", True), ("False", False), ("yes", True)):
            resp = nova.request(admin, "POST", "/flavors", json={"flavor": {
                "name": unique("pub"), "ram": 64, "vcpus": 1, "disk": 1,
                "os-flavor-access:is_public": given}})
            assert resp.status_code == 200, resp.text
            made.append(resp.json()["flavor"]["id"])
            assert resp.json()["flavor"]["os-flavor-access:is_public"] is expected
        for refused in ("maybe", "y", "t", "n", "f"):  # not in Nova's boolean strings
            assert_fault(nova.request(admin, "POST", "/flavors", json={"flavor": {
                "name": unique("pub"), "ram": 64, "vcpus": 1, "disk": 1,
                "os-flavor-access:is_public": refused}}), 400, "badRequest")
        name = unique("cli")
        cloud.cli("flavor", "create", "--ram", "64", "--vcpus", "1", "--disk", "1",
                  "--private", name, parse=False)
        flavor = admin.compute.find_flavor(name, ignore_missing=False)
        made.append(flavor.id)
        assert flavor.is_public is False
    finally:
        for fid in made:
            nova.request(admin, "DELETE", f"/flavors/{fid}")
