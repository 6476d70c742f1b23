"""``kumo trace`` against a real ``kumo up`` (real data plane, netns compute driver)
inside a simulated machine (:class:`kumo.sim.SimulatedMachine`): a network, a router
with a gateway, a server with a floating IP.

- while no rule lets ICMP in, ``kumo trace <server> --protocol icmp`` exits 1 and FAILs
  at the security group step with the rule to add, and its ping fails (a capture says
  where); after the suggested rule is added it exits 0, the ping passing;
- the floating IP traces too (its router's DNAT/SNAT rules are found);
- a disabled agent and a port bound to a host with no agent are found.

Teardown deletes everything through the API and removes the machine, pass or fail.
"""
from __future__ import annotations

import json
import re
import pytest

from kumo.sim import SimulatedMachine
from tests.dataplane.machines import started, wait_for

HOST = "tracehost"


@pytest.fixture
def machine(tmp_path, tag):
    with started(tmp_path, f"{tag}-trace", HOST) as m:
        yield m


def trace(m: SimulatedMachine, *args: str):
    return m.kumo("trace", *args, "--log-file", str(m.log_path), check=False,
                  timeout=120)


def lines(out: str, status: str, step: str) -> list[str]:
    return [line for line in out.splitlines()
            if line.startswith(f"{status:4}  {step} ") or
            line.startswith(f"{status:4}  {step:9} ")]


def test_trace_finds_the_closed_security_group_then_passes(machine):
    m = machine
    m.openstack("network", "create", "tr-net")
    m.openstack("subnet", "create", "tr-subnet", "--network", "tr-net",
                "--subnet-range", "192.168.70.0/24")
    m.openstack("router", "create", "tr-router")
    m.openstack("router", "set", "tr-router", "--external-gateway", "public")
    m.openstack("router", "add", "subnet", "tr-router", "tr-subnet")
    m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                "--network", "tr-net", "--wait", "vm1")
    fip = m.json("floating", "ip", "create", "public")["floating_ip_address"]
    m.openstack("server", "add", "floating", "ip", "vm1", fip)
    wait_for(lambda: "dhcp: bound: eth0 192.168.70." in m.openstack(
        "console", "log", "show", "vm1").stdout, "the guest's DHCP lease")
    router = m.json("router", "show", "tr-router")["id"]
    wait_for(lambda: f"qrouter-{router}" in m.netns_names(), "the router's namespace")

    # ICMP is not allowed by the default group (only its own members get in)
    closed = trace(m, "vm1", "--protocol", "icmp")
    out = closed.stdout
    assert closed.returncode == 1, out + closed.stderr
    sg = lines(out, "FAIL", "secgroups")
    assert sg, out
    hint = re.search(r"ingress is closed by default: add `([^`]+)`", out)
    assert hint, out
    assert hint.group(1).startswith("openstack security group rule create ")
    assert "--protocol icmp" in hint.group(1)
    assert lines(out, "FAIL", "ping"), out
    assert lines(out, "FAIL", "tcpdump") or lines(out, "WARN", "tcpdump"), out
    # everything before the firewall is fine
    assert any(HOST in line and "ACTIVE" in line for line in lines(out, "PASS", "port"))
    assert any("Linux bridge agent" in line for line in lines(out, "PASS", "agents"))
    assert any("L3 agent" in line for line in lines(out, "PASS", "agents"))
    assert any("nova-compute" in line for line in lines(out, "PASS", "agents"))
    assert any("by DHCP" in line for line in lines(out, "PASS", "console")), out
    passed = "\n".join(lines(out, "PASS", "dataplane"))
    assert "is up on brq" in passed and "leases" in passed, out
    assert "DNAT and SNAT" in passed and f"{fip} <->" in passed, out
    assert "default route via 172.24.4.1 dev qg-" in passed, out
    assert "$ ip netns exec qrouter-" in out and "ping -c 2 -W 1 192.168.70." in out

    # the suggested rule, as the operator would type it
    m.openstack(*hint.group(1).split()[1:], admin=True)
    opened = wait_for(lambda: (lambda p: p if p.returncode == 0 else None)(
        trace(m, "vm1", "--protocol", "icmp")), "kumo trace passing", 60)
    out = opened.stdout
    assert lines(out, "PASS", "secgroups") and lines(out, "PASS", "ping"), out
    assert not lines(out, "FAIL", "tcpdump"), out
    assert "0 failed" in out

    # the floating IP, as JSON
    by_fip = trace(m, fip, "--json")
    assert by_fip.returncode == 0, by_fip.stdout + by_fip.stderr
    data = json.loads(by_fip.stdout)
    assert data["ok"] is True and data["target"]["kind"] == "floatingip"
    assert {c["step"] for c in data["checks"]} >= {"resolve", "port", "agents",
                                                  "secgroups", "dataplane", "ping"}

    # TCP to port 22 is closed, ingress being closed by default
    tcp = trace(m, "vm1", "--protocol", "tcp", "--port", "22", "--from", "external")
    assert tcp.returncode == 1
    assert "--protocol tcp --dst-port 22" in tcp.stdout, tcp.stdout

    # a disabled agent on the host is found
    agents = m.json("network", "agent", "list", "--host", HOST, admin=True)
    meta = next(a["ID"] for a in agents if a["Agent Type"] == "Metadata agent")
    m.openstack("network", "agent", "set", "--disable", meta, admin=True)
    try:
        down = trace(m, "vm1")
        assert down.returncode == 1
        assert any("Metadata agent" in line and "disabled" in line
                   for line in lines(down.stdout, "FAIL", "agents")), down.stdout
    finally:
        m.openstack("network", "agent", "set", "--enable", meta, admin=True)

    # a port bound to a host where no agent runs
    m.openstack("port", "create", "--network", "tr-net", "--host", "ghost", "tr-ghost",
                admin=True)
    ghost = trace(m, "tr-ghost")
    assert ghost.returncode == 1
    failed = "\n".join(lines(ghost.stdout, "FAIL", "agents"))
    assert "Linux bridge agent on ghost: none registered" in failed, ghost.stdout
    assert any("host ghost is not this machine" in line
               for line in lines(ghost.stdout, "WARN", "dataplane")), ghost.stdout

    # no such thing
    missing = trace(m, "no-such-thing")
    assert missing.returncode == 2 and "no server, port or floating IP" in missing.stderr


@pytest.fixture
def hosts_machine(tmp_path, tag):
    with started(tmp_path, f"{tag}-trh", "t1", args=("--hosts", "2"), timeout=120) as m:
        yield m


def test_trace_a_server_on_a_simulated_host(hosts_machine):
    """``kumo up --hosts 2``: a server on the simulated host ``t1-2`` is traced from
    the machine, its kernel checked inside that host's namespaces."""
    m = hosts_machine
    wait_for(lambda: {a["Host"] for a in m.json("network", "agent", "list", admin=True)
                      if a["Alive"]} == {"t1", "t1-2"}, "network agents on both hosts")
    m.openstack("network", "create", "sh-net", admin=True)
    m.openstack("subnet", "create", "sh-subnet", "--network", "sh-net",
                "--subnet-range", "192.168.71.0/24", admin=True)
    m.openstack("router", "create", "sh-router", admin=True)
    m.openstack("router", "set", "sh-router", "--external-gateway", "public", admin=True)
    m.openstack("router", "add", "subnet", "sh-router", "sh-subnet", admin=True)
    project = m.json("project", "show", "admin", admin=True)["id"]
    group = next(g["ID"] for g in m.json("security", "group", "list", "--project",
                                         project, admin=True) if g["Name"] == "default")
    m.openstack("security", "group", "rule", "create", group, "--protocol", "icmp",
                admin=True)
    m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                "--network", "sh-net", "--availability-zone", "nova:t1-2", "--wait",
                "sh-vm", admin=True)
    wait_for(lambda: "dhcp: bound: eth0 192.168.71." in m.openstack(
        "console", "log", "show", "sh-vm", admin=True).stdout, "the guest's DHCP lease")
    done = wait_for(lambda: (lambda p: p if p.returncode == 0 else None)(
        trace(m, "sh-vm")), "kumo trace passing", 60)
    out = done.stdout
    assert any("bound on t1-2" in line for line in lines(out, "PASS", "port")), out
    passed = "\n".join(lines(out, "PASS", "dataplane"))
    assert "is up on brq" in passed and "leases" in passed, out
    assert "floods to the" in passed, out
    assert lines(out, "PASS", "ping"), out
    assert not lines(out, "WARN", "dataplane"), "t1-2 is reachable from the machine"
