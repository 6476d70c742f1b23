"""The pure parts of Tap-as-a-Service and trunks: statuses from bindings and what a
port's ``tap_mirrors`` ask of its tap."""
from __future__ import annotations

from kumo.agent.dataplane import mirror
from kumo.network.taas import flow_status
from kumo.network.trunks import trunk_status


def test_flow_status():
    assert flow_status(("h1", "ACTIVE"), ("h1", "ACTIVE")) == "ACTIVE"
    assert flow_status(("h1", "ACTIVE"), ("h2", "ACTIVE")) == "ACTIVE"  # across hosts
    assert flow_status(("h1", "ACTIVE"), ("h1", "DOWN")) == "DOWN"
    assert flow_status(("", "DOWN"), ("h1", "ACTIVE")) == "DOWN"
    assert flow_status(("", "DOWN"), ("", "DOWN")) == "DOWN"


def test_trunk_status_never_active_when_subports_carry_nothing():
    assert trunk_status("", "DOWN", [], True) == "DOWN"
    assert trunk_status("h", "DOWN", [], False) == "BUILD"
    assert trunk_status("h", "ACTIVE", [], False) == "ACTIVE"  # carries its parent
    assert trunk_status("h", "ACTIVE", [("h", "ACTIVE")], False) == "DEGRADED"
    assert trunk_status("h", "ACTIVE", [("h", "DOWN")], True) == "BUILD"
    assert trunk_status("h", "ACTIVE", [("h", "ACTIVE")], True) == "ACTIVE"


def test_mirror_wanted_by_direction():
    flows = [{"id": "f1", "direction": "OUT", "to": "a"},
             {"id": "f2", "direction": "IN", "to": "b"},
             {"id": "f3", "direction": "BOTH", "to": "c"}]
    assert mirror.wanted(flows, lambda p: "tap" + p) == {"OUT": {"tapa", "tapc"},
                                                         "IN": {"tapb", "tapc"}}
    assert mirror.wanted([], str) == {"OUT": set(), "IN": set()}
