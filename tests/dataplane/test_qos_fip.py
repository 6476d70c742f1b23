"""QoS of floating IPs and router gateways (``qos-fip``, ``qos-gateway-ip``) on the
kernel: a router on a simulated host (as in tests/dataplane/test_l3.py), an instance
behind it with a floating IP, iperf3 between the simulated host's root namespace (on the
external network, 172.24.4.1 on ``br-ex``) and the instance through the floating IP.
A policy with a 10 Mbit/s ``egress`` and a 20 Mbit/s ``ingress`` limit on the floating
IP: about 10 Mbit/s leave the instance through it and about 20 arrive (figures printed;
asserted within generous bounds and well under the unlimited rate): HTB classes on the
router's ``qg-`` device and on an ifb for what arrives. A gateway policy adds a class
for the gateway address; detaching both removes the shaping and the ifb. Every
namespace is removed at the end, pass or fail."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import links, names, netns
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import L3Driver
from tests.dataplane.test_l3 import host_router_on, l3_cloud, plug, wait_for  # noqa: F401

IPERF_PORT = 5201
SECONDS = 3


def mbits(client: netns.Netns, server_ip: str, reverse: bool = False) -> float:
    """Mbit/s the receiver got from one TCP stream (the first second left out)."""
    argv = ["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t", str(SECONDS),
            "-O", "1", "-J"]
    if reverse:
        argv.append("-R")
    for _ in range(20):  # the server may be starting or finishing the previous test
        proc = netns.run(client, argv, check=False, timeout=SECONDS + 30)
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            result = {}
        if proc.returncode == 0 and "sum_received" in result.get("end", {}):
            return result["end"]["sum_received"]["bits_per_second"] / 1e6
        time.sleep(0.5)
    raise AssertionError(f"iperf3 failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")


def tc_show(ns: netns.Netns, *args: str) -> str:
    return netns.run(ns, ["tc", *args], check=False).stdout


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3")
def test_floating_ip_and_gateway_qos(cloud, admin, hosts, unique, l3_cloud):  # noqa: F811
    host = f"fqhost-{uuid.uuid4().hex[:6]}"
    where = hosts("fq")
    links.ensure_address(where.root, "lo", "10.97.0.3/32")
    links.ensure_bridge(where.root, "br-ex")
    links.ensure_address(where.root, "br-ex", "172.24.4.1/24")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    l2 = LinuxBridgeDriver(host, where=where, local_ip="10.97.0.3",
                           bridge_mappings={"public": "br-ex"})
    l3 = L3Driver(host, where=where, client=client)
    agent = Agent(client, host, [l2, l3], workers=3, resync_s=2.0, heartbeat_s=1.0,
                  wait_s=2.0)
    agent.start()
    server = None
    policies = []
    try:
        made = l3_cloud
        public = admin.network.find_network("public", ignore_missing=False)
        net = admin.network.create_network(name=unique("fq-net"))
        made["nets"].append(net)
        sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                          cidr="10.72.9.0/24", enable_dhcp=False)
        router = admin.network.create_router(
            name=unique("fq-r"), external_gateway_info={"network_id": public.id})
        made["routers"].append((router, [sub.id]))
        admin.network.add_interface_to_router(router, subnet=sub.id)
        l3_agent = wait_for(lambda: next(iter(admin.network.agents(
            host=host, agent_type="L3 agent")), None), "the L3 agent registered")
        host_router_on(admin, router.id, l3_agent.id)
        port = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                         device_owner="compute:nova",
                                         device_id=str(uuid.uuid4()),
                                         port_security_enabled=False)
        made["ports"].append(port)
        vm = plug(where, "vm0", port, sub.cidr, sub.gateway_ip)
        rns = where.ns(names.router_ns(router.id))
        wait_for(rns.exists, "the router namespace")
        fip = admin.network.create_ip(floating_network_id=public.id, port_id=port.id)
        made["fips"].append(fip)
        addr = fip.floating_ip_address
        wait_for(lambda: admin.network.get_ip(fip.id).status == "ACTIVE", "FIP ACTIVE")
        server = subprocess.Popen(
            ["timeout", "240", "nsenter", f"--net={vm.path}", "iperf3", "-s", "-p",
             str(IPERF_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        free_in = mbits(where.root, addr)
        free_out = mbits(where.root, addr, reverse=True)

        gw_port = next(p for p in admin.network.ports(
            device_id=router.id, device_owner="network:router_gateway"))
        qg, ifb = names.router_gateway(gw_port.id), names.qos_ifb(gw_port.id)
        policy = admin.network.create_qos_policy(name=unique("fq"))
        policies.append(policy)
        admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=10000,
                                                      direction="egress")
        admin.network.create_qos_bandwidth_limit_rule(policy, max_kbps=20000,
                                                      direction="ingress")
        admin.network.update_ip(fip, qos_policy_id=policy.id)
        wait_for(lambda: "rate 10Mbit" in tc_show(rns, "class", "show", "dev", qg)
                 and "rate 20Mbit" in tc_show(rns, "class", "show", "dev", ifb),
                 "the floating IP's classes")
        into = mbits(where.root, addr)
        out = mbits(where.root, addr, reverse=True)
        print(f"\nunlimited: {free_in:.1f} Mbit/s in, {free_out:.1f} out; limited "
              f"20/10: {into:.2f} Mbit/s in ({into / 20 - 1:+.0%}), {out:.2f} out "
              f"({out / 10 - 1:+.0%})")
        assert 5 < out < 15 and out < free_out / 2
        assert 10 < into < 30 and into < free_in / 2

        # the gateway's own policy: one more class, matched by the gateway address
        gw_policy = admin.network.create_qos_policy(name=unique("gw"))
        policies.append(gw_policy)
        admin.network.create_qos_bandwidth_limit_rule(gw_policy, max_kbps=5000,
                                                      direction="egress")
        admin.network.update_router(router, external_gateway_info={
            "network_id": public.id, "qos_policy_id": gw_policy.id})
        wait_for(lambda: "rate 5Mbit" in tc_show(rns, "class", "show", "dev", qg),
                 "the gateway's class")
        assert "rate 10Mbit" in tc_show(rns, "class", "show", "dev", qg)

        # a rule changed: the class follows
        rule = next(iter(admin.network.qos_bandwidth_limit_rules(gw_policy)))
        admin.network.update_qos_bandwidth_limit_rule(rule, gw_policy, max_kbps=6000)
        wait_for(lambda: "rate 6Mbit" in tc_show(rns, "class", "show", "dev", qg),
                 "the gateway's class at the new rate")

        # detached: no shaping, no ifb, the rate comes back
        admin.network.update_ip(fip, qos_policy_id=None)
        admin.network.update_router(router, external_gateway_info={
            "network_id": public.id, "qos_policy_id": None})
        wait_for(lambda: "htb" not in tc_show(rns, "qdisc", "show", "dev", qg)
                 and links.get_link(rns, ifb) is None, "the shaping removed")
        again = mbits(where.root, addr, reverse=True)
        print(f"after detaching: {again:.1f} Mbit/s out")
        assert again > 30
    finally:
        if server is not None:
            try:
                os.killpg(server.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            server.wait(10)
        agent.stop()
        if policies:  # unbound first: a policy in use cannot be deleted
            for fip in l3_cloud["fips"]:
                admin.network.update_ip(fip, qos_policy_id=None)
            for r, _ in l3_cloud["routers"]:
                admin.network.update_router(r, external_gateway_info={
                    "network_id": admin.network.find_network("public").id,
                    "qos_policy_id": None})
        for p in policies:
            admin.network.delete_qos_policy(p, ignore_missing=True)
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)
