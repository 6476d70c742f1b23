"""The QoS driver's reading of a port's rules (no kernel): which shaper and mark each
rule asks for, and the HTB burst from ``max_burst_kbps`` (0: Neutron's 80% of the
rate)."""
from __future__ import annotations

from kumo.agent import drivers
from kumo.agent.dataplane import tc
from kumo.agent.qos import limits, pps, table_text, _dscp_value


def test_limits_of_rules():
    rules = [{"type": "bandwidth_limit", "direction": "egress", "max_kbps": 10000,
              "max_burst_kbps": 0},
             {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": 20000,
              "max_burst_kbps": 4000},
             {"type": "dscp_marking", "dscp_mark": 46},
             {"type": "minimum_bandwidth", "direction": "egress", "min_kbps": 1000},
             {"type": "packet_rate_limit", "direction": "ingress", "max_kpps": 2,
              "max_burst_kpps": 0}]
    got = limits(rules)
    nothing = {"ingress": None, "egress": None, "dscp": None, "pps_ingress": None,
               "pps_egress": None}
    assert got == dict(nothing, egress=(10000, 8000 * 1000 // 8),
                       ingress=(20000, 500000), dscp=46, pps_ingress=(2000, 200))
    assert limits([]) == nothing
    # minimum bandwidth alone asks nothing of the kernel
    assert limits(rules[3:4]) == nothing


def test_burst_floor_and_dscp_names():
    assert tc.burst_bytes(100, 0) == tc.MIN_BURST_BYTES
    assert _dscp_value("af31") == 26 and _dscp_value("ef") == 46 and _dscp_value("0x1") == 1


def test_registered():
    assert "qos" in drivers.available()


def test_packet_rate_limits_in_the_nft_table():
    assert pps(5, 0) == (5000, 500) and pps(5, 2) == (5000, 2000)
    assert pps(0, 0)[1] == 10  # the floor (a zero rate is never asked for)
    text = table_text({"tapaaa": (26, (5000, 500), None),
                       "tapbbb": (None, None, (1000, 100))})
    assert 'iifname "tapaaa" limit rate over 5000/second burst 500 packets drop' in text
    assert 'oifname "tapbbb" limit rate over 1000/second burst 100 packets drop' in text
    assert 'iifname "tapaaa" ether type ip ip dscp set 26' in text
    assert "tapbbb\" ether" not in text
    assert table_text({}).strip().endswith("delete table bridge kumo_qos")


def test_floating_ip_and_gateway_limits():
    """Which addresses of a router's qg- device get a class: floating IPs and the
    gateway's IPv4 address with a bandwidth limit; IPv6 and rule-less ones do not."""
    from kumo.agent.qos import address_limits
    bw = [{"type": "bandwidth_limit", "direction": "egress", "max_kbps": 10000,
           "max_burst_kbps": 0},
          {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": 2000,
           "max_burst_kbps": 100},
          {"type": "dscp_marking", "dscp_mark": 46}]
    fips = [{"floating_ip_address": "172.24.4.10", "qos_rules": bw},
            {"floating_ip_address": "172.24.4.11", "qos_rules": []},
            {"floating_ip_address": "2001:db8::5", "qos_rules": bw}]
    gateway = {"fixed_ips": [{"ip_address": "172.24.4.2"}, {"ip_address": "2001:db8::2"}],
               "qos_rules": bw[:1]}
    got = address_limits(fips, gateway)
    assert got["egress"] == {"172.24.4.10": (10000, 1_000_000),
                             "172.24.4.2": (10000, 1_000_000)}
    assert got["ingress"] == {"172.24.4.10": (2000, tc.MIN_BURST_BYTES)}
    assert address_limits(fips[1:2], None) == {"egress": {}, "ingress": {}}
