"""The agent hands drivers batches of keys (no server, no threads: the tests drive
:meth:`Agent.process_batch` and the :class:`WorkQueue`): one driver call per batch, one
key failing fails only itself (with its own retry), status reports go in one call when
the client has a batched method and one by one otherwise, and the snapshot index."""
from __future__ import annotations

from kumo.agent import client as api
from kumo.agent import snapindex
from kumo.agent.agent import Agent, WorkQueue
from kumo.agent.drivers import Driver, FakeDriver, Report
from kumo.agent.secgroups import FirewallDriver
from tests.agent.test_informer import StubClient

HOST = "hostA"


def ports(n: int) -> list[dict]:
    return [{"id": f"p{i}", "network_id": "n1", "binding:host_id": HOST, "status": "DOWN",
             "revision_number": 1, "mac_address": f"fa:16:3e:00:00:{i:02x}",
             "fixed_ips": [{"ip_address": f"10.0.0.{i + 10}"}], "security_groups": ["g1"]}
            for i in range(n)]


class Batched(Driver):
    """Records each ``reconcile_many`` call; ``fail`` names keys it fails (returned as
    exceptions), ``explode`` makes the whole call raise."""

    name = "batched"
    agent_type = "Linux bridge agent"
    kinds = ("ports", "networks")

    def __init__(self, fail=(), explode=False):
        self.batches: list[list[tuple[str, str]]] = []
        self.fail = set(fail)
        self.explode = explode

    def reconcile(self, desired, revision):  # pragma: no cover - batches only
        raise AssertionError("reconcile_many expected")

    def reconcile_many(self, batch, revision):
        keys = [(d["kind"], d["id"]) for d in batch]
        self.batches.append(keys)
        states = {id(d["state"]) for d in batch}
        assert len(states) == 1, "a batch is one snapshot"
        if self.explode:
            raise RuntimeError("whole batch")
        return {k: (RuntimeError(f"bad {k[1]}") if k in self.fail else
                    Report(ports={k[1]: "ACTIVE"}) if k[0] == "ports" else None)
                for k in keys}

    def cleanup_orphans(self, desired):
        pass


class PerKey(Driver):
    """Only ``reconcile`` (the default ``reconcile_many`` loops over it); raises for
    the keys in ``fail``."""

    name = "perkey"
    agent_type = "DHCP agent"
    kinds = ("ports",)

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.calls: list[str] = []

    def reconcile(self, desired, revision):
        self.calls.append(desired["id"])
        if desired["id"] in self.fail:
            raise RuntimeError(f"bad {desired['id']}")
        return Report(ports={desired["id"]: "ACTIVE"})

    def cleanup_orphans(self, desired):
        pass


def make(drivers, n=5, client=None):
    stub = client or StubClient()
    stub.state = {"revision": 1, "networks": [{"id": "n1"}], "ports": ports(n)}
    agent = Agent(stub, HOST, drivers, jitter=lambda: 1.0)
    delays: list = []
    agent.queue.add_after = lambda key, delay: delays.append((key, delay))
    agent.informer.relist()
    return agent, stub, delays


def take_all(agent) -> list:
    keys = agent.queue.get_batch(1000)
    return keys


def test_queued_keys_are_one_driver_call():
    drv = Batched()
    agent, stub, _ = make([drv])
    keys = take_all(agent)
    assert len(keys) == 6  # 5 ports and the network, all queued by the first list
    result = agent.process_batch(keys)
    for key in keys:
        agent.queue.done(key)
    assert all(result.values())
    assert len(drv.batches) == 1 and sorted(drv.batches[0]) == sorted(keys)
    assert sorted(stub.reports) == [(f"p{i}", "ACTIVE") for i in range(5)]


def test_get_batch_respects_the_limit_and_in_flight_keys():
    q = WorkQueue()
    for i in range(5):
        q.add(("ports", f"p{i}"))
    first = q.get_batch(3)
    assert first == [("ports", "p0"), ("ports", "p1"), ("ports", "p2")]
    q.add(("ports", "p0"))  # in flight: processed again after done, not handed out now
    assert q.get_batch(10) == [("ports", "p3"), ("ports", "p4")]
    for key in first:
        q.done(key)
    assert q.get_batch(10) == [("ports", "p0")]


def test_one_failing_key_does_not_fail_the_others():
    drv = Batched(fail={("ports", "p2")})
    agent, stub, delays = make([drv])
    result = agent.process_batch(take_all(agent))
    assert result[("ports", "p2")] is False
    assert all(ok for key, ok in result.items() if key != ("ports", "p2"))
    assert ("p2", "ACTIVE") not in stub.reports
    assert sorted(stub.reports) == [(f"p{i}", "ACTIVE") for i in range(5) if i != 2]
    assert delays == [(("ports", "p2"), 1.0)]  # only the failed key is retried
    (err,) = agent.errors()
    assert (err["id"], err["driver"]) == ("p2", "batched") and "bad p2" in err["error"]


def test_default_reconcile_many_isolates_keys_and_drivers():
    per_key = PerKey(fail={"p1"})
    agent, stub, delays = make([FakeDriver(HOST), per_key])
    result = agent.process_batch(take_all(agent))
    assert sorted(per_key.calls) == [f"p{i}" for i in range(5)]  # one call each
    assert result[("ports", "p1")] is False and result[("ports", "p0")] is True
    # the fake driver's ACTIVE for p1 still went north
    assert sorted(stub.reports) == [(f"p{i}", "ACTIVE") for i in range(5)]
    assert delays == [(("ports", "p1"), 1.0)]


def test_a_driver_raising_for_the_whole_batch_fails_its_keys_only():
    boom = Batched(explode=True)
    agent, stub, delays = make([FakeDriver(HOST), boom])
    keys = take_all(agent)
    result = agent.process_batch(keys)
    assert not any(result.values())
    assert sorted(stub.reports) == [(f"p{i}", "ACTIVE") for i in range(5)]
    assert sorted(k for k, _ in delays) == sorted(keys)
    assert {e["driver"] for e in agent.errors()} == {"batched"}


def test_a_backing_off_key_is_left_out_of_the_batch_until_due():
    clock = [1000.0]
    drv = Batched(fail={("ports", "p0")})
    stub = StubClient()
    stub.state = {"revision": 1, "networks": [], "ports": ports(3)}
    agent = Agent(stub, HOST, [drv], jitter=lambda: 1.0, clock=lambda: clock[0])
    agent.queue.add_after = lambda key, delay: None
    agent.informer.relist()
    agent.process_batch(take_all(agent))
    drv.fail.clear()
    keys = [("ports", "p0"), ("ports", "p1")]
    assert agent.process_batch(keys)[("ports", "p0")] is False  # still backing off
    assert drv.batches[-1] == [("ports", "p1")]
    clock[0] += 1.5
    assert agent.process_batch(keys) == {k: True for k in keys}
    assert drv.batches[-1] == keys and agent.errors() == []


class BatchClient(StubClient):
    """A controller client with the batched status method."""

    def __init__(self, missing=False):
        super().__init__()
        self.batch_calls: list[list[dict]] = []
        self.missing = missing

    def report_statuses(self, kind, statuses):
        if self.missing:
            raise api.NotFound("no such route")
        self.batch_calls.append([{"id": i, "status": st} for i, st in statuses.items()])
        return []


def test_statuses_go_in_one_batched_call_when_the_client_has_one():
    client = BatchClient()
    agent, _, _ = make([Batched()], client=client)
    agent.process_batch(take_all(agent))
    (call,) = client.batch_calls
    assert sorted((s["id"], s["status"]) for s in call) == [
        (f"p{i}", "ACTIVE") for i in range(5)]
    assert client.reports == []
    # already sent for this version: nothing again
    agent.process_batch([("ports", "p0"), ("ports", "p1")])
    assert len(client.batch_calls) == 1


def test_without_the_batched_route_statuses_go_one_by_one():
    client = BatchClient(missing=True)
    agent, _, _ = make([Batched()], client=client)
    agent.process_batch(take_all(agent))
    assert sorted(client.reports) == [(f"p{i}", "ACTIVE") for i in range(5)]
    assert client.batch_calls == []


def test_snapshot_index_is_built_once_per_snapshot():
    state = {"revision": 3, "networks": [{"id": "n1"}, {"id": "n2"}],
             "subnets": [{"id": "s1", "network_id": "n1"}],
             "ports": ports(3) + [dict(ports(1)[0], id="q", **{"binding:host_id": "B"})],
             "security_groups": [{"id": "g1"}]}
    idx = snapindex.of(state)
    assert snapindex.of(state) is idx
    assert snapindex.of(dict(state)) is not idx  # another snapshot object
    assert idx.get("networks", "n2") == {"id": "n2"} and idx.get("ports", "zz") is None
    assert [p["id"] for p in idx.host_ports(HOST, "n1")] == ["p0", "p1", "p2"]
    assert idx.host_ports(HOST, "n2") == [] and len(idx.network_ports("n1")) == 4
    assert idx.port_of_tap("tapp1")["id"] == "p1"
    assert [s["id"] for s in idx.subnets("n1")] == ["s1"]
    assert len(idx.group_ports("g1")) == 4


def test_firewall_reuses_its_model_only_when_the_batch_changed_nothing_it_reads():
    fw = FirewallDriver(HOST)
    before = {"revision": 1, "ports": ports(2), "security_groups": [{"id": "g1"}]}
    status_only = {**before, "revision": 2,
                   "ports": [dict(p, status="ACTIVE", revision_number=2)
                             for p in before["ports"]]}
    assert fw._unchanged([("ports", "p0"), ("networks", "n1")], status_only, before)
    moved = {**before, "ports": [dict(before["ports"][0],
                                      fixed_ips=[{"ip_address": "10.0.0.99"}]),
                                 before["ports"][1]]}
    assert not fw._unchanged([("ports", "p0")], moved, before)
    assert fw._unchanged([("ports", "p1")], moved, before)  # p0 is another batch's
    gone = {**before, "ports": before["ports"][1:]}
    assert not fw._unchanged([("ports", "p0")], gone, before)
    rules = {**before, "security_groups": [{"id": "g1", "rules": [{"id": "r"}]}]}
    assert not fw._unchanged([("security_groups", "g1")], rules, before)
