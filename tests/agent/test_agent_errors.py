"""Per-driver failures in the agent core, against a stub controller (no server, no
threads: the test drives :meth:`Agent.process` with an injected clock): a raising
driver does not drop another driver's port reports, a permanent error is reported once
(agent state, heartbeat, the port it names) and retried with growing backoff, and a
changed object or a success clears it."""
from __future__ import annotations

import logging

import pytest

from kumo.agent import client as api
from kumo.agent.agent import Agent
from kumo.agent.dataplane.errors import PermanentError, is_permanent
from kumo.agent.drivers import Driver, FakeDriver, Report
from tests.agent.test_informer import StubClient

KEY = ("ports", "p1")


class Flaky(Driver):
    """Raises ``error`` (when set) on every reconcile; counts the calls."""

    name = "flaky"
    agent_type = "DHCP agent"
    binary = "neutron-dhcp-agent"
    kinds = ("ports",)

    def __init__(self, error: Exception | None):
        self.error = error
        self.calls = 0

    def reconcile(self, desired, revision):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return None

    def cleanup_orphans(self, desired):
        pass


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def setup():
    """``(agent, stub, flaky, clock, delays)``: the fake L2-like driver first, the
    flaky one second; ``delays`` records the retries the agent schedules."""
    def make(error):
        stub = StubClient()
        clock = Clock()
        flaky = Flaky(error)
        agent = Agent(stub, "hostA", [FakeDriver("hostA"), flaky], clock=clock,
                      jitter=lambda: 1.0)
        delays: list[tuple] = []
        agent.queue.add_after = lambda key, delay: delays.append((key, delay))
        agent.informer.relist()
        return agent, stub, flaky, clock, delays
    return make


def drain(agent):
    """Process what is queued (not the delayed retries), as the workers would."""
    while not agent.queue.idle(delayed=False):
        key = agent.queue.get()
        try:
            agent.process(key)
        finally:
            agent.queue.done(key)
    agent._check_realized()


def change_port(stub, **fields):
    with stub.lock:
        stub.state = {**stub.state, "revision": stub.state["revision"] + 1,
                      "ports": [dict(p, **fields) for p in stub.state["ports"]]}


def test_a_raising_driver_does_not_drop_another_drivers_port_report(setup):
    agent, stub, flaky, _, delays = setup(RuntimeError("boom"))
    assert agent.process(KEY) is False
    assert stub.reports == [("p1", "ACTIVE")]  # the fake driver's report went north
    assert flaky.calls == 1
    assert delays == [(KEY, 1.0)]
    (err,) = agent.errors()
    assert err["driver"] == "flaky" and err["kind"] == "ports" and err["id"] == "p1"
    assert not err["permanent"] and "boom" in err["error"]


def test_transient_failure_holds_back_the_realized_revision(setup):
    agent, stub, flaky, clock, _ = setup(RuntimeError("boom"))
    drain(agent)
    assert agent.realized_revision is None
    flaky.error = None
    clock.now += 1.0
    agent.queue.add(KEY)
    agent.queue.add(("networks", "n1"))
    clock.now += 1.0
    drain(agent)
    assert agent.errors() == []
    assert agent.realized_revision == 1


def test_permanent_error_reported_once_backs_off_and_clears_on_change(setup, caplog):
    error = PermanentError("no more IP addresses on subnet s1", ports=["p1"])
    agent, stub, flaky, clock, delays = setup(error)
    caplog.set_level(logging.DEBUG, logger="kumo.agent.agent")

    assert agent.process(KEY) is False
    # the port the error names is ERROR (worse than the other driver's ACTIVE)
    assert stub.reports == [("p1", "ERROR")]
    agent.heartbeat()
    beat = next(b for b in stub.beats if b["agent_type"] == "DHCP agent")
    (err,) = beat["configurations"]["errors"]
    assert err["permanent"] and err["driver"] == "flaky" and err["id"] == "p1"
    assert "no more IP addresses" in err["error"]
    assert all(b["configurations"]["errors"] == [] for b in stub.beats
               if b["agent_type"] != "DHCP agent")
    # a permanent error does not hold back the realized revision
    drain(agent)
    assert agent.realized_revision == 1

    # a resync re-queues the key before its retry is due: the flaky driver is skipped
    calls = flaky.calls
    agent.process(KEY)
    assert flaky.calls == calls
    # each due retry doubles the delay
    for _ in range(10):
        clock.now += delays[-1][1]
        agent.process(KEY)
    assert [d for _, d in delays] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert agent.errors()[0]["attempts"] == 11
    # logged once at WARNING without a traceback; repeats only at DEBUG
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "no more IP addresses" in warnings[0].getMessage()
    # ... as a greppable ERROR line (issue 15)
    assert warnings[0].levelno == logging.ERROR
    assert "reconcile of port p1 by driver flaky failed" in warnings[0].getMessage()
    assert stub.reports == [("p1", "ERROR")]  # reported once

    # the object changes (a new revision): retried at once, before the backoff ends
    flaky.error = None
    change_port(stub, name="renamed")
    agent.informer.relist()
    calls = flaky.calls
    assert agent.process(KEY) is True
    assert flaky.calls == calls + 1
    assert agent.errors() == [] and agent.failures == {}
    assert stub.reports[-1] == ("p1", "ACTIVE")


def test_changed_object_resets_the_backoff(setup):
    agent, stub, flaky, clock, delays = setup(RuntimeError("boom"))
    for _ in range(3):
        agent.process(KEY)
        clock.now += delays[-1][1]
    assert [d for _, d in delays] == [1, 2, 4]
    change_port(stub, name="renamed")
    agent.informer.relist()
    agent.process(KEY)
    assert delays[-1] == (KEY, 1.0)


def test_transient_failure_logs_a_traceback_once(setup, caplog):
    agent, _, _, clock, delays = setup(RuntimeError("boom"))
    caplog.set_level(logging.DEBUG, logger="kumo.agent.agent")
    for _ in range(3):
        agent.process(KEY)
        clock.now += delays[-1][1]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is not None
    assert warnings[0].levelno == logging.ERROR
    assert "reconcile of port p1 by driver flaky failed (attempt 1" in \
        warnings[0].getMessage()


def test_which_errors_are_permanent():
    assert is_permanent(PermanentError("x"))
    assert is_permanent(api.ControllerError(409, "No more IP addresses"))
    assert is_permanent(api.ControllerError(400, "bad"))
    assert not is_permanent(api.ControllerError(403, "forbidden"))
    assert not is_permanent(api.ControllerUnavailable("refused", 503))
    assert not is_permanent(api.NotFound("gone"))
    assert not is_permanent(RuntimeError("x"))


def test_report_merge_keeps_the_worse_status():
    r = Report(ports={"a": "ACTIVE", "b": "ERROR"})
    r.merge(Report(ports={"a": "DOWN", "b": "ACTIVE", "c": "ACTIVE"}))
    assert r.ports == {"a": "DOWN", "b": "ERROR", "c": "ACTIVE"}
