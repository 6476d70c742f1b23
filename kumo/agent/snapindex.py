"""Lookups into a host's desired-state snapshot, built once per snapshot.

Drivers are handed the whole snapshot (``desired["state"]``) with every key; finding an
object in it by scanning its lists costs O(objects) per key, so O(n²) for a host with
thousands of ports. :func:`of` returns the :class:`Index` of a snapshot, built on first
use and shared by every driver and worker while that snapshot is current (snapshots
are replaced, never mutated, so the object's identity is the cache key).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from kumo.agent.dataplane import names

#: Snapshots whose index is kept (the current one and a few older ones still in use by
#: workers finishing a batch).
KEEP = 4


class Index:
    """``by_id[collection][id]`` for every list of objects in the snapshot, and:

    - :meth:`get` an object by collection and id;
    - :meth:`network_ports` the ports of a network;
    - :meth:`host_ports` the ports bound to a host on a network (or all of them);
    - :meth:`port_of_tap` a port by its ``tap<id[:11]>`` device name;
    - :meth:`subnets` a network's subnets;
    - :meth:`group_ports` the ports in a security group;
    - :meth:`where` the objects of a collection whose field has a value (an index per
      ``(collection, field)``, built on first use): a router's floating IPs, the
      ports of a device...

    Every lookup is O(1) (or O(answer)) after a build of O(objects) per snapshot.
    """

    def __init__(self, state: dict):
        self.by_id: dict[str, dict[str, dict]] = {}
        for name, items in state.items():
            if isinstance(items, list):
                self.by_id[name] = {o["id"]: o for o in items
                                    if isinstance(o, dict) and "id" in o}
        self._ports = [p for p in state.get("ports", []) if isinstance(p, dict)]
        self._by_net: dict[str, list[dict]] = {}
        for p in self._ports:
            self._by_net.setdefault(p.get("network_id"), []).append(p)
        self._subnets: dict[str, list[dict]] = {}
        for s in state.get("subnets", []) or []:
            self._subnets.setdefault(s.get("network_id"), []).append(s)
        self._lock = threading.Lock()
        self._hosts: dict[str, dict[str, list[dict]]] = {}
        self._taps: dict[str, dict] | None = None
        self._groups: dict[str, list[dict]] | None = None
        self._state = state
        self._where: dict[tuple[str, str], dict[object, list[dict]]] = {}

    def get(self, kind: str, obj_id: str | None) -> dict | None:
        """The object ``obj_id`` of collection ``kind``, or None."""
        return self.by_id.get(kind, {}).get(obj_id) if obj_id is not None else None

    def network_ports(self, net_id: str) -> list[dict]:
        return self._by_net.get(net_id, [])

    def host_ports(self, host: str, net_id: str | None = None) -> list[dict]:
        """Ports bound to ``host`` (``binding:host_id``), on ``net_id`` if given."""
        with self._lock:
            by_net = self._hosts.get(host)
            if by_net is None:
                by_net = {}
                for p in self._ports:
                    if p.get("binding:host_id") == host:
                        by_net.setdefault(p.get("network_id"), []).append(p)
                self._hosts[host] = by_net
        if net_id is not None:
            return by_net.get(net_id, [])
        return [p for ps in by_net.values() for p in ps]

    def port_of_tap(self, tap: str) -> dict | None:
        with self._lock:
            if self._taps is None:
                self._taps = {names.tap(p["id"]): p for p in self._ports if "id" in p}
            return self._taps.get(tap)

    def subnets(self, net_id: str) -> list[dict]:
        return self._subnets.get(net_id, [])

    def group_ports(self, group_id: str) -> list[dict]:
        with self._lock:
            if self._groups is None:
                groups: dict[str, list[dict]] = {}
                for p in self._ports:
                    for g in p.get("security_groups") or []:
                        groups.setdefault(g, []).append(p)
                self._groups = groups
            return self._groups.get(group_id, [])


    def where(self, kind: str, field: str, value) -> list[dict]:
        """The objects of collection ``kind`` whose ``field`` equals ``value`` (in
        snapshot order; read-only)."""
        with self._lock:
            by_value = self._where.get((kind, field))
            if by_value is None:
                by_value = {}
                for o in self._state.get(kind) or []:
                    if isinstance(o, dict):
                        by_value.setdefault(o.get(field), []).append(o)
                self._where[(kind, field)] = by_value
        return by_value.get(value, [])


_memo: "OrderedDict[int, tuple[dict, Index]]" = OrderedDict()
_guard = threading.Lock()


def of(state: dict) -> Index:
    """The :class:`Index` of snapshot ``state`` (built once per snapshot object)."""
    key = id(state)
    with _guard:
        hit = _memo.get(key)
        if hit is not None and hit[0] is state:
            _memo.move_to_end(key)
            return hit[1]
    idx = Index(state)
    with _guard:
        hit = _memo.get(key)
        if hit is not None and hit[0] is state:
            return hit[1]
        _memo[key] = (state, idx)  # holding ``state`` keeps its id from being reused
        while len(_memo) > KEEP:
            _memo.popitem(last=False)
    return idx
