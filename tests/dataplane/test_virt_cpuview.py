"""What a namespace instance sees of the CPUs (kumo.agent.virt.cpuview, cgroups' cpuset):
a cirros instance of a 1-vCPU flavor counts one processor in /proc/cpuinfo (what
Tempest's test_verify_created_server_vcpus runs over ssh), its init may run on one
host CPU only where the cpuset controller exists, /sys/devices/system/cpu/online says ``0``; a 3-vCPU flavor
sees 3 processors whatever the host has; /proc/uptime counts from the instance's boot. The host's own /proc/cpuinfo is untouched.
Each instance lives in a simulated host (``kumo-t*`` namespaces) and is destroyed at
the end, pass or fail: no process, namespace, cgroup or file stays."""
from __future__ import annotations

import os
import subprocess

import pytest

from kumo.agent.dataplane import netns as nsmod
from kumo.agent.virt.cgroups import format_cpulist
from kumo.agent.virt.netns import NetnsDriver
from tests.agent.compute_stub import instance


def _inside(drv, iid: str, cmd: str) -> str:
    r = subprocess.run(drv.enter_argv(iid) + ["sh", "-c", cmd], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize("vcpus,number", [(1, 0xd1), (3, 0xd3)])
def test_instance_sees_its_flavor_vcpus(hosts, image, tmp_path, vcpus, number):
    host = hosts("h")
    img, data = image
    drv = NetnsDriver("h", where=host, state_dir=str(tmp_path / "c"),
                      fetch=lambda i: [data], stop_grace_s=2.0)
    inst = instance("h", number, image=img, ports=[], hostname=f"vm-cpu{vcpus}",
                    flavor={"vcpus": vcpus, "ram": 96, "disk": 1})
    iid = inst["id"]
    host_count = open("/proc/cpuinfo").read().count("\nprocessor") + 1
    try:
        drv.reconcile(inst)
        assert _inside(drv, iid, "grep -c ^processor /proc/cpuinfo") == str(vcpus)
        # readable by every user of the instance (Tempest logs in as cirros)
        assert _inside(drv, iid, "stat -c %a /proc/cpuinfo") == "444"
        assert _inside(drv, iid, "su -s /bin/sh cirros -c 'grep -c ^processor "
                       "/proc/cpuinfo'") == str(vcpus)
        info = _inside(drv, iid, "cat /proc/cpuinfo")
        numbers = [ln.split(":")[1].strip() for ln in info.splitlines()
                   if ln.startswith("processor")]
        assert numbers == [str(i) for i in range(vcpus)]
        assert _inside(drv, iid, "cat /sys/devices/system/cpu/online") == \
            ("0" if vcpus == 1 else f"0-{vcpus - 1}")
        cpus = drv.cgroups.cpus(iid)
        if cpus is not None:  # confined by a cpuset: the scheduler agrees
            assert len(cpus) == min(vcpus, len(drv.cgroups._host_cpus()))
            # (asked of init: `nsenter` enters the namespaces, not the cgroup; what
            # init starts, Dropbear's sessions too, inherits init's CPUs)
            allowed = _inside(drv, iid, "grep Cpus_allowed_list /proc/1/status")
            assert allowed.split(":")[1].strip() == format_cpulist(cpus)
            if vcpus == 1:
                assert len(cpus) == 1
        # its own boot clock (a time namespace): /proc/uptime counts from its boot
        if os.path.exists("/proc/self/ns/time"):
            host_up = float(open("/proc/uptime").read().split()[0])
            inside_up = float(_inside(drv, iid, "cat /proc/uptime").split()[0])
            assert inside_up < host_up - 1 or host_up < 5
        # the host's view is its own
        assert open("/proc/cpuinfo").read().count("\nprocessor") + 1 == host_count
    finally:
        drv.destroy(iid)
    assert drv.list_instances() == {}
    assert inst["name"] not in nsmod.list_netns(host)
    assert not drv.cgroups.exists(iid)


def test_cpuset_is_reported(hosts, tmp_path):
    drv = NetnsDriver("h", where=hosts("h"), state_dir=str(tmp_path / "c"),
                      fetch=lambda i: [], stop_grace_s=2.0)
    assert drv.configurations()["cpuset"] in ("on", "off")
