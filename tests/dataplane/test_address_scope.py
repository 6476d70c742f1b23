"""Address scopes on the data plane: a router whose gateway subnet and one internal
subnet come from subnet pools of the same address scope routes that subnet to the
external network without SNAT, as Neutron does; an internal subnet outside the scope is
still SNATed to the gateway address. A simulated host runs the L2 and L3 drivers; the
external network is a VXLAN network (``router:external``) whose "outside" peer is a
namespace plugged on it with a route back to the scoped subnet. Every namespace is
removed at the end, pass or fail."""
from __future__ import annotations

import json
import shutil
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent import l3 as l3mod
from kumo.agent.dataplane import links, names, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import L3Driver
from tests.dataplane.test_l3 import (accept_once, connects, host_router_on,  # noqa: F401
                                     l3_cloud, plug, wait_for)

PEER_PORT = 9099


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_no_nat_within_an_address_scope(cloud, admin, hosts, unique, l3_cloud):  # noqa: F811
    host = f"ashost-{uuid.uuid4().hex[:6]}"
    where = hosts("as")
    links.ensure_address(where.root, "lo", "10.97.0.5/32")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    l2 = LinuxBridgeDriver(host, where=where, local_ip="10.97.0.5")
    l3 = L3Driver(host, where=where, client=client)
    # what the router's NAT table held when each leg was first given its addresses: a
    # subnet's SNAT must be in place before its leg routes anything (else its first
    # connections leave unNATed)
    nat_at_leg: dict[str, str] = {}
    real_leg = l3._leg

    def leg_spy(ns, leg, *args, **kw):
        if leg not in nat_at_leg:
            nat_at_leg[leg] = json.dumps(nft.list_table(ns, l3mod.FAMILY, l3mod.TABLE))
        return real_leg(ns, leg, *args, **kw)
    l3._leg = leg_spy
    agent = Agent(client, host, [l2, l3], workers=3, resync_s=2.0, heartbeat_s=1.0,
                  wait_s=2.0)
    agent.start()
    made = l3_cloud
    scope = pools = None
    try:
        scope = admin.network.create_address_scope(name=unique("scope"), ip_version=4)
        pools = [admin.network.create_subnet_pool(
            name=unique("pool"), prefixes=[prefix], address_scope_id=scope.id,
            default_prefixlen=24) for prefix in ("10.121.0.0/16", "10.122.0.0/16")]
        ext = admin.network.create_network(name=unique("as-ext"), is_router_external=True)
        made["nets"].append(ext)
        ext_sub = admin.network.create_subnet(network_id=ext.id, ip_version=4,
                                              subnetpool_id=pools[0].id, prefixlen=24,
                                              enable_dhcp=False)
        inside = admin.network.create_network(name=unique("as-in"))
        other = admin.network.create_network(name=unique("as-other"))
        made["nets"] += [inside, other]
        in_sub = admin.network.create_subnet(network_id=inside.id, ip_version=4,
                                             subnetpool_id=pools[1].id, prefixlen=24,
                                             enable_dhcp=False)
        other_sub = admin.network.create_subnet(network_id=other.id, ip_version=4,
                                                cidr="10.72.8.0/24", enable_dhcp=False)
        router = admin.network.create_router(
            name=unique("as-r"), external_gateway_info={"network_id": ext.id})
        made["routers"].append((router, [in_sub.id, other_sub.id]))
        admin.network.add_interface_to_router(router, subnet=in_sub.id)
        other_leg = names.router_interface(admin.network.add_interface_to_router(
            router, subnet=other_sub.id)["port_id"])
        gw_ip = admin.network.get_router(router.id).external_gateway_info[
            "external_fixed_ips"][0]["ip_address"]
        l3_agent = wait_for(lambda: next(iter(admin.network.agents(
            host=host, agent_type="L3 agent")), None), "the L3 agent registered")
        host_router_on(admin, router.id, l3_agent.id)

        def port_on(net):
            p = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                          device_owner="compute:nova",
                                          device_id=str(uuid.uuid4()),
                                          port_security_enabled=False)
            made["ports"].append(p)
            return p
        peer_port, in_port, other_port = port_on(ext), port_on(inside), port_on(other)
        peer = plug(where, "peer", peer_port, ext_sub.cidr, gw_ip)  # default: the router
        vm_in = plug(where, "vmin", in_port, in_sub.cidr, in_sub.gateway_ip)
        vm_other = plug(where, "vmother", other_port, other_sub.cidr, other_sub.gateway_ip)
        peer_ip = peer_port.fixed_ips[0]["ip_address"]
        wait_for(where.ns(names.router_ns(router.id)).exists, "the router namespace")

        # the scoped subnet reaches the peer with its own address
        t, seen = accept_once(peer, peer_ip, PEER_PORT)
        wait_for(lambda: connects(vm_in, peer_ip, PEER_PORT), "the scoped vm connects")
        t.join(10)
        assert seen.get("peer") == in_port.fixed_ips[0]["ip_address"]
        # the subnet outside the scope is SNATed to the gateway address
        t, seen = accept_once(peer, peer_ip, PEER_PORT)
        wait_for(lambda: connects(vm_other, peer_ip, PEER_PORT), "the other vm connects")
        t.join(10)
        assert seen.get("peer") == gw_ip
        assert other_sub.cidr.split("/")[0] in nat_at_leg[other_leg]
    finally:
        agent.stop()
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)
        # what l3_cloud would delete, now (the pools and the scope go after it)
        for port in made["ports"]:
            admin.network.delete_port(port, ignore_missing=True)
        for router, subnets in made["routers"]:
            for sub in subnets:
                try:
                    admin.network.remove_interface_from_router(router, subnet=sub)
                except Exception:  # noqa: BLE001 - already removed
                    pass
            admin.network.delete_router(router, ignore_missing=True)
        for net in made["nets"]:
            admin.network.delete_network(net, ignore_missing=True)
        for pool in pools or []:
            admin.network.delete_subnet_pool(pool, ignore_missing=True)
        if scope is not None:
            admin.network.delete_address_scope(scope, ignore_missing=True)
