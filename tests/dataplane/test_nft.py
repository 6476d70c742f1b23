"""nftables through JSON, for real: a table in an "instance" namespace that drops, then
allows ICMP from members of a named set; NAT rules; listing and deletion."""
from __future__ import annotations

import pytest

from kumo.agent.dataplane import KumoDataplaneError, links, nft, netns

from tests.dataplane.test_links import ping

T = "kumo_test"


def filter_table(ns, allowed=()):
    nft.replace_table(ns, "inet", T, chains=[
        nft.Chain("input", type="filter", hook="input", prio=0, policy="drop"),
        nft.Chain("icmp_in"),
    ], sets=[nft.Set("allowed", "ipv4_addr", flags=["interval"], elements=list(allowed))],
        rules=[
        nft.Rule("input", [nft.ct_state("established", "related"), nft.accept()]),
        nft.Rule("input", [nft.iifname("lo"), nft.accept()]),
        nft.Rule("input", [nft.icmp(), nft.jump("icmp_in")]),
        nft.Rule("input", [nft.l4proto("tcp"), nft.dport("tcp", (20, 22)), nft.counter(),
                           nft.accept()], comment="ssh and ftp"),
        nft.Rule("icmp_in", [nft.saddr("@allowed"), nft.icmp("echo-request", 0),
                             nft.counter(), nft.accept()]),
    ])


def test_filter_set_elements_change_verdict(scratch):
    a, b = scratch("a"), scratch("b")
    links.ensure_veth(a, "eth0", "eth0", b)
    links.ensure_address(a, "eth0", "10.95.0.1/24")
    links.ensure_address(b, "eth0", "10.95.0.2/24")
    assert ping(a, "10.95.0.2", tries=3)
    filter_table(b)  # ICMP dropped: the set is empty
    assert not ping(a, "10.95.0.2")
    nft.add_elements(b, "inet", T, "allowed", ["10.95.0.1"])
    nft.add_elements(b, "inet", T, "allowed", ["10.95.0.1"])  # idempotent
    assert ping(a, "10.95.0.2")
    assert nft.list_elements(b, "inet", T, "allowed") == ["10.95.0.1"]
    nft.delete_elements(b, "inet", T, "allowed", ["10.95.0.1", "10.95.9.9"])
    assert nft.list_elements(b, "inet", T, "allowed") == []
    assert not ping(a, "10.95.0.2")
    nft.add_elements(b, "inet", T, "allowed", [nft.addr("10.95.0.0/24")])
    assert ping(a, "10.95.0.2")
    # replacing the table is atomic and resets it to exactly what is given
    filter_table(b, allowed=[])
    assert not ping(a, "10.95.0.2")
    objs = nft.list_table(b, "inet", T)
    assert sum("chain" in o for o in objs) == 2 and sum("rule" in o for o in objs) == 5
    assert any(o.get("rule", {}).get("comment") == "ssh and ftp" for o in objs)
    assert ("inet", T) in nft.list_tables(b)
    # a broken transaction changes nothing
    with pytest.raises(KumoDataplaneError) as e:
        nft.replace_table(b, "inet", T, rules=[nft.Rule("nochain", [nft.accept()])])
    assert "nft" in str(e.value)
    assert nft.list_table(b, "inet", T) == objs
    nft.delete_table(b, "inet", T)
    nft.delete_table(b, "inet", T)
    assert nft.list_table(b, "inet", T) is None
    assert ping(a, "10.95.0.2")


def test_nat_rules(scratch):
    ns = scratch("r")
    links.ensure_bridge(ns, "qg-test")
    links.ensure_address(ns, "qg-test", "172.24.4.10/24")
    for family in ("inet", "ip"):
        nft.replace_table(ns, family, "kumo_nat", chains=[
            nft.Chain("pre", type="nat", hook="prerouting", prio=-100),
            nft.Chain("post", type="nat", hook="postrouting", prio=100),
        ], rules=[
            nft.Rule("pre", [nft.daddr("172.24.4.20"), nft.dnat("10.0.0.5")]),
            nft.Rule("pre", [nft.daddr("172.24.4.21"), nft.l4proto("tcp"),
                             nft.dport("tcp", 80), nft.dnat("10.0.0.6", 8080)]),
            nft.Rule("post", [nft.saddr("10.0.0.5"), nft.snat("172.24.4.20")]),
            nft.Rule("post", [nft.saddr("10.0.0.0/24"), nft.oifname("qg-test"),
                              nft.l4proto("udp"), nft.snat("172.24.4.10", (1024, 65535))]),
            nft.Rule("post", [nft.saddr("10.1.0.0/24"), nft.masquerade()]),
        ])
        text = netns.run(ns, ["nft", "list", "table", family, "kumo_nat"]).stdout
        assert "dnat ip to 10.0.0.5" in text or "dnat to 10.0.0.5" in text
        assert "masquerade" in text and "1024-65535" in text
        nft.delete_table(ns, family, "kumo_nat")
    assert nft.list_tables(ns) == []


def test_builders():
    assert nft.addr("10.0.0.0/8") == {"prefix": {"addr": "10.0.0.0", "len": 8}}
    assert nft.addr("10.0.0.1/32") == "10.0.0.1"
    assert nft.port((1, 1)) == 1 and nft.port((1, 9)) == {"range": [1, 9]}
    assert nft.saddr("fd00::/64")["match"]["left"]["payload"]["protocol"] == "ip6"
    assert nft.snat("fd00::1")["snat"]["family"] == "ip6"
    assert nft.set_ref("x") == "@x"
