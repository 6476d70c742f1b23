"""Tap-as-a-Service on the data plane: the driver (registry name ``taas``) that plays
the part of TaaS's Linux bridge agent extension.

For every port bound to its host, from the feed's ``tap_mirrors``
(:meth:`kumo.network.taas.Taas.annotate`: the port's tap flows whose tap service port
is bound to this host too), the port's tap gets one ``tc`` mirror per target device
(:mod:`kumo.agent.dataplane.mirror`): ``OUT``/``BOTH`` on the tap's ingress (what the
instance sends), ``IN``/``BOTH`` on its egress (what it receives), copied out of the
service port's tap to the analyzer. A flow deleted, a port unbound or gone, loses its
filters at the next reconcile of the source port (each such change is one). A target
whose tap does not exist (yet) is left out until the port is reconciled again (the
periodic resync at the latest). :meth:`TaasDriver.cleanup_orphans` clears mirrors
from taps whose port wants none: only taps holding an ingress qdisc or an HTB root
(a netlink dump) are read.
"""
from __future__ import annotations

import logging

from kumo.agent.dataplane import links, mirror, names
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)


@register_driver("taas")
class TaasDriver(Driver):
    name = "taas"
    agent_type = "Linux bridge agent"
    binary = "neutron-linuxbridge-agent"
    kinds = ("ports",)

    def __init__(self, host: str, settings=None, *, where: Host | None = None, **_):
        self.host = host
        self.where = where or Host()
        self.ns = self.where.root

    def configurations(self) -> dict:
        return {"taas": {"driver": "tc mirred", "across_hosts": False}}

    def _want(self, port: dict | None) -> dict[str, set[str]]:
        mine = port is not None and port.get("binding:host_id") == self.host
        return mirror.wanted(port.get("tap_mirrors") if mine else [], self._target)

    def _target(self, port_id: str) -> str:
        return names.tap(port_id)

    def reconcile(self, desired: dict, revision: int):
        port = desired["object"]
        tap = names.tap(desired["id"])
        want = self._want(port)
        # a target device missing here is left out (nothing to mirror to yet)
        for side in want:
            want[side] = {t for t in want[side] if links.get_link(self.ns, t) is not None}
        if links.get_link(self.ns, tap) is None:
            return None
        if mirror.apply(self.ns, tap, want):
            LOG.info("%s: %s mirrors out %s, in %s", self.host, tap,
                     sorted(want["OUT"]), sorted(want["IN"]))
        return None

    def cleanup_orphans(self, desired: dict) -> None:
        wanted = {names.tap(p["id"]) for p in desired.get("ports", [])
                  if p.get("binding:host_id") == self.host and p.get("tap_mirrors")}
        for lk in links.scan_links(self.ns).values():
            if not lk.name.startswith(names.TAP) or lk.name in wanted:
                continue
            if mirror.roots(self.ns, lk.name):
                have = mirror.mirrors(self.ns, lk.name)
                if have["OUT"] or have["IN"]:
                    LOG.info("%s: removing orphan mirrors of %s", self.host, lk.name)
                    mirror.clear(self.ns, lk.name)
