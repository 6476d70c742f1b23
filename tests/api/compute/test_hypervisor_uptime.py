"""Hypervisor uptime (Compute API "Show Hypervisor Uptime" before 2.88, ``uptime`` in a
2.88+ hypervisor): the fake hosts' agents report this machine's boot time, load and
users with their heartbeats, and the API answers the ``uptime`` line Nova's libvirt
driver does; it parses back to this machine's boot time (``btime`` in /proc/stat). A
host whose agent reports no boot time answers Nova's 501 (null from 2.88), a down one
400 (null from 2.88)."""
from __future__ import annotations

import re
import time
import uuid

import openstack
import pytest

from tests.api.compute.conftest import assert_fault, wait_for

#: python-openstackclient's parse of the line (``openstack hypervisor show``)
OSC = re.compile(r"\s*(.+)\sup\s+(.+),\s+(.+)\susers?,\s+load average:\s(.+)")
#: the ``uptime`` command's shape, strictly
LINE = re.compile(r"^ (\d\d):(\d\d):(\d\d) up (?:(\d+) days?, )?(?:\s?(\d+):(\d\d)|(\d+) min), "
                  r"+(\d+) users?,  load average: (\d+\.\d\d), (\d+\.\d\d), (\d+\.\d\d)$")


def machine_boot_time() -> int:
    for line in open("/proc/stat"):
        if line.startswith("btime "):
            return int(line.split()[1])
    raise AssertionError("no btime in /proc/stat")


def assert_machine_uptime(text: str) -> None:
    """``text`` is an ``uptime`` line whose clock is now (UTC) and whose uptime says
    this machine booted at its /proc/stat ``btime`` (to the minute the line shows)."""
    m = LINE.match(text)
    assert m, f"not an uptime line: {text!r}"
    hh, mm, ss, days, hours, minutes, mins, users = (
        int(g) if g is not None else None for g in m.groups()[:8])
    now = time.time()
    clock = hh * 3600 + mm * 60 + ss
    today = int(now) % 86400
    skew = min((today - clock) % 86400, (clock - today) % 86400)
    assert skew < 600, f"the line's clock {text[:9]} is not now (UTC)"
    up = (days or 0) * 86400 + ((hours or 0) * 3600 + (minutes or 0) * 60 if mins is None
                                else mins * 60)
    booted = now - up
    # the line shows whole minutes: the boot it says is within its last minute (and the
    # few seconds between the request and now)
    assert -600 < booted - machine_boot_time() < 660, (text, machine_boot_time())
    assert users >= 0 and all(float(x) >= 0 for x in m.groups()[8:])
    assert OSC.match(text)


def _hyp(nova, admin, name: str, version: str = "2.1") -> dict:
    """The hypervisor ``name``'s detail view (waiting for a fresh cloud's fake hosts'
    first heartbeats: ``kumo: ready`` comes before them)."""
    def find():
        hyps = nova.request(admin, "GET", "/os-hypervisors/detail", version=version).json()
        return next((h for h in hyps["hypervisors"] if h["hypervisor_hostname"] == name),
                    None)
    found = wait_for(find, 60)
    assert found, f"no hypervisor {name}"
    return found


def test_uptime_of_fake_host_pre_2_88(nova, admin, demo):
    hid = _hyp(nova, admin, "fake-0")["id"]
    resp = nova.request(admin, "GET", f"/os-hypervisors/{hid}/uptime")
    assert resp.status_code == 200, resp.text
    body = resp.json()["hypervisor"]
    assert set(body) == {"id", "hypervisor_hostname", "state", "status", "uptime"}
    assert body["id"] == hid and body["hypervisor_hostname"] == "fake-0"
    assert body["state"] == "up"
    assert_machine_uptime(body["uptime"])
    # 2.53: the hypervisor's UUID
    uid = _hyp(nova, admin, "fake-0", "2.53")["id"]
    resp = nova.request(admin, "GET", f"/os-hypervisors/{uid}/uptime", version="2.53")
    assert resp.json()["hypervisor"]["id"] == uid
    assert_machine_uptime(resp.json()["hypervisor"]["uptime"])
    # gone at 2.88; admin only
    assert_fault(nova.request(admin, "GET", f"/os-hypervisors/{uid}/uptime",
                              version="2.88"), 404, "itemNotFound")
    assert_fault(nova.request(demo, "GET", f"/os-hypervisors/{hid}/uptime"), 403,
                 "forbidden")


def test_uptime_in_2_88_views(nova, admin):
    hyp = _hyp(nova, admin, "fake-1", "2.88")
    assert_machine_uptime(hyp["uptime"])
    shown = nova.request(admin, "GET", f"/os-hypervisors/{hyp['id']}", version="2.88")
    assert_machine_uptime(shown.json()["hypervisor"]["uptime"])
    # not in views before 2.88 (the uptime route has it)
    old = nova.request(admin, "GET", f"/os-hypervisors/{_hyp(nova, admin, 'fake-1')['id']}")
    assert "uptime" not in old.json()["hypervisor"]


def test_uptime_with_openstacksdk(cloud, admin):
    (hyp,) = [h for h in admin.compute.hypervisors(details=True)
              if h.name == "fake-0"]
    # openstacksdk shows a hypervisor at 2.88: uptime is in the body
    assert_machine_uptime(admin.compute.get_hypervisor(hyp.id).uptime)
    # and reads the uptime route below 2.88
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
    old = openstack.connection.Connection(
        config=config.get_one("kumo-admin", compute_api_version="2.53"))
    with pytest.warns(Warning):  # openstacksdk: deprecated, only until 2.88
        assert_machine_uptime(old.compute.get_hypervisor_uptime(hyp.id).uptime)


def test_hypervisor_show_cli_prints_uptime(cloud):
    for version in ((), ("--os-compute-api-version", "2.53")):
        shown = cloud.cli(*version, "hypervisor", "show", "fake-0")
        # python-openstackclient splits Nova's line into these
        assert set(shown) >= {"host_time", "uptime", "users", "load_average"}, shown
        assert re.fullmatch(r"\d\d:\d\d:\d\d", shown["host_time"])
        assert re.fullmatch(r"(\d+ days?, )?(\s?\d+:\d\d|\d+ min)", shown["uptime"])
        assert shown["users"].strip().isdigit()
        assert re.fullmatch(r"\d+\.\d\d, \d+\.\d\d, \d+\.\d\d", shown["load_average"])


@pytest.fixture
def silent_host(nova, admin):
    """A compute host whose agent (the test) reports no boot time (as an older agent),
    disabled and in a zone of its own so nothing is scheduled to it."""
    name = "quiet-" + uuid.uuid4().hex[:8]

    def beat(**extra):
        resp = nova.agent(admin, "POST", "/hosts/heartbeat", json={
            "host": name, "hypervisor_type": "fake", "hypervisor_hostname": name,
            "vcpus": 1, "memory_mb": 512, "local_gb": 1, "availability_zone": name,
            "driver": "fake", "host_ip": "127.0.0.1", **extra})
        assert resp.status_code == 204, resp.text
    beat()
    services = nova.request(admin, "GET", "/os-services", version="2.53").json()["services"]
    sid = next(s["id"] for s in services if s["host"] == name)
    assert nova.request(admin, "PUT", f"/os-services/{sid}", version="2.53", json={
        "status": "disabled", "disabled_reason": "uptime test"}).status_code == 200
    yield name, sid, beat
    nova.request(admin, "DELETE", f"/os-services/{sid}", version="2.53")


def test_host_without_report_answers_501(nova, admin, silent_host):
    name, sid, beat = silent_host
    hyp = _hyp(nova, admin, name)
    resp = nova.request(admin, "GET", f"/os-hypervisors/{hyp['id']}/uptime")
    msg = assert_fault(resp, 501, "notImplemented")
    assert msg == "Virt driver does not implement uptime function."
    new = _hyp(nova, admin, name, "2.88")
    assert new["uptime"] is None
    shown = nova.request(admin, "GET", f"/os-hypervisors/{new['id']}", version="2.88")
    assert shown.json()["hypervisor"]["uptime"] is None

    # the agent starts reporting: 2 days, 3 hours and 4 minutes ago, 1 user
    booted = int(time.time()) - (2 * 86400 + 3 * 3600 + 4 * 60 + 30)
    beat(boot_time=booted, load_average=[0.5, 0.25, 1], users=1)
    text = nova.request(admin, "GET", f"/os-hypervisors/{hyp['id']}/uptime").json()[
        "hypervisor"]["uptime"]
    m = re.fullmatch(r" (\d\d:\d\d:\d\d) up 2 days,  3:(\d\d),  1 user,  "
                     r"load average: 0\.50, 0\.25, 1\.00", text)
    assert m and m.group(2) in ("04", "05"), text
    shown = nova.request(admin, "GET", f"/os-hypervisors/{new['id']}", version="2.88")
    assert shown.json()["hypervisor"]["uptime"].endswith("0.50, 0.25, 1.00")

    # a heartbeat without it again (the agent downgraded): back to 501
    beat()
    assert_fault(nova.request(admin, "GET", f"/os-hypervisors/{hyp['id']}/uptime"), 501,
                 "notImplemented")


def test_down_host_uptime(nova, admin, silent_host):
    name, sid, beat = silent_host
    beat(boot_time=int(time.time()) - 300, load_average=[0, 0, 0], users=0)
    hyp = _hyp(nova, admin, name)
    text = nova.request(admin, "GET", f"/os-hypervisors/{hyp['id']}/uptime").json()[
        "hypervisor"]["uptime"]
    assert re.search(r" up ([45]|6) min,  0 users,  load average: 0\.00, 0\.00, 0\.00$",
                     text), text
    resp = nova.request(admin, "PUT", f"/os-services/{sid}", version="2.53",
                        json={"forced_down": True})
    assert resp.status_code == 200, resp.text
    # Nova asks only a live host: 400; and null in the 2.88 view
    msg = assert_fault(nova.request(admin, "GET", f"/os-hypervisors/{hyp['id']}/uptime"),
                       400, "badRequest")
    assert msg == f"Compute service of {name} is unavailable at this time."
    assert _hyp(nova, admin, name, "2.88")["uptime"] is None


@pytest.mark.parametrize("extra", [{"boot_time": -1}, {"boot_time": "x"},
                                   {"load_average": [1, 2]}, {"users": -3},
                                   {"boot_time": 10 ** 12}])
def test_heartbeat_uptime_fields_checked(nova, admin, extra):
    resp = nova.agent(admin, "POST", "/hosts/heartbeat",
                      json={"host": "never-" + uuid.uuid4().hex[:8], **extra})
    assert resp.status_code == 400, resp.text

