"""``kumo trace``'s pure parts: security group rule matching (:mod:`kumo.trace.rules`)
and the readers and output of :mod:`kumo.trace.report`."""
from __future__ import annotations

import json

from kumo.trace import report, rules
from kumo.trace.report import FAIL, PASS, WARN, Check
from kumo.trace.rules import EXTERNAL, Probe

G = "11111111-aaaa-bbbb-cccc-000000000001"
OTHER = "22222222-aaaa-bbbb-cccc-000000000002"


def rule(**kw) -> dict:
    base = {"direction": "ingress", "ethertype": "IPv4", "protocol": None,
            "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
            "remote_group_id": None, "security_group_id": G}
    return {**base, **kw}


#: Neutron's default group: egress anywhere, ingress from its own members only.
DEFAULT = [rule(direction="egress"), rule(direction="egress", ethertype="IPv6"),
           rule(remote_group_id=G), rule(ethertype="IPv6", remote_group_id=G)]


def test_default_group_admits_only_its_members():
    assert not rules.admitting(DEFAULT, Probe("icmp", source="192.168.70.1"))
    assert not rules.admitting(DEFAULT, Probe("icmp", source=EXTERNAL))
    member = Probe("icmp", source="192.168.70.9", source_groups=frozenset({G}))
    assert rules.admitting(DEFAULT, member) == [DEFAULT[2]]
    other = Probe("tcp", 22, source="192.168.70.9", source_groups=frozenset({OTHER}))
    assert not rules.admitting(DEFAULT, other)


def test_icmp_rule_as_the_cli_makes_it():
    icmp = rule(protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    assert rules.rule_admits(icmp, Probe("icmp", source="192.168.70.1"))
    assert rules.rule_admits(icmp, Probe("icmp", source=EXTERNAL))
    assert not rules.rule_admits(icmp, Probe("tcp", 22, source=EXTERNAL))
    assert not rules.rule_admits(icmp, Probe("icmp", source="fd00::1", ipv6=True))
    # by number, and ICMP with ethertype IPv6 meaning ICMPv6 (as Neutron)
    assert rules.rule_admits(rule(protocol="1"), Probe("icmp", source=EXTERNAL))
    v6 = rule(protocol="icmp", ethertype="IPv6")
    assert rules.rule_admits(v6, Probe("icmp", source="fd00::1", ipv6=True))
    assert rules.rule_admits(rule(protocol="ipv6-icmp", ethertype="IPv6"),
                             Probe("icmp", source="fd00::1", ipv6=True))


def test_icmp_type_and_code():
    probe = Probe("icmp", source=EXTERNAL)
    assert rules.rule_admits(rule(protocol="icmp", port_range_min=8), probe)
    assert rules.rule_admits(rule(protocol="icmp", port_range_min=8, port_range_max=0),
                             probe)
    assert not rules.rule_admits(rule(protocol="icmp", port_range_min=0), probe)
    assert not rules.rule_admits(rule(protocol="icmp", port_range_min=8,
                                      port_range_max=1), probe)


def test_port_ranges():
    ssh = rule(protocol="tcp", port_range_min=22, port_range_max=22)
    assert rules.rule_admits(ssh, Probe("tcp", 22))
    assert not rules.rule_admits(ssh, Probe("tcp", 80))
    assert not rules.rule_admits(ssh, Probe("udp", 22))
    assert rules.rule_admits(ssh, Probe("tcp", None)), "any port will do"
    web = rule(protocol="tcp", port_range_min=8000, port_range_max=8100)
    assert rules.rule_admits(web, Probe("tcp", 8080))
    assert not rules.rule_admits(web, Probe("tcp", 8101))
    assert rules.rule_admits(rule(protocol="udp"), Probe("udp", 53)), "no range: all"
    assert rules.rule_admits(rule(), Probe("tcp", 443)), "any protocol"
    assert not rules.rule_admits(rule(protocol="gre"), Probe("tcp", 443))
    assert not rules.rule_admits(rule(protocol="no-such"), Probe("tcp", 443))


def test_remote_prefixes():
    lan = rule(protocol="tcp", remote_ip_prefix="10.0.0.0/8")
    assert rules.rule_admits(lan, Probe("tcp", 22, source="10.1.2.3"))
    assert not rules.rule_admits(lan, Probe("tcp", 22, source="192.168.1.1"))
    assert not rules.rule_admits(lan, Probe("tcp", 22, source=EXTERNAL)), \
        "outside the cloud means anywhere: only a /0 (or no prefix) admits it"
    anywhere = rule(protocol="tcp", remote_ip_prefix="0.0.0.0/0")
    assert rules.rule_admits(anywhere, Probe("tcp", 22, source="192.168.1.1"))
    v6 = rule(protocol="tcp", ethertype="IPv6", remote_ip_prefix="::/0")
    assert not rules.rule_admits(v6, Probe("tcp", 22, source="10.1.2.3"))
    assert rules.rule_admits(v6, Probe("tcp", 22, source="fd00::5", ipv6=True))


def test_egress_rules_never_admit():
    assert not rules.admitting([rule(direction="egress", protocol="icmp")],
                               Probe("icmp"))


def test_hint_and_describe():
    assert rules.hint(G, Probe("icmp", source="192.168.70.1")) == \
        f"openstack security group rule create {G} --protocol icmp"
    assert rules.hint(G, Probe("tcp", 22, source=EXTERNAL), EXTERNAL) == \
        f"openstack security group rule create {G} --protocol tcp --dst-port 22"
    assert rules.hint(G, Probe("udp", 53, source="10.0.0.7"), "10.0.0.7").endswith(
        "--protocol udp --dst-port 53 --remote-ip 10.0.0.7/32")
    assert rules.hint(G, Probe("icmp", ipv6=True)).endswith("--ethertype IPv6")
    text = rules.describe(rule(protocol="tcp", port_range_min=22, port_range_max=22,
                               remote_ip_prefix="0.0.0.0/0"))
    assert text.startswith("IPv4 ingress tcp port 22 from 0.0.0.0/0")
    assert "members of group 11111111" in rules.describe(rule(remote_group_id=G))


def test_console_findings():
    log = ("cirros-init: dhcp: deconfig eth0\n"
           "cirros-init: dhcp: bound: eth0 192.168.70.5 mask 24\n"
           "cirros-init: running user data\nhello from user data\n")
    found = report.console_findings(log, ["192.168.70.5"])
    assert found["lease"] == "192.168.70.5" and found["lease_ok"]
    assert found["boot_lines"][-1] == "hello from user data"
    assert not report.console_findings(log, ["192.168.70.6"])["lease_ok"]
    cidr = report.console_findings("cirros-init: dhcp: bound: eth0 10.0.0.5/24\n",
                                   ["10.0.0.5"])
    assert cidr["lease"] == "10.0.0.5" and cidr["lease_ok"]
    none = report.console_findings("cirros-init: dhcp: no lease, failing\n", ["x"])
    assert none["lease"] is None and none["dhcp_lines"]


def test_hosts_file_and_fdb():
    body = ("fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5\n"
            "fa:16:3e:00:00:02,host-fd00--5.openstacklocal,[fd00::5],set:port-x\n")
    assert report.hosts_file_has(body, "FA:16:3E:00:00:01", "10.0.0.5")
    assert report.hosts_file_has(body, "fa:16:3e:00:00:02", "fd00::5")
    assert not report.hosts_file_has(body, "fa:16:3e:00:00:01", "10.0.0.6")
    entries = [("00:00:00:00:00:00", "10.9.0.2"), ("fa:16:3e:00:00:09", "10.9.0.2")]
    assert report.fdb_missing(entries, {"h2": "10.9.0.2", "h3": "10.9.0.3"}) == ["h3"]
    assert report.fdb_missing([], {}) == []


def test_nat_findings():
    def nat_rule(kind, match, to):
        return {"rule": {"chain": "x", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip",
                                                        "field": "daddr"}},
                       "right": match}}, {kind: {"addr": to}}]}}
    table = [{"table": {}}, nat_rule("dnat", "172.24.4.10", "192.168.70.5"),
             nat_rule("snat", "192.168.70.5", "172.24.4.10")]
    assert report.nat_findings(table, "172.24.4.10", "192.168.70.5") == \
        {"table": True, "dnat": True, "snat": True}
    assert report.nat_findings(table[:2], "172.24.4.10", "192.168.70.5")["snat"] is False
    assert report.nat_findings(None, "a", "b") == {"table": False, "dnat": False,
                                                   "snat": False}


def test_log_matches_and_captures():
    lines = ["2026 1 INFO kumo.access [req-1] GET /ports/abc 200",
             "2026 1 ERROR kumo.agent [-] failed to plug port abc: boom",
             "2026 1 ERROR kumo.agent [-] failed on port zzz",
             "Traceback (most recent call last): abc",
             "2026 1 INFO kumo.agent.dhcp [-] tracehost: dnsmasq for abc: errors: []"]
    count, last = report.log_matches(lines, ["abc", ""])
    assert count == 2, "the level words and tracebacks, not 'tracehost' or 'errors'"
    assert last[-1].startswith("Traceback")
    dump = ["20:00:00.1 IP 192.168.70.1 > 192.168.70.5: ICMP echo request, id 1",
            "20:00:00.2 IP 192.168.70.5 > 192.168.70.1: ICMP echo reply, id 1",
            "20:00:00.3 IP 192.168.70.1.4000 > 192.168.70.5.22: Flags [S]",
            "20:00:00.4 IP 192.168.70.1 > 192.168.70.50: ICMP echo request, id 2"]
    assert report.capture_counts(dump, "192.168.70.5") == (2, 1)


def test_where_stopped():
    br = "brq1234"
    assert "no ARP answer" in report.where_stopped([("tapA", 0, 0), ("tapB", 0, 0)], br)
    assert "dropped on brq1234" in report.where_stopped([("tapA", 2, 0), ("tapB", 0, 0)],
                                                        br)
    assert "nothing answers" in report.where_stopped([("tapA", 2, 0), ("tapB", 2, 0)], br)
    assert "do not reach tapA" in report.where_stopped([("tapA", 2, 0), ("tapB", 2, 2)],
                                                       br)
    assert "another host" in report.where_stopped([("tapA", 2, 0)], br)


def test_output_and_exit_status():
    checks = [Check("port", PASS, "port p bound on h", "openstack port show p"),
              Check("secgroups", FAIL, "no rule", "openstack security group rule list",
                    "ingress is closed by default: add `x`"),
              Check("dataplane", WARN, "host h2 is not this machine")]
    out = report.text(checks).splitlines()
    assert out[0] == "PASS  port      port p bound on h   $ openstack port show p"
    assert out[1].startswith("FAIL  secgroups no rule")
    assert out[2].strip() == "-> ingress is closed by default: add `x`"
    assert out[-1] == "1 passed, 1 failed, 1 warnings"
    assert report.exit_status(checks) == 1
    assert report.exit_status([checks[0], checks[2]]) == 0, "warnings do not fail"
    data = json.loads(report.as_json({"kind": "port"}, checks))
    assert data["ok"] is False and data["checks"][1]["status"] == FAIL


def test_local_hosts_include_the_machine_and_simulated_hosts(monkeypatch, tmp_path):
    """The machine's own agent host, and each simulated host of ``kumo up --hosts N``
    whose anchor runs, entered through ``/proc/<anchor>/`` (a stand-in ``kumo.hosts``:
    that module is another change's)."""
    import sys
    import types
    from types import SimpleNamespace

    from kumo.trace import tracer

    alive = SimpleNamespace(name="h1", anchor=4242, dir=str(tmp_path / "hosts" / "h1"),
                            anchor_alive=lambda: True)
    gone = SimpleNamespace(name="h2", anchor=4343, dir=str(tmp_path / "hosts" / "h2"),
                           anchor_alive=lambda: False)
    fake = types.ModuleType("kumo.hosts")
    fake.load = lambda settings: [alive, gone]
    monkeypatch.setitem(sys.modules, "kumo.hosts", fake)
    # `from kumo import hosts` reads the package attribute first (set once any test
    # imported the real kumo.hosts)
    import kumo
    monkeypatch.setattr(kumo, "hosts", fake, raising=False)
    settings = SimpleNamespace(state_dir=str(tmp_path), agent_host="machine")
    where = tracer.local_hosts(settings)
    assert set(where) == {"machine", "h1"}
    assert where["machine"].host.netns is None
    assert where["machine"].dhcp_dir == str(tmp_path / "agent" / "dhcp")
    assert where["h1"].host.netns == "/proc/4242/ns/net"
    assert where["h1"].host.ns("qrouter-x").path == "/proc/4242/root/run/netns/qrouter-x"
    assert where["h1"].dhcp_dir == f"/proc/4242/root{tmp_path}/hosts/h1/agent/dhcp"
