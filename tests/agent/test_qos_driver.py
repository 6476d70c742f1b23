"""The QoS driver's reading of a port's rules (no kernel): which shaper and mark each
rule asks for, and the HTB burst from ``max_burst_kbps`` (0: Neutron's 80% of the
rate)."""
from __future__ import annotations

from kumo.agent import drivers
from kumo.agent.dataplane import tc
from kumo.agent.qos import limits, _dscp_value


def test_limits_of_rules():
    rules = [{"type": "bandwidth_limit", "direction": "egress", "max_kbps": 10000,
              "max_burst_kbps": 0},
             {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": 20000,
              "max_burst_kbps": 4000},
             {"type": "dscp_marking", "dscp_mark": 46},
             {"type": "minimum_bandwidth", "direction": "egress", "min_kbps": 1000}]
    got = limits(rules)
    assert got == {"egress": (10000, 8000 * 1000 // 8), "ingress": (20000, 500000),
                   "dscp": 46}
    assert limits([]) == {"ingress": None, "egress": None, "dscp": None}
    # minimum bandwidth alone asks nothing of the kernel
    assert limits(rules[3:]) == {"ingress": None, "egress": None, "dscp": None}


def test_burst_floor_and_dscp_names():
    assert tc.burst_bytes(100, 0) == tc.MIN_BURST_BYTES
    assert _dscp_value("af31") == 26 and _dscp_value("ef") == 46 and _dscp_value("0x1") == 1


def test_registered():
    assert "qos" in drivers.available()
