"""The agents' shared parts: the controller base, the one backoff, the one driver
registry and the snapshot index (:mod:`kumo.agent.controller`, :mod:`kumo.agent.registry`,
:mod:`kumo.agent.snapindex`)."""
from __future__ import annotations

import threading

import pytest

from kumo.agent import client as api
from kumo.agent import drivers, snapindex, virt
from kumo.agent.agent import Agent
from kumo.agent.compute import ComputeAgent
from kumo.agent.controller import Backoff, Controller, supervise
from kumo.agent.drivers import FakeDriver
from kumo.agent.registry import Registry
from kumo.agent.virt.fake import FakeComputeDriver as FakeCompute
from tests.agent.test_informer import StubClient
from tests.waiting import wait_for


def test_backoff_doubles_up_to_its_cap_and_resets():
    b = Backoff(0.5, 4.0, jitter=None)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.delay(10_000) == 4.0  # no overflow for a long outage
    assert [b.next(), b.next(), b.next()] == [0.5, 1.0, 2.0] and b.failing
    b.reset()
    assert not b.failing and b.next() == 0.5
    jittered = Backoff(1.0, 300.0)
    assert all(0.8 <= jittered.delay(1) <= 1.2 for _ in range(50))
    assert all(jittered.delay(20) <= 300.0 for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_supervise_restarts_a_failing_watch_with_backoff():
    stop = threading.Event()
    calls = []

    def watch(ev):
        calls.append(len(calls))
        if len(calls) < 3:
            raise RuntimeError("netlink socket closed")
        stop.set()  # the third run returns once stopped

    backoff = Backoff(0.01, 0.02, jitter=None)
    supervise(watch, stop, backoff, "test watch")
    assert calls == [0, 1, 2]
    assert not backoff.failing  # the clean return reset it


def test_both_agents_are_one_controller():
    stub = StubClient()
    net = Agent(stub, "hostA", [FakeDriver("hostA")])
    comp = ComputeAgent(stub, "hostA", FakeCompute(host="hostA"))
    for agent in (net, comp):
        assert isinstance(agent, Controller)
        # the queue, timer, stop and run loop are the base's, not copies
        for name in ("start", "stop", "run_forever", "resync", "_timer", "_work",
                     "_on_update"):
            assert getattr(type(agent), name) is getattr(Controller, name), name
    assert comp.kinds == ("instances",) and net.kinds is None


class FlakyBeats(StubClient):
    """The first heartbeat fails (controller restarting), the next ones succeed."""

    def __init__(self):
        super().__init__()
        self.failed = 0

    def heartbeat(self, *args, **kwargs):
        if not self.failed:
            self.failed += 1
            raise api.ControllerUnavailable("connection refused")
        return super().heartbeat(*args, **kwargs)


def test_a_failed_network_heartbeat_is_retried_soon_not_a_period_later():
    stub = FlakyBeats()
    agent = Agent(stub, "hostA", [FakeDriver("hostA")], heartbeat_s=3600.0,
                  resync_s=3600.0, wait_s=0.05)
    agent.HEARTBEAT_RETRY_S = 0.05
    agent.start()
    try:
        wait_for(lambda: stub.beats, "the heartbeat after the failed one", timeout=30.0,
                 interval=0.02)
    finally:
        agent.stop()
    assert stub.failed == 1 and stub.beats[0]["start_flag"] is True


def test_one_registry_code_for_network_and_compute_drivers():
    assert isinstance(drivers.DRIVERS, Registry) and isinstance(virt.DRIVERS, Registry)
    assert type(drivers.DRIVERS) is type(virt.DRIVERS)
    assert {"fake", "linuxbridge", "firewall", "dhcp", "l3", "metadata"} <= set(
        drivers.available())
    assert virt.available() == ["fake", "netns"]
    with pytest.raises(ValueError, match="unknown data-plane driver 'nope'; available:"):
        drivers.build(["fake", "nope"], "h1")
    with pytest.raises(ValueError, match="unknown compute driver 'nope'; available:"):
        virt.build("nope", "h1")
    reg: Registry = Registry("test driver")

    @reg.register("x")
    class X:
        def __init__(self, **kw):
            self.kw = kw

    made = reg.create("x", "h1", state_dir="/tmp/x", extra=1)
    assert made.kw == {"host": "h1", "settings": None, "client": None, "where": None,
                       "state_dir": "/tmp/x", "extra": 1}


def test_snapshot_index_where_answers_by_field():
    state = {"revision": 3,
             "floatingips": [{"id": "f1", "router_id": "r1"}, {"id": "f2", "router_id": "r2"},
                             {"id": "f3", "router_id": "r1"}],
             "ports": [{"id": "p1", "device_id": "d1", "network_id": "n1"}]}
    idx = snapindex.of(state)
    assert idx is snapindex.of(state)  # built once per snapshot
    assert [f["id"] for f in idx.where("floatingips", "router_id", "r1")] == ["f1", "f3"]
    assert idx.where("floatingips", "router_id", "r9") == []
    assert idx.where("ports", "device_id", "d1")[0]["id"] == "p1"
    assert idx.where("routers", "id", "r1") == []  # a collection the snapshot lacks
    assert idx.get("floatingips", "f2")["router_id"] == "r2"
