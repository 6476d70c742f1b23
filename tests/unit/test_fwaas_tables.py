"""The router tables of firewall groups and metering (kumo/agent/fwaas.py) and the
NFLOG decoding (kumo/agent/nflog.py), without a kernel."""
from __future__ import annotations

import socket
import struct

from kumo.agent import fwaas, nflog
from kumo.agent.dataplane import names

PORT, OTHER = "11111111-2222-4333-8444-555555555555", "aaaaaaaa-2222-4333-8444-555555555555"


def _rule(rid, action, **kw):
    return {"id": rid, "protocol": None, "ip_version": 4, "source_ip_address": None,
            "destination_ip_address": None, "source_port": None,
            "destination_port": None, "action": action, **kw}


def _router(**kw):
    return {"id": "r", "project_id": "p", "interfaces": [{"port_id": PORT}],
            "firewall": [], "metering_labels": [], **kw}


def _flat(rule):
    return rule.json("inet", "t")


def test_no_group_no_table():
    assert fwaas.firewall(_router()) is None
    assert fwaas.metering(_router(), "qg-x") is None


def test_directions_order_verdicts_and_default_drop():
    entry = {"port_id": PORT, "firewall_group_id": "g", "logs": [],
             "egress": [_rule("deny-icmp", "deny", protocol="icmp"),
                        _rule("web", "allow", protocol="tcp", destination_port="80:90",
                              destination_ip_address="10.0.0.0/8"),
                        _rule("rej", "reject", protocol="udp")],
             "ingress": None}
    chains, rules = fwaas.firewall(_router(firewall=[entry]))
    assert [c.name for c in chains] == ["forward", "e-" + PORT[:11], "i-" + PORT[:11]]
    fwd = [_flat(r)["expr"] for r in rules if r.chain == "forward"]
    leg = names.router_interface(PORT)
    # egress = packets in by the port (-i), ingress = out by it (-o), egress first
    assert fwd[0][0]["match"]["left"] == {"meta": {"key": "iifname"}}
    assert fwd[0][0]["match"]["right"] == leg
    assert fwd[1][0]["match"]["left"] == {"meta": {"key": "oifname"}}
    egress = [r for r in rules if r.chain == "e-" + PORT[:11]]
    verdicts = [next(iter(_flat(r)["expr"][-1])) for r in egress]
    # replies return, invalid drops, then the rules in order, then the default drop
    assert verdicts == ["return", "drop", "drop", "return", "reject", "drop"]
    web = _flat(egress[3])["expr"]
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "tcp",
                                                       "field": "dport"}},
                      "right": {"range": [80, 90]}}} in web
    assert egress[3].comment == "fwr web"
    # a direction without a policy drops all but replies
    ingress = [next(iter(_flat(r)["expr"][-1])) for r in rules
               if r.chain == "i-" + PORT[:11]]
    assert ingress == ["return", "drop", "drop"]


def test_log_statements_by_event():
    logs = [{"id": "L1", "event": "DROP"}, {"id": "L2", "event": "ALL"},
            {"id": "L3", "event": "ACCEPT"}]
    entry = {"port_id": PORT, "firewall_group_id": "g", "logs": logs,
             "egress": [_rule("ok", "allow"), _rule("no", "deny")], "ingress": []}
    _, rules = fwaas.firewall(_router(firewall=[entry]))

    def prefixes(rule):
        return [e["log"]["prefix"] for e in _flat(rule)["expr"] if "log" in e]
    by_comment = {r.comment: r for r in rules if r.chain == "e-" + PORT[:11]}
    assert prefixes(by_comment["fwr ok"]) == ["kumo L2 ACCEPT", "kumo L3 ACCEPT"]
    assert prefixes(by_comment["fwr no"]) == ["kumo L1 DROP", "kumo L2 DROP"]
    assert prefixes(by_comment["default drop"]) == ["kumo L1 DROP", "kumo L2 DROP"]
    assert all(e["log"]["group"] == nflog.GROUP for r in rules for e in _flat(r)["expr"]
               if "log" in e)


def test_metering_excluded_first_and_counted_once():
    label = {"id": OTHER, "rules": [
        {"id": "inc", "direction": "egress", "excluded": False,
         "source_ip_prefix": None, "destination_ip_prefix": "0.0.0.0/0"},
        {"id": "exc", "direction": "egress", "excluded": True,
         "source_ip_prefix": None, "destination_ip_prefix": "10.0.0.0/8"}]}
    chains, rules, counters = fwaas.metering(_router(metering_labels=[label]), "qg-x")
    assert counters == [f"l-{OTHER}"]
    assert [c.name for c in chains] == ["forward", f"m-{OTHER[:8]}-e"]
    body = [r for r in rules if r.chain != "forward"]
    assert [r.comment for r in body] == ["rule exc", "rule inc"]
    assert _flat(body[1])["expr"][-2:] == [{"counter": f"l-{OTHER}"}, {"return": None}]
    assert fwaas.metering(_router(metering_labels=[label]), None) is None


def _nla(kind, data):
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def test_nflog_packet_decoded():
    ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0]) + socket.inet_aton("10.0.0.5") \
        + socket.inet_aton("172.24.4.1") + bytes([8, 0, 0, 0])
    body = struct.pack("=BBH", socket.AF_INET, 0, socket.htons(nflog.GROUP))
    body += _nla(nflog.A_PREFIX, b"kumo L1 DROP\0") + _nla(nflog.A_INDEV, struct.pack("!I", 7))
    body += _nla(nflog.A_PAYLOAD, ip)
    msg = struct.pack("=IHHII", 16 + len(body), nflog.MSG_PACKET, 0, 0, 0) + body
    (pkt,) = nflog.parse(msg + msg[:8])  # a truncated tail is ignored
    assert pkt["prefix"] == "kumo L1 DROP" and pkt["in"] == 7 and pkt["out"] == 0
    assert nflog.describe(pkt["payload"]) == {"proto": "icmp", "src": "10.0.0.5",
                                              "dst": "172.24.4.1", "icmp_type": 8}
    assert nflog.describe(b"") == {} and nflog.describe(b"\x45\x00") == {}


def test_nflog_config_message_binds_the_group():
    msg = nflog.config_message(group=17)
    length, kind, flags = struct.unpack_from("=IHH", msg)
    assert length == len(msg) and kind == nflog.MSG_CONFIG and flags & 1
    assert struct.unpack_from("!H", msg, 18)[0] == 17


def test_a_group_down_blocks_everything():
    entry = {"port_id": PORT, "firewall_group_id": "g", "logs": [], "admin_state_up": False,
             "egress": [_rule("ok", "allow")], "ingress": [_rule("ok", "allow")]}
    _, rules = fwaas.firewall(_router(firewall=[entry]))
    body = [_flat(r)["expr"] for r in rules if r.chain != "forward"]
    assert body == [[{"drop": None}], [{"drop": None}]]
