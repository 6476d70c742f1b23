"""Server actions through the fake compute hosts: stop/start, reboot, pause/unpause,
lock/unlock, rebuild, resize with confirm and revert, console output, create image,
wrong-state 409s, and instance actions."""
from __future__ import annotations

from tests.api.compute.conftest import assert_fault, wait_status


def act(nova, conn, sid, body, version="2.1"):
    return nova.request(conn, "POST", f"/servers/{sid}/action", json=body, version=version)


def test_stop_start_cli(cloud, demo, nova, boot):
    made = boot("act-stop")
    wait_status(nova, demo, made["id"], "ACTIVE")
    cloud.cli("server", "stop", made["id"], cloud="kumo", parse=False)
    body = wait_status(nova, demo, made["id"], "SHUTOFF")
    assert body["OS-EXT-STS:power_state"] == 4
    assert_fault(act(nova, demo, made["id"], {"os-stop": None}), 409,
                 "conflictingRequest")
    assert_fault(act(nova, demo, made["id"], {"pause": None}), 409, "conflictingRequest")
    cloud.cli("server", "start", made["id"], cloud="kumo", parse=False)
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert_fault(act(nova, demo, made["id"], {"os-start": None}), 409,
                 "conflictingRequest")


def test_reboot_soft_and_hard(demo, nova, boot):
    made = boot("act-reboot")
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert act(nova, demo, made["id"], {"reboot": {"type": "SOFT"}}).status_code == 202
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert act(nova, demo, made["id"], {"reboot": {"type": "HARD"}}).status_code == 202
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert_fault(act(nova, demo, made["id"], {"reboot": {"type": "WARM"}}), 400,
                 "badRequest")
    actions = [a["action"] for a in nova.request(
        demo, "GET", f"/servers/{made['id']}/os-instance-actions").json()[
        "instanceActions"]]
    assert actions[:3] == ["reboot", "reboot", "create"]


def test_pause_unpause(demo, nova, boot):
    made = boot("act-pause")
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert act(nova, demo, made["id"], {"pause": None}).status_code == 202
    assert wait_status(nova, demo, made["id"], "PAUSED")["OS-EXT-STS:power_state"] == 3
    assert act(nova, demo, made["id"], {"unpause": None}).status_code == 202
    wait_status(nova, demo, made["id"], "ACTIVE")


def test_lock_unlock(admin, demo, nova, boot):
    made = boot("act-lock")
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert act(nova, admin, made["id"], {"lock": {"locked_reason": "maint"}},
               "2.73").status_code == 202
    body = nova.request(demo, "GET", f"/servers/{made['id']}", version="2.73").json()
    assert body["server"]["locked"] is True and body["server"]["locked_reason"] == "maint"
    msg = assert_fault(act(nova, demo, made["id"], {"os-stop": None}), 409,
                       "conflictingRequest")
    assert "locked" in msg
    assert_fault(nova.request(demo, "DELETE", f"/servers/{made['id']}"), 409,
                 "conflictingRequest")
    assert_fault(act(nova, demo, made["id"], {"unlock": None}), 403, "forbidden")
    assert act(nova, admin, made["id"], {"unlock": None}).status_code == 202
    assert act(nova, demo, made["id"], {"os-stop": None}).status_code == 202


def test_rebuild(demo, nova, boot, image_id):
    made = boot("act-rebuild")
    wait_status(nova, demo, made["id"], "ACTIVE")
    resp = act(nova, demo, made["id"], {"rebuild": {
        "imageRef": image_id, "name": "rebuilt", "user_data": "ZWNobyBoaQ=="}}, "2.57")
    assert resp.status_code == 202
    assert resp.json()["server"]["name"] == "rebuilt"
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert_fault(act(nova, demo, made["id"], {"rebuild": {"imageRef": "nope"}}), 400,
                 "badRequest")


def test_resize_confirm_and_revert(demo, admin, nova, boot):
    made = boot("act-resize")
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert_fault(act(nova, demo, made["id"], {"confirmResize": None}), 400, "badRequest")
    assert act(nova, demo, made["id"], {"resize": {"flavorRef": "84"}}).status_code == 202
    body = wait_status(nova, demo, made["id"], "VERIFY_RESIZE", version="2.47")
    assert body["flavor"]["original_name"] == "m1.micro"
    assert act(nova, demo, made["id"], {"confirmResize": None}).status_code == 204
    wait_status(nova, demo, made["id"], "ACTIVE")
    assert act(nova, demo, made["id"], {"resize": {"flavorRef": "1"}}).status_code == 202
    wait_status(nova, demo, made["id"], "VERIFY_RESIZE")
    assert act(nova, demo, made["id"], {"revertResize": None}).status_code == 202
    body = wait_status(nova, demo, made["id"], "ACTIVE", version="2.47")
    assert body["flavor"]["original_name"] == "m1.micro"
    assert_fault(act(nova, demo, made["id"], {"resize": {"flavorRef": "84"}}), 400,
                 "badRequest")
    assert_fault(act(nova, demo, made["id"], {"resize": {"flavorRef": "nope"}}), 400,
                 "badRequest")


def test_console_output(cloud, demo, nova, boot):
    made = boot("act-console")
    wait_status(nova, demo, made["id"], "ACTIVE")

    def output(length=None):
        arg = {} if length is None else {"length": length}
        return act(nova, demo, made["id"], {"os-getConsoleOutput": arg}).json()["output"]
    full = output()
    assert full.strip(), "the agent reported no console"
    # Nova's tail: the last N pieces of the text split at "\n" (tempest counts them)
    assert output(1) == full.split("\n")[-1]
    assert len(output(3).split("\n")) == min(3, len(full.split("\n")))
    assert output("2") == "\n".join(full.split("\n")[-2:])
    assert output(0) == "" and output(-1) == full
    text = cloud.cli("console", "log", "show", made["id"], cloud="kumo", parse=False)
    assert text.strip().splitlines()[0] == full.strip().splitlines()[0]


def test_create_image(demo, nova, boot):
    made = boot("act-snap")
    wait_status(nova, demo, made["id"], "ACTIVE")
    resp = act(nova, demo, made["id"], {"createImage": {"name": "snap-1",
                                                        "metadata": {"k": "v"}}}, "2.45")
    assert resp.status_code == 202
    image_id = resp.json()["image_id"]
    try:
        base = nova.base.rsplit("/compute", 1)[0]
        image = demo.session.get(f"{base}/image/v2/images/{image_id}").json()
        assert image["name"] == "snap-1" and image["k"] == "v"
        assert image["instance_uuid"] == made["id"]
        assert image["image_type"] == "snapshot"
    finally:
        demo.image.delete_image(image_id)


def test_unknown_action_and_instance_action_events(admin, demo, nova, boot):
    made = boot("act-misc")
    assert_fault(act(nova, demo, made["id"], {"frobnicate": None}), 400, "badRequest")
    wait_status(nova, demo, made["id"], "ACTIVE")
    actions = nova.request(demo, "GET", f"/servers/{made['id']}/os-instance-actions")
    (create,) = actions.json()["instanceActions"]
    detail = nova.request(admin, "GET", f"/servers/{made['id']}/os-instance-actions/"
                                        f"{create['request_id']}").json()["instanceAction"]
    assert detail["action"] == "create"
    assert detail["events"][0]["event"] == "compute__do_build_and_run_instance"
    assert detail["events"][0]["result"] == "Success"
    mine = nova.request(demo, "GET", f"/servers/{made['id']}/os-instance-actions/"
                                     f"{create['request_id']}").json()["instanceAction"]
    assert "events" not in mine
