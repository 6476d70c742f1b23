"""The firewall's desired model and its diff, without a kernel: rule translation,
anti-spoofing contents, mark allocation, and that a change touches only what changed."""
from __future__ import annotations

import json

from kumo.agent import sgmodel, sgrules
from kumo.agent.secgroups import Actual, plan
from kumo.agent.sgmodel import BRIDGE, INET

HOST = "h1"


def rule(rid="r1", **kw):
    body = {"id": rid, "direction": "ingress", "ethertype": "IPv4", "protocol": None,
            "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
            "remote_group_id": None}
    body.update(kw)
    return body


def port(i, groups=("g1",), **kw):
    body = {"id": f"{i:08d}-0000-0000-0000-000000000000", "network_id": "n" * 36,
            "binding:host_id": HOST, "mac_address": f"fa:16:3e:00:00:{i:02x}",
            "fixed_ips": [{"ip_address": f"10.0.0.{i}"}], "allowed_address_pairs": [],
            "security_groups": list(groups), "port_security_enabled": True,
            "device_owner": "compute:nova"}
    body.update(kw)
    return body


def text(exprs) -> str:
    return json.dumps(exprs)


def test_rule_translation():
    tcp = sgrules.rule_exprs(rule(protocol="tcp", port_range_min=20, port_range_max=22,
                                  remote_ip_prefix="192.0.2.0/24"), "ingress")
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}},
                      "right": {"range": [20, 22]}}} in tcp
    assert '"saddr"' in text(tcp) and '"len": 24' in text(tcp)
    assert tcp[-1] == {"accept": None}
    # icmp with IPv6 is ICMPv6; type and code from the port range
    v6 = sgrules.rule_exprs(rule(ethertype="IPv6", protocol="icmp", port_range_min=128,
                                 port_range_max=0), "egress")
    assert '"right": 58' in text(v6) and '"icmpv6"' in text(v6)
    # numbers work, unknown names and prefixes of the other family never match
    assert '"right": 47' in text(sgrules.rule_exprs(rule(protocol="47"), "ingress"))
    assert sgrules.rule_exprs(rule(protocol="nope"), "ingress") is None
    assert sgrules.rule_exprs(rule(remote_ip_prefix="2001:db8::/32"), "ingress") is None
    # remote group: the group's member set, source for ingress, destination for egress
    rg = sgrules.rule_exprs(rule(remote_group_id="g2"), "egress")
    assert '"@sg-g2-v4"' in text(rg) and '"daddr"' in text(rg)


def test_port_chains_stateful_and_stateless():
    groups = {"g1": {"id": "g1", "stateful": True, "rules": []},
              "g2": {"id": "g2", "stateful": False, "rules": []}}
    stateful = sgmodel.port_rules(port(1), groups, "ingress")
    assert '"ct"' in text(stateful[0])
    assert stateful[-2] == [{"jump": {"target": "sg-g1-i"}}]
    assert stateful[-1] == [{"drop": None}]
    assert '"ct"' not in text(sgmodel.port_rules(port(1, ["g2"]), groups, "egress"))


def test_spoof_chain_and_addresses():
    p = port(3, allowed_address_pairs=[{"ip_address": "10.9.0.0/24",
                                        "mac_address": "fa:16:3e:aa:aa:aa"}])
    rules = text(sgmodel.spoof_rules(p, 7))
    assert "fa:16:3e:aa:aa:aa" in rules and '"10.9.0.0", "len": 24' in rules
    assert "fe80::f816:3eff:fe00:3" in rules  # link-local from the MAC
    assert '"value": 7' in rules
    assert sgmodel.spoof_rules(p, 7)[-1] == [{"drop": None}]
    assert sgmodel.collapse(["10.0.0.5", "10.0.0.0/24", "2001:db8::1", "bad"],
                            False) == {"10.0.0.0/24": None}
    assert sgmodel.collapse(["10.0.0.4", "10.0.0.5", "10.0.0.4"], False) == {
        "10.0.0.4": None, "10.0.0.5": None}  # neighbours stay apart


def test_which_ports_and_marks():
    assert sgmodel.filtered(port(1), HOST)
    assert not sgmodel.filtered(port(1), "other")
    assert not sgmodel.filtered(port(1, port_security_enabled=False), HOST)
    assert not sgmodel.filtered(port(1, device_owner="network:dhcp"), HOST)
    assert sgmodel._allocate(["a", "b", "c"], {"b": 1, "x": 2}, 10) == \
        {"b": 1, "a": 2, "c": 3}


def state(ports, rules, members=None):
    g = {"id": "g1", "stateful": True, "rules": rules}
    if members is not None:
        g["members"] = members
    return {"revision": 1, "ports": ports, "security_groups": [g]}


def test_plan_changes_only_what_changed():
    ports = [port(i) for i in range(1, 6)]
    rules = [rule("r1", direction="egress"), rule("r2", remote_group_id="g1")]
    first = sgmodel.build(state(ports, rules), HOST, {}, {})
    cmds = plan(Actual(), first)
    assert cmds[0] == {"add": {"table": {"family": BRIDGE, "name": sgmodel.TABLE}}}
    assert plan(Actual.of(first), first) == []
    # one more rule in the group: one chain rewritten, nothing else
    more = sgmodel.build(state(ports, rules + [rule("r3", protocol="tcp")]), HOST,
                         first.marks, first.zones)
    cmds = plan(Actual.of(first), more)
    assert [c for c in cmds if "flush" in c] == [
        {"flush": {"chain": {"family": INET, "table": sgmodel.TABLE, "name": "sg-g1-i"}}}]
    # (the first port rule of the group brings its rule set: created with its element)
    assert all("rule" in c.get("add", {}) or "flush" in c or "set" in c.get("add", {})
               or "element" in c.get("add", {}) for c in cmds)
    # a second such rule is one element of that set, no chain touched
    most = sgmodel.build(state(ports, rules + [rule("r3", protocol="tcp"),
                                               rule("r4", protocol="udp", port_range_min=53,
                                                    port_range_max=53,
                                                    remote_ip_prefix="192.0.2.0/24")]),
                         HOST, first.marks, first.zones)
    assert plan(Actual.of(more), most) == [
        {"add": {"element": {"family": INET, "table": sgmodel.TABLE, "name": "sg-g1-i-r4",
                             "elem": [{"concat": [17, 53, {"prefix": {
                                 "addr": "192.0.2.0", "len": 24}}]}]}}}]
    # a member joins the remote group: one element added, no chain touched
    joined = sgmodel.build(state(ports, rules, members=[f"10.0.0.{i}" for i in
                                                        (1, 2, 3, 4, 5, 7)]),
                           HOST, first.marks, first.zones)
    assert plan(Actual.of(first), joined) == [
        {"add": {"element": {"family": INET, "table": sgmodel.TABLE, "name": "sg-g1-v4",
                             "elem": ["10.0.0.7"]}}}]
    # a port leaves: its map elements go before its chains
    fewer = sgmodel.build(state(ports[:-1], rules), HOST, first.marks, first.zones)
    cmds = plan(Actual.of(first), fewer)
    kinds = [next(iter(next(iter(c.values())))) for c in cmds]
    assert kinds.index("element") < kinds.index("chain")
    assert sum(1 for c in cmds if "delete" in c and "chain" in c["delete"]) == 3
    # nothing left to filter: our tables deleted, the guard with them
    assert plan(Actual.of(first), sgmodel.build(state([], rules), HOST, {}, {})) == [
        {"delete": {"table": {"family": f, "name": t}}}
        for f, t in ((BRIDGE, sgmodel.TABLE), (BRIDGE, sgmodel.GUARD_TABLE),
                     (INET, sgmodel.TABLE))]
    # a rule deleted from a chain behind our back: the chain is rewritten
    drifted = Actual.of(first)
    key = (INET, "sg-g1-i")
    drifted.rules[key] -= 1
    cmds = plan(drifted, first)
    assert cmds[0] == {"flush": {"chain": {"family": INET, "table": sgmodel.TABLE,
                                           "name": "sg-g1-i"}}}
    assert len(cmds) == 1 + len(first.chains[key])
    # every filtered port's tap is guarded, in the guard table
    assert set(first.elements[(sgmodel.GUARD, sgmodel.GUARDED)]) == set(first.marks)


def test_stateless_ports_are_untracked():
    """A port with a stateless group: its MACs (and its address pairs' MACs) in the
    ``stateless`` set, ``notrack`` rules first in the zone chain; none of it while every
    group is stateful, and it goes again when the group turns stateful."""
    g2 = {"id": "g2", "stateful": False, "rules": [rule("r9", direction="egress")]}
    ports = [port(1), port(2, ["g2"], allowed_address_pairs=[
        {"ip_address": "10.9.0.1", "mac_address": "FA:16:3E:BB:BB:BB"}])]
    st = state(ports, [rule("r1", direction="egress")])
    st["security_groups"].append(g2)
    model = sgmodel.build(st, HOST, {}, {})
    assert model.elements[(INET, sgmodel.STATELESS)] == {
        "fa:16:3e:00:00:02": None, "fa:16:3e:bb:bb:bb": None}
    zone = model.chains[(INET, "zone")]
    assert [r[-2:] for r in zone[:2]] == [[{"notrack": None}, {"accept": None}]] * 2
    assert '"saddr"' in text(zone[0]) and '"daddr"' in text(zone[1])
    assert '"zone"' in text(zone[2]) and len(zone) == 3  # then the zone rules
    cmds = plan(Actual(), model)
    prio = {c["add"]["chain"]["name"]: c["add"]["chain"]["prio"] for c in cmds
            if "chain" in c.get("add", {}) and "prio" in c["add"]["chain"]}
    assert prio["zone"] < -200  # before conntrack
    # the group turns stateful: no notrack rules, no set
    st["security_groups"][1] = dict(g2, stateful=True)
    tracked = sgmodel.build(st, HOST, model.marks, model.zones)
    assert "notrack" not in text(tracked.chains[(INET, "zone")])
    assert (INET, sgmodel.STATELESS) not in tracked.sets
    cmds = plan(Actual.of(model), tracked)
    assert {"delete": {"set": {"family": INET, "table": sgmodel.TABLE,
                               "name": sgmodel.STATELESS}}} in cmds


def test_remote_address_group_is_a_set():
    """A rule naming an address group matches the set ``ag-<id>-v4``/``-v6`` holding
    the group's CIDRs; new addresses change elements only, no chain."""
    rules = [rule("r1", direction="egress"),
             rule("r2", protocol="tcp", port_range_min=22, port_range_max=22,
                  remote_address_group_id="ag1")]
    st = state([port(1)], rules)
    st["security_groups"][0]["address_groups"] = {"ag1": ["192.0.2.0/24", "2001:db8::/64"]}
    model = sgmodel.build(st, HOST, {}, {})
    chain = text(model.chains[(INET, "sg-g1-i")])
    assert '"@ag-ag1-v4"' in chain and '"saddr"' in chain
    assert model.elements[(INET, "ag-ag1-v4")] == {"192.0.2.0/24": None}
    assert model.elements[(INET, "ag-ag1-v6")] == {"2001:db8::/64": None}
    st["security_groups"][0]["address_groups"] = {"ag1": ["192.0.2.0/24", "198.51.100.7/32"]}
    more = sgmodel.build(st, HOST, model.marks, model.zones)
    cmds = plan(Actual.of(model), more)
    assert {"add": {"element": {"family": INET, "table": sgmodel.TABLE,
                                "name": "ag-ag1-v4", "elem": ["198.51.100.7"]}}} in cmds
    assert not any("flush" in c or "rule" in c.get("add", {}) for c in cmds)
    # the rule gone: the sets go with it
    st["security_groups"][0]["rules"] = rules[:1]
    gone = sgmodel.build(st, HOST, model.marks, model.zones)
    assert (INET, "ag-ag1-v4") not in gone.sets


def test_port_rules_are_one_set_lookup():
    """TCP/UDP rules with ports and prefixes become elements of one concatenated set per
    group, direction and family; ICMP, any-protocol and remote-group rules stay rules."""
    rules = [rule(f"r{i:04d}", protocol="tcp", port_range_min=10000 + i,
                  port_range_max=10000 + i, remote_ip_prefix=f"192.0.2.{i}/32")
             for i in range(1, 200)]
    rules += [rule("s1", protocol="icmp"), rule("s2", remote_group_id="g1"),
              rule("s3", ethertype="IPv6", protocol="udp"),
              rule("s4", protocol="tcp", port_range_min=5201, port_range_max=5201)]
    group = {"id": "g1", "stateful": False, "rules": rules}
    chain = sgrules.group_rules(group, "ingress")
    assert len(chain) == 4  # two set lookups (v4, v6), ICMP, the remote group
    assert '"@sg-g1-i-r4"' in text(chain[0]) and '"concat"' in text(chain[0])
    assert '"@sg-g1-i-r6"' in text(chain[1])
    elems = sgrules.rule_set_elements(group, "ingress")
    assert len(elems[False]) == 200 and "6.5201-5201.0.0.0.0/0" in elems[False]
    assert list(elems[True]) == ["17.0-65535.::/0"]
    # nft's listing of an element reads back as the same key
    for key in ("6.10001-10001.192.0.2.1/32", "17.0-65535.::/0", "6.20-30.10.1.0.0/16"):
        rendered = sgrules.render_element(key)
        listed = {"concat": [{6: "tcp", 17: "udp"}[rendered["concat"][0]],
                             rendered["concat"][1], rendered["concat"][2]]}
        assert sgrules.canon_element(listed) == key


def _logged_state(logs, ports=None):
    group = {"id": "g1", "stateful": True, "members": [], "logs": logs,
             "rules": [rule(protocol="tcp", port_range_min=22, port_range_max=22),
                       rule("r2", protocol="icmp")]}
    return {"ports": ports or [port(1), port(2)], "security_groups": [group]}


def test_security_group_logs():
    """DROP logs before the port chain's final drop, ACCEPT logs in a copy of the group
    chain before each accept; a target log covers its port only; no logs, no copies."""
    target = port(2)["id"]
    state = _logged_state([{"id": "la", "event": "ACCEPT", "target_id": None},
                           {"id": "ld", "event": "DROP", "target_id": target}])
    m = sgmodel.build(state, HOST, {}, {})
    tap1, tap2 = (sgmodel.names.tap(p["id"]) for p in state["ports"])
    shared = {t: m.chains[(INET, sgmodel.ingress_chain(t))][0][0]["goto"]["target"]
              for t in (tap1, tap2)}
    assert shared[tap1] != shared[tap2]  # different logs, different chains
    one, two = (m.chains[(INET, shared[t])] for t in (tap1, tap2))
    drop_log = {"log": {"prefix": "kumo ld DROP", "group": sgmodel.LOG_GROUP}}
    assert two[-1] == [drop_log, {"drop": None}] and one[-1] == [{"drop": None}]
    copy = sgmodel.logged_chain(sgmodel.group_chain("g1", "ingress"), ("la",))
    assert any({"jump": {"target": copy}} in r for r in one)
    rules = m.chains[(INET, copy)]
    accept_log = {"log": {"prefix": "kumo la ACCEPT", "group": sgmodel.LOG_GROUP}}
    assert rules and all(r[-2:] == [accept_log, {"accept": None}] for r in rules)
    # the conntrack shortcut stays first: only a new connection reaches the log
    assert one[0][-1] == {"accept": None} and "ct" in text(one[0])
    # without logs: no copies, no log statements
    bare = sgmodel.build(_logged_state([]), HOST, {}, {})
    assert '"log"' not in text(list(bare.chains.values()))
    assert (INET, copy) not in bare.chains
    # disabling (the feed drops the log) is a plan that rewrites and removes chains
    cmds = plan(Actual.of(m), bare)
    assert any("delete" in c and c["delete"].get("chain", {}).get("name") == copy
               for c in cmds)
