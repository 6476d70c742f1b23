"""Trunks on the kernel for real: one simulated host running an Agent with the
Linux-bridge L2 driver and the trunk driver against a real ``kumo up`` server. A trunk
whose parent port is vm1's NIC (network A) carries a sub-port of network B with VLAN
101; vm2 is on network B.

- With the VLAN probe's answer (``probe``): where this kernel makes 802.1Q devices, the
  sub-port's device appears on the parent's tap, the trunk goes ``ACTIVE`` and vm1
  reaches vm2 through ``eth0.101``; where it cannot, the trunk is ``DEGRADED`` (never
  ``ACTIVE``), the sub-port stays ``DOWN`` and the agent says why.
- With the probe forced off (``off``): always the degraded path.

Every namespace (and so every link and process) is removed at the end, pass or fail."""
from __future__ import annotations

import uuid

import pytest

from kumo.agent.dataplane import links, names, netns, vlan
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.trunk import TrunkDriver
from tests import waiting
from tests.dataplane import probes

WAIT_S = 90.0
LOCAL_IP = "10.98.7.5"


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return waiting.wait_for(predicate, what, timeout)


@pytest.fixture
def networks(admin, unique):
    made = []
    for cidr in ("10.65.0.0/24", "10.66.0.0/24"):
        net = admin.network.create_network(name=unique("trunk-net"))
        admin.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                                    enable_dhcp=False)
        made.append(net)
    yield made
    for trunk in admin.network.trunks():
        if trunk.port_id in {p.id for n in made for p in admin.network.ports(
                network_id=n.id)}:
            admin.network.update_port(trunk.port_id, binding_host_id="")
            admin.network.delete_trunk(trunk)
    for net in made:
        for port in admin.network.ports(network_id=net.id):
            admin.network.delete_port(port.id)
        admin.network.delete_network(net.id)


@pytest.mark.parametrize("mode", ["probe", "off"])
def test_trunk(admin, networks, hosts, run_agent, mode):
    net_a, net_b = networks
    name = f"trunkhost-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    parent = admin.network.create_port(network_id=net_a.id, binding_host_id=name,
                                       port_security_enabled=False)
    sub = admin.network.create_port(network_id=net_b.id, port_security_enabled=False)
    peer = admin.network.create_port(network_id=net_b.id, binding_host_id=name,
                                     port_security_enabled=False)
    vm1 = probes.plug(where, "vm1", parent, 24)
    vm2 = probes.plug(where, "vm2", peer, 24)
    driver = TrunkDriver(name, where=where, vlan=None if mode == "probe" else False)
    can = driver.vlan.ok
    print(f"\nVLAN devices here: {can} ({driver.vlan.reason})")
    run_agent(name, lambda client: [LinuxBridgeDriver(name, where=where,
                                                      local_ip=LOCAL_IP), driver], 2.0)
    wait_for(lambda: admin.network.get_port(parent.id).status == "ACTIVE", "parent up")
    trunk = admin.network.create_trunk(port_id=parent.id, sub_ports=[
        {"port_id": sub.id, "segmentation_type": "vlan", "segmentation_id": 101}])
    assert admin.network.get_port(sub.id).binding_host_id == name
    subdev, tap = names.tap(sub.id), names.tap(parent.id)
    agent = next(a for a in admin.network.agents(host=name)
                 if a.agent_type == "Linux bridge agent")
    wait_for(lambda: "trunk" in admin.network.get_agent(agent.id).configuration,
             "the agent's trunk report")
    report = admin.network.get_agent(agent.id).configuration["trunk"]
    assert report["vlan"] is can and report["reason"]
    if can:
        wait_for(lambda: vlan.children(where.root, tap).get(subdev) == 101,
                 "the sub-port's VLAN device on the parent's tap")
        wait_for(lambda: admin.network.get_trunk(trunk.id).status == "ACTIVE",
                 "the trunk ACTIVE")
        assert admin.network.get_port(sub.id).status == "ACTIVE"
        netns.run(vm1, ["ip", "link", "add", "link", "eth0", "name", "eth0.101",
                        "address", sub.mac_address, "type", "vlan", "id", "101"])
        links.set_up(vm1, "eth0.101")
        links.ensure_address(vm1, "eth0.101", f"{sub.fixed_ips[0]['ip_address']}/24")
        wait_for(lambda: probes.pings(vm1, peer.fixed_ips[0]["ip_address"]),
                 "vm1 reaches vm2 through the trunk")
        admin.network.delete_trunk_subports(trunk, [{"port_id": sub.id}])
        wait_for(lambda: links.get_link(where.root, subdev) is None,
                 "the sub-port's device gone")
    else:
        wait_for(lambda: admin.network.get_trunk(trunk.id).status == "DEGRADED",
                 "the trunk DEGRADED")
        assert links.get_link(where.root, subdev) is None
        assert admin.network.get_port(sub.id).status == "DOWN"
        assert admin.network.get_trunk(trunk.id).status == "DEGRADED"  # not ACTIVE
        assert probes.pings(vm2, peer.fixed_ips[0]["ip_address"], count=1)
        if mode == "off":
            assert report["reason"] == "VLAN devices turned off"
        else:
            assert "802.1Q" in report["reason"]
        admin.network.delete_trunk_subports(trunk, [{"port_id": sub.id}])
        wait_for(lambda: admin.network.get_trunk(trunk.id).status == "ACTIVE",
                 "the trunk ACTIVE once it carries only its parent")
