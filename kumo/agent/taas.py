"""Tap-as-a-Service on the data plane: the driver (registry name ``taas``) that plays
the part of TaaS's Linux bridge agent extension.

For every port bound to its host, from the feed (:meth:`kumo.network.taas.Taas.annotate`):

- ``tap_mirrors`` (the port is a flow's source): the port's tap gets one ``tc`` mirror
  per target device (:mod:`kumo.agent.dataplane.mirror`): ``OUT``/``BOTH`` on the tap's
  ingress (what the instance sends), ``IN``/``BOTH`` on its egress (what it receives).
  The target is the service port's tap when that port is here, else the VXLAN device
  ``tsv<vni>`` (the tap service's VXLAN id, towards the service host's tunneling
  address, UDP 4789, no learning) made for it;
- ``tap_tunnel`` (the port is a tap service's port receiving from other hosts): a
  ``tsv<vni>`` device whose ingress is redirected to the port's tap.

A flow deleted, a port unbound or gone, loses its filters at the next reconcile of the
port (each such change is one); ``tsv`` devices no port here needs go at once when a
reconcile stops using them and in :meth:`TaasDriver.cleanup_orphans`. A local target
whose tap does not exist (yet) is left out until the port is reconciled again (the
periodic resync at the latest). Orphan cleanup reads filters only of taps holding an
ingress qdisc or an HTB root (a netlink dump).
"""
from __future__ import annotations

import logging
import threading

from kumo.agent.dataplane import links, mirror, names, netns
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)


@register_driver("taas")
class TaasDriver(Driver):
    name = "taas"
    agent_type = "Linux bridge agent"
    binary = "neutron-linuxbridge-agent"
    kinds = ("ports",)

    def __init__(self, host: str, settings=None, *, where: Host | None = None,
                 local_ip: str | None = None, **_):
        self.host = host
        self.where = where or Host()
        self.ns = self.where.root
        self.local_ip = local_ip or getattr(settings, "agent_tunneling_ip", None) or None
        self._lock = threading.Lock()
        #: tsv device -> the ports here using it (as sources or as the service)
        self._users: dict[str, set[str]] = {}

    def configurations(self) -> dict:
        return {"taas": {"driver": "tc mirred", "across_hosts": bool(self.local_ip)}}

    # -- the contract --------------------------------------------------------------
    def reconcile(self, desired: dict, revision: int):
        port_id = desired["id"]
        port = desired["object"]
        mine = port is not None and port.get("binding:host_id") == self.host
        mirrors = (port.get("tap_mirrors") or []) if mine else []
        tunnel = port.get("tap_tunnel") if mine else None
        tap = names.tap(port_id)
        used: set[str] = set()
        targets: dict[str, str] = {}
        for m in mirrors:
            if m.get("vni") is None:
                targets[m["to"]] = names.tap(m["to"])
            elif self.local_ip:
                dev = self._tunnel_out(m["vni"], m["remote"])
                targets[m["to"]] = dev
                used.add(dev)
        want = mirror.wanted(mirrors, lambda to: targets.get(to, ""))
        for side in want:  # a target missing here is left out (nothing to mirror to)
            want[side] = {t for t in want[side]
                          if t and links.get_link(self.ns, t) is not None}
        tap_here = links.get_link(self.ns, tap) is not None
        if tap_here and mirror.apply(self.ns, tap, want):
            LOG.info("%s: %s mirrors out %s, in %s", self.host, tap,
                     sorted(want["OUT"]), sorted(want["IN"]))
        if tunnel and self.local_ip and tap_here:
            used.add(self._tunnel_in(tunnel["vni"], tap))
        self._release(port_id, used)
        return None

    def cleanup_orphans(self, desired: dict) -> None:
        wanted, tunnels = set(), set()
        for p in desired.get("ports", []):
            if p.get("binding:host_id") != self.host:
                continue
            if p.get("tap_mirrors"):
                wanted.add(names.tap(p["id"]))
                tunnels |= {names.taas_tunnel(m["vni"]) for m in p["tap_mirrors"]
                            if m.get("vni") is not None}
            if p.get("tap_tunnel"):
                tunnels.add(names.taas_tunnel(p["tap_tunnel"]["vni"]))
        for lk in links.scan_links(self.ns).values():
            if lk.name.startswith(names.TAAS_TUNNEL) and names.is_ours(lk.name):
                if lk.name not in tunnels:
                    LOG.info("%s: removing orphan %s", self.host, lk.name)
                    links.delete_link(self.ns, lk.name)
                continue
            if not lk.name.startswith(names.TAP) or lk.name in wanted:
                continue
            if mirror.roots(self.ns, lk.name):
                have = mirror.mirrors(self.ns, lk.name)
                if have["OUT"] or have["IN"]:
                    LOG.info("%s: removing orphan mirrors of %s", self.host, lk.name)
                    mirror.clear(self.ns, lk.name)

    # -- tunnels -------------------------------------------------------------------
    def _tunnel_out(self, vni: int, remote: str) -> str:
        """``tsv<vni>`` sending everything to ``remote``."""
        dev = names.taas_tunnel(vni)
        links.ensure_vxlan(self.ns, dev, vni, self.local_ip)
        fdb = links.list_fdb(self.ns, dev)
        for mac, dst in fdb:
            if mac == links.ZERO_MAC and dst != remote:
                links.delete_fdb_flood(self.ns, dev, dst)
        links.ensure_fdb_flood(self.ns, dev, remote)
        return dev

    def _tunnel_in(self, vni: int, tap: str) -> str:
        """``tsv<vni>`` whose every received frame leaves by ``tap``."""
        dev = names.taas_tunnel(vni)
        links.ensure_vxlan(self.ns, dev, vni, self.local_ip)
        proc = netns.run(self.ns, ["tc", "filter", "show", "dev", dev, "parent", "ffff:"],
                         check=False, timeout=10)
        if f"redirect to device {tap})" not in (proc.stdout or "").lower():
            netns.run(self.ns, ["tc", "qdisc", "replace", "dev", dev, "handle", "ffff:",
                                "ingress"], timeout=10)
            netns.run(self.ns, ["tc", "filter", "replace", "dev", dev, "parent", "ffff:",
                                "protocol", "all", "prio", "1", "handle", "800::800",
                                "u32", "match", "u32", "0", "0", "action", "mirred",
                                "egress", "redirect", "dev", tap], timeout=10)
        return dev

    def _release(self, port_id: str, used: set[str]) -> None:
        """Record which tunnel devices ``port_id`` uses; delete those no port uses."""
        with self._lock:
            gone = []
            for dev, users in list(self._users.items()):
                if dev not in used:
                    users.discard(port_id)
                    if not users:
                        gone.append(dev)
                        del self._users[dev]
            for dev in used:
                self._users.setdefault(dev, set()).add(port_id)
        for dev in gone:
            if links.get_link(self.ns, dev) is not None:
                LOG.info("%s: removing %s", self.host, dev)
                links.delete_link(self.ns, dev)
