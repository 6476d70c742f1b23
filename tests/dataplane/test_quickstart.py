"""The README's quick start, end to end, with the `openstack` CLI against a real
``kumo up`` running its real data plane and the namespace compute driver.

So that nothing is created in the machine's root namespace, the whole cloud runs as a
simulated machine (:class:`kumo.sim.SimulatedMachine`): ``kumo up`` in a fresh network
namespace (its "host", holding br-ex, bridges, taps) and a private mount namespace whose
``/run/netns`` is an empty tmpfs (so its ``qrouter-``/``qdhcp-``/``instance-`` namespaces
are its own). Every command of the quick start runs inside those two namespaces with
``nsenter``, exactly as written in the README. Teardown deletes the cloud's resources
through the API, kills whatever still runs in the cloud's namespaces, removes them and
the host namespace, pass or fail.
"""
from __future__ import annotations

import pytest

from tests.dataplane.machines import started, wait_for


@pytest.fixture
def machine(tmp_path, tag):
    """The quick start's machine: agent host ``quickstart``; a failing command is a
    test failure (AssertionError) with its output."""
    with started(tmp_path, f"{tag}-machine", "quickstart") as m:
        yield m


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
