"""The namespace compute driver for real, through the ComputeAgent (against the
in-memory compute routes of tests/agent/compute_stub.py): a cirros instance boots in a
simulated host, gets a DHCP lease from a dnsmasq the test runs in a namespace bridged to
the instance's tap, logs ``cirros-init:`` lines that reach the API as console, has its
hostname, MAC, MTU and flavor limits; stop/start/reboot act on its processes; init's
"restart me" (SIGHUP -> status 2) boots it again; an agent restart re-adopts it; delete
leaves no process, namespace, link, cgroup or file. Everything the test makes lives in
``kumo-t*`` namespaces removed at teardown."""
from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from kumo.agent.compute import ComputeAgent
from kumo.agent.dataplane import links, names
from kumo.agent.dataplane import netns as nsmod
from kumo.agent.virt.netns import NetnsDriver
from tests.agent.compute_stub import StubCompute, instance
from tests import waiting

WAIT_S = 60.0
MAC = "fa:16:3e:12:34:56"
IP = "10.91.0.23"


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout, 0.1)


def gone(pid: int) -> bool:
    """No such process (or only a zombie left for its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def lan(hosts, scratch):
    """A simulated host with a bridge ``brqtest`` and a DHCP namespace on it running
    dnsmasq (a static lease of IP for MAC); yields (host, attach(tap))."""
    host = hosts("h")
    dhcp = scratch("dhcp")
    links.ensure_bridge(host.root, "brqtest")
    links.set_up(host.root, "brqtest")
    links.ensure_veth(host.root, "tapdhcptest", "d0", peer_ns=dhcp)
    links.set_master(host.root, "tapdhcptest", "brqtest")
    links.ensure_address(dhcp, "d0", "10.91.0.2/24")
    proc = nsmod.call(dhcp, subprocess.Popen, [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--bind-interfaces",
        "--interface=d0", "--except-interface=lo", "--leasefile-ro",
        "--dhcp-range=10.91.0.10,10.91.0.50,255.255.255.0,1h",
        f"--dhcp-host={MAC},{IP}", "--dhcp-option=3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def attach(tap: str) -> None:
        wait_for(lambda: links.get_link(host.root, tap), f"{tap}")
        links.set_master(host.root, tap, "brqtest")
        links.set_up(host.root, tap)

    try:
        yield host, attach
    finally:
        proc.kill()
        proc.wait(10)


def test_instance_lifecycle_for_real(lan, image, tmp_path):
    host, attach = lan
    img, data = image
    stub = StubCompute()
    state = tmp_path / "compute"
    port = {"id": str(uuid.uuid4()), "mac_address": MAC, "mtu": 1450, "network_id": "n",
            "fixed_ips": [{"subnet_id": "s", "ip_address": IP, "cidr": "10.91.0.0/24",
                           "gateway_ip": None}]}
    inst = stub.put(instance("h", 0xa, image=img, ports=[port], hostname="vm-real",
                             flavor={"vcpus": 1, "ram": 96, "disk": 1}))
    iid = inst["id"]

    def start_agent():
        drv = NetnsDriver("h", where=host, state_dir=str(state),
                          fetch=lambda i: [data], stop_grace_s=5.0)
        agent = ComputeAgent(stub, "h", drv, workers=2, resync_s=2.0, heartbeat_s=1.0,
                             wait_s=1.0, status_interval_s=0.2)
        agent.start()
        return agent, drv

    agent, drv = start_agent()
    try:
        tap = names.tap(port["id"])
        attach(tap)
        wait_for(lambda: (stub.last_status(iid) or {}).get("power_state") == "running",
                 "running reported")
        # the DHCP lease and the console reaching the API
        wait_for(lambda: any(f"address {IP}/24" in c for c in stub.consoles(iid)),
                 "the lease in the reported console")
        console = drv.console(iid)
        assert "cirros-init:" in console and f"lease of {IP} obtained" in console
        # the machine: its namespace, NIC, hostname, PID 1, limits, overlay rootfs
        assert f"instance-{0xa:08x}" in nsmod.list_netns(host)
        eth0 = links.get_link(host.ns(inst["name"]), "eth0")
        assert (eth0.mac, eth0.mtu) == (MAC, 1450)
        enter = drv.enter_argv(iid)
        out = subprocess.run(enter + ["sh", "-c", "hostname; echo $$; cat /proc/1/cmdline"],
                             capture_output=True, text=True, timeout=10).stdout.split("\n")
        assert out[0] == "vm-real"
        assert "/sbin/init" in out[2]
        assert drv.cgroups.mode == "none" or \
            drv.cgroups.limits(iid).get("memory_bytes") == 96 << 20
        assert drv.configurations()["rootfs"] in ("overlay", "copy")
        subprocess.run(enter + ["sh", "-c", "echo scratch > /root/mark"], timeout=10,
                       check=True)
        assert not list(Path(state / "images").glob("*.rootfs/root/mark"))
        # stop / start act on processes
        init1 = drv.init_pid(iid)
        stub.update(iid, power="off")
        wait_for(lambda: (stub.last_status(iid) or {}).get("power_state") == "shutdown",
                 "shutdown reported")
        assert drv.init_pid(iid) is None and gone(init1)
        stub.update(iid, power="on")
        wait_for(lambda: (stub.last_status(iid) or {}).get("power_state") == "running"
                 and drv.init_pid(iid), "running again")
        init2 = drv.init_pid(iid)
        assert init2 != init1
        # hard reboot: a new init
        stub.update(iid, reboot_seq=1, reboot_type="HARD")
        wait_for(lambda: (stub.last_status(iid) or {}).get("reboot_seq") == 1, "rebooted")
        wait_for(lambda: drv.init_pid(iid) not in (None, init2), "a new init")
        # init's own restart request (SIGHUP -> exit 2) boots again, still running
        # A PID 1 ignores a signal it has no handler for yet: until the new init has
        # set its traps (a loaded machine boots slowly), SIGHUP is lost, so send it
        # again until init says it was asked to restart (at most 12 times).
        asked = "asked for a restart (status 2)"
        for _ in range(12):
            os.kill(drv.init_pid(iid), 1)
            try:
                waiting.wait_for(lambda: asked in drv.console(iid), "restart asked", 5.0,
                                 0.1)
                break
            except AssertionError:
                continue
        assert asked in drv.console(iid)
        wait_for(lambda: drv.console(iid).split(asked, 1)[1].count(
            "Kumo cirros image starting") > 0, "init restarted")
        assert drv.status(iid).power_state == "running"
        # an agent restart re-adopts the running instance
        init3 = wait_for(lambda: drv.init_pid(iid), "init after the restart")
        agent.stop()
        agent, drv = start_agent()
        wait_for(lambda: len(stub.beats) and agent.informer.synced.is_set(), "relisted")
        time.sleep(1.0)
        assert drv.init_pid(iid) == init3
        # delete leaves nothing
        sup = drv._supervisor(drv._dir(iid))
        stub.delete(iid)
        wait_for(lambda: not (state / "instances" / iid).exists(), "the files removed")
        assert inst["name"] not in nsmod.list_netns(host)
        assert links.get_link(host.root, tap) is None
        assert not drv.cgroups.exists(iid)
        assert gone(sup) and gone(init3)
    finally:
        agent.stop()
        for leftover in list(drv.list_instances()):
            drv.destroy(leftover)


def test_boot_failure_is_an_error_and_leaves_nothing(hosts, tmp_path):
    """An image whose init cannot run: the first boot fails with VirtError (reported as
    ``error`` so the API reschedules), and destroy leaves nothing."""
    import io
    import tarfile

    from kumo.agent.virt import VirtError

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        body = b"#!/bin/sh\necho never\n"  # no /bin/sh in this rootfs: exec fails
        info = tarfile.TarInfo("sbin/init")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
    data = buf.getvalue()
    host = hosts("h")
    drv = NetnsDriver("h", where=host, state_dir=str(tmp_path / "c"),
                      fetch=lambda i: [data], stop_grace_s=2.0)
    img = {"id": str(uuid.uuid4()), "checksum": hashlib.md5(data).hexdigest(),
           "kumo_rootfs": "tar"}
    inst = instance("h", 0xb, image=img, ports=[])
    try:
        with pytest.raises(VirtError, match="boot failed"):
            drv.reconcile(inst)
    finally:
        drv.destroy(inst["id"])
    assert drv.list_instances() == {}
    assert inst["name"] not in nsmod.list_netns(host)
    assert not drv.cgroups.exists(inst["id"])


def test_suspend_and_shelve_offload_for_real(hosts, image, tmp_path):
    """What the API's suspend and shelve-offload ask of a host (issue 16): suspend is
    desired power ``paused``: every process of the instance frozen by the cgroup
    freezer (reported ``paused``; the API shows SUSPENDED), resume thaws the same init;
    shelve-offload takes the instance off the host (it leaves the host's feed): no
    process, namespace, cgroup or file stays."""
    host = hosts("h")
    img, data = image
    stub = StubCompute()
    state = tmp_path / "compute"
    inst = stub.put(instance("h", 0xc, image=img, ports=[], hostname="vm-susp",
                             flavor={"vcpus": 1, "ram": 96, "disk": 1}))
    iid = inst["id"]
    drv = NetnsDriver("h", where=host, state_dir=str(state), fetch=lambda i: [data],
                      stop_grace_s=5.0)
    agent = ComputeAgent(stub, "h", drv, workers=2, resync_s=2.0, heartbeat_s=1.0,
                         wait_s=1.0, status_interval_s=0.2)
    agent.start()
    try:
        wait_for(lambda: (stub.last_status(iid) or {}).get("power_state") == "running",
                 "running reported")
        init = wait_for(lambda: drv.init_pid(iid), "init")
        if not drv.cgroups.can_freeze():
            pytest.skip("no cgroup freezer on this machine")
        stub.update(iid, power="paused")  # the API's suspend
        wait_for(lambda: (stub.last_status(iid) or {}).get("power_state") == "paused",
                 "paused reported")
        assert drv.cgroups.frozen(iid) and init in drv.cgroups.pids(iid)
        stub.update(iid, power="on")  # resume
        wait_for(lambda: (stub.last_status(iid) or {}).get("power_state") == "running",
                 "running again")
        assert not drv.cgroups.frozen(iid) and drv.init_pid(iid) == init
        sup = drv._supervisor(drv._dir(iid))
        stub.delete(iid)  # shelve-offload: the instance leaves this host
        wait_for(lambda: not (state / "instances" / iid).exists(), "the files removed")
        assert inst["name"] not in nsmod.list_netns(host)
        assert not drv.cgroups.exists(iid)
        assert gone(sup) and gone(init)
    finally:
        agent.stop()
        for leftover in list(drv.list_instances()):
            drv.destroy(leftover)
