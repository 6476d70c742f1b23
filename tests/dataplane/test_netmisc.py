"""Small data-plane checks of the networking "misc" fixes (issue 14): an instance's
IPv6 link-local address is the EUI-64 of its port's MAC."""
from __future__ import annotations

import ipaddress
import json

from kumo.agent.dataplane import links, netns
from kumo.agent.virt.nics import Nics


def _eui64_link_local(mac: str) -> str:
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    iid = b[:3] + [0xFF, 0xFE] + b[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + iid)))


def _link_locals(ns: netns.Netns, dev: str) -> set[str]:
    out = netns.run(ns, ["ip", "-j", "-6", "addr", "show", "dev", dev, "scope", "link"]
                    ).stdout
    return {a["local"] for link in json.loads(out or "[]")
            for a in link.get("addr_info", [])}


def test_instance_link_local_address_follows_the_port_mac(hosts):
    host = hosts("h")
    nics = Nics(host)
    meta = {"id": "i-1", "name": "vm"}
    first = {"id": "0a1b2c3d-0000-4000-8000-000000000001", "mtu": 1450,
             "mac_address": "fa:16:3e:12:34:56"}
    nics.plug(meta, [first])
    vm = netns.ensure_netns(host, "vm")
    assert links.get_link(vm, "eth0").mac == first["mac_address"]
    assert _link_locals(vm, "eth0") == {_eui64_link_local(first["mac_address"])}
    # the port's MAC changes (admin update): the link-local address follows it
    changed = {**first, "mac_address": "fa:16:3e:ab:cd:ef"}
    nics.plug(meta, [changed])
    assert links.get_link(vm, "eth0").mac == changed["mac_address"]
    assert _link_locals(vm, "eth0") == {_eui64_link_local(changed["mac_address"])}
