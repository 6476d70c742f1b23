"""``kumo up --hosts 3``: the machine's host and two simulated hosts (:mod:`kumo.hosts`),
end to end, inside a simulated machine (:class:`kumo.sim.SimulatedMachine`, so the real
machine's root namespace is never touched):

- every host shows in ``openstack hypervisor list`` and ``openstack network agent list``;
- a network with a router, one server placed on each host with
  ``--availability-zone nova:<host>``; each server pings the two others (VXLAN between
  the hosts' underlay addresses), through ``kumo console``;
- ``kumo host list`` names the simulated hosts;
- ``kumo host add`` makes a fourth host while the cloud runs, ``kumo host remove``
  refuses a host with a server and removes one without;
- Ctrl-C stops the simulated hosts' agents; ``kumo up`` again (without ``--hosts``)
  brings them back with their servers; ``kumo down`` then leaves nothing: no
  namespace, link, nft table or process of the cloud's (the machine's teardown also
  runs, pass or fail, and kills whatever names the state directory).
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from kumo.agent.dataplane import names
from kumo.sim import SimulatedMachine
from tests.dataplane import machines
from tests.dataplane.machines import started

WAIT_S = 150.0
MACHINE_HOST = "h1"
HOSTS = [MACHINE_HOST, "h1-2", "h1-3"]


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return machines.wait_for(predicate, what, timeout, 1.0)


def _procs_naming(path: Path) -> list[str]:
    """Processes whose command line names ``path`` (agents, instances' supervisors,
    dnsmasq: they name their state directory)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if str(path).encode() in cmdline and int(pid) != os.getpid():
            out.append(f"{pid} {cmdline[:160].decode(errors='replace')}")
    return out


@pytest.fixture
def machine(tmp_path, tag):
    try:
        with started(tmp_path, f"{tag}-hosts", MACHINE_HOST, args=("--hosts", "3"),
                     timeout=120) as m:
            yield m
    finally:
        for line in _procs_naming(tmp_path / "state"):  # last resort, should be none
            print("killing leftover", line)
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass


def kumo_objects(m: SimulatedMachine) -> dict[str, list[str]]:
    """What of the cloud's is in the machine: named namespaces (the hosts' own live in
    theirs, which are named here), links (ours, br-ex, the underlay and the hosts'
    legs), nft tables, processes naming the state directory."""
    links = [line.split(":")[1].strip().split("@")[0]
             for line in m.run(["ip", "-o", "link", "show"]).stdout.splitlines()]
    tables = json.loads(m.run(["nft", "-j", "list", "tables"]).stdout)["nftables"]
    return {"namespaces": m.netns_names(),
            "links": [n for n in links if names.is_ours(n) or n == "br-ex"
                      or n.startswith("kumo-")],
            "nft_tables": [t["table"]["name"] for t in tables if "table" in t
                           and names.is_our_table(t["table"]["name"])],
            "processes": _procs_naming(m.dir / "state")}


def compute_dir(m: SimulatedMachine, host: str) -> Path:
    state = m.dir / "state"
    return state / "compute" if host == MACHINE_HOST else state / "hosts" / host / "compute"


def test_three_hosts_on_one_machine(machine):
    m = machine
    t0 = time.monotonic()

    def mark(what):
        print(f"{time.monotonic() - t0:6.1f} s  {what}", flush=True)

    def hosts_up():
        hv = m.json("hypervisor", "list", "--long", admin=True)
        return sorted(h["Hypervisor Hostname"] for h in hv if h["State"] == "up") == HOSTS
    wait_for(hosts_up, "three hypervisors up")

    def agents_alive():
        agents = m.json("network", "agent", "list", admin=True)
        return {a["Host"] for a in agents if a["Alive"]} == set(HOSTS)
    wait_for(agents_alive, "network agents alive on three hosts")
    mark("three hosts up")
    # the layout of kumo up --hosts 3: two network hosts (dvr_snat), one compute (dvr)
    modes = {a["Host"]: m.json("network", "agent", "show", a["ID"], admin=True)
             ["configuration"]["agent_mode"]
             for a in m.json("network", "agent", "list", "--agent-type", "l3", admin=True)}
    assert modes == {"h1": "dvr_snat", "h1-2": "dvr_snat", "h1-3": "dvr"}, modes
    assert set(m.kumo("host", "list").stdout.split()) >= {"h1-2", "h1-3", "10.255.0.2"}

    m.openstack("network", "create", "mh-net", admin=True)
    m.openstack("subnet", "create", "mh-subnet", "--network", "mh-net",
                "--subnet-range", "192.168.70.0/24", admin=True)
    m.openstack("router", "create", "mh-router", admin=True)
    m.openstack("router", "set", "mh-router", "--external-gateway", "public", admin=True)
    m.openstack("router", "add", "subnet", "mh-router", "mh-subnet", admin=True)
    project = m.json("project", "show", "admin", admin=True)["id"]
    group = next(g["ID"] for g in m.json("security", "group", "list", "--project", project,
                                         admin=True) if g["Name"] == "default")
    m.openstack("security", "group", "rule", "create", group, "--protocol", "icmp",
                admin=True)
    servers = {}
    for i, host in enumerate(HOSTS):
        servers[host] = m.json("server", "create", "--image", "cirros", "--flavor",
                               "m1.nano", "--network", "mh-net", "--availability-zone",
                               f"nova:{host}", f"mh-vm{i}", admin=True)["id"]

    def active():
        shown = {h: m.json("server", "show", sid, admin=True) for h, sid in servers.items()}
        assert not [s for s in shown.values() if s["status"] == "ERROR"], shown
        return shown if all(s["status"] == "ACTIVE" for s in shown.values()) else None
    shown = wait_for(active, "three servers ACTIVE")
    mark("three servers ACTIVE")
    for host, server in shown.items():
        assert server["OS-EXT-SRV-ATTR:host"] == host, (host, server)
    addrs = {h: s["addresses"]["mh-net"][0] for h, s in shown.items()}

    def pings(src: str, addr: str) -> bool:
        # kumo console finds a server on a simulated host without --compute-dir
        out = m.kumo("console", servers[src], "--", "ping", "-c", "1", "-W", "1", addr,
                     check=False, timeout=30)
        return out.returncode == 0
    assert (compute_dir(m, "h1-2") / "instances" / servers["h1-2"]).is_dir()
    for src in HOSTS:
        for dst in HOSTS:
            if src != dst:
                wait_for(lambda: pings(src, addrs[dst]),
                         f"{src}'s server pinging {dst}'s ({addrs[dst]})", timeout=90)

    mark("pings")
    # one more host while the cloud runs; a host with a server is not removed
    added = m.kumo("host", "add", "h1-4", timeout=180)
    assert "host h1-4 is up" in added.stdout, added.stdout + added.stderr
    mark("host added")
    refused = m.kumo("host", "remove", "h1-3", check=False)
    assert refused.returncode == 1 and "1 server" in refused.stderr, refused.stderr
    assert m.kumo("host", "remove", "h1-4").returncode == 0
    hv = m.json("hypervisor", "list", admin=True)
    assert sorted(h["Hypervisor Hostname"] for h in hv) == HOSTS
    assert "h1-4" not in {a["Host"] for a in m.json("network", "agent", "list", admin=True)}
    assert "kumo-host-h1-4" not in m.netns_names()
    mark("host removed")

    # Ctrl-C: kumo up stops the agents it started; the servers keep running
    assert m.stop_cloud() is None
    log = m.server_log()
    assert "[h1-2] kumo: agent for host h1-2" in log, log[-3000:]
    assert "3 servers and the data plane keep running" in log, log[-3000:]
    assert not [p for p in _procs_naming(m.dir / "state") if " agent " in p]

    mark("stopped")

    # kumo up again (no --hosts: the recorded hosts come back with their servers)
    m.start(timeout=120)
    wait_for(hosts_up, "three hypervisors up again")
    assert all(m.json("server", "show", sid, admin=True)["status"] == "ACTIVE"
               for sid in servers.values())
    wait_for(lambda: pings("h1-2", addrs["h1-3"]), "h1-2's server pinging h1-3's again",
             timeout=60)
    assert m.stop_cloud() is None
    mark("restarted and stopped")

    out = m.kumo("down", timeout=300).stdout
    mark("down")
    assert "2 simulated hosts" in out and "3 servers" in out, out
    assert kumo_objects(m) == {"namespaces": [], "links": [], "nft_tables": [],
                               "processes": []}
