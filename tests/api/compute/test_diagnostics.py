"""Server diagnostics from the agents' reports (issue 16), played on a host the test is
the agent of: nulls before the first report; a report's counters rendered as Nova's
2.48 object and libvirt's pre-2.48 flat dict; a bad report is a 400 that changes
nothing; the figures of a stopped server."""
from __future__ import annotations

import time

from tests.api.compute.conftest import wait_status
from tests.api.compute.test_scheduler import Ghosts

NIC = {"rx_octets": 1500, "rx_packets": 10, "rx_errors": 0, "rx_drop": 1,
       "tx_octets": 980, "tx_packets": 7, "tx_errors": 2, "tx_drop": 0}


def _diag(nova, conn, sid, version):
    resp = nova.request(conn, "GET", f"/servers/{sid}/diagnostics", version=version)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_diagnostics_from_agent_reports(admin, demo, nova, boot):
    ghosts = Ghosts(nova, admin, 1)
    host = ghosts.hosts[0]
    sid = None
    try:
        sid = boot("diag", availability_zone=ghosts.zone)["id"]
        assert ghosts.report(sid, host, power_state="running").status_code == 204
        wait_status(nova, demo, sid, "ACTIVE")
        iface = nova.request(demo, "GET", f"/servers/{sid}/os-interface").json()[
            "interfaceAttachments"][0]
        port, mac = iface["port_id"], iface["mac_addr"]

        # before the first diagnostics report: the shape, with nulls
        body = _diag(nova, admin, sid, "2.48")
        vcpus, maximum = body["num_cpus"], body["memory_details"]["maximum"]
        assert vcpus >= 1 and maximum > 0
        nulls = dict.fromkeys(NIC) | {"rx_rate": None, "tx_rate": None}
        assert body == {
            "state": "running", "driver": "fake", "hypervisor": "fake",
            "hypervisor_os": "linux", "uptime": None, "config_drive": False,
            "num_cpus": vcpus, "num_nics": 1, "num_disks": 1,
            "memory_details": {"maximum": maximum, "used": None},
            "cpu_details": [{"id": i, "time": None, "utilisation": None}
                            for i in range(vcpus)],
            "nic_details": [{"mac_address": mac, **nulls}],
            "disk_details": [{"read_bytes": None, "read_requests": None,
                              "write_bytes": None, "write_requests": None,
                              "errors_count": None}]}
        assert _diag(nova, admin, sid, "2.47") == {"memory": maximum * 1024}

        report = {"started_at": time.time() - 100, "cpu_time_ns": 5_000_000,
                  "vcpu_times_ns": [5_000_000] + [None] * (vcpus - 1),
                  "memory_used_bytes": 3 << 20, "memory_max_bytes": 64 << 20,
                  "memory_rss_bytes": 2 << 20, "nics": [{"port_id": port, **NIC}],
                  "disks": [{"name": "vda", "read_bytes": 4096, "read_requests": 1,
                             "write_bytes": 8192, "write_requests": 2,
                             "errors_count": None}]}
        assert ghosts.report(sid, host, power_state="running",
                             diagnostics=report).status_code == 204
        body = _diag(nova, admin, sid, "2.48")
        assert 100 <= body.pop("uptime") < 100 + 600  # seconds since the guest started
        assert body == {
            "state": "running", "driver": "fake", "hypervisor": "fake",
            "hypervisor_os": "linux", "config_drive": False, "num_cpus": vcpus,
            "num_nics": 1, "num_disks": 1,
            "memory_details": {"maximum": maximum, "used": 3},
            "cpu_details": [{"id": i, "time": 5_000_000 if i == 0 else None,
                             "utilisation": None} for i in range(vcpus)],
            "nic_details": [{"mac_address": mac, **NIC, "rx_rate": None,
                             "tx_rate": None}],
            "disk_details": [{"read_bytes": 4096, "read_requests": 1,
                              "write_bytes": 8192, "write_requests": 2,
                              "errors_count": None}]}
        tap = "tap" + port[:11]
        assert _diag(nova, admin, sid, "2.47") == {
            "cpu0_time": 5_000_000, "memory": maximum * 1024, "memory-actual": 65536,
            "memory-rss": 2048, "vda_read": 4096, "vda_read_req": 1, "vda_write": 8192,
            "vda_write_req": 2, f"{tap}_rx": 1500, f"{tap}_rx_packets": 10,
            f"{tap}_rx_errors": 0, f"{tap}_rx_drop": 1, f"{tap}_tx": 980,
            f"{tap}_tx_packets": 7, f"{tap}_tx_errors": 2, f"{tap}_tx_drop": 0}

        # a report without diagnostics keeps them; a bad one is a 400 changing nothing
        assert ghosts.report(sid, host, power_state="running").status_code == 204
        for bad in ({"cpu_time_ns": -1}, {"nics": [{"rx_octets": 1}]},
                    {"disks": [{"name": "../etc", "read_bytes": 1}]}, {"bogus": 1},
                    {"memory_used_bytes": "lots"}):
            resp = ghosts.report(sid, host, power_state="running", diagnostics=bad)
            assert resp.status_code == 400, (bad, resp.text)
            assert list(resp.json()) == ["badRequest"]
        assert _diag(nova, admin, sid, "2.48")["memory_details"]["used"] == 3
        # stopped: no uptime; the last counters stay
        assert nova.request(demo, "POST", f"/servers/{sid}/action",
                            json={"os-stop": None}).status_code == 202
        assert ghosts.report(sid, host, power_state="shutdown").status_code == 204
        wait_status(nova, demo, sid, "SHUTOFF")
        body = _diag(nova, admin, sid, "2.48")
        assert body["state"] == "shutdown" and body["uptime"] is None
        assert body["nic_details"][0]["rx_packets"] == 10
    finally:
        if sid:
            nova.request(demo, "DELETE", f"/servers/{sid}")
        ghosts.remove()
