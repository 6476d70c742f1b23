"""What Tempest's wider (non-interop) compute tests showed Kumo answered unlike Nova:
argument-less actions given ``{}``, ``OS-DCF:diskConfig`` kept per server, a server
booted from a volume without ``imageRef`` showing no image, attaching a volume already
attached (400), a second floating IP on the same fixed IP (400), the security group
proxy's ids (400 for a non-UUID) and the fixed extensions list."""
from __future__ import annotations

from tests.api.compute.conftest import assert_fault, wait_for, wait_status


def act(nova, conn, sid, body, version="2.1"):
    return nova.request(conn, "POST", f"/servers/{sid}/action", json=body, version=version)


def test_argumentless_actions_take_any_value(nova, demo, boot):
    """Nova's schemas for suspend, resume, shelve... accept any value (Tempest and
    python-novaclient send ``{}``); trigger_crash_dump's wants null."""
    sid = boot("wide-suspend")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    assert act(nova, demo, sid, {"suspend": {}}).status_code == 202
    wait_status(nova, demo, sid, "SUSPENDED")
    assert act(nova, demo, sid, {"resume": {}}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert act(nova, demo, sid, {"pause": {}}).status_code == 202
    wait_status(nova, demo, sid, "PAUSED")
    assert act(nova, demo, sid, {"unpause": {}}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")
    assert_fault(act(nova, demo, sid, {"trigger_crash_dump": {}}, "2.17"), 400,
                 "badRequest")
    assert_fault(act(nova, demo, sid, {"suspend": {}, "x": 1}), 400, "badRequest")


def test_disk_config_kept(nova, demo, boot, image_id):
    made = boot("wide-dcf", **{"OS-DCF:diskConfig": "AUTO"})
    sid = made["id"]
    assert made["OS-DCF:diskConfig"] == "AUTO"
    wait_status(nova, demo, sid, "ACTIVE")
    show = nova.request(demo, "GET", f"/servers/{sid}").json()["server"]
    assert show["OS-DCF:diskConfig"] == "AUTO"
    resp = nova.request(demo, "PUT", f"/servers/{sid}", json={"server": {
        "OS-DCF:diskConfig": "MANUAL"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["server"]["OS-DCF:diskConfig"] == "MANUAL"
    listed = nova.request(demo, "GET", "/servers/detail").json()["servers"]
    assert [s["OS-DCF:diskConfig"] for s in listed if s["id"] == sid] == ["MANUAL"]
    resp = act(nova, demo, sid, {"rebuild": {"imageRef": image_id,
                                             "OS-DCF:diskConfig": "AUTO"}})
    assert resp.status_code == 202, resp.text
    assert resp.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    wait_status(nova, demo, sid, "ACTIVE")
    assert act(nova, demo, sid, {"resize": {"flavorRef": "84",
                                            "OS-DCF:diskConfig": "MANUAL"}}
               ).status_code == 202
    body = wait_status(nova, demo, sid, "VERIFY_RESIZE", 60)
    assert body["OS-DCF:diskConfig"] == "MANUAL"
    for bad in ("auto", "", 1):
        assert_fault(nova.request(demo, "PUT", f"/servers/{sid}", json={"server": {
            "OS-DCF:diskConfig": bad}}), 400, "badRequest")
    assert nova.request(demo, "GET", f"/servers/{sid}").json()["server"][
        "OS-DCF:diskConfig"] == "MANUAL"
    other = boot("wide-dcf-default")
    assert other["OS-DCF:diskConfig"] == "MANUAL"
    assert_fault(nova.request(demo, "POST", "/servers", json={"server": {
        "name": "x", "imageRef": image_id, "flavorRef": "42",
        "OS-DCF:diskConfig": "SOMETIMES"}}), 400, "badRequest")


def test_boot_from_volume_without_image_shows_none(cloud, nova, demo, net, image_id):
    volume = nova.base.rsplit("/compute", 1)[0] + "/volume/v3"
    resp = demo.session.post(f"{volume}/volumes", json={"volume": {
        "size": 1, "imageRef": image_id, "name": "wide-bfv-root"}}, raise_exc=False)
    assert resp.status_code == 202, resp.text
    vid = resp.json()["volume"]["id"]
    sid = None
    try:
        for _ in range(300):
            status = demo.session.get(f"{volume}/volumes/{vid}").json()["volume"]["status"]
            if status == "available":
                break
            import time
            time.sleep(0.1)
        resp = nova.request(demo, "POST", "/servers", json={"server": {
            "name": "wide-bfv", "flavorRef": "42", "imageRef": "",
            "networks": [{"uuid": net[0].id}],
            "block_device_mapping_v2": [{"uuid": vid, "source_type": "volume",
                                         "destination_type": "volume",
                                         "boot_index": 0}]}})
        assert resp.status_code == 202, resp.text
        sid = resp.json()["server"]["id"]
        body = wait_status(nova, demo, sid, "ACTIVE", 60)
        assert body["image"] == ""
        listed = nova.request(demo, "GET", "/servers/detail").json()["servers"]
        assert [s["image"] for s in listed if s["id"] == sid] == [""]
    finally:
        if sid:
            cloud.cli("server", "delete", "--wait", sid, cloud="kumo", parse=False)
        demo.session.delete(f"{volume}/volumes/{vid}", raise_exc=False)


def test_attach_attached_volume_is_400(cloud, nova, demo, boot):
    volume = nova.base.rsplit("/compute", 1)[0] + "/volume/v3"
    s1, s2 = boot("wide-att-1")["id"], boot("wide-att-2")["id"]
    wait_status(nova, demo, s1, "ACTIVE")
    wait_status(nova, demo, s2, "ACTIVE")
    vid = demo.session.post(f"{volume}/volumes", json={"volume": {"size": 1}}).json()[
        "volume"]["id"]
    try:
        import time
        for _ in range(300):
            if demo.session.get(f"{volume}/volumes/{vid}").json()["volume"][
                    "status"] == "available":
                break
            time.sleep(0.1)
        body = {"volumeAttachment": {"volumeId": vid}}
        resp = nova.request(demo, "POST", f"/servers/{s1}/os-volume_attachments", json=body)
        assert resp.status_code == 200, resp.text
        msg = assert_fault(nova.request(demo, "POST", f"/servers/{s1}/os-volume_attachments",
                                        json=body), 400, "badRequest")
        assert msg == f"Invalid volume: volume {vid} already attached"
        assert_fault(nova.request(demo, "POST", f"/servers/{s2}/os-volume_attachments",
                                  json=body), 400, "badRequest")
        assert nova.request(demo, "GET", f"/servers/{s2}/os-volume_attachments").json() \
            == {"volumeAttachments": []}
    finally:
        for sid in (s1, s2):
            cloud.cli("server", "delete", "--wait", sid, cloud="kumo", parse=False)
        demo.session.delete(f"{volume}/volumes/{vid}", raise_exc=False)


def test_security_group_proxy_ids_are_uuids(nova, demo):
    rule = {"security_group_rule": {"parent_group_id": "not-a-uuid", "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22}}
    msg = assert_fault(nova.request(demo, "POST", "/os-security-group-rules", json=rule),
                       400, "badRequest")
    assert msg == "Security group id should be uuid"
    assert_fault(nova.request(demo, "GET", "/os-security-groups/not-a-uuid"), 400,
                 "badRequest")
    assert_fault(nova.request(demo, "GET",
                              "/os-security-groups/6d0cbdab-0a43-4cb5-bd0b-3ab3b0f9a0b9"),
                 404, "itemNotFound")


def test_extensions(cloud, nova, demo):
    resp = nova.request(demo, "GET", "/extensions")
    assert resp.status_code == 200
    exts = resp.json()["extensions"]
    assert len(exts) == 99
    assert {"Hosts", "DiskConfig", "Volumes"} <= {e["name"] for e in exts}
    for e in exts:
        assert set(e) == {"alias", "name", "description", "links", "namespace", "updated"}
    shown = nova.request(demo, "GET", "/extensions/os-consoles").json()
    assert shown["extension"]["alias"] == "os-consoles"
    assert shown["extension"]["name"] == "Consoles"
    assert_fault(nova.request(demo, "GET", "/extensions/os-nothing"), 404, "itemNotFound")
    rows = cloud.cli("extension", "list", "--compute", cloud="kumo")
    assert "os-hosts" in {r["Alias"] for r in rows}


def test_rebuild_stopped_server_stays_stopped(nova, demo, boot, image_id):
    sid = boot("wide-rebuild-stopped")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    assert act(nova, demo, sid, {"os-stop": None}).status_code == 202
    wait_status(nova, demo, sid, "SHUTOFF")
    resp = act(nova, demo, sid, {"rebuild": {"imageRef": image_id, "name": "rebuilt"}})
    assert resp.status_code == 202, resp.text
    body = wait_status(nova, demo, sid, "SHUTOFF")
    assert body["OS-EXT-STS:task_state"] is None and body["name"] == "rebuilt"
    actions = nova.request(demo, "GET", f"/servers/{sid}/os-instance-actions").json()[
        "instanceActions"]
    assert actions[0]["action"] == "rebuild"
    assert act(nova, demo, sid, {"os-start": None}).status_code == 202
    wait_status(nova, demo, sid, "ACTIVE")


def test_admin_actions_restore_and_inject_network_info(nova, admin, demo, boot):
    sid = boot("wide-admin-actions")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    # Kumo deletes at once (no soft delete), so nothing is ever restorable
    msg = assert_fault(act(nova, demo, sid, {"restore": None}), 409, "conflictingRequest")
    assert msg == f"Cannot 'restore' instance {sid} while it is in vm_state active"
    assert_fault(act(nova, demo, sid, {"injectNetworkInfo": None}), 403, "forbidden")
    assert act(nova, admin, sid, {"injectNetworkInfo": None}).status_code == 202
    assert wait_status(nova, demo, sid, "ACTIVE")["OS-EXT-STS:task_state"] is None


def test_hypervisor_search_uptime_and_hosts_zone(nova, admin, demo):
    # a fresh cloud's fake hosts come up just after "kumo: ready"
    found = wait_for(lambda: nova.request(admin, "GET", "/os-hypervisors/fake/search")
                     .json().get("hypervisors"), 60)
    assert {h["hypervisor_hostname"] for h in found} >= {"fake-0", "fake-1"}
    assert set(found[0]) == {"id", "hypervisor_hostname", "state", "status"}
    assert_fault(nova.request(admin, "GET", "/os-hypervisors/nowhere-x/search"), 404,
                 "itemNotFound")
    assert_fault(nova.request(admin, "GET", "/os-hypervisors/fake/search", version="2.53"),
                 404, "itemNotFound")
    assert_fault(nova.request(demo, "GET", "/os-hypervisors/fake/search"), 403,
                 "forbidden")
    hid = found[0]["id"]
    assert_fault(nova.request(demo, "GET", f"/os-hypervisors/{hid}/uptime"), 403,
                 "forbidden")
    # the fake hosts' agents report the machine's uptime (test_hypervisor_uptime.py)
    resp = nova.request(admin, "GET", f"/os-hypervisors/{hid}/uptime")
    assert resp.status_code == 200 and " up " in resp.json()["hypervisor"]["uptime"]
    assert_fault(nova.request(admin, "GET", "/os-hypervisors/999999/uptime"), 404,
                 "itemNotFound")
    every = nova.request(admin, "GET", "/os-hosts").json()["hosts"]
    assert every and nova.request(admin, "GET", "/os-hosts", params={"zone": ""}).json()[
        "hosts"] == every


def test_usage_empty_project_and_list_tenant_id_ignored(nova, admin, demo, boot):
    assert_fault(nova.request(admin, "GET", "/os-simple-tenant-usage/"), 404,
                 "itemNotFound")
    assert nova.request(admin, "GET", "/os-simple-tenant-usage").status_code == 200
    made = boot("wide-tenant-filter")
    project = demo.current_project_id
    # without all_tenants, tenant_id is ignored: the admin sees its own project's
    names = [s["name"] for s in nova.request(admin, "GET", "/servers", params={
        "tenant_id": project}).json()["servers"]]
    assert made["id"] and "wide-tenant-filter" not in names
    names = [s["name"] for s in nova.request(admin, "GET", "/servers/detail", params={
        "all_tenants": "", "tenant_id": project}).json()["servers"]]
    assert "wide-tenant-filter" in names


def test_list_and_rebuild_views_as_nova(nova, admin, demo, boot, image_id):
    """server_groups (2.71+) is in show, not in the detail list; the 2.75+ rebuild
    reply is the show view without OS-EXT-SRV-ATTR:user_data (``user_data`` instead)."""
    sid = boot("wide-views")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    shown = nova.request(demo, "GET", f"/servers/{sid}", version="2.96").json()["server"]
    assert shown["server_groups"] == []
    listed = nova.request(demo, "GET", "/servers/detail", version="2.96").json()["servers"]
    (item,) = [s for s in listed if s["id"] == sid]
    assert "server_groups" not in item and "pinned_availability_zone" in item
    resp = act(nova, admin, sid, {"rebuild": {"imageRef": image_id}}, "2.75")
    assert resp.status_code == 202, resp.text
    body = resp.json()["server"]
    assert "OS-EXT-SRV-ATTR:user_data" not in body and "user_data" in body
    assert "OS-EXT-SRV-ATTR:hostname" in body and body["server_groups"] == []


def test_quota_class_default_sets_project_defaults(nova, admin, demo, member):
    """os-quota-class-sets: the ``default`` class's values are every project's
    defaults (a project without its own limits follows them); keys per microversion."""
    pid = member.current_project_id
    shown = nova.request(admin, "GET", "/os-quota-class-sets/default").json()[
        "quota_class_set"]
    assert shown["id"] == "default"
    assert "floating_ips" in shown and "injected_files" in shown
    assert "server_groups" not in shown
    v257 = nova.request(admin, "GET", "/os-quota-class-sets/default", version="2.57").json()[
        "quota_class_set"]
    assert set(v257) == {"id", "instances", "cores", "ram", "metadata_items", "key_pairs",
                         "server_groups", "server_group_members"}
    assert_fault(nova.request(demo, "GET", "/os-quota-class-sets/default"), 403,
                 "forbidden")
    assert_fault(nova.request(admin, "PUT", "/os-quota-class-sets/default", json={
        "quota_class_set": {"floating_ips": 5}}, version="2.50"), 400, "badRequest")
    assert_fault(nova.request(admin, "PUT", "/os-quota-class-sets/default", json={
        "quota_class_set": {"cores": -2}}), 400, "badRequest")
    # the class's rows are not a project's: os-quota-sets cannot reach them
    assert_fault(nova.request(admin, "PUT", "/os-quota-sets/@default", json={
        "quota_set": {"cores": 1}}), 400, "badRequest")
    assert_fault(nova.request(admin, "DELETE", "/os-quota-sets/@default"), 400,
                 "badRequest")
    before = nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"]
    try:
        resp = nova.request(admin, "PUT", "/os-quota-class-sets/default", json={
            "quota_class_set": {"cores": v257["cores"] + 100, "floating_ips": 77}})
        assert resp.status_code == 200, resp.text
        body = resp.json()["quota_class_set"]
        assert "id" not in body
        assert body["cores"] == v257["cores"] + 100 and body["floating_ips"] == 77
        after = nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"]
        assert after["cores"] == before["cores"] + 100
        assert after["floating_ips"] == before["floating_ips"]  # Neutron's, untouched
        defaults = nova.request(admin, "GET", f"/os-quota-sets/{pid}/defaults").json()[
            "quota_set"]
        assert defaults["cores"] == v257["cores"] + 100
        limits = nova.request(member, "GET", "/limits").json()["limits"]["absolute"]
        assert limits["maxTotalCores"] == v257["cores"] + 100
    finally:
        nova.request(admin, "PUT", "/os-quota-class-sets/default", json={
            "quota_class_set": {"cores": v257["cores"]}})
    assert nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"][
        "cores"] == before["cores"]


def test_volume_proxies(cloud, nova, demo):
    """os-volumes and os-snapshots (before 2.36) reach Cinder with the caller's token
    and answer with Nova's views."""
    import time
    resp = nova.request(demo, "POST", "/os-volumes", json={"volume": {
        "size": 1, "display_name": "wide-proxy", "display_description": "d",
        "metadata": {"k": "v"}}})
    assert resp.status_code == 200, resp.text
    vol = resp.json()["volume"]
    vid = vol["id"]
    assert resp.headers["Location"].endswith(f"/os-volumes/{vid}")
    assert vol["displayName"] == "wide-proxy" and vol["size"] == 1
    assert vol["attachments"] == [{}] and vol["metadata"] == {"k": "v"}
    assert set(vol) == {"id", "status", "size", "availabilityZone", "createdAt",
                        "attachments", "displayName", "displayDescription",
                        "volumeType", "snapshotId", "metadata"}
    sid = None
    try:
        for _ in range(300):
            if nova.request(demo, "GET", f"/os-volumes/{vid}").json()["volume"][
                    "status"] == "available":
                break
            time.sleep(0.1)
        listed = nova.request(demo, "GET", "/os-volumes/detail").json()["volumes"]
        assert vid in {v["id"] for v in listed}
        assert len(nova.request(demo, "GET", "/os-volumes", params={"limit": 1}).json()[
            "volumes"]) == 1
        assert_fault(nova.request(demo, "GET", "/os-volumes", params={"offset": -1}),
                     400, "badRequest")
        assert_fault(nova.request(demo, "GET", f"/os-volumes/{vid}", version="2.36"), 404,
                     "itemNotFound")
        for bad in ({"size": 0}, {"size": "x"}, {}, {"size": 1, "nope": 1}):
            assert_fault(nova.request(demo, "POST", "/os-volumes", json={"volume": bad}),
                         400, "badRequest")
        assert_fault(nova.request(demo, "GET",
                                  "/os-volumes/6d0cbdab-0a43-4cb5-bd0b-3ab3b0f9a0b9"),
                     404, "itemNotFound")
        resp = nova.request(demo, "POST", "/os-snapshots", json={"snapshot": {
            "volume_id": vid, "display_name": "wide-snap", "force": False}})
        assert resp.status_code == 200, resp.text
        snap = resp.json()["snapshot"]
        sid = snap["id"]
        assert snap["volumeId"] == vid and snap["size"] == 1
        assert snap["displayName"] == "wide-snap"
        assert sid in {s["id"] for s in nova.request(demo, "GET", "/os-snapshots").json()[
            "snapshots"]}
        for _ in range(300):
            if nova.request(demo, "GET", f"/os-snapshots/{sid}").json()["snapshot"][
                    "status"] == "available":
                break
            time.sleep(0.1)
        rows = cloud.cli("volume", "snapshot", "list", cloud="kumo")
        assert "wide-snap" in {r["Name"] for r in rows}
        assert nova.request(demo, "DELETE", f"/os-snapshots/{sid}").status_code == 202
        for _ in range(300):
            if nova.request(demo, "GET", f"/os-snapshots/{sid}").status_code == 404:
                sid = None
                break
            time.sleep(0.1)
        assert sid is None
        assert nova.request(demo, "DELETE", f"/os-volumes/{vid}").status_code == 202
    finally:
        if sid:
            nova.request(demo, "DELETE", f"/os-snapshots/{sid}")
        nova.request(demo, "DELETE", f"/os-volumes/{vid}")


def test_trailing_slash_is_an_empty_id(nova, demo):
    """``GET /os-volumes/`` (an empty id) is Nova's 404, not the list; the version
    document and lists without an item route are unchanged."""
    for path in ("/os-volumes/", "/servers/", "/os-snapshots/", "/flavors/"):
        assert_fault(nova.request(demo, "GET", path), 404, "itemNotFound")
    assert nova.request(demo, "GET", "/servers").status_code == 200
    assert nova.request(demo, "GET", "/").status_code == 200


def test_quota_limits_given_as_strings_are_range_checked(nova, admin, member):
    """A limit given as a string of digits passes the schemas' bounds; the quota sets and
    the quota classes both check it (one helper, ``quotas.checked_limit``): 400 with
    Nova's message, nothing changed."""
    pid = member.current_project_id
    before = nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"]
    classes = nova.request(admin, "GET", "/os-quota-class-sets/default").json()[
        "quota_class_set"]
    past = str(2 ** 31)
    for path, key in ((f"/os-quota-sets/{pid}", "quota_set"),
                      ("/os-quota-class-sets/default", "quota_class_set")):
        msg = assert_fault(nova.request(admin, "PUT", path, json={
            key: {"ram": past}}), 400, "badRequest")
        assert msg == f"Quota limit {past} for ram must be less than or equal to {2**31 - 1}."
        msg = assert_fault(nova.request(admin, "PUT", path, json={
            key: {"cores": "-2"}}), 400, "badRequest")
        assert msg == "Quota limit -2 for cores must be greater than or equal to -1."
    assert nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"] == before
    assert nova.request(admin, "GET", "/os-quota-class-sets/default").json()[
        "quota_class_set"] == classes
