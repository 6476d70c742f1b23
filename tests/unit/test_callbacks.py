"""The typed callback registry (kumo.common.callbacks): priority order, vetoes that roll
the publisher's transaction back, unsubscribe; networking's subscriptions are the ones
listed where the service is built."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kumo import db as kdb
from kumo.common import exceptions as exc
from kumo.common.callbacks import (
    PRIORITY_DEFAULT, CallbackFailure, CallbackRegistry, DBEventPayload, Event,
    EventPayload, Resource)
from kumo.config import Settings
from kumo.db.models import Revision


def _recorder(calls: list, name: str):
    def callback(resource, event, trigger, payload):
        calls.append((name, resource, event, trigger, payload.resource_id))
    callback.__name__ = name
    return callback


def test_callbacks_run_in_priority_then_subscription_order():
    reg = CallbackRegistry()
    calls: list = []
    late, early, default_a, default_b = (_recorder(calls, n)
                                         for n in ("late", "early", "a", "b"))
    reg.subscribe(late, Resource.PORT, Event.BEFORE_DELETE, priority=PRIORITY_DEFAULT + 1)
    reg.subscribe(default_a, Resource.PORT, Event.BEFORE_DELETE)
    reg.subscribe(early, Resource.PORT, Event.BEFORE_DELETE, priority=10)
    reg.subscribe(default_b, Resource.PORT, Event.BEFORE_DELETE)
    reg.subscribe(default_a, Resource.PORT, Event.BEFORE_DELETE)  # twice: a no-op
    reg.subscribe(_recorder(calls, "other"), Resource.NETWORK, Event.BEFORE_DELETE)
    trigger = object()
    reg.publish(Resource.PORT, Event.BEFORE_DELETE, trigger,
                EventPayload(None, resource_id="p1"))
    assert [c[0] for c in calls] == ["early", "a", "b", "late"]
    assert all(c[1:] == (Resource.PORT, Event.BEFORE_DELETE, trigger, "p1") for c in calls)
    assert reg.subscribers(Resource.PORT, Event.BEFORE_DELETE) == [
        early, default_a, default_b, late]


def test_nobody_subscribed_is_fine_and_payload_is_typed():
    reg = CallbackRegistry()
    reg.publish(Resource.ROUTER, Event.AFTER_CREATE, None, EventPayload(None))
    with pytest.raises(TypeError):
        reg.publish(Resource.ROUTER, Event.AFTER_CREATE, None, {"id": "x"})
    with pytest.raises(ValueError):
        reg.subscribe(lambda *a: None, "no-such-resource", Event.AFTER_CREATE)


def test_unsubscribe_one_pair_or_everywhere():
    reg = CallbackRegistry()
    calls: list = []
    cb = _recorder(calls, "cb")
    reg.subscribe(cb, Resource.PORT, Event.BEFORE_DELETE)
    reg.subscribe(cb, Resource.PORT, Event.AFTER_DELETE)
    reg.subscribe(cb, Resource.NETWORK, Event.AFTER_DELETE)
    reg.unsubscribe(cb, Resource.PORT, Event.BEFORE_DELETE)
    reg.publish(Resource.PORT, Event.BEFORE_DELETE, None, EventPayload(None))
    assert calls == []
    reg.publish(Resource.PORT, Event.AFTER_DELETE, None, EventPayload(None))
    assert len(calls) == 1
    reg.unsubscribe(cb)
    for res in (Resource.PORT, Resource.NETWORK):
        reg.publish(res, Event.AFTER_DELETE, None, EventPayload(None))
    assert len(calls) == 1


def test_a_veto_stops_the_publication_and_keeps_its_api_error():
    reg = CallbackRegistry()
    calls: list = []

    def veto(*_):
        raise exc.Conflict("in use")

    reg.subscribe(veto, Resource.NETWORK, Event.BEFORE_DELETE, priority=1)
    reg.subscribe(_recorder(calls, "after"), Resource.NETWORK, Event.BEFORE_DELETE)
    with pytest.raises(exc.Conflict, match="in use") as info:
        reg.publish(Resource.NETWORK, Event.BEFORE_DELETE, None, EventPayload(None))
    assert type(info.value) is exc.Conflict and info.value.status == 409
    assert calls == []  # the later subscriber never ran


def test_other_exceptions_become_a_409_callback_failure():
    reg = CallbackRegistry()

    def broken(*_):
        raise KeyError("x")

    reg.subscribe(broken, Resource.PORT, Event.AFTER_UPDATE)
    with pytest.raises(CallbackFailure) as info:
        reg.publish(Resource.PORT, Event.AFTER_UPDATE, None, EventPayload(None))
    assert info.value.status == 409 and isinstance(info.value.errors[0], KeyError)
    assert Event.BEFORE_DELETE.may_abort and Event.PRECOMMIT_CREATE.may_abort
    assert not Event.AFTER_DELETE.may_abort


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'kumo.db'}"
    kdb.upgrade(url)
    d = kdb.Database(url, pool_size=2)
    yield d
    d.dispose()


def _names(database) -> set[str]:
    with database.session(readonly=True) as s:
        return set(s.scalars(sa.select(Revision.name)))


def test_an_abort_rolls_back_the_publishers_transaction(database):
    """A BEFORE veto undoes what the publisher wrote before publishing; a failing AFTER
    subscriber (inside the transaction) also undoes what PRECOMMIT subscribers wrote."""
    reg = CallbackRegistry()

    def cleanup(resource, event, trigger, payload):
        payload.session.add(Revision(name=f"cleanup-{payload.resource_id}", value=1))

    def refuse(resource, event, trigger, payload):
        raise exc.Conflict("refused")

    reg.subscribe(cleanup, Resource.NETWORK, Event.PRECOMMIT_DELETE)

    def publisher(name):
        with database.session() as s:
            s.add(Revision(name=f"publisher-{name}", value=1))
            s.flush()
            payload = DBEventPayload(None, resource_id=name, session=s)
            for event in (Event.BEFORE_DELETE, Event.PRECOMMIT_DELETE, Event.AFTER_DELETE):
                reg.publish(Resource.NETWORK, event, None, payload)
                s.flush()

    reg.subscribe(refuse, Resource.NETWORK, Event.BEFORE_DELETE)
    with pytest.raises(exc.Conflict):
        publisher("a")
    assert not _names(database) & {"publisher-a", "cleanup-a"}
    reg.unsubscribe(refuse)

    reg.subscribe(refuse, Resource.NETWORK, Event.AFTER_DELETE)
    with pytest.raises(exc.Conflict):
        publisher("b")
    assert not _names(database) & {"publisher-b", "cleanup-b"}
    reg.unsubscribe(refuse)

    publisher("c")
    assert {"publisher-c", "cleanup-c"} <= _names(database)


def test_networking_lists_its_parts_and_subscriptions(database, tmp_path):
    from kumo.network.manager import Networking

    net = Networking(Settings(state_dir=str(tmp_path)), database)
    cb = net.callbacks
    # an external network's unattached floating IPs go first, in the same transaction
    assert cb.subscribers(Resource.NETWORK, Event.BEFORE_DELETE) == [
        net.floatingips.drop_disassociated, net.ports.refuse_network_in_use]
    # subnets go before the DHCP ports, as before the registry
    assert cb.subscribers(Resource.NETWORK, Event.PRECOMMIT_DELETE) == [
        net.subnets.drop_network_subnets, net.ports.drop_network_ports]
    assert cb.subscribers(Resource.NETWORK, Event.BEFORE_UPDATE) == [
        net.ports.refuse_unshare]
    assert cb.subscribers(Resource.PORT, Event.BEFORE_DELETE) == [
        net.routers.refuse_port_delete, net.trunks.refuse_port_delete]
    assert cb.subscribers(Resource.PORT, Event.PRECOMMIT_DELETE) == [
        net.floatingips.release_port, net.port_forwardings.drop_port,
        net.firewall_groups.release_port, net.taas.drop_port]
    assert net.feed.sources == [net.networks.snapshot, net.subnets.snapshot,
                                net.ports.snapshot, net.routers.snapshot,
                                net.security_groups.snapshot]
    # every part is an attribute, built here (no import-time registry)
    for name, part in net.parts.items():
        assert getattr(net, name) is part
    # two services do not share subscriptions
    other = Networking(Settings(state_dir=str(tmp_path)), database)
    assert other.callbacks.subscribers(Resource.PORT, Event.PRECOMMIT_DELETE) == [
        other.floatingips.release_port, other.port_forwardings.drop_port,
        other.firewall_groups.release_port, other.taas.drop_port]
