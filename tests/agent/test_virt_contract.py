"""The one contract suite every compute driver passes (kumo/agent/virt/__init__.py):
boot, idempotent reconcile, power off/on, pause, soft and hard reboot, rebuild, a crash
reported and not restarted, failed boots as VirtError leaving nothing, destroy,
orphans, re-adoption by a new driver over the same state, the heartbeat resources.

Parametrized over ``fake`` (always) and ``netns`` (as root: a simulated host namespace
with a private run dir, the cirros rootfs served from a local build; teardown destroys
every instance and removes the host's namespaces, pass or fail)."""
from __future__ import annotations

import hashlib
import os
import signal
import time
import uuid

import pytest

from kumo.agent import virt
from kumo.agent.dataplane import netns as nsmod
from kumo.agent.virt import VirtError
from tests import waiting

WAIT_S = 30.0


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout, 0.05)


def _netns_reason():
    if os.geteuid() != 0:
        return "the netns driver needs root"
    from kumo.image import cirros
    try:
        cirros.find_busybox()
    except cirros.BusyboxNotFound:
        return "no static busybox for the cirros image"
    return None


@pytest.fixture(scope="module")
def cirros_image(tmp_path_factory):
    from kumo.image import cirros
    path = cirros.ensure_rootfs(tmp_path_factory.mktemp("cirros"))
    data = path.read_bytes()
    return {"id": str(uuid.uuid4()), "container_format": "bare", "disk_format": "raw",
            "size": len(data), "checksum": hashlib.md5(data).hexdigest(),
            "kumo_rootfs": "tar"}, data


class Kit:
    """One driver under test plus how to build more over the same state and the few
    driver-specific probes the contract needs (boot count, crash, a broken boot)."""

    def __init__(self, kind, make, boots, crash, broken):
        self.kind, self.make, self.boots, self.crash, self.broken = (
            kind, make, boots, crash, broken)
        self.driver = make()
        self.image = None


@pytest.fixture(params=["fake", "netns"])
def kit(request, tmp_path, cirros_image):
    if request.param == "fake":
        from kumo.agent.virt.fake import FakeComputeDriver
        shared: dict = {}
        k = Kit("fake", lambda: FakeComputeDriver("h1", instances=shared),
                lambda d, i: d.instances[i]["boots"],
                lambda d, i: d.crash(i),
                lambda: (FakeComputeDriver("h1", fail_boot=True), {}))
        k.image = cirros_image[0]
        yield k
        return
    reason = _netns_reason()
    if reason:
        pytest.skip(reason)
    image, data = cirros_image
    tag = f"kumo-t{uuid.uuid4().hex[:8]}"
    machine = nsmod.Host()
    root = nsmod.ensure_netns(machine, f"{tag}-h")
    host = nsmod.Host(netns=root.path, run_dir=f"/run/{tag}-h/netns")
    fetched = []

    def fetch(img):
        fetched.append(img["id"])
        if img["id"] != image["id"]:
            return [b"not a tarball"]
        return [data[i:i + 65536] for i in range(0, len(data), 65536)]

    def make():
        return virt.build("netns", "h1", None, where=host, state_dir=str(tmp_path / "c"),
                          fetch=fetch, stop_grace_s=5.0)

    def boots(d, iid):
        return (d.console(iid) or "").count("Kumo cirros image starting")

    def crash(d, iid):
        sup = d._supervisor(d._dir(iid))
        os.kill(d._init_pid(d._dir(iid), sup), signal.SIGKILL)

    def broken():
        return make(), {"image": {**image, "id": str(uuid.uuid4()), "checksum": None}}

    k = Kit("netns", make, boots, crash, broken)
    k.image = image
    k.fetched = fetched
    try:
        yield k
    finally:
        d = make()
        for iid in list(d.list_instances()):
            d.destroy(iid)
        nsmod.remove_run_dir(host)
        try:
            os.rmdir(os.path.dirname(host.run_dir))
        except OSError:
            pass
        nsmod.delete_netns_path(host.netns)


def inst(kit, n=1, **over):
    out = {"id": str(uuid.uuid4()), "name": f"instance-{n:08x}", "display_name": f"vm{n}",
           "hostname": f"vm{n}", "project_id": "p", "user_id": "u", "host": "h1",
           "image": kit.image, "flavor": {"vcpus": 1, "ram": 128, "disk": 1},
           "power": "on", "reboot_seq": 0, "reboot_type": "SOFT", "rebuild_seq": 0,
           "ports": [{"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:00:00:%02x" % n,
                      "mtu": 1450, "network_id": "n", "fixed_ips": []}],
           "user_data": None, "revision": 1}
    out.update(over)
    return out


def booted(kit, iid, n):
    """The instance booted ``n`` times (its console shows it)."""
    return wait_for(lambda: kit.boots(kit.driver, iid) >= n, f"boot #{n}") and \
        kit.boots(kit.driver, iid) == n


def test_boot_and_idempotent_reconcile(kit):
    i = inst(kit)
    st = kit.driver.reconcile(i)
    assert (st.power_state, st.reboot_seq, st.rebuild_seq, st.error) == ("running", 0, 0, None)
    assert kit.driver.list_instances() == {i["id"]: i["name"]}
    assert booted(kit, i["id"], 1)
    assert kit.driver.reconcile(i).power_state == "running"
    time.sleep(0.3)
    assert kit.boots(kit.driver, i["id"]) == 1
    assert kit.driver.status(i["id"]).power_state == "running"
    assert kit.driver.console(i["id"])


def test_power_off_on_and_pause(kit):
    i = inst(kit)
    kit.driver.reconcile(i)
    booted(kit, i["id"], 1)
    assert kit.driver.reconcile({**i, "power": "off"}).power_state == "shutdown"
    assert kit.driver.status(i["id"]).power_state == "shutdown"
    assert kit.driver.reconcile({**i, "power": "off"}).power_state == "shutdown"
    assert kit.driver.reconcile(i).power_state == "running"
    assert booted(kit, i["id"], 2)
    assert kit.driver.reconcile({**i, "power": "paused"}).power_state == "paused"
    assert kit.driver.reconcile(i).power_state == "running"
    time.sleep(0.3)
    assert kit.boots(kit.driver, i["id"]) == 2  # unpause is no reboot


@pytest.mark.parametrize("reboot_type", ["SOFT", "HARD"])
def test_reboot(kit, reboot_type):
    i = inst(kit)
    kit.driver.reconcile(i)
    booted(kit, i["id"], 1)
    st = kit.driver.reconcile({**i, "reboot_seq": 1, "reboot_type": reboot_type})
    assert (st.power_state, st.reboot_seq) == ("running", 1)
    assert booted(kit, i["id"], 2)
    kit.driver.reconcile({**i, "reboot_seq": 1, "reboot_type": reboot_type})
    time.sleep(0.3)
    assert kit.boots(kit.driver, i["id"]) == 2


def test_rebuild(kit):
    i = inst(kit)
    kit.driver.reconcile(i)
    booted(kit, i["id"], 1)
    st = kit.driver.reconcile({**i, "rebuild_seq": 1})
    assert (st.power_state, st.rebuild_seq) == ("running", 1)
    assert kit.boots(kit.driver, i["id"]) >= 1
    assert kit.driver.status(i["id"]).rebuild_seq == 1


def test_crash_is_reported_not_restarted(kit):
    i = inst(kit)
    kit.driver.reconcile(i)
    booted(kit, i["id"], 1)
    kit.crash(kit.driver, i["id"])
    wait_for(lambda: kit.driver.status(i["id"]).power_state == "crashed", "crashed")
    assert kit.driver.reconcile(i).power_state == "crashed"
    st = kit.driver.reconcile({**i, "reboot_seq": 1})
    assert st.power_state == "running"


def test_failed_boot_is_virt_error_and_leaves_nothing(kit):
    driver, over = kit.broken()
    i = inst(kit, **over)
    with pytest.raises(VirtError):
        driver.reconcile(i)
    driver.destroy(i["id"])
    assert i["id"] not in driver.list_instances()
    assert driver.status(i["id"]).power_state == "nostate"


def test_destroy_and_orphans(kit):
    a, b = inst(kit, 1), inst(kit, 2)
    kit.driver.reconcile(a)
    kit.driver.reconcile(b)
    assert kit.driver.cleanup_orphans({a["id"]: a}) == [b["id"]]
    assert set(kit.driver.list_instances()) == {a["id"]}
    assert kit.driver.status(b["id"]).power_state == "nostate"
    kit.driver.destroy(a["id"])
    kit.driver.destroy(a["id"])
    assert kit.driver.list_instances() == {}
    assert kit.driver.console(a["id"]) is None


def test_new_driver_readopts(kit):
    i = inst(kit)
    kit.driver.reconcile(i)
    booted(kit, i["id"], 1)
    kit.driver.stop()
    again = kit.make()
    assert again.list_instances() == {i["id"]: i["name"]}
    assert again.status(i["id"]).power_state == "running"
    assert again.reconcile(i).power_state == "running"
    time.sleep(0.3)
    assert kit.boots(again, i["id"]) == 1


def test_host_resources(kit):
    res = kit.driver.host_resources()
    assert {"vcpus", "memory_mb", "local_gb", "hypervisor_hostname", "host_ip"} <= set(res)
    assert res["vcpus"] > 0 and res["memory_mb"] > 0 and res["local_gb"] > 0
    assert kit.driver.hypervisor_type in ("fake", "namespace")
    assert virt.available() == ["fake", "netns"]


def test_diagnostics_shape(kit):
    """What every driver reports for diagnostics passes the API's schema: the
    instance's NICs and root disk, a start time while it runs, none once stopped;
    ``None`` for an instance it does not hold."""
    import jsonschema

    from kumo.compute.schemas import DIAGNOSTICS
    i = inst(kit)
    kit.driver.reconcile(i)
    booted(kit, i["id"], 1)
    assert kit.driver.diagnostics(str(uuid.uuid4())) is None
    d = kit.driver.diagnostics(i["id"])
    jsonschema.validate(d, DIAGNOSTICS)
    assert [n["port_id"] for n in d["nics"]] == [i["ports"][0]["id"]]
    assert [x["name"] for x in d["disks"]] == ["vda"] and len(d["vcpu_times_ns"]) == 1
    assert d["started_at"] is not None
    kit.driver.reconcile({**i, "power": "off"})
    d = kit.driver.diagnostics(i["id"])
    jsonschema.validate(d, DIAGNOSTICS)
    assert d["started_at"] is None
