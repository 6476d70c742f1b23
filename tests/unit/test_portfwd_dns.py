"""Port forwarding's nftables rules (kumo/agent/dataplane/portfwd.py), DNS name rules
(kumo/network/dns.py) and dnsmasq's names (kumo/agent/dataplane/dnsmasq.py)."""
from __future__ import annotations

import json

import pytest

from kumo.agent.dataplane import dnsmasq, portfwd
from kumo.common import exceptions as exc
from kumo.network import dns


def _fip(**pf):
    base = {"id": "pf1", "protocol": "tcp", "internal_ip_address": "10.0.0.5",
            "internal_port": [80, 80], "external_port": [8080, 8080]}
    return {"floating_ip_address": "172.24.4.9", "port_forwardings": [{**base, **pf}]}


def test_single_port_rules():
    rules = portfwd.rules(_fip(), "qg-x")
    assert [r.chain for r in rules] == ["prerouting", "output", "postrouting"]
    text = json.dumps([r.json("ip", "t") for r in rules])
    assert '"dnat": {"addr": "10.0.0.5", "family": "ip", "port": 80}' in text
    assert '"snat": {"addr": "172.24.4.9", "family": "ip"}' in text
    assert all(r.comment == "portfwd pf1" for r in rules)


def test_ranges_map_port_by_port_and_long_ranges_as_a_whole():
    rules = portfwd.rules(_fip(internal_port=[5000, 5002], external_port=[6000, 6002]),
                          "qg-x")
    assert len(rules) == 3 * 2 + 1
    long = portfwd.rules(_fip(internal_port=[1000, 1999], external_port=[2000, 2999]),
                         "qg-x")
    assert len(long) == 3
    assert portfwd.rules({"floating_ip_address": "172.24.4.9"}, "qg-x") == []


@pytest.mark.parametrize("name", ["web", "Web-1", "a" * 63, "db.internal", "x1.y2", ""])
def test_good_dns_names(name):
    assert dns.check_name(name) == name.lower()


@pytest.mark.parametrize("name", ["-a", "a-", "a" * 64, "a_b", "a..b", "a.123", "a b"])
def test_bad_dns_names(name):
    with pytest.raises(exc.BadRequest):
        dns.check_name(name)


def test_assignment_and_dnsmasq_names():
    fixed = [{"ip_address": "10.0.0.5"}]
    assert dns.assignment("", fixed, None) == [{
        "hostname": "host-10-0-0-5", "ip_address": "10.0.0.5",
        "fqdn": "host-10-0-0-5.openstacklocal."}]
    port = {"id": "p", "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [
        {"subnet_id": "s", "ip_address": "10.0.0.5"}],
        "dns_assignment": dns.assignment("web", fixed, "corp.example")}
    assert dnsmasq.names_of(port, "10.0.0.5") == ("web", "web.corp.example")
    assert dnsmasq.render_addn_hosts([port], [{"id": "s"}], "corp.example") == \
        "10.0.0.5\tweb.corp.example web\n"
    assert dnsmasq.domain({"dns_domain": "corp.example."}) == "corp.example"
    assert dnsmasq.domain({"dns_domain": ""}) == "openstacklocal"
