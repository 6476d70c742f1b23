"""FWaaS v2 and metering on the kernel (issue 14): a router on a simulated host (as in
tests/dataplane/test_portfwd.py) with an instance namespace behind it and the host's
root namespace as the outside (172.24.4.1 on ``br-ex``, reached through SNAT).

- A firewall group on the router's interface port whose egress policy denies ICMP and
  then allows everything: the instance's ping to the outside stops while TCP still
  connects; a ``reject`` rule for the TCP port inserted at the top refuses the
  connection; removing the rules restores both.
- A network log of the group's DROP events: the denied ping appears in
  ``<state>/logs/<log id>.log`` (0600), the allowed TCP connection does not.
- Ingress: the outside reaches a listener in the instance through a floating IP until
  a deny rule for its port heads the group's ingress policy.
- The group's ``admin_state_up`` false blocks all traffic; true restores it.
- A metering label with an egress rule for 172.24.4.0/24: its counter in the router's
  ``inet kumo_metering`` table moves with the pings.
Every namespace, table and object is removed at the end, pass or fail."""
from __future__ import annotations

import shutil
import socket
import uuid

import pytest

from kumo.agent import fwaas
from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.l3 import L3Driver
from tests.dataplane import probes
from tests.dataplane.test_l3 import l3_cloud  # noqa: F401 - a fixture
from tests.dataplane.test_l3 import host_router_on, plug, wait_for

OUTSIDE = "172.24.4.1"
PORT = 8099


def pings(ns: netns.Netns, addr: str) -> bool:
    return netns.run(ns, ["ping", "-c", "1", "-W", "1", addr], check=False,
                     timeout=10).returncode == 0


def connects(ns: netns.Netns) -> bool:
    return probes.connects(ns, OUTSIDE, PORT, timeout=1.5)


def listen_on(ns: netns.Netns, addr: str, port: int) -> socket.socket:
    """A listening TCP socket (the kernel completes handshakes from its backlog)."""
    def bind():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        return s
    return netns.call(ns, bind)


def listen(ns: netns.Netns) -> socket.socket:
    return listen_on(ns, OUTSIDE, PORT)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_firewall_group_and_metering_on_a_host(cloud, admin, hosts, unique, tmp_path,
                                               l3_cloud):  # noqa: F811
    host = f"fwhost-{uuid.uuid4().hex[:6]}"
    where = hosts("fw")
    links.ensure_address(where.root, "lo", "10.97.0.1/32")
    links.ensure_bridge(where.root, "br-ex")
    links.ensure_address(where.root, "br-ex", f"{OUTSIDE}/24")
    client = ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])
    l2 = LinuxBridgeDriver(host, where=where, local_ip="10.97.0.1",
                           bridge_mappings={"public": "br-ex"})
    l3 = L3Driver(host, where=where, client=client, state_dir=str(tmp_path))
    agent = Agent(client, host, [l2, l3], workers=3, resync_s=2.0, heartbeat_s=1.0,
                  wait_s=2.0)
    fw: dict[str, list] = {"groups": [], "policies": [], "rules": [], "labels": [],
                           "logs": []}
    server = listen(where.root)
    agent.start()
    try:
        _exercise(admin, where, host, l3_cloud, fw, unique, tmp_path / "logs")
    finally:
        server.close()
        for g in fw["groups"]:
            try:
                admin.network.update_firewall_group(g, ports=[])
            except Exception:  # noqa: BLE001 - already gone
                pass
            admin.network.delete_firewall_group(g, ignore_missing=True)
        for p in fw["policies"]:
            admin.network.delete_firewall_policy(p, ignore_missing=True)
        for r in fw["rules"]:
            admin.network.delete_firewall_rule(r, ignore_missing=True)
        for log_id in fw["logs"]:
            admin.network.delete(f"/log/logs/{log_id}")
        for lb in fw["labels"]:
            admin.network.delete_metering_label(lb, ignore_missing=True)
        agent.stop()
        for a in admin.network.agents(host=host):
            admin.network.delete_agent(a, ignore_missing=True)


def _exercise(admin, where, host, made, fw, unique, logs_dir):
    public = admin.network.find_network("public", ignore_missing=False)
    net = admin.network.create_network(name=unique("fw-net"))
    made["nets"].append(net)
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.73.1.0/24", enable_dhcp=False)
    router = admin.network.create_router(name=unique("fw-r"),
                                         external_gateway_info={"network_id": public.id})
    made["routers"].append((router, [sub.id]))
    iface = admin.network.add_interface_to_router(router, subnet=sub.id)
    l3_agent = wait_for(lambda: next(iter(admin.network.agents(
        host=host, agent_type="L3 agent")), None), "the L3 agent registered")
    host_router_on(admin, router.id, l3_agent.id)
    port = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                     device_owner="compute:nova",
                                     device_id=str(uuid.uuid4()))
    made["ports"].append(port)
    vm = plug(where, "vm0", port, sub.cidr, sub.gateway_ip)
    rns = where.ns(names.router_ns(router.id))
    wait_for(rns.exists, "the router namespace")
    wait_for(lambda: pings(vm, OUTSIDE), "the instance pings the outside")
    assert connects(vm)

    # metering: a label counting what leaves for the outside network
    label = admin.network.create_metering_label(name=unique("m"))
    fw["labels"].append(label)
    admin.network.create_metering_label_rule(metering_label_id=label.id,
                                             direction="egress",
                                             remote_ip_prefix="172.24.4.0/24")
    wait_for(lambda: label.id in fwaas.counters(rns), "the label's counter")
    before = fwaas.counters(rns)[label.id]["packets"]
    for _ in range(3):
        pings(vm, OUTSIDE)
    assert fwaas.counters(rns)[label.id]["packets"] >= before + 3

    # the firewall: deny ICMP, allow the rest, on the router's interface port
    deny_icmp = admin.network.create_firewall_rule(name=unique("icmp"), protocol="icmp",
                                                   action="deny")
    allow = admin.network.create_firewall_rule(name=unique("all"), action="allow")
    reject_tcp = admin.network.create_firewall_rule(
        name=unique("tcp"), protocol="tcp", destination_port=str(PORT), action="reject")
    fw["rules"] += [deny_icmp, allow, reject_tcp]
    egress = admin.network.create_firewall_policy(name=unique("eg"),
                                                  firewall_rules=[deny_icmp.id, allow.id])
    ingress = admin.network.create_firewall_policy(name=unique("in"),
                                                   firewall_rules=[allow.id])
    fw["policies"] += [egress, ingress]
    group = admin.network.create_firewall_group(
        name=unique("g"), ingress_firewall_policy_id=ingress.id,
        egress_firewall_policy_id=egress.id, ports=[iface["port_id"]])
    fw["groups"].append(group)
    assert group.status == "ACTIVE"
    wait_for(lambda: not pings(vm, OUTSIDE), "ICMP blocked by the firewall group")
    assert connects(vm), "TCP is still allowed"
    rules = str(nft.list_table(rns, fwaas.FAMILY, fwaas.FW_TABLE))
    assert f"fwr {deny_icmp.id}" in rules

    # a network log of the group's dropped packets: the denied ping is in its file
    resp = admin.network.post("/log/logs", json={"log": {
        "name": unique("log"), "resource_type": "firewall_group",
        "resource_id": group.id, "event": "DROP"}})
    assert resp.status_code == 201, resp.text
    log_id = resp.json()["log"]["id"]
    fw["logs"].append(log_id)
    log_file = logs_dir / f"{log_id}.log"
    ip = port.fixed_ips[0]["ip_address"]

    def logged() -> bool:
        pings(vm, OUTSIDE)
        return log_file.exists() and f"src={ip} dst={OUTSIDE}" in log_file.read_text()
    wait_for(logged, "the dropped ping in the log file")
    line = next(x for x in log_file.read_text().splitlines() if f"src={ip}" in x)
    assert "action=DROP" in line and "proto=icmp" in line and f"router_id={router.id}" in line
    assert (log_file.stat().st_mode & 0o777) == 0o600
    assert connects(vm)  # an allowed connection is not a DROP event
    assert "proto=tcp" not in log_file.read_text()
    # ... but it is an ACCEPT event, in the file of a log of those on the port
    resp = admin.network.post("/log/logs", json={"log": {
        "resource_type": "firewall_group", "target_id": iface["port_id"],
        "event": "ACCEPT"}})
    assert resp.status_code == 201, resp.text
    accept_id = resp.json()["log"]["id"]
    fw["logs"].append(accept_id)
    accept_file = logs_dir / f"{accept_id}.log"

    def accepted() -> bool:
        connects(vm)
        return accept_file.exists() and f"dst={OUTSIDE} sport=" in accept_file.read_text()
    wait_for(accepted, "the allowed connection in the ACCEPT log")
    assert "action=ACCEPT" in accept_file.read_text()
    assert "proto=icmp" not in accept_file.read_text()
    admin.network.delete(f"/log/logs/{accept_id}")
    fw["logs"].remove(accept_id)

    # a reject rule for the TCP port, inserted at the top, refuses the connection
    admin.network.insert_rule_into_policy(egress.id, reject_tcp.id)
    wait_for(lambda: not connects(vm), "TCP rejected")
    admin.network.remove_rule_from_policy(egress.id, reject_tcp.id)
    wait_for(lambda: connects(vm), "TCP allowed again")

    # removing the ICMP rule restores the ping
    admin.network.remove_rule_from_policy(egress.id, deny_icmp.id)
    wait_for(lambda: pings(vm, OUTSIDE), "ICMP allowed again")

    # ingress (out of the router's port into the subnet): the outside reaches the
    # instance through a floating IP until a deny rule for that port heads the policy
    fip = admin.network.create_ip(floating_network_id=public.id, port_id=port.id)
    made["fips"].append(fip)
    inside = listen_on(vm, "0.0.0.0", PORT)
    try:
        addr = fip.floating_ip_address
        wait_for(lambda: probes.connects(where.root, addr, PORT, timeout=1.5),
                 "the outside reaches the instance by its floating IP")
        deny_in = admin.network.create_firewall_rule(
            name=unique("in"), protocol="tcp", destination_port=str(PORT), action="deny")
        fw["rules"].append(deny_in)
        admin.network.insert_rule_into_policy(ingress.id, deny_in.id)
        wait_for(lambda: not probes.connects(where.root, addr, PORT, timeout=1.5),
                 "ingress TCP denied")
        assert connects(vm), "the other direction is not affected"
        admin.network.remove_rule_from_policy(ingress.id, deny_in.id)
        wait_for(lambda: probes.connects(where.root, addr, PORT, timeout=1.5),
                 "ingress TCP allowed again")
    finally:
        inside.close()

    # a group with admin_state_up false blocks all traffic of its ports
    admin.network.update_firewall_group(group, admin_state_up=False)
    wait_for(lambda: not connects(vm), "the group down blocks TCP")
    admin.network.update_firewall_group(group, admin_state_up=True)
    wait_for(lambda: connects(vm), "the group up again allows TCP")

    # the group leaving the port removes the table; deleting the label its counters
    admin.network.update_firewall_group(group, ports=[])
    wait_for(lambda: (fwaas.FAMILY, fwaas.FW_TABLE) not in nft.list_tables(rns),
             "the firewall table gone")
    admin.network.delete_metering_label(label)
    wait_for(lambda: (fwaas.FAMILY, fwaas.METER_TABLE) not in nft.list_tables(rns),
             "the metering table gone")
