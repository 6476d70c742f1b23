"""The netns driver's diagnostics counters for real (issue 16): a cirros instance in a
simulated host (the DHCP LAN of test_virt_netns) pings its DHCP server through its NIC,
and reads its attached volume, and the diagnostics its agent reports show the guest's
tx and rx packets grow, the volume's reads, memory and CPU time used, its start time.
The instance, its namespaces, loop device and cgroups are removed at teardown."""
from __future__ import annotations

import subprocess
import time
import uuid

from kumo.agent.compute import ComputeAgent
from kumo.agent.dataplane import names
from kumo.agent.virt.netns import NetnsDriver
from tests.agent.compute_stub import StubCompute, instance
from tests.dataplane.test_virt_netns import IP, MAC, lan, wait_for  # noqa: F401 (lan)


def _last_diag(stub, iid):
    with stub._cond:
        for sid, body in reversed(stub.statuses):
            if sid == iid and body.get("diagnostics") is not None:
                return body["diagnostics"]
    return None


def test_diagnostics_count_the_guest_for_real(lan, image, tmp_path):
    host, attach = lan
    img, data = image
    stub = StubCompute()
    port = {"id": str(uuid.uuid4()), "mac_address": MAC, "mtu": 1500, "network_id": "n",
            "fixed_ips": [{"subnet_id": "s", "ip_address": IP, "cidr": "10.91.0.0/24",
                           "gateway_ip": None}]}
    vol = tmp_path / "vol"
    vol.write_bytes(b"\x01" * (4 << 20))
    inst = stub.put(instance("h", 0xd, image=img, ports=[port], hostname="vm-diag",
                             flavor={"vcpus": 1, "ram": 96, "disk": 1}, volumes=[
                                 {"volume_id": str(uuid.uuid4()), "attachment_id": "a",
                                  "device": "vdb", "path": str(vol), "mode": "rw",
                                  "boot": False}]))
    iid = inst["id"]
    drv = NetnsDriver("h", where=host, state_dir=str(tmp_path / "compute"),
                      fetch=lambda i: [data], stop_grace_s=5.0)
    agent = ComputeAgent(stub, "h", drv, workers=2, resync_s=2.0, heartbeat_s=1.0,
                         wait_s=1.0, status_interval_s=0.2, diagnostics_interval_s=0.2)
    agent.start()
    try:
        attach(names.tap(port["id"]))
        wait_for(lambda: any(f"address {IP}/24" in c for c in stub.consoles(iid)),
                 "the lease in the reported console")
        before = wait_for(lambda: _last_diag(stub, iid), "a diagnostics report")
        nic0 = before["nics"][0]
        assert nic0["port_id"] == port["id"]
        assert before["started_at"] is not None and before["started_at"] <= time.time()
        assert [d["name"] for d in before["disks"]] == ["vda", "vdb"]
        proc = subprocess.run(drv.enter_argv(iid) + ["ping", "-c", "5", "-W", "2",
                                                     "10.91.0.2"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # and reads its volume's block device (from inside its cgroups: nsenter enters
        # the namespaces only)
        groups = (drv._dir(iid) / "cgroups").read_text().split()
        join = "".join(f"echo $$ > {g}/cgroup.procs; " for g in groups)
        proc = subprocess.run(["sh", "-c", join + 'exec "$@"', "sh", *drv.enter_argv(iid),
                               "dd", "if=/dev/vdb", "of=/dev/null", "bs=4096",
                               "count=64"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr

        def grown():
            d = _last_diag(stub, iid)
            n = d["nics"][0]
            return d if (n["tx_packets"] >= nic0["tx_packets"] + 5 and
                         n["rx_packets"] >= nic0["rx_packets"] + 5) else None
        after = wait_for(grown, "the pings counted in a report")
        n = after["nics"][0]
        assert n["tx_octets"] > nic0["tx_octets"] and n["rx_octets"] > nic0["rx_octets"]
        if drv.cgroups.mode != "none":
            if "blkio" in drv.cgroups.dirs or drv.cgroups.mode == "v2":
                wait_for(lambda: _last_diag(stub, iid)["disks"][1]["read_bytes"]
                         and _last_diag(stub, iid)["disks"][1]["read_requests"],
                         "the volume's reads counted")
            assert after["memory_used_bytes"] > 0
            assert after["memory_max_bytes"] == 96 << 20
            assert after["cpu_time_ns"] > 0 and after["vcpu_times_ns"][0] > 0
    finally:
        agent.stop()
        for leftover in list(drv.list_instances()):
            drv.destroy(leftover)
    assert not drv.cgroups.exists(iid)
