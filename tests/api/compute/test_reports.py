"""The compute agents' reports: instance status and console reports and host
heartbeats never wait for the revision rows tenants' writes hold, and the console
text lives apart from the instance row (``compute_console``) yet reads back through
``os-getConsoleOutput`` (played on hosts the test is the agent of)."""
from __future__ import annotations

import httpx
import pytest

from tests.api.compute.conftest import assert_fault, wait_status
from tests.api.compute.test_scheduler import Ghosts
from tests.api.network.test_agent_status import holding_revisions


def _console(nova, conn, sid, length=None):
    arg = {} if length is None else {"length": length}
    resp = nova.request(conn, "POST", f"/servers/{sid}/action",
                        json={"os-getConsoleOutput": arg})
    assert resp.status_code == 200, resp.text
    return resp.json()["output"]


def test_console_report_reads_back(demo, admin, nova, boot):
    ghosts = Ghosts(nova, admin, 1)
    host = ghosts.hosts[0]
    sid = None
    try:
        sid = boot("console-rep", availability_zone=ghosts.zone)["id"]
        assert_fault(nova.request(demo, "POST", f"/servers/{sid}/action",
                                  json={"os-getConsoleOutput": {}}), 409, "conflictingRequest")
        assert ghosts.report(sid, host, power_state="running", reboot_seq=0, rebuild_seq=0,
                             console="one\ntwo\nthree\n").status_code == 204
        wait_status(nova, demo, sid, "ACTIVE")
        assert _console(nova, demo, sid) == "one\ntwo\nthree\n"
        # Nova's tail: the last 2 pieces of the text split at "\n"
        assert _console(nova, demo, sid, 2) == "three\n"
        assert _console(nova, demo, sid, 3) == "two\nthree\n"
        # a report without console keeps the text; a new one replaces it
        assert ghosts.report(sid, host, power_state="running", reboot_seq=0,
                             rebuild_seq=0).status_code == 204
        assert _console(nova, demo, sid) == "one\ntwo\nthree\n"
        big = "x" * 70000 + "\nlast line\n"
        assert ghosts.report(sid, host, power_state="running", reboot_seq=0,
                             rebuild_seq=0, console=big).status_code == 204
        out = _console(nova, demo, sid)
        assert len(out) == 65536 and out.endswith("last line\n")
        # server lists and shows carry no console
        listed = nova.request(demo, "GET", "/servers/detail").json()["servers"]
        assert all("last line" not in str(s) for s in listed if s["id"] == sid)
        assert ghosts.report(sid, "elsewhere", power_state="running",
                             console="not mine").status_code == 409
        assert _console(nova, demo, sid).endswith("last line\n")
        assert nova.request(demo, "DELETE", f"/servers/{sid}").status_code == 204
        assert ghosts.report(sid, host, power_state="running",
                             console="late").status_code == 404
    finally:
        if sid:  # a host with a live server cannot be removed
            nova.request(demo, "DELETE", f"/servers/{sid}")
        ghosts.remove()


def test_reports_do_not_wait_for_revisions(cloud, demo, admin, nova, boot):
    """On PostgreSQL: while another transaction holds the network and compute revision
    rows, a status report that completes a boot (with its console) and a host
    heartbeat still answer (10 s client timeout)."""
    if cloud.backend != "postgresql":
        pytest.skip("the revision row lock is PostgreSQL's (SQLite has one writer)")
    ghosts = Ghosts(nova, admin, 1)
    host = ghosts.hosts[0]
    base = nova.base.rsplit("/v2.1", 1)[0] + "/kumo/v1"
    sid = None
    try:
        sid = boot("lock-rep", availability_zone=ghosts.zone)["id"]
        headers = {"X-Auth-Token": admin.session.get_token()}
        with holding_revisions(cloud, "network", "compute"), \
                httpx.Client(headers=headers, timeout=10) as http:
            done = http.post(f"{base}/instances/{sid}/status", json={
                "host": host, "power_state": "running", "reboot_seq": 0,
                "rebuild_seq": 0, "console": "booted under the lock\n"})
            assert done.status_code == 204, done.text
            beat = http.post(f"{base}/hosts/heartbeat", json={
                "host": host, "hypervisor_type": "fake", "hypervisor_hostname": host,
                "vcpus": 4, "memory_mb": 4096, "local_gb": 40,
                "availability_zone": ghosts.zone, "driver": "fake",
                "host_ip": "127.0.0.1"})
            assert beat.status_code == 204, beat.text
        assert wait_status(nova, demo, sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
        assert _console(nova, demo, sid) == "booted under the lock\n"
    finally:
        if sid:  # a host with a live server cannot be removed
            nova.request(demo, "DELETE", f"/servers/{sid}")
        ghosts.remove()
