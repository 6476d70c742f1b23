"""The L2 driver, Linux-bridge style (Neutron's ``neutron-linuxbridge-agent`` with L2
population), as a :class:`~kumo.agent.drivers.Driver` (registry name ``linuxbridge``).

On the host it serves (a :class:`~kumo.agent.dataplane.netns.Host`; the machine itself
by default), for every network that has a port bound to this host
(``binding:host_id`` == the agent's host):

- a bridge ``brq<network_id[:11]>`` (STP off, up, MTU of the network); a flat network
  whose ``physical_network`` is in ``bridge_mappings`` (``{"public": "br-ex"}``) uses
  the mapped bridge instead (made if missing, in the host's namespace only; its
  addresses are the operator's business, never the driver's);
- for VXLAN networks a device ``vxlan-<segmentation_id>`` (local = this host's
  ``tunneling_ip``, UDP 4789, learning off, MTU of the network) enslaved to the bridge,
  with **L2 population**: for every other host with ports on the network, an all-zeros
  flood FDB entry towards its tunneling address, and per port a MAC FDB entry and a
  permanent neighbour entry per fixed IP. Entries nobody needs any more are removed;
- each port whose device ``tap<port_id[:11]>`` exists is enslaved to its network's
  bridge, given the network's MTU and set up (down when ``admin_state_up`` is false)
  and reported ``ACTIVE``; a missing device (or an admin-down port) is ``DOWN``.

**Other hosts' ports** come with each network as ``l2_population`` (host, tunneling
address, MAC, addresses), which the controller computes from the ports and the L2
agents' heartbeats (:mod:`kumo.network.peers`) and refreshes on every host whenever a
port elsewhere changes.

Reconciling is level-triggered and never flushes: every step reads the kernel and
changes only the difference. :meth:`LinuxBridgeDriver.cleanup_orphans` deletes only
``brq*`` bridges and ``vxlan-<n>`` devices no desired network needs; taps belong to the
compute driver and mapped bridges to the operator, so they are never deleted.

Settings read when built from the registry (``factory(host=..., settings=...)``), all
optional: ``agent_tunneling_ip`` (this host's underlay address), ``agent_bridge_mappings``
(``{"physnet": "bridge"}``), ``agent_underlay_dev``.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import threading

from kumo.agent import snapindex
from kumo.agent.dataplane import links, names
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, Report, register_driver

LOG = logging.getLogger(__name__)
AGENT_TYPE = "Linux bridge agent"


@register_driver("linuxbridge")
class LinuxBridgeDriver(Driver):
    """The L2 driver of agent host ``host`` (a name, as in ``binding:host_id``).

    ``where``: the :class:`Host` to wire (default: the machine). ``local_ip``: this
    host's tunneling (underlay) address; required for VXLAN networks. ``underlay_dev``:
    optional device VXLAN traffic leaves by. ``bridge_mappings``: ``{physnet: bridge}``
    for flat networks."""

    name = "linuxbridge"
    agent_type = AGENT_TYPE
    binary = "neutron-linuxbridge-agent"
    kinds = ("networks", "ports")

    def __init__(self, host: str, settings=None, *, where: Host | None = None,
                 local_ip: str | None = None, underlay_dev: str | None = None,
                 bridge_mappings: dict[str, str] | None = None,
                 client=None, state_dir: str | None = None):
        self.host = host
        self.where = where or Host()
        self.ns = self.where.root
        self.local_ip = local_ip or getattr(settings, "agent_tunneling_ip", None) or None
        self.underlay_dev = underlay_dev or getattr(settings, "agent_underlay_dev", None) or None
        self.bridge_mappings = dict(bridge_mappings if bridge_mappings is not None
                                    else getattr(settings, "agent_bridge_mappings", None)
                                    or {})
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._port_net: dict[str, str] = {}
        #: network id -> the network object its last full sync realized.
        self._realized: dict[str, dict] = {}
        #: tap name -> port id of the ports bound here, for :meth:`watch`.
        self._taps: dict[str, str] = {}
        #: tap name -> (ifindex, master ifindex, MTU, up) as last wired, so the watch
        #: ignores the link events of our own changes.
        self._wired: dict[str, tuple] = {}

    # -- the contract --------------------------------------------------------------
    def configurations(self) -> dict:
        try:
            devices = sum(1 for lk in links.scan_links(self.ns).values()
                          if lk.name.startswith(names.TAP) and lk.master is not None)
        except Exception:  # noqa: BLE001 - a heartbeat never fails on this
            devices = 0
        return {"bridge_mappings": dict(self.bridge_mappings),
                "tunneling_ip": self.local_ip, "tunnel_types": ["vxlan"],
                "l2_population": True, "devices": devices}

    #: A batch with more ports than this reads every link of the namespace in one dump
    #: (:func:`~kumo.agent.dataplane.links.scan_links`) instead of one request per tap.
    SCAN_OVER = 8

    def reconcile(self, desired: dict, revision: int) -> Report | None:
        result = self.reconcile_many([desired], revision)[(desired["kind"], desired["id"])]
        if isinstance(result, Exception):
            raise result
        return result

    def reconcile_many(self, batch: list[dict], revision: int) -> dict:
        """Networks and ports of one snapshot. Each network a key names (or a port of
        the batch needs) is synced at most once per batch: fully for a network key
        (bridge, VXLAN device, L2 population) or when it was not realized from this
        very network object, else only checked (its bridge and VXLAN device present).
        Links are read once per batch: in one dump when it has more than
        :attr:`SCAN_OVER` ports, else by name, and a tap is changed in one request. A network
        failing fails its keys and the keys of its ports in the batch, nothing else."""
        out: dict = {}
        if not batch:
            return out
        state = batch[0]["state"]
        idx = snapindex.of(state)
        ports = [d for d in batch if d["kind"] == "ports"]
        seen: dict[str, object] = {}
        if len(ports) > self.SCAN_OVER:
            seen.update(links.scan_links(self.ns))

        def link(name: str):
            if name not in seen:
                seen[name] = links.get_link(self.ns, name)
            return seen.get(name)

        synced: dict[str, Exception | None] = {}
        bridges: dict[str, object] = {}

        def sync_net(net_id: str, full: bool) -> None:
            if net_id not in synced:
                net = idx.get("networks", net_id)
                try:
                    if full or not self._fresh(net_id, net, link):
                        self._sync_network(net, net_id, state)
                    synced[net_id] = None
                except Exception as e:  # noqa: BLE001 - fails the keys that need it
                    synced[net_id] = e
            if synced[net_id] is not None:
                raise synced[net_id]

        def bridge_of(net: dict):
            name = self._bridge_name(net)
            if name not in bridges:  # after the sync: the bridge may be new
                bridges[name] = links.get_link(self.ns, name)
            return bridges[name]

        for d in batch:
            if d["kind"] == "networks":
                try:
                    sync_net(d["id"], full=True)
                    out[("networks", d["id"])] = None
                except Exception as e:  # noqa: BLE001
                    out[("networks", d["id"])] = e
        for d in ports:
            port_id, obj = d["id"], d["object"]
            key = ("ports", port_id)
            try:
                if obj is None or obj.get("binding:host_id") != self.host:
                    self._taps.pop(names.tap(port_id), None)
                    self._wired.pop(names.tap(port_id), None)
                    net_id = self._port_net.pop(port_id, None)
                    if net_id is not None:
                        sync_net(net_id, full=True)
                    out[key] = None
                    continue
                net_id = obj["network_id"]
                self._port_net[port_id] = net_id
                self._taps[names.tap(port_id)] = port_id
                net = idx.get("networks", net_id)
                sync_net(net_id, full=False)
                if net is None:
                    out[key] = Report(ports={port_id: "DOWN"})
                    continue
                out[key] = Report(ports={port_id: self._sync_port(obj, net, link,
                                                                 bridge_of(net))})
            except Exception as e:  # noqa: BLE001 - this port only
                out[key] = e
        return out

    def cleanup_orphans(self, desired: dict) -> None:
        wanted_bridges: set[str] = set()
        wanted_vxlans: set[str] = set()
        for net in desired.get("networks", []):
            if self._needed(net["id"], desired):
                wanted_bridges.add(self._bridge_name(net))
                if net.get("network_type") == "vxlan" and net.get("segmentation_id"):
                    wanted_vxlans.add(names.vxlan(net["segmentation_id"]))
        for lk in links.scan_links(self.ns).values():
            if not names.is_ours(lk.name):
                continue
            if lk.name.startswith(names.VXLAN) and lk.name not in wanted_vxlans:
                LOG.info("%s: removing orphan %s", self.host, lk.name)
                links.delete_link(self.ns, lk.name)
            elif (lk.name.startswith(names.BRIDGE) and lk.kind == "bridge"
                  and lk.name not in wanted_bridges):
                LOG.info("%s: removing orphan %s", self.host, lk.name)
                links.delete_link(self.ns, lk.name)

    def watch(self, requeue, stop) -> None:
        """Requeue a port the moment its ``tap`` device appears or goes (netlink link
        events in the host's namespace), so plugging an instance makes its port
        ACTIVE without waiting for a resync."""
        def on_link(name: str, appeared: bool, link) -> None:
            port_id = self._taps.get(name)
            if port_id is None:
                return
            if not appeared:
                self._wired.pop(name, None)
            elif link is not None and self._wired.get(name) == (link.index, link.master,
                                                                 link.mtu, link.up):
                return  # as wired (our own change coming back): nothing to do
            requeue(("ports", port_id))
        while not stop.is_set():
            try:
                links.watch_links(self.ns, on_link, stop, details=True)
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                # events were lost (thousands of taps changing at once): look again
                # at every port bound here
                LOG.warning("%s: link events lost (%s); requeueing %d ports", self.host,
                            e, len(self._taps))
                for port_id in list(self._taps.values()):
                    requeue(("ports", port_id))

    # -- networks ------------------------------------------------------------------
    def _lock(self, net_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(net_id, threading.Lock())

    def _needed(self, net_id: str, state: dict) -> bool:
        from kumo.agent import dvr  # a distributed router's leg needs the network too
        return (bool(snapindex.of(state).host_ports(self.host, net_id))
                or net_id in dvr.needed_networks(self.host, state))

    def _fresh(self, net_id: str, net: dict | None, link) -> bool:
        """Whether ``net`` is what the last full sync of ``net_id`` realized and its
        bridge (and VXLAN device) are still there (``link(name)`` reads a link)."""
        if net is None or self._realized.get(net_id) != net:
            return False
        br = link(self._bridge_name(net))
        if br is None:
            return False
        if net.get("network_type") == "vxlan" and net.get("segmentation_id"):
            vx = link(names.vxlan(int(net["segmentation_id"])))
            return vx is not None and vx.master == br.index
        return True

    def _bridge_name(self, net: dict) -> str:
        if net.get("network_type") == "flat":
            mapped = self.bridge_mappings.get(net.get("physical_network") or "")
            if mapped:
                return mapped
        return names.bridge(net["id"])

    def _sync_network(self, net: dict | None, net_id: str, state: dict) -> None:
        """Make the network's bridge, VXLAN device and L2 population match."""
        with self._lock(net_id):
            self._realized.pop(net_id, None)
            if net is None or not self._needed(net_id, state):
                self._remove_network(net_id, net)
                return
            mtu = net.get("mtu") or None
            bridge = self._bridge_name(net)
            mapped = bridge != names.bridge(net_id)
            links.ensure_bridge(self.ns, bridge, mtu=None if mapped else mtu)
            if net.get("network_type") == "vxlan":
                vni = int(net["segmentation_id"])
                if not self.local_ip:
                    raise RuntimeError(f"{self.host}: VXLAN network {net_id} needs a "
                                       "tunneling_ip (agent_tunneling_ip)")
                dev = names.vxlan(vni)
                cur = links.get_link(self.ns, dev)
                br = links.get_link(self.ns, bridge)
                if (cur is None or cur.vxlan is None or cur.vxlan["id"] != vni
                        or cur.vxlan["local"] != self.local_ip or cur.vxlan["learning"]
                        or cur.vxlan["port"] != links.VXLAN_PORT or cur.mtu != mtu
                        or cur.master != br.index or not cur.up):
                    links.ensure_vxlan(self.ns, dev, vni, self.local_ip,
                                       dev=self.underlay_dev, mtu=mtu, master=bridge)
                self._l2pop(net, dev)
            elif net.get("network_type") == "flat" and not mapped:
                LOG.warning("%s: flat network %s: physical network %r has no bridge "
                            "mapping", self.host, net_id, net.get("physical_network"))
            self._realized[net_id] = net

    def _remove_network(self, net_id: str, net: dict | None) -> None:
        bridge = names.bridge(net_id)
        if net is not None and net.get("network_type") == "vxlan" \
                and net.get("segmentation_id"):
            vx = links.get_link(self.ns, names.vxlan(int(net["segmentation_id"])))
            br = links.get_link(self.ns, bridge)
            if vx is not None and br is not None and vx.master == br.index:
                links.delete_link(self.ns, vx.name)
        br = links.get_link(self.ns, bridge)
        if br is not None and br.kind == "bridge":
            for lk in links.scan_links(self.ns).values():
                if lk.master == br.index and lk.name.startswith(names.VXLAN):
                    links.delete_link(self.ns, lk.name)
            links.delete_link(self.ns, bridge)

    def _l2pop(self, net: dict, dev: str) -> None:
        """Flood, MAC and neighbour entries on ``dev`` for the other hosts' ports."""
        want_fdb: set[tuple[str, str]] = set()
        want_neigh: dict[str, str] = {}
        for peer in net.get("l2_population") or []:
            host, remote = peer.get("host"), peer.get("tunneling_ip")
            if not host or host == self.host or not remote or remote == self.local_ip:
                continue
            mac = peer["mac_address"].lower()
            ips = peer.get("ip_addresses") or []
            want_fdb.add((links.ZERO_MAC, remote))
            want_fdb.add((mac, remote))
            for ip in ips:
                want_neigh[str(ipaddress.ip_address(ip))] = mac
        have_fdb = {(mac.lower(), dst) for mac, dst in links.list_fdb(self.ns, dev)}
        for mac, dst in have_fdb - want_fdb:
            links.delete_fdb(self.ns, dev, mac, dst)
        for mac, dst in sorted(want_fdb - have_fdb):
            if mac == links.ZERO_MAC:
                links.ensure_fdb_flood(self.ns, dev, dst)
            else:
                links.ensure_fdb(self.ns, dev, mac, dst)
        have_neigh = {ip: (mac or "").lower() for ip, mac in links.list_neigh(self.ns, dev)}
        for ip in set(have_neigh) - set(want_neigh):
            links.delete_neigh(self.ns, dev, ip)
        for ip, mac in want_neigh.items():
            if have_neigh.get(ip) != mac:
                links.ensure_neigh(self.ns, dev, ip, mac)

    # -- ports ---------------------------------------------------------------------
    def _sync_port(self, port: dict, net: dict, link, bridge) -> str:
        """Wire the port's tap into its network's ``bridge`` (a Link or None; ``link``
        reads the tap); its status (``ACTIVE``/``DOWN``)."""
        tap = names.tap(port["id"])
        cur = link(tap)
        if cur is None:
            return "DOWN"
        if bridge is None:
            return "DOWN"
        mtu = net.get("mtu") or None
        up = bool(port.get("admin_state_up", True))
        want = (cur.index, bridge.index, mtu or cur.mtu, up)
        if (cur.master, cur.mtu, cur.up) != want[1:]:
            self._wired.pop(tap, None)
            links.set_link(self.ns, tap, index=cur.index,
                           master_index=bridge.index if cur.master != bridge.index else None,
                           mtu=mtu if mtu and cur.mtu != mtu else None,
                           up=up if cur.up != up else None)
        self._wired[tap] = want
        return "ACTIVE" if up else "DOWN"


