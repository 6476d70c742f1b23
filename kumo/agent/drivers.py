"""The agent's driver contract, its registry and the fake driver.

A driver realizes one part of a host's desired state (L2, L3, DHCP, metadata, security
groups; the kernel drivers live next to :mod:`kumo.agent.dataplane`). The agent core
(:mod:`kumo.agent.agent`) owns watching, queueing, parallelism, heartbeats and status
reports; a driver only compares what exists with what is desired and fixes the
difference. It never decides policy: the desired state is the API's word.
"""
from __future__ import annotations

import abc
import dataclasses
import threading
from collections.abc import Callable

from kumo.agent.registry import Registry
from kumo.agent.watch import Key, index


@dataclasses.dataclass
class Report:
    """What a driver observed while reconciling.

    - ``ports``: ``{port_id: "ACTIVE" | "DOWN"}`` for ports it is responsible for (a port
      whose device is attached and wired is ``ACTIVE``; one whose device is missing is
      ``DOWN``). The agent reports to the API only ports bound to its host whose status
      there differs.
    - ``floatingips``: ``{floatingip_id: "ACTIVE" | "DOWN" | "ERROR"}``, likewise.
    """

    ports: dict[str, str] = dataclasses.field(default_factory=dict)
    floatingips: dict[str, str] = dataclasses.field(default_factory=dict)

    #: When drivers disagree on one object, the worse status wins.
    SEVERITY = {"ACTIVE": 0, "BUILD": 1, "DOWN": 2, "ERROR": 3}

    def merge(self, other: "Report | None") -> "Report":
        """Combine ``other`` into this report (the agent combines its drivers' reports
        per key): for an object both name, the worse status (:attr:`SEVERITY`) wins."""
        if other is not None:
            for mine, theirs in ((self.ports, other.ports),
                                 (self.floatingips, other.floatingips)):
                for obj_id, status in theirs.items():
                    cur = mine.get(obj_id)
                    if cur is None or (self.SEVERITY.get(status, 0)
                                       >= self.SEVERITY.get(cur, 0)):
                        mine[obj_id] = status
        return self


class Driver(abc.ABC):
    """A data-plane driver. The contract every implementation keeps:

    - ``name``: the registry name (``kumo agent --driver NAME``, ``agent_drivers``).
    - ``agent_type`` and ``binary``: the Neutron agent it stands for in heartbeats, e.g.
      ``"Linux bridge agent"``/``"neutron-linuxbridge-agent"``, ``"DHCP agent"``/
      ``"neutron-dhcp-agent"``, ``"L3 agent"``/``"neutron-l3-agent"``,
      ``"Metadata agent"``/``"neutron-metadata-agent"``. Drivers sharing an agent type
      share one heartbeat.
    - ``kinds``: the snapshot collections it reconciles (``("networks", "ports")``); the
      agent only queues those keys to it. ``None`` means every collection.
    - :meth:`reconcile` is **level-triggered and idempotent**: called with the desired
      object (or ``None`` when it must not exist), it reads the actual state, diffs and
      applies only the difference; calling it twice changes nothing the second time. It
      never flushes and rebuilds (traffic keeps flowing across agent restarts). It may
      be called for the same key again at any time (resyncs, retries) and is never called
      concurrently for the same key; different keys run in parallel, so shared
      structures need the driver's own locking. Raising means "not realized" for this
      driver only (the other drivers' reports for the key still go north): the agent
      retries it with backoff (1 s doubling to 5 min, with jitter; at once when the
      object changes) and, unless the error is permanent
      (:func:`kumo.agent.dataplane.errors.is_permanent`: raise
      :class:`~kumo.agent.dataplane.errors.PermanentError` when retrying cannot help),
      does not advance the realized revision.
    - :meth:`reconcile_many` takes several keys of one snapshot at once and answers
      per key (a report or the exception); the default calls :meth:`reconcile` for
      each. Drivers override it to share work across a batch.
    - :meth:`cleanup_orphans` removes kernel objects that carry our names
      (``brq``/``tap``/``qdhcp-``/``qrouter-``...) but have no desired object, and only
      those. The agent calls it after the first list and on every full resync, while no
      :meth:`reconcile` runs.
    - :meth:`stop` releases what the driver holds (helpers, sockets); it must leave the
      realized kernel state in place.
    """

    name: str = ""
    agent_type: str = ""
    binary: str = ""
    kinds: tuple[str, ...] | None = None

    def configurations(self) -> dict:
        """Extra ``configurations`` for the heartbeat (mappings, features found)."""
        return {}

    @abc.abstractmethod
    def reconcile(self, desired: dict, revision: int) -> Report | None:
        """Make one object's actual state match ``desired``:
        ``{"kind": collection, "id": id, "object": dict | None, "state": snapshot}``
        where ``object`` is the API's rendering (None: remove what carries its name) and
        ``state`` the host's whole desired state (``{"revision", "networks", "subnets",
        "ports", "routers", "floatingips", "security_groups"}``, read-only) for lookups.
        ``revision`` is the snapshot's revision. Returns the statuses observed."""

    def reconcile_many(self, batch: list[dict], revision: int
                       ) -> dict[Key, "Report | None | Exception"]:
        """Reconcile several keys of one snapshot at once: ``batch`` is a list of
        :meth:`reconcile` arguments (distinct keys, the same ``state``). Returns, for
        every key ``(kind, id)`` of the batch, its :class:`Report` (or None) or the
        exception that kept it from being realized: one key failing must not fail the
        others (the agent retries only the failed ones). The agent hands a driver every
        key a worker took from the queue at once, so a driver can share work between
        them (one kernel listing, one transaction, each network once). Default: calls
        :meth:`reconcile` per key."""
        out: dict[Key, Report | None | Exception] = {}
        for desired in batch:
            key = (desired["kind"], desired["id"])
            try:
                out[key] = self.reconcile(desired, revision)
            except Exception as e:  # noqa: BLE001 - per key, reported to the agent
                out[key] = e
        return out

    @abc.abstractmethod
    def cleanup_orphans(self, desired: dict) -> None:
        """Remove what this driver realized but ``desired`` (the host's whole snapshot
        body) no longer contains."""

    def watch(self, requeue: Callable[[Key], None], stop: threading.Event) -> None:
        """Optional: watch the kernel until ``stop`` is set and call ``requeue(key)``
        when something an object depends on changes outside the agent (a ``tap``
        device appearing or going when an instance is plugged or unplugged). The agent
        runs it on its own thread and restarts it if it raises. Default: nothing."""

    def stop(self) -> None:
        """Release resources; never tear down realized state."""


#: The data-plane drivers (``kumo agent --driver NAME``, ``agent_drivers``); the same
#: :class:`~kumo.agent.registry.Registry` code as the compute drivers'.
DRIVERS: Registry[Driver] = Registry("data-plane driver")
#: Class decorator: make a driver available as ``name``. The factory is called as
#: ``factory(host=..., settings=..., client=..., where=..., state_dir=...)``: the host
#: name served, the :class:`kumo.config.Settings` (or None), the agent's
#: :class:`kumo.agent.client.ControllerClient` (or None), the
#: :class:`kumo.agent.dataplane.netns.Host` to work in (None: the machine) and a
#: directory for the driver's own files (None: ``<settings.state_dir>/agent``).
register_driver = DRIVERS.register
available = DRIVERS.available


def build(names: list[str], host: str, settings=None, *, client=None, where=None,
          state_dir: str | None = None) -> list[Driver]:
    """Instantiate the drivers ``names`` for ``host`` (see :func:`register_driver` for
    what each factory receives); ``ValueError`` for an unknown one."""
    return [DRIVERS.create(name, host, settings, client=client, where=where,
                           state_dir=state_dir) for name in names]


@register_driver("fake")
class FakeDriver(Driver):
    """Realizes nothing in the kernel: records what it was asked to realize in
    :attr:`realized` (``{(collection, id): object}``) and reports every port bound to
    its host ``ACTIVE``. :attr:`calls` logs ``(op, key)`` with op ``"realize"`` (new or
    changed object), ``"remove"`` (object gone) or ``"orphan"`` (removed by
    :meth:`cleanup_orphans`). Pass ``realized`` to simulate state that survived an agent
    restart."""

    name = "fake"
    agent_type = "Linux bridge agent"
    binary = "neutron-linuxbridge-agent"

    def __init__(self, host: str, settings=None, realized: dict | None = None, **_):
        self.host = host
        self.realized: dict[Key, dict] = realized if realized is not None else {}
        self.calls: list[tuple[str, Key]] = []
        self.revisions: list[int] = []
        self.stopped = False
        self._lock = threading.Lock()

    def configurations(self) -> dict:
        return {"driver": "fake"}

    def reconcile(self, desired: dict, revision: int) -> Report:
        key = (desired["kind"], desired["id"])
        obj = desired["object"]
        with self._lock:
            self.revisions.append(revision)
            if obj is None:
                if self.realized.pop(key, None) is not None:
                    self.calls.append(("remove", key))
            elif self.realized.get(key) != obj:
                self.realized[key] = obj
                self.calls.append(("realize", key))
        report = Report()
        if key[0] == "ports" and obj is not None and obj.get("binding:host_id") == self.host:
            report.ports[key[1]] = "ACTIVE"
        return report

    def cleanup_orphans(self, desired: dict) -> None:
        wanted = index(desired)
        with self._lock:
            for key in [k for k in self.realized if k not in wanted]:
                del self.realized[key]
                self.calls.append(("orphan", key))

    def removed(self) -> set[Key]:
        """Keys this driver was told to remove (as gone or as orphans)."""
        with self._lock:
            return {k for op, k in self.calls if op in ("remove", "orphan")}

    def stop(self) -> None:
        self.stopped = True
from kumo.agent import l2 as _l2  # noqa: E402,F401 - registers "linuxbridge"
from kumo.agent import dhcp as _dhcp  # noqa: E402,F401 - registers "dhcp"
from kumo.agent import l3 as _l3, metadata as _metadata  # noqa: E402,F401 - "l3", "metadata"
from kumo.agent import secgroups as _secgroups  # noqa: E402,F401 - registers "firewall"
from kumo.agent import qos as _qos  # noqa: E402,F401 - registers "qos"
from kumo.agent import taas as _taas  # noqa: E402,F401 - registers "taas"
from kumo.agent import trunk as _trunk  # noqa: E402,F401 - registers "trunk"
