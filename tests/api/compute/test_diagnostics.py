"""Server diagnostics from the agents' reports (issue 16): the fake agent's honest
zeros, then a report fed through the agent route, rendered as Nova's 2.48 object and
libvirt's pre-2.48 flat dict; a bad report is a 400 that changes nothing."""
from __future__ import annotations

import time

from tests.api.compute.conftest import wait_for, wait_status

NIC = {"rx_octets": 1500, "rx_packets": 10, "rx_errors": 0, "rx_drop": 1,
       "tx_octets": 980, "tx_packets": 7, "tx_errors": 2, "tx_drop": 0}


def _diag(nova, conn, sid, version):
    resp = nova.request(conn, "GET", f"/servers/{sid}/diagnostics", version=version)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_diagnostics_from_agent_reports(admin, demo, nova, boot):
    sid = boot("diag")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    server = nova.request(admin, "GET", f"/servers/{sid}").json()["server"]
    host = server["OS-EXT-SRV-ATTR:host"]
    iface = nova.request(demo, "GET", f"/servers/{sid}/os-interface").json()[
        "interfaceAttachments"][0]
    port, mac = iface["port_id"], iface["mac_addr"]

    # the fake host's own report: nothing runs there, so zeros (not nulls)
    def fake_reported():
        body = _diag(nova, admin, sid, "2.48")
        return body if body["cpu_details"][0]["time"] == 0 else None
    body = wait_for(fake_reported)
    assert body, "the fake agent never reported diagnostics"
    vcpus = body["num_cpus"]
    assert body["memory_details"]["used"] == 0 and body["uptime"] is not None
    assert body["nic_details"][0]["rx_packets"] == 0 and body["num_disks"] == 1

    started = time.time() - 100
    report = {"started_at": started, "cpu_time_ns": 5_000_000,
              "vcpu_times_ns": [5_000_000] + [None] * (vcpus - 1),
              "memory_used_bytes": 3 << 20, "memory_max_bytes": 64 << 20,
              "memory_rss_bytes": 2 << 20, "nics": [{"port_id": port, **NIC}],
              "disks": [{"name": "vda", "read_bytes": 4096, "read_requests": 1,
                         "write_bytes": 8192, "write_requests": 2, "errors_count": None}]}
    resp = nova.agent(admin, "POST", f"/instances/{sid}/status", json={
        "host": host, "power_state": "running", "diagnostics": report})
    assert resp.status_code == 204, resp.text

    body = _diag(nova, admin, sid, "2.48")
    assert 100 <= body["uptime"] < 100 + 600
    body.pop("uptime")
    maximum = body["memory_details"]["maximum"]
    assert maximum > 0
    assert body == {
        "state": "running", "driver": "fake", "hypervisor": "fake",
        "hypervisor_os": "linux", "config_drive": False, "num_cpus": vcpus,
        "num_nics": 1, "num_disks": 1,
        "memory_details": {"maximum": maximum, "used": 3},
        "cpu_details": [{"id": i, "time": 5_000_000 if i == 0 else None,
                         "utilisation": None} for i in range(vcpus)],
        "nic_details": [{"mac_address": mac, **NIC, "rx_rate": None, "tx_rate": None}],
        "disk_details": [{"read_bytes": 4096, "read_requests": 1, "write_bytes": 8192,
                          "write_requests": 2, "errors_count": None}]}

    tap = "tap" + port[:11]
    assert _diag(nova, admin, sid, "2.47") == {
        "cpu0_time": 5_000_000, "memory": maximum * 1024, "memory-actual": 65536,
        "memory-rss": 2048, "vda_read": 4096, "vda_read_req": 1, "vda_write": 8192,
        "vda_write_req": 2, f"{tap}_rx": 1500, f"{tap}_rx_packets": 10,
        f"{tap}_rx_errors": 0, f"{tap}_rx_drop": 1, f"{tap}_tx": 980,
        f"{tap}_tx_packets": 7, f"{tap}_tx_errors": 2, f"{tap}_tx_drop": 0}

    # a bad report: 400, and the figures stay
    for bad in ({"cpu_time_ns": -1}, {"nics": [{"rx_octets": 1}]},
                {"disks": [{"name": "../etc", "read_bytes": 1}]}, {"bogus": 1}):
        resp = nova.agent(admin, "POST", f"/instances/{sid}/status", json={
            "host": host, "power_state": "running", "diagnostics": bad})
        assert resp.status_code == 400, (bad, resp.text)
    assert _diag(nova, admin, sid, "2.48")["memory_details"]["used"] == 3
