"""Parsing the kernel's counters for diagnostics (kumo.agent.virt.stats), and a real
cgroup's figures where the machine has cgroups (a group the test makes and removes)."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from kumo.agent.virt import stats
from kumo.agent.virt.cgroups import Cgroups


def test_io_v2_and_v1_parse_to_one_shape():
    v2 = stats.io_v2("7:3 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                     "8:0 rbytes=10 wbytes=0 rios=1 wios=0\n")
    assert v2 == {(7, 3): {"read_bytes": 4096, "write_bytes": 8192, "read_requests": 1,
                           "write_requests": 2},
                  (8, 0): {"read_bytes": 10, "write_bytes": 0, "read_requests": 1,
                           "write_requests": 0}}
    v1 = stats.io_v1("7:3 Read 4096\n7:3 Write 8192\n7:3 Sync 1\n7:3 Total 12288\n"
                     "Total 12288\n", "7:3 Read 1\n7:3 Write 2\n")
    assert v1 == {(7, 3): v2[(7, 3)]}


def test_vcpu_times_and_nic_swap():
    st = {"cpu_time_ns": 90, "cpu_percpu_ns": [5, 10, 20, 60]}
    assert stats.vcpu_times(st, [1, 3], 2) == [10, 60]  # pinned: vCPU i = cpus[i]
    assert stats.vcpu_times(st, None, 1) == [90]  # one vCPU: the total
    assert stats.vcpu_times({"cpu_time_ns": 90}, None, 2) == [None, None]  # unknowable
    link = {"rx_bytes": 1, "rx_packets": 2, "rx_errors": 3, "rx_dropped": 4,
            "tx_bytes": 5, "tx_packets": 6, "tx_errors": 7, "tx_dropped": 8}
    # the tap's tx is what the guest received
    assert stats.nic_counters(link) == {
        "rx_octets": 5, "rx_packets": 6, "rx_errors": 7, "rx_drop": 8,
        "tx_octets": 1, "tx_packets": 2, "tx_errors": 3, "tx_drop": 4}
    assert set(stats.nic_counters(None).values()) == {None}


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_a_real_cgroup_counts_cpu_and_memory():
    cg = Cgroups()
    if cg.mode == "none":
        pytest.skip("no usable cgroups")
    name = str(uuid.uuid4())
    dirs = cg.ensure(name, 1, 64)
    try:
        # a process that burns a little CPU and memory inside the group
        script = ("for d in " + " ".join(dirs) + "; do echo $$ > $d/cgroup.procs; done; "
                  "x=$(head -c 2000000 /dev/zero | tr '\\0' a); i=0; "
                  "while [ $i -lt 20000 ]; do i=$((i+1)); done")
        subprocess.run(["sh", "-c", script], check=True, timeout=60)
        st = stats.cgroup_stats(cg, name)
        assert st["cpu_time_ns"] > 0
        assert st["memory_limit_bytes"] == 64 << 20
        assert st["memory_used_bytes"] is not None
    finally:
        cg.remove(name)
    assert not cg.exists(name)


def test_disks_are_root_volumes_then_config_drive(monkeypatch):
    """vda, the attached volumes by device, then the config drive: each loop's own
    counters, the root's from the non-loop devices (libvirt lists the drive too)."""
    from kumo.agent.virt import volumes
    loops = {"/dev/loop5": (7, 5), "/dev/loop6": (7, 6)}
    io = {(7, 5): {"read_bytes": 10, "read_requests": 1, "write_bytes": 0,
                   "write_requests": 0},
          (7, 6): {"read_bytes": 2048, "read_requests": 2, "write_bytes": 0,
                   "write_requests": 0},
          (8, 0): {"read_bytes": 7, "read_requests": 3, "write_bytes": 9,
                   "write_requests": 4}}
    monkeypatch.setattr(stats, "cgroup_stats", lambda cg, name: {
        "cpu_time_ns": 5, "cpu_percpu_ns": None, "memory_used_bytes": 1,
        "memory_limit_bytes": None, "memory_rss_bytes": 1, "io": io})
    monkeypatch.setattr(volumes, "rdev", lambda loop: loops[loop])

    class Cg:
        def cpus(self, iid):
            return None
    meta = {"volumes": {"v": {"device": "vdb", "loop": "/dev/loop5"}},
            "config_drive": {"device": "sr0", "loop": "/dev/loop6", "label": "config-2"}}
    got = stats.instance_diagnostics(Cg(), None, "iid", meta, None, 1)
    assert [(d["name"], d["read_bytes"]) for d in got["disks"]] == [
        ("vda", 7), ("vdb", 10), ("sr0", 2048)]
    # and the API takes such a report (a refused one would lose the status post too)
    import jsonschema
    from kumo.compute.schemas import DIAGNOSTICS
    jsonschema.validate(got, DIAGNOSTICS)
