"""A typed callback registry for events between the parts of a service, in the spirit
of neutron-lib's ``callbacks`` (registry, resources, events, payloads).

A part that must react to another's change subscribes a callable to a
``(resource, event)`` pair; the part making the change publishes the event with a
payload. Nothing is found by name: the service lists its subscriptions where it is
built (see :class:`kumo.network.manager.Networking`), so what reacts to what is read
in one place.

Events, by when the publisher sends them:

- ``BEFORE_*``: the change is about to be made; a callback may veto it by raising.
  The first exception stops the publication and goes up to the publisher unchanged
  when it is one of Kumo's API errors (:class:`kumo.common.exceptions.KumoError`,
  e.g. Neutron's 409 ``NetworkInUse``), so the request answers with it; any other
  exception is wrapped in :class:`CallbackFailure` (a 409). The publisher is inside
  its write transaction, which the exception rolls back: nothing half-made stays.
- ``PRECOMMIT_*``: inside the transaction, after the checks, before the publisher's
  own rows change (a subscriber removes what it owns that references them).
  Exceptions abort as for ``BEFORE_*``.
- ``AFTER_*``: inside the transaction when the payload carries a session, after the
  publisher's change. Kumo has no after-commit work to do here, so an exception is not
  swallowed as neutron-lib does: it rolls the whole write back (wrapped as above).

Callbacks run in ascending ``priority`` (then in subscription order); the signature is
neutron-lib's ``callback(resource, event, trigger, payload)``.

Registries are objects owned by a service (one per :class:`Networking`), never
module globals filled at import time.
"""
from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Any, Callable

from kumo.common import exceptions as exc

LOG = logging.getLogger(__name__)

#: neutron-lib's default priority; lower runs first.
PRIORITY_DEFAULT = 55_550_000


class Resource(str, enum.Enum):
    """What an event is about."""

    NETWORK = "network"
    SUBNET = "subnet"
    PORT = "port"
    ROUTER = "router"
    FLOATING_IP = "floatingip"
    SECURITY_GROUP = "security_group"


class Event(str, enum.Enum):
    """When an event happens relative to the change (see the module doc)."""

    BEFORE_CREATE = "before_create"
    BEFORE_UPDATE = "before_update"
    BEFORE_DELETE = "before_delete"
    PRECOMMIT_CREATE = "precommit_create"
    PRECOMMIT_UPDATE = "precommit_update"
    PRECOMMIT_DELETE = "precommit_delete"
    AFTER_CREATE = "after_create"
    AFTER_UPDATE = "after_update"
    AFTER_DELETE = "after_delete"

    @property
    def may_abort(self) -> bool:
        return self.name.startswith(("BEFORE_", "PRECOMMIT_"))


@dataclasses.dataclass(frozen=True)
class EventPayload:
    """What every event carries (neutron-lib's ``EventPayload``).

    ``context``: the caller's :class:`~kumo.common.context.RequestContext` (or the
    service's own); ``resource_id``: the object's id; ``states``: the object as it
    was and, for updates, as it is asked to be (``(row,)`` or ``(row, attrs)``);
    ``request_body``: the request's attributes when there are any; ``metadata``:
    anything else the publisher documents for this event."""

    context: Any
    resource_id: str | None = None
    states: tuple = ()
    request_body: dict | None = None
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def latest_state(self):
        return self.states[-1] if self.states else None


@dataclasses.dataclass(frozen=True)
class DBEventPayload(EventPayload):
    """An event published inside a write transaction: ``session`` is that
    transaction's SQLAlchemy session; subscribers write through it."""

    session: Any = None


Callback = Callable[[Resource, Event, Any, EventPayload], None]


class CallbackFailure(exc.Conflict):
    """A callback refused an event with an exception that is not an API error (409);
    ``errors`` holds the original exceptions."""

    def __init__(self, resource: Resource, event: Event, errors: list[BaseException]):
        super().__init__(f"Callback for {resource.value} {event.value} failed: "
                         + "; ".join(f"{type(e).__name__}: {e}" for e in errors))
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class _Subscription:
    priority: int
    order: int
    callback: Callback


class CallbackRegistry:
    """Subscriptions per ``(resource, event)`` and their publication (module doc)."""

    def __init__(self) -> None:
        self._subs: dict[tuple[Resource, Event], list[_Subscription]] = {}
        self._count = 0

    def subscribe(self, callback: Callback, resource: Resource, event: Event,
                  priority: int = PRIORITY_DEFAULT) -> None:
        """Call ``callback`` for ``event`` on ``resource``; subscribing the same callback
        twice to one pair is a no-op (neutron-lib's rule)."""
        resource, event = Resource(resource), Event(event)
        subs = self._subs.setdefault((resource, event), [])
        if any(s.callback == callback for s in subs):
            return
        self._count += 1
        subs.append(_Subscription(priority, self._count, callback))
        subs.sort(key=lambda s: (s.priority, s.order))

    def unsubscribe(self, callback: Callback, resource: Resource | None = None,
                    event: Event | None = None) -> None:
        """Stop calling ``callback`` for ``(resource, event)``, or for every pair when
        they are None."""
        for (res, ev), subs in self._subs.items():
            if (resource is None or res == resource) and (event is None or ev == event):
                subs[:] = [s for s in subs if s.callback != callback]

    def subscribers(self, resource: Resource, event: Event) -> list[Callback]:
        """The callbacks of ``(resource, event)`` in the order they run."""
        return [s.callback for s in self._subs.get((Resource(resource), Event(event)), [])]

    def publish(self, resource: Resource, event: Event, trigger: Any,
                payload: EventPayload) -> None:
        """Run the subscribers of ``(resource, event)`` in priority order with
        ``(resource, event, trigger, payload)``; an exception stops the publication
        and goes up (as itself when it is an API error, else as
        :class:`CallbackFailure`), see the module doc."""
        resource, event = Resource(resource), Event(event)
        if not isinstance(payload, EventPayload):
            raise TypeError(f"payload must be an EventPayload, not {type(payload).__name__}")
        for sub in list(self._subs.get((resource, event), ())):
            try:
                sub.callback(resource, event, trigger, payload)
            except exc.KumoError:
                raise
            except Exception as e:  # noqa: BLE001 - wrapped and raised
                LOG.debug("callback %r for %s %s failed", sub.callback, resource.value,
                          event.value, exc_info=True)
                raise CallbackFailure(resource, event, [e]) from e
