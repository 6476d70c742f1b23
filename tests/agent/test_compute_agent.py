"""The ComputeAgent against an in-memory stand-in of the compute routes (the contract of
kumo/agent/compute.py), with the fake driver: boot -> running, power changes, reboots,
failed boots reported once, deletes, console reports, heartbeats, orphans after a
restart; and ``kumo up --fake-compute-hosts`` starting its agents."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from kumo.agent.compute import ComputeAgent
from kumo.agent.virt.fake import FakeComputeDriver
from tests.agent.compute_stub import StubCompute, instance
from tests.conftest import BIN, _free_port
from tests import waiting

WAIT_S = 30.0


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout, 0.02)


@pytest.fixture
def stub():
    return StubCompute()


@pytest.fixture
def start(stub):
    agents = []

    def go(host="h1", driver=None):
        driver = driver or FakeComputeDriver(host)
        agent = ComputeAgent(stub, host, driver, workers=2, resync_s=1.0,
                             heartbeat_s=0.5, wait_s=1.0, status_interval_s=0.1)
        agent.start()
        agents.append(agent)
        return agent, driver

    yield go
    for a in agents:
        a.stop()


def power(stub, iid):
    body = stub.last_status(iid)
    return body and (body["power_state"], body["reboot_seq"], body["rebuild_seq"],
                     body["error"])


def test_boot_power_reboot_rebuild_delete(stub, start):
    inst = stub.put(instance("h1"))
    other = stub.put(instance("h2", 2))
    agent, drv = start("h1")
    iid = inst["id"]
    wait_for(lambda: power(stub, iid) == ("running", 0, 0, None), "running")
    assert other["id"] not in drv.instances
    assert stub.consoles(iid) and "fake-init: boot" in stub.consoles(iid)[0]
    stub.update(iid, power="off")
    wait_for(lambda: power(stub, iid) == ("shutdown", 0, 0, None), "shutdown")
    stub.update(iid, power="paused")
    wait_for(lambda: power(stub, iid) == ("paused", 0, 0, None), "paused")
    stub.update(iid, power="on", reboot_seq=1, reboot_type="HARD")
    wait_for(lambda: power(stub, iid) == ("running", 1, 0, None), "rebooted")
    stub.update(iid, rebuild_seq=1)
    wait_for(lambda: power(stub, iid) == ("running", 1, 1, None), "rebuilt")
    assert [op for op, i in drv.calls if i == iid].count("rebuild") == 1
    n = len(stub.statuses)
    stub.delete(iid)
    wait_for(lambda: iid not in drv.instances, "destroyed")
    assert ("destroy", iid) in drv.calls
    assert all(sid != iid for sid, _ in stub.statuses[n:])


def test_crash_is_reported_not_restarted(stub, start):
    inst = stub.put(instance("h1"))
    agent, drv = start("h1")
    wait_for(lambda: power(stub, inst["id"]) == ("running", 0, 0, None), "running")
    drv.crash(inst["id"])
    wait_for(lambda: power(stub, inst["id"]) == ("crashed", 0, 0, None), "crashed")
    agent.resync()
    time.sleep(0.3)
    assert drv.status(inst["id"]).power_state == "crashed"
    assert [op for op, _ in drv.calls].count("boot") == 1
    stub.update(inst["id"], reboot_seq=1)
    wait_for(lambda: power(stub, inst["id"]) == ("running", 1, 0, None), "restarted")


def test_failed_boot_reported_once(stub, start):
    inst = stub.put(instance("h1"))
    agent, drv = start("h1", FakeComputeDriver("h1", fail_boot=True))
    wait_for(lambda: stub.last_status(inst["id"]), "a report")
    body = stub.last_status(inst["id"])
    assert body["error"] and "refuses" in body["error"]
    assert body["power_state"] == "nostate"
    agent.resync()
    time.sleep(0.5)
    assert [b["error"] for i, b in stub.statuses if i == inst["id"]] == [body["error"]]
    assert inst["id"] not in drv.instances


def test_heartbeat_shape(stub, start):
    start("h1")
    beat = wait_for(lambda: stub.beats and stub.beats[0], "a heartbeat")
    assert set(beat) == {"host", "hypervisor_type", "hypervisor_hostname", "vcpus",
                         "memory_mb", "local_gb", "availability_zone", "driver",
                         "host_ip", "boot_time", "load_average", "users"}
    assert beat["host"] == "h1" and beat["hypervisor_type"] == "fake"
    assert beat["availability_zone"] == "nova" and beat["vcpus"] > 0
    # the fake host runs on this machine: its boot time is the machine's
    btime = next(int(line.split()[1]) for line in open("/proc/stat")
                 if line.startswith("btime "))
    # (btime is computed on each read: it may move by a second)
    assert abs(beat["boot_time"] - btime) <= 1 and len(beat["load_average"]) == 3


def test_restart_readopts_and_removes_orphans(stub, start):
    keep = stub.put(instance("h1"))
    gone = stub.put(instance("h1", 2))
    agent, drv = start("h1")
    wait_for(lambda: len(drv.instances) == 2 and all(
        power(stub, i["id"]) for i in (keep, gone)), "both running")
    agent.stop()
    stub.delete(gone["id"])
    shared = drv.instances
    agent2, drv2 = start("h1", FakeComputeDriver("h1", instances=shared))
    wait_for(lambda: gone["id"] not in drv2.instances, "the orphan destroyed")
    assert keep["id"] in drv2.instances
    assert [op for op, _ in drv2.calls] == ["destroy"]  # no reboot of the kept one


def test_console_changes_are_reported(stub, start):
    inst = stub.put(instance("h1"))
    agent, drv = start("h1")
    wait_for(lambda: stub.consoles(inst["id"]), "first console")
    n = len(stub.consoles(inst["id"]))
    with drv._lock:
        drv._log(drv.instances[inst["id"]], "hello from the console")
    wait_for(lambda: any("hello from the console" in c for c in stub.consoles(inst["id"])),
             "the console tail")
    time.sleep(0.3)
    assert len(stub.consoles(inst["id"])) == n + 1  # changes only


def test_kumo_up_fake_compute_hosts(tmp_path):
    """``kumo up --fake-compute-hosts 2`` starts the fake hosts' compute agents."""
    port = _free_port()
    # no data plane for the machine (kumo up's default as root): tests never touch the
    # root namespace
    env = {**os.environ, "HOME": str(tmp_path), "KUMO_STATE_DIR": str(tmp_path / "s"),
           "KUMO_LOG_LEVEL": "ERROR", "KUMO_DATAPLANE": "off",
           "KUMO_AGENT_COMPUTE_DRIVER": ""}
    log = open(tmp_path / "log", "w")
    proc = subprocess.Popen([str(BIN / "kumo"), "up", "--port", str(port),
                             "--fake-compute-hosts", "2"], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    try:
        text = wait_for(lambda: "compute hosts up" in (tmp_path / "log").read_text()
                        and (tmp_path / "log").read_text()
                        or proc.poll() is not None and (tmp_path / "log").read_text(),
                        "kumo up", timeout=60)
        assert "compute agents running for 2 host(s): fake-0, fake-1\n" in text, text
        assert "data-plane agent" not in text
        assert "kumo: compute hosts up: 2" in text, text
    finally:
        waiting.stop_process(proc, 15, None)


def test_compute_and_image_roots_come_from_the_catalog():
    """The compute agent's routes and image downloads use the catalog's compute and
    image endpoints (here on other hosts and ports than networking's), not an edit of
    the networking URL: see tests/unit/test_agent_endpoints.py for the catalog."""
    from tests.unit.test_agent_endpoints import catalog_client

    from kumo.agent.compute import ComputeClient

    c = ComputeClient.from_controller(catalog_client())
    assert c.endpoint == "http://nova.example:8774/compute"
    assert c.image_url("i") == "http://glance.example:9292/v2/images/i/file"


def test_failed_heartbeat_is_retried_soon(stub, start):
    """A heartbeat the controller refused is sent again within seconds, not a period
    (30 s by default) later."""
    from kumo.agent import client as api

    calls = []
    real = stub.heartbeat

    def flaky(body):
        calls.append(body)
        if len(calls) == 1:
            raise api.ControllerUnavailable("busy", 503)
        real(body)

    stub.heartbeat = flaky
    drv = FakeComputeDriver("h1")
    agent = ComputeAgent(stub, "h1", drv, heartbeat_s=600.0, wait_s=1.0)
    agent.start()
    try:
        wait_for(lambda: stub.beats, "the retried heartbeat", timeout=15)
        assert len(calls) == 2
    finally:
        agent.stop()


def test_snapshot_is_packed_and_uploaded_once(stub, start):
    """A desired ``snapshot`` is packed by the driver and uploaded once per image id;
    a driver that cannot, or an image deleted meanwhile (404), is reported as the
    snapshot's failure (the API then ends the task and deletes the image)."""
    import gzip
    import io
    import tarfile

    inst = stub.put(instance("h1"))
    iid = inst["id"]
    agent, drv = start("h1")
    wait_for(lambda: power(stub, iid) == ("running", 0, 0, None), "running")
    stub.update(iid, snapshot={"image_id": "img-1"})
    wait_for(lambda: stub.uploads, "the snapshot uploaded")
    (sid, image_id, host, data), = stub.uploads
    assert (sid, image_id, host) == (iid, "img-1", "h1")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        assert "sbin/init" in tar.getnames()
    stub.update(iid, power="off")  # the feed still names img-1: not taken again
    wait_for(lambda: power(stub, iid) == ("shutdown", 0, 0, None), "stopped")
    assert len(stub.uploads) == 1 and not stub.failures
    stub.refuse = 404
    stub.update(iid, snapshot={"image_id": "img-2"})
    wait_for(lambda: stub.failures, "the failure reported")
    assert stub.failures[0][:3] == (iid, "img-2", "h1")
    assert "gone" in stub.failures[0][3]
    stub.refuse = None

    class NoSnapshots(FakeComputeDriver):
        def snapshot(self, instance_id, dest):
            raise __import__("kumo.agent.virt", fromlist=["VirtError"]).VirtError("nope")
    other = stub.put(instance("h2", 2))
    start("h2", NoSnapshots("h2"))
    wait_for(lambda: power(stub, other["id"]) == ("running", 0, 0, None), "running h2")
    stub.update(other["id"], snapshot={"image_id": "img-3"})
    wait_for(lambda: len(stub.failures) == 2, "the driver's refusal reported")
    assert stub.failures[1][1:] == ("img-3", "h2", "nope")



def test_diagnostics_sent_at_first_then_only_when_changed(stub, start):
    """The fake driver's honest zeros go with a status report at once; unchanged, they
    are not sent again; a reboot (a new start time) sends them again."""
    inst = stub.put(instance("h1"))
    iid = inst["id"]
    agent, drv = start("h1")
    agent.diagnostics_interval_s = 0.05

    def sent():
        with stub._cond:
            return [b["diagnostics"] for s, b in stub.statuses
                    if s == iid and b.get("diagnostics") is not None]
    first = wait_for(sent, "diagnostics reported")[0]
    assert first["cpu_time_ns"] == 0 and first["memory_used_bytes"] == 0
    assert first["started_at"] is not None
    assert [n["port_id"] for n in first["nics"]] == [p["id"] for p in inst["ports"]]
    assert [d["name"] for d in first["disks"]] == ["vda"]
    # the monitor keeps looking (the interval is short) but nothing changed: no resend
    looks = agent._diag_sent[iid][0]
    wait_for(lambda: agent._diag_sent[iid][0] > looks, "looked again")
    assert len(sent()) == 1
    stub.update(iid, reboot_seq=1, reboot_type="HARD")
    wait_for(lambda: len(sent()) == 2, "diagnostics of the new boot")
    assert sent()[1]["started_at"] >= first["started_at"]


def test_refused_diagnostics_do_not_hold_back_the_status(stub, start):
    """A status post whose counters the API refuses (400) is sent again without them,
    and the same counters are not offered again at every monitor tick."""
    stub.refuse_diagnostics = True
    inst = stub.put(instance("h1"))
    iid = inst["id"]
    agent, drv = start("h1")
    agent.diagnostics_interval_s = 3600
    wait_for(lambda: iid in agent._diag_sent, "diagnostics offered and refused")
    drv.crash(iid)  # seen by the monitor, whose posts carry the diagnostics
    wait_for(lambda: power(stub, iid) == ("crashed", 0, 0, None),
             "the monitor's crash report")
    assert all(b.get("diagnostics") is None for s, b in stub.statuses)
