"""DNS integration on the kernel: the DHCP driver's dnsmasq (an Agent with the L2 and
DHCP drivers in a simulated host, as tests/dataplane/test_dhcp.py runs them) answers an
instance namespace's DNS queries (a hand-made query over UDP to the DHCP port's
address) for another port's ``dns_name`` in the network's ``dns_domain``, bare and
fully qualified, and follows a rename. Every dnsmasq started under the test's state
directory is killed and every namespace removed, pass or fail."""
from __future__ import annotations

import random
import socket
import struct
import uuid

from kumo.agent.dataplane import links, netns
from tests.dataplane.test_dhcp import (UNDERLAY, agents, dhcp_port, plug, underlay,  # noqa: F401
                                      wait_for)

CIDR = "10.64.0.0/24"


def query_a(ns: netns.Netns, server: str, name: str) -> list[str] | None:
    """The A records ``server`` (UDP 53) gives for ``name``, asked from inside ``ns``;
    None when there is no answer in 2 s or the server says the name does not exist."""
    qid = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + b"\0" \
        + struct.pack("!HH", 1, 1)

    def go():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            s.sendto(packet, (server, 53))
            try:
                data, _ = s.recvfrom(4096)
            except OSError:
                return None
        rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
        if rid != qid or flags & 0xF:
            return None
        pos = 12
        for _ in range(qd):  # skip the question
            while data[pos]:
                pos += data[pos] + 1
            pos += 5
        out = []
        for _ in range(an):
            if data[pos] & 0xC0 == 0xC0:
                pos += 2
            else:
                while data[pos]:
                    pos += data[pos] + 1
                pos += 1
            rtype, _, _, length = struct.unpack("!HHIH", data[pos:pos + 10])
            pos += 10
            if rtype == 1 and length == 4:
                out.append(socket.inet_ntoa(data[pos:pos + 4]))
            pos += length
        return out or None
    return netns.call(ns, go)


def test_dnsmasq_serves_port_names(cloud, admin, hosts, agents, unique):  # noqa: F811
    net = admin.network.create_network(name=unique("dns-net"), dns_domain="corp.example.")
    try:
        admin.network.create_subnet(network_id=net.id, cidr=CIDR, ip_version=4,
                                    enable_dhcp=True)
        _exercise(admin, net, hosts, agents)
    finally:
        for port in admin.network.ports(network_id=net.id):
            admin.network.delete_port(port.id)
        admin.network.delete_network(net.id)


def _exercise(admin, net, hosts, agents):  # noqa: F811
    name = f"dnsA-{uuid.uuid4().hex[:6]}"
    where = hosts("a")
    underlay(where, "a")
    client = admin.network.create_port(network_id=net.id, binding_host_id=name,
                                       device_owner="compute:nova", dns_name="app")
    db = admin.network.create_port(network_id=net.id, binding_host_id=name,
                                   device_owner="compute:nova", dns_name="db")
    vm = plug(where, client, "vm0")
    links.ensure_address(vm, "eth0", f"{client.fixed_ips[0]['ip_address']}/24")
    agents(name, where, UNDERLAY["A"])
    port = wait_for(lambda: dhcp_port(admin, net.id, name), "the DHCP port")
    server = port.fixed_ips[0]["ip_address"]
    db_ip = db.fixed_ips[0]["ip_address"]

    assert wait_for(lambda: query_a(vm, server, "db.corp.example"),
                    "an answer for db.corp.example") == [db_ip]
    assert query_a(vm, server, "db") == [db_ip]
    # a port without dns_name answers to Neutron's host-<ip> name
    host_name = "host-" + server.replace(".", "-")
    assert query_a(vm, server, f"{host_name}.corp.example") == [server]
    # other domains are not answered from here (--local: no forwarding either)
    assert query_a(vm, server, "db.openstacklocal") is None

    admin.network.update_port(db.id, dns_name="db2")
    assert wait_for(lambda: query_a(vm, server, "db2.corp.example"),
                    "an answer for the new name") == [db_ip]
    assert query_a(vm, server, "db.corp.example") is None
