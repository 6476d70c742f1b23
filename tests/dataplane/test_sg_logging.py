"""Security group logging on the kernel (issue 14): a log with ``resource_type:
security_group`` puts nftables ``log group`` statements in the ports' firewall chains
and the agent's NFLOG reader writes the packets to ``<state>/logs/<log id>.log``.

One simulated host runs an Agent with the Linux-bridge L2 and the firewall drivers
(logs under the test's tmp directory) against a real ``kumo up``; two instance
namespaces on one network, both in a group admitting only TCP 22 in. A ping from one
to the other is dropped by the second's ingress chain and appears in a DROP log of the
group; a TCP connection to port 22 appears in an ACCEPT log targeting the second port
(and the refused ping does not); disabling the DROP log removes its statements and
further pings write nothing. Everything (the host namespace with its tables, the
instance namespaces, the servers, the agent and its NFLOG socket) is removed by the
fixtures, pass or fail."""
from __future__ import annotations

import ipaddress
import json
import os
import stat
import uuid

import pytest

from kumo.agent.dataplane import links, netns, nft
from kumo.agent.l2 import LinuxBridgeDriver
from kumo.agent.secgroups import FirewallDriver
from kumo.agent.sgmodel import TABLE
from tests.dataplane import probes
from tests.dataplane.test_secgroups import (LOCAL_IP, connects, network,  # noqa: F401
                                            pings, servers, wait_for)


@pytest.fixture
def log_agent(run_agent, tmp_path):
    """``start(name, where) -> logs dir``: the L2 and firewall drivers of host
    ``name``, the firewall's logs under ``tmp_path``."""
    def start(name: str, where: netns.Host):
        run_agent(name, lambda client: [
            LinuxBridgeDriver(name, where=where, local_ip=LOCAL_IP),
            FirewallDriver(name, where=where, state_dir=str(tmp_path))], 2.0)
        return tmp_path / "logs"
    return start


def logging_rules(where: netns.Host, log_id: str) -> int:
    """How many rules of our inet table log to ``log_id``."""
    objs = nft.list_table(where.root, "inet", TABLE) or []
    return sum(1 for o in objs if "rule" in o and log_id in json.dumps(o["rule"]["expr"]))


def lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_drop_and_accept_logs(admin, network, hosts, log_agent, servers, unique):
    net, subnet, groups = network
    name = f"sglhost-{uuid.uuid4().hex[:6]}"
    where = hosts("h")
    links.ensure_address(where.root, "lo", f"{LOCAL_IP}/32")
    sg = admin.network.create_security_group(name=unique("sg-log"))
    groups.append(sg)
    admin.network.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=22, port_range_max=22)
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    port = {i: admin.network.create_port(network_id=net.id, binding_host_id=name,
                                         security_group_ids=[sg.id]) for i in (1, 2)}
    ip = {i: p.fixed_ips[0]["ip_address"] for i, p in port.items()}
    made: list[str] = []

    def log(**body) -> str:
        resp = admin.network.post("/log/logs", json={"log": {
            "resource_type": "security_group", "name": unique("sgl"), **body}})
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["log"]["id"])
        return made[-1]

    try:
        drop_id = log(resource_id=sg.id, event="DROP")
        accept_id = log(target_id=port[2].id, event="ACCEPT")
        vm = {i: probes.plug(where, f"vm{i}", p, prefixlen) for i, p in port.items()}
        servers(vm[2])
        logs_dir = log_agent(name, where)
        for i in port:
            wait_for(lambda: admin.network.get_port(port[i].id).status == "ACTIVE",
                     f"port {i} ACTIVE")
        wait_for(lambda: logging_rules(where, drop_id) and logging_rules(where, accept_id),
                 "the log statements")
        wait_for(lambda: connects(vm[1], ip[2], 22), "TCP 22 admitted")
        drop_file, accept_file = (logs_dir / f"{i}.log" for i in (drop_id, accept_id))
        # the denied ping: a DROP line of port 2's ingress chain
        assert not pings(vm[1], ip[2])

        def dropped():
            return [x for x in lines(drop_file)
                    if f"src={ip[1]} dst={ip[2]}" in x and "proto=icmp" in x]
        wait_for(dropped, "the dropped ping in the DROP log")
        line = dropped()[0]
        assert "action=DROP" in line and f"log_id={drop_id}" in line
        assert f"host={name}" in line and "icmp_type=8" in line
        assert stat.S_IMODE(os.stat(drop_file).st_mode) == 0o600
        # the allowed connection: an ACCEPT line (the target port's), no ICMP there

        def accepted():
            return [x for x in lines(accept_file)
                    if f"src={ip[1]} dst={ip[2]}" in x and "dport=22" in x]
        wait_for(accepted, "the accepted connection in the ACCEPT log")
        assert all("action=ACCEPT" in x for x in lines(accept_file))
        assert not any("proto=icmp" in x for x in lines(accept_file))

        # disabled: the statements go and pings write nothing more
        resp = admin.network.put(f"/log/logs/{drop_id}", json={"log": {"enabled": False}})
        assert resp.status_code == 200, resp.text
        wait_for(lambda: logging_rules(where, drop_id) == 0, "the DROP log's rules gone")
        # only the pings count: a router solicitation logged just before the rules went
        # can still be on its way to the file (seen in CI)
        def pinged():
            return [x for x in lines(drop_file) if "proto=icmp " in x + " " and ip[2] in x]

        before = len(pinged())
        assert not pings(vm[1], ip[2])
        # a later logged packet (the same socket, in order) shows the reader got past
        # the pings
        seen = len(accepted())
        wait_for(lambda: connects(vm[1], ip[2], 22) and len(accepted()) > seen,
                 "a later connection logged")
        assert len(pinged()) == before
    finally:
        for log_id in made:
            admin.network.delete(f"/log/logs/{log_id}")
