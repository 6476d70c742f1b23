"""Floating IP port forwarding on the kernel: a router on a simulated host (as in
tests/dataplane/test_l3.py), an instance namespace listening on TCP 8080 behind it, a
floating IP forwarding its port 2222 to the instance's 8080; the simulated host's root
namespace (on the external network, 172.24.4.1 on ``br-ex``) connects to
``FIP:2222`` and reaches the listener, which sees the client's own address. Deleting
the forwarding removes the floating IP's address and its DNAT rules. Every namespace is
removed at the end, pass or fail."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import links, names, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import FAMILY, TABLE, L3Driver
from tests.dataplane.test_l3 import (accept_once, connects, host_router_on, l3_cloud,  # noqa: F401
                                     plug, wait_for)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_port_forwarding_on_a_host(cloud, admin, hosts, unique, l3_cloud):  # noqa: F811
    host = f"pfhost-{uuid.uuid4().hex[:6]}"
    where = hosts("pf")
    links.ensure_address(where.root, "lo", "10.97.0.1/32")
    links.ensure_bridge(where.root, "br-ex")
    links.ensure_address(where.root, "br-ex", "172.24.4.1/24")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    l2 = LinuxBridgeDriver(host, where=where, local_ip="10.97.0.1",
                           bridge_mappings={"public": "br-ex"})
    l3 = L3Driver(host, where=where, client=client)
    agent = Agent(client, host, [l2, l3], workers=3, resync_s=2.0, heartbeat_s=1.0,
                  wait_s=2.0)
    agent.start()
    try:
        _exercise(admin, where, host, l3_cloud, unique)
    finally:
        agent.stop()
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)


def _exercise(admin, where, host, made, unique):
    public = admin.network.find_network("public", ignore_missing=False)
    net = admin.network.create_network(name=unique("pf-net"))
    made["nets"].append(net)
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.72.1.0/24", enable_dhcp=False)
    router = admin.network.create_router(name=unique("pf-r"),
                                         external_gateway_info={"network_id": public.id})
    made["routers"].append((router, [sub.id]))
    admin.network.add_interface_to_router(router, subnet=sub.id)
    l3_agent = wait_for(lambda: next(iter(admin.network.agents(
        host=host, agent_type="L3 agent")), None), "the L3 agent registered")
    host_router_on(admin, router.id, l3_agent.id)
    port = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                     device_owner="compute:nova",
                                     device_id=str(uuid.uuid4()))
    made["ports"].append(port)
    vm = plug(where, "vm0", port, sub.cidr, sub.gateway_ip)
    ip = port.fixed_ips[0]["ip_address"]
    rns = where.ns(names.router_ns(router.id))
    wait_for(rns.exists, "the router namespace")

    fip = admin.network.create_ip(floating_network_id=public.id)
    made["fips"].append(fip)
    addr = fip.floating_ip_address
    pf = admin.network.create_port_forwarding(
        floatingip_id=fip.id, internal_port_id=port.id, internal_ip_address=ip,
        internal_port=8080, external_port=2222, protocol="tcp")
    wait_for(lambda: admin.network.get_ip(fip.id).status == "ACTIVE", "FIP ACTIVE")
    t, seen = accept_once(vm, ip, 8080)
    wait_for(lambda: connects(where.root, addr, 2222), "the host connects to FIP:2222")
    t.join(10)
    assert seen.get("peer") == "172.24.4.1"
    # only the forwarded port is forwarded
    assert not connects(where.root, addr, 8080)
    rules = json.dumps(nft.list_table(rns, FAMILY, TABLE))
    assert f"portfwd {pf.id}" in rules

    admin.network.delete_port_forwarding(pf, fip.id)
    qg = names.router_gateway(next(p.id for p in admin.network.ports(
        device_id=router.id, device_owner="network:router_gateway")))
    wait_for(lambda: f"{addr}/32" not in links.list_addresses(rns, qg), "FIP /32 gone")
    wait_for(lambda: f"portfwd {pf.id}" not in json.dumps(
        nft.list_table(rns, FAMILY, TABLE)), "the DNAT rules gone")
    assert not connects(where.root, addr, 2222)
