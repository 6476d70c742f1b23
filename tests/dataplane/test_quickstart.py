"""The README's quick start, end to end, with the `openstack` CLI against a real
``kumo up`` running its real data plane and the namespace compute driver.

So that nothing is created in the machine's root namespace, the whole cloud runs as a
simulated machine: ``kumo up`` is started in a fresh network namespace (its "host",
holding br-ex, bridges, taps) and a private mount namespace whose ``/run/netns`` is an
empty tmpfs (so its ``qrouter-``/``qdhcp-``/``instance-`` namespaces are its own). Every
command of the quick start runs inside those two namespaces with ``nsenter``, exactly as
written in the README. Teardown deletes the cloud's resources through the API, kills
whatever still runs in the cloud's namespaces, removes them and the host namespace,
pass or fail.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kumo.agent.dataplane import netns

BIN = Path(sys.executable).parent
WAIT_S = 120.0


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


class Machine:
    """A ``kumo up`` in its own network and mount namespaces (see the module doc)."""

    def __init__(self, tmp: Path, tag: str):
        self.tmp = tmp
        self.host_ns = f"{tag}-machine"
        self.proc: subprocess.Popen | None = None
        self.env = {**os.environ, "HOME": str(tmp / "home"),
                    "KUMO_STATE_DIR": str(tmp / "state"), "PYTHONUNBUFFERED": "1",
                    "OS_CLIENT_CONFIG_FILE": str(tmp / "state" / "clouds.yaml"),
                    "KUMO_DATAPLANE": "real", "KUMO_AGENT_HOST": "quickstart"}
        for name in ("OS_CLOUD", "KUMO_CONFIG", "KUMO_DATABASE_URL"):
            self.env.pop(name, None)

    def start(self) -> None:
        (self.tmp / "home").mkdir(parents=True, exist_ok=True)
        ns = netns.ensure_netns(netns.Host(), self.host_ns)
        # unshare and sh exec, nsenter execs: the Popen pid is kumo's own.
        script = (f"exec 3<{ns.path}; mount -t tmpfs kumo-netns /run/netns && "
                  f"exec nsenter --net=/proc/self/fd/3 {BIN / 'kumo'} up --port 5000")
        self.log = open(self.tmp / "server.log", "w")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "compute agents running" in self.server_log()
                 or self.proc.poll() is not None, "kumo up", 90)
        assert self.proc.poll() is None, self.server_log()

    def server_log(self) -> str:
        return (self.tmp / "server.log").read_text()

    def run(self, *argv: str, check: bool = True, timeout: float = 120):
        """Run ``argv`` inside the machine (its network and mount namespaces)."""
        cmd = ["nsenter", "-t", str(self.proc.pid), "-m", "-n", *argv]
        proc = subprocess.run(cmd, env={**self.env, "OS_CLOUD": "kumo"}, text=True,
                              capture_output=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout}{proc.stderr}"
        return proc

    def openstack(self, *args: str, admin: bool = False, check: bool = True):
        argv = [str(BIN / "openstack"), *args]
        if admin:
            argv[1:1] = ["--os-cloud", "kumo-admin"]
        return self.run(*argv, check=check)

    def json(self, *args: str, admin: bool = False):
        return json.loads(self.openstack(*args, "-f", "json", admin=admin).stdout)

    def stop(self) -> None:
        """Delete the cloud's servers and networks through the API, stop kumo, then
        kill and remove anything left in the cloud's namespaces."""
        if self.proc is None:
            netns.delete_netns(netns.Host(), self.host_ns)
            return
        try:
            if self.proc.poll() is None:
                self._delete_resources()
                self._kill_namespaces()
        finally:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.log.close()
            netns.delete_netns(netns.Host(), self.host_ns)

    def _delete_resources(self) -> None:
        for server in self.json("server", "list"):
            self.openstack("server", "delete", "--wait", server["ID"], check=False)
        for fip in self.json("floating", "ip", "list"):
            self.openstack("floating ip", "delete", fip["ID"], check=False)
        self.openstack("router", "remove", "subnet", "qs-router", "qs-subnet", check=False)
        self.openstack("router", "delete", "qs-router", check=False)
        self.openstack("network", "delete", "qs-net", check=False)
        # The agents remove the namespaces they made for what was deleted.
        wait_for(lambda: not any(n.startswith(("instance-", "qdhcp-"))
                                 for n in self.netns_names()), "instances and DHCP gone", 60)

    def netns_names(self) -> list[str]:
        out = self.run("ip", "netns", "list", check=False).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def _kill_namespaces(self) -> None:
        for name in self.netns_names():
            pids = self.run("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            self.run("ip", "netns", "delete", name, check=False)


@pytest.fixture
def machine(tmp_path, tag):
    if not all(Path(p).exists() for p in ("/usr/bin/unshare", "/usr/bin/nsenter")):
        pytest.skip("needs unshare and nsenter (util-linux)")
    m = Machine(tmp_path, tag)
    try:
        m.start()
        yield m
    finally:
        m.stop()


def test_readme_quick_start(machine):
    m = machine
    m.openstack("network", "create", "qs-net")
    m.openstack("subnet", "create", "qs-subnet", "--network", "qs-net",
                "--subnet-range", "192.168.50.0/24")
    m.openstack("router", "create", "qs-router")
    m.openstack("router", "set", "qs-router", "--external-gateway", "public")
    m.openstack("router", "add", "subnet", "qs-router", "qs-subnet")
    m.openstack("security", "group", "rule", "create", "default", "--protocol", "icmp")
    m.openstack("security", "group", "rule", "create", "default", "--protocol", "tcp",
                "--dst-port", "22")
    user_data = m.tmp / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho hello from user data\n")
    for name in ("vm1", "vm2"):
        m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                    "--network", "qs-net", "--user-data", str(user_data), "--wait", name)
    fip = m.json("floating", "ip", "create", "public")["floating_ip_address"]
    m.openstack("server", "add", "floating", "ip", "vm1", fip)

    # the host reaches the floating IP (through br-ex and the router's DNAT)
    wait_for(lambda: m.run("ping", "-c", "1", "-W", "1", fip, check=False).returncode == 0,
             f"ping {fip} from the host")
    # the console shows the DHCP lease and the user data's output
    log = wait_for(lambda: (lambda text: "hello from user data" in text and text)(
        m.openstack("console", "log", "show", "vm1").stdout), "user data on the console")
    assert "dhcp: bound: eth0 192.168.50." in log
    # the router's namespace reaches the other server's fixed IP, as the seed shows
    vm2_ip = m.json("server", "show", "vm2")["addresses"]["qs-net"][0]
    router = m.json("router", "show", "qs-router")["id"]
    m.run("ip", "netns", "exec", f"qrouter-{router}", "ping", "-c", "2", "-W", "1", vm2_ip)
    # and from inside vm1, vm2 answers on its fixed IP
    vm1_id = m.json("server", "show", "vm1")["id"]
    vm1 = m.json("server", "show", vm1_id, admin=True)["OS-EXT-SRV-ATTR:instance_name"]
    m.run("ip", "netns", "exec", vm1, "ping", "-c", "2", "-W", "1", vm2_ip)
    # the seed's troubleshooting views
    port = m.json("port", "list", "--device-id", vm1_id, admin=True)[0]
    shown = m.json("port", "show", port["ID"], admin=True)
    assert shown["status"] == "ACTIVE" and shown["binding_host_id"] == "quickstart"
    agents = {a["Agent Type"] for a in m.json("network", "agent", "list", admin=True)
              if a["Alive"] in (True, ":-)")}
    assert {"Linux bridge agent", "DHCP agent", "L3 agent", "Metadata agent"} <= agents
