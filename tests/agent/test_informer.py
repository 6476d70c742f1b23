"""The informer and the work queue against stub clients (no server): relist after 410
and after connection errors, changed keys only, one key never processed twice at once."""
from __future__ import annotations

import threading
import time

from kumo.agent import client as api
from kumo.agent.agent import Agent, WorkQueue
from kumo.agent.drivers import FakeDriver
from kumo.agent.watch import Informer


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class StubClient:
    """Serves a mutable desired state; ``changes`` answers from a scripted list of
    outcomes (an exception to raise, or a body), then long-polls emptily."""

    def __init__(self):
        self.state = {"revision": 1, "networks": [{"id": "n1", "mtu": 1450}],
                      "ports": [{"id": "p1", "binding:host_id": "hostA", "status": "DOWN",
                                 "revision_number": 1}]}
        self.script: list = []
        self.snapshots = 0
        self.since: list[int] = []
        self.reports: list[tuple[str, str]] = []
        self.beats: list[dict] = []
        self.lock = threading.Lock()

    def snapshot(self, host):
        with self.lock:
            self.snapshots += 1
            return {k: (list(v) if isinstance(v, list) else v) for k, v in self.state.items()}

    def changes(self, since, host, wait):
        with self.lock:
            self.since.append(since)
            step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        if step is not None:
            return step
        time.sleep(min(wait, 0.05))
        return {"revision": since, "changes": []}

    def heartbeat(self, host, agent_type, binary=None, configurations=None,
                  start_flag=False, availability_zone=None):
        self.beats.append({"host": host, "agent_type": agent_type,
                           "configurations": configurations, "start_flag": start_flag})
        return {}

    def report_port_status(self, port_id, status):
        self.reports.append((port_id, status))
        with self.lock:  # the controller applies it: a new port version
            for p in self.state["ports"]:
                if p["id"] == port_id:
                    p.update(status=status, revision_number=p["revision_number"] + 1)

    def report_floatingip_status(self, fip_id, status):
        self.reports.append((fip_id, status))


def run_informer(stub, **kw):
    seen = []
    inf = Informer(stub, "hostA", lambda rev, keys: seen.append((rev, set(keys))),
                   wait_s=0.05, backoff_min_s=0.01, backoff_max_s=0.05, **kw)
    inf.start()
    return inf, seen


def test_initial_list_delivers_every_key():
    stub = StubClient()
    inf, seen = run_informer(stub)
    try:
        wait_for(lambda: seen, what="the first delivery")
        assert seen[0] == (1, {("networks", "n1"), ("ports", "p1")})
        assert inf.get(("ports", "p1"))["binding:host_id"] == "hostA"
        wait_for(lambda: stub.since and stub.since[-1] == 1, what="a watch from rev 1")
    finally:
        inf.stop()


def test_change_batch_resnapshots_and_delivers_changed_keys_only():
    stub = StubClient()
    inf, seen = run_informer(stub)
    try:
        wait_for(lambda: seen, what="the first delivery")
        with stub.lock:
            stub.state = {**stub.state, "revision": 2,
                          "networks": [{"id": "n1", "mtu": 1400}]}
            stub.script.append({"revision": 2, "changes": [
                {"revision": 2, "resource_type": "network", "resource_id": "n1",
                 "op": "update", "host": None}]})
        wait_for(lambda: any(rev == 2 and keys for rev, keys in seen), what="rev 2")
        assert (2, {("networks", "n1")}) in seen
        assert inf.get(("networks", "n1"))["mtu"] == 1400
        with stub.lock:
            stub.state = {**stub.state, "revision": 3, "ports": []}
            stub.script.append({"revision": 3, "changes": [{"revision": 3}]})
        wait_for(lambda: any(rev == 3 for rev, _ in seen), what="rev 3")
        assert (3, {("ports", "p1")}) in seen
        assert inf.get(("ports", "p1")) is None
    finally:
        inf.stop()


def test_gone_relists_at_once_and_recovers():
    stub = StubClient()
    inf, seen = run_informer(stub)
    try:
        wait_for(lambda: inf.lists == 1, what="the first list")
        with stub.lock:
            stub.state = {**stub.state, "revision": 50, "networks": []}
            stub.script.append(api.Gone("too old"))
        wait_for(lambda: inf.lists == 2, what="a relist after 410")
        assert inf.revision == 50
        assert inf.get(("networks", "n1")) is None
        assert (50, {("networks", "n1")}) in seen
        wait_for(lambda: stub.since and stub.since[-1] == 50, what="a watch from rev 50")
    finally:
        inf.stop()


def test_connection_error_relists_with_backoff():
    stub = StubClient()
    inf, _ = run_informer(stub)
    try:
        wait_for(lambda: inf.lists == 1, what="the first list")
        with stub.lock:
            stub.script += [api.ControllerUnavailable("refused")] * 3
        wait_for(lambda: inf.lists >= 2, what="a relist after errors")
        assert not inf.stopped
    finally:
        inf.stop()


def test_a_refused_watch_relists_with_backoff_and_keeps_watching():
    """A 400 (the controller refused the watch's parameters) is not fatal: relist."""
    stub = StubClient()
    inf, _ = run_informer(stub)
    try:
        wait_for(lambda: inf.lists == 1, what="the first list")
        with stub.lock:
            stub.state = {**stub.state, "revision": 7}
            stub.script += [api.ControllerError(400, "bad since")] * 2
        wait_for(lambda: inf.lists >= 3, what="relists after refusals")
        wait_for(lambda: stub.since and stub.since[-1] == 7, what="a watch from rev 7")
        assert not inf.stopped
    finally:
        inf.stop()


def test_work_queue_never_hands_out_one_key_twice_at_once():
    q = WorkQueue()
    q.add(("ports", "a"))
    q.add(("ports", "a"))  # de-duplicated
    key = q.get()
    q.add(("ports", "a"))  # in flight: marked dirty, not handed out
    q.add(("ports", "b"))
    assert q.get() == ("ports", "b")
    q.done(("ports", "b"))
    assert not q.idle()
    q.done(key)
    assert q.get() == ("ports", "a")  # processed again after done
    q.done(("ports", "a"))
    assert q.idle()
    q.add_after(("ports", "c"), 0.05)
    assert not q.idle()
    assert q.get() == ("ports", "c")
    q.shutdown()
    assert q.get() is None


def test_agent_reports_port_status_once_and_realized_revision():
    stub = StubClient()
    driver = FakeDriver("hostA")
    agent = Agent(stub, "hostA", [driver], workers=2, resync_s=0.2, heartbeat_s=0.1,
                  wait_s=0.05)
    agent.start()
    try:
        wait_for(lambda: ("ports", "p1") in driver.realized, what="p1 realized")
        wait_for(lambda: stub.reports, what="a status report")
        wait_for(lambda: agent.realized_revision == 1, what="realized revision 1")
        wait_for(lambda: any(b["configurations"]["realized_revision"] == 1
                             for b in stub.beats), what="a heartbeat with revision 1")
        time.sleep(0.5)  # a few resyncs: the controller already has ACTIVE
        assert stub.reports == [("p1", "ACTIVE")]
        assert stub.beats[0]["start_flag"] and not stub.beats[-1]["start_flag"]
    finally:
        agent.stop()
    assert driver.stopped


def test_resync_relists_and_sees_changes_the_feed_did_not_route_here():
    stub = StubClient()
    driver = FakeDriver("hostA")
    agent = Agent(stub, "hostA", [driver], workers=2, resync_s=0.2, heartbeat_s=5,
                  wait_s=0.05)
    agent.start()
    try:
        wait_for(lambda: ("ports", "p1") in driver.realized, what="p1 realized")
        with stub.lock:  # re-bound elsewhere: the feed announces it to hostB only
            stub.state = {**stub.state, "revision": 2, "ports": []}
        wait_for(lambda: ("ports", "p1") not in driver.realized, what="p1 removed")
        assert ("networks", "n1") in driver.realized
        assert ("ports", "p1") in driver.removed()
    finally:
        agent.stop()
