"""The DHCP driver: Neutron's ``neutron-dhcp-agent`` with the dnsmasq driver, as a
:class:`~kumo.agent.drivers.Driver` (registry name ``dhcp``, agent type ``DHCP agent``).

**Which networks a host serves (the scheduling rule).** A host serves a network when
the network is ``admin_state_up``, has at least one subnet with ``enable_dhcp`` and at
least one port bound to this host (``binding:host_id``) that the network does not own
itself (``device_owner`` not starting with ``network:``). So every host with instances
on a network runs a DHCP server for it; dnsmasq hands out static leases only (every
port of the network, fetched from the API), so two hosts serving one network answer the
same, and no scheduler is needed.

**What serving means**, on the agent's :class:`~kumo.agent.dataplane.netns.Host`:

- a DHCP port, made through the API (``POST /v2.0/ports``, ``device_owner``
  ``network:dhcp``, ``device_id`` ``dhcp<uuid5(NAMESPACE_DNS, host)>-<network_id>``
  as Neutron names it, bound to this host, one fixed IP per DHCP subnet); an existing
  port with that ``device_id`` is reused (and its fixed IPs adjusted to the DHCP
  subnets);
- a namespace ``qdhcp-<network_id>`` with ``lo`` up and a veth ``tap<port[:11]>`` (in
  the host's namespace, for the L2 driver to plug into the bridge) <->
  ``ns-<port[:11]>`` (in ``qdhcp-``: the port's MAC, its fixed IPs with the subnets'
  prefix lengths, the network's MTU, up);
- one dnsmasq in that namespace (see :mod:`kumo.agent.dataplane.dnsmasq`), with its
  files under ``<state_dir>/dhcp/<network_id>/``; changes rewrite the files and SIGHUP
  it, only a changed command line (ranges, interface) restarts it; an agent restart
  finds it again by pid file and ``/proc/<pid>/cmdline``;
- **isolated metadata** (Neutron's ``enable_isolated_metadata``): with a ``metadata``
  object (``ensure(ns, *, network_id)`` / ``remove(ns, *, network_id)``) and no router
  interface on the network, ``169.254.169.254/32`` goes on ``ns-``, option 121 routes
  it via the DHCP port's address and ``metadata.ensure`` is called; otherwise
  ``metadata.remove`` is (and option 121 routes it via the subnet's gateway).

When the API refuses the DHCP port (400/409, e.g. a full subnet leaves it no address),
the sync raises :class:`~kumo.agent.dataplane.errors.PermanentError`: the agent shows it
in the DHCP agent's ``configurations["errors"]`` and retries with backoff, and the
network's ports are still wired and reported by the other drivers.

When a network stops being served (or is deleted) dnsmasq is stopped, the metadata
proxy removed, the namespace (with its veth) and the config directory deleted, and the
DHCP port deleted through the API. :meth:`DhcpDriver.cleanup_orphans` does the same
for ``qdhcp-*`` namespaces and config directories without a served network, and
deletes this host's DHCP ports of networks it no longer serves.

Every snapshot kind that can change what a network's DHCP serves is reconciled
(``networks``, ``subnets``, ``ports``, ``routers``); each resolves to the networks it
touches and those are synced whole, under a per-network lock.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import threading
import uuid
from typing import Protocol

from kumo.agent import client as api
from kumo.agent import snapindex
from kumo.agent.dataplane import dnsmasq, errors, links, names, netns
from kumo.agent.dataplane.netns import Host, Netns
from kumo.agent.drivers import Driver, Report, register_driver

LOG = logging.getLogger(__name__)
DHCP_OWNER = "network:dhcp"
NS_DEV = "ns-"
METADATA_IP = "169.254.169.254"


class Metadata(Protocol):
    """The isolated-metadata proxy the DHCP driver starts in ``qdhcp-`` namespaces."""

    def ensure(self, ns: Netns, *, network_id: str) -> None:
        """Serve metadata on 169.254.169.254:80 of ``ns``'s ``ns-`` leg (the address
        is already on it) for ``network_id``; idempotent."""

    def remove(self, ns: Netns, *, network_id: str) -> None:
        """Stop serving metadata in ``ns`` (nothing if not served)."""


def device_id(host: str, network_id: str) -> str:
    """Neutron's DHCP port ``device_id``: ``dhcp<uuid5(NAMESPACE_DNS, host)>-<net>``."""
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host)}-{network_id}"


def ns_device(port_id: str) -> str:
    """``ns-<port_id[:11]>``: the DHCP port's leg inside ``qdhcp-``."""
    return NS_DEV + port_id[:names.ID_LEN]


@register_driver("dhcp")
class DhcpDriver(Driver):
    """The DHCP driver of agent host ``host``.

    ``client``: a :class:`kumo.agent.client.ControllerClient` (the service user on the
    API; required: DHCP ports and the networks' port lists come from it). ``where``: the
    :class:`Host` to work in (default: the machine). ``state_dir``: where the
    ``dhcp/<network_id>/`` directories go (default ``<settings.state_dir>/agent``).
    ``metadata``: an optional isolated-metadata proxy (:class:`Metadata`).
    ``lease_s``: the lease time handed out (seconds)."""

    name = "dhcp"
    agent_type = "DHCP agent"
    binary = "neutron-dhcp-agent"
    kinds = ("networks", "subnets", "ports", "routers")

    def __init__(self, host: str, settings=None, *, client=None, where: Host | None = None,
                 state_dir: str | None = None, metadata: Metadata | None = None,
                 lease_s: int = dnsmasq.LEASE_S):
        if client is None:
            raise ValueError("the DHCP driver needs a controller client")
        self.host = host
        self.client = client
        self.where = where or Host()
        if state_dir is None:
            base = getattr(settings, "state_dir", None) or "."
            state_dir = os.path.join(base, "agent")
        self.dir = os.path.join(state_dir, "dhcp")
        if metadata is None:
            # Isolated networks get metadata through the DHCP namespace (Neutron's
            # enable_isolated_metadata), served by the agent's own proxy.
            from kumo.agent.metadata import MetadataProxy
            metadata = self._own_proxy = MetadataProxy(client, settings)
        else:
            self._own_proxy = None
        self.metadata = metadata
        self.lease_s = lease_s
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # what each subnet/port/router key touched last time (for removals)
        self._nets_of: dict[tuple[str, str], set[str]] = {}
        self._served: set[str] = set()

    # -- the contract --------------------------------------------------------------
    def configurations(self) -> dict:
        with self._guard:
            served = len(self._served)
        return {"dhcp_driver": "dnsmasq", "networks": served,
                "dhcp_lease_duration": self.lease_s, "isolated_metadata":
                self.metadata is not None}

    def reconcile(self, desired: dict, revision: int) -> Report | None:
        kind, obj_id, obj = desired["kind"], desired["id"], desired["object"]
        state = desired["state"]
        if kind == "networks":
            nets = {obj_id}
        else:
            now: set[str] = set()
            if obj is not None:
                if kind == "routers":
                    now = {i["network_id"] for i in obj.get("interfaces") or []}
                elif obj.get("network_id"):
                    now = {obj["network_id"]}
            with self._guard:
                before = self._nets_of.get((kind, obj_id), set())
            nets = now | before
        for net_id in sorted(nets):
            self.sync(net_id, state)
        if kind != "networks":  # remembered only once realized (a retry sees `before`)
            with self._guard:
                if obj is None:
                    self._nets_of.pop((kind, obj_id), None)
                else:
                    self._nets_of[(kind, obj_id)] = now
        return None

    def stop(self) -> None:
        """Close the metadata proxy's listeners this driver made (dnsmasq and the
        namespaces stay)."""
        if self._own_proxy is not None:
            self._own_proxy.stop()

    def cleanup_orphans(self, desired: dict) -> None:
        served = self.served(desired)
        for name in netns.list_netns(self.where):
            if name.startswith(names.DHCP_NS) and names.is_ours(name):
                net_id = name[len(names.DHCP_NS):]
                if net_id not in served:
                    LOG.info("%s: removing orphan %s", self.host, name)
                    with self._lock(net_id):
                        self._teardown(net_id)
        if os.path.isdir(self.dir):
            for net_id in os.listdir(self.dir):
                if net_id not in served:
                    LOG.info("%s: removing stale DHCP config %s", self.host, net_id)
                    with self._lock(net_id):
                        self._teardown(net_id)
        for port in desired.get("ports", []):
            net_id = port.get("network_id")
            if (port.get("device_owner") == DHCP_OWNER and net_id not in served
                    and port.get("device_id") == device_id(self.host, net_id)):
                LOG.info("%s: deleting DHCP port %s of unserved network %s", self.host,
                         port["id"], net_id)
                self._delete_port(port["id"])

    # -- the scheduling rule -------------------------------------------------------
    def served(self, state: dict) -> set[str]:
        """The ids of every network this host serves in ``state`` (one pass)."""
        dhcp = {s["network_id"] for s in state.get("subnets", []) if s.get("enable_dhcp")}
        used = {p.get("network_id") for p in state.get("ports", [])
                if p.get("binding:host_id") == self.host
                and not (p.get("device_owner") or "").startswith("network:")}
        return {n["id"] for n in state.get("networks", [])
                if n.get("admin_state_up", True) and n["id"] in dhcp and n["id"] in used}

    def serves(self, net_id: str, state: dict) -> bool:
        """Whether this host serves DHCP on ``net_id`` in ``state`` (see the module)."""
        idx = snapindex.of(state)
        net = idx.get("networks", net_id)
        if net is None or not net.get("admin_state_up", True):
            return False
        if not any(s.get("enable_dhcp") for s in idx.subnets(net_id)):
            return False
        return any(not (p.get("device_owner") or "").startswith("network:")
                   for p in idx.host_ports(self.host, net_id))

    # -- one network ---------------------------------------------------------------
    def _lock(self, net_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(net_id, threading.Lock())

    def files(self, net_id: str) -> dnsmasq.Files:
        """The dnsmasq files of ``net_id``."""
        return dnsmasq.Files(os.path.join(self.dir, net_id))

    def sync(self, net_id: str, state: dict) -> None:
        """Make network ``net_id``'s DHCP service match ``state``: serve it fully, or
        remove everything of it."""
        with self._lock(net_id):
            if not self.serves(net_id, state):
                self._teardown(net_id, state)
                return
            idx = snapindex.of(state)
            net = idx.get("networks", net_id)
            all_subnets = idx.subnets(net_id)
            subnets = [s for s in all_subnets if s.get("enable_dhcp")]
            port = self._ensure_port(net, subnets, state)
            ns, dev, fresh = self._ensure_namespace(net, port, subnets)
            isolated = not any(i.get("network_id") == net_id
                               for r in state.get("routers", [])
                               for i in r.get("interfaces") or [])
            via = self._metadata(ns, dev, net_id, port, subnets, isolated)
            ports = self.client.list_ports(network_id=net_id)
            if not any(p["id"] == port["id"] for p in ports):
                ports.append(port)
            files = self.files(net_id)
            dom = dnsmasq.domain(net)
            contents = {
                files.hosts: dnsmasq.render_hosts(ports, subnets, dom),
                files.addn_hosts: dnsmasq.render_addn_hosts(ports, subnets, dom),
                files.opts: dnsmasq.render_opts(net, subnets, all_subnets, ports,
                                                metadata_via=via),
            }
            argv = dnsmasq.command_line(files, dev, subnets, lease_s=self.lease_s,
                                        dom=dom)
            if fresh:  # a new ns- leg: a dnsmasq bound to an old one must go
                dnsmasq.stop(files)
            action, pid = dnsmasq.ensure(ns, files, argv, contents)
            if action != "unchanged":
                LOG.info("%s: dnsmasq for %s %s (pid %d)", self.host, net_id, action, pid)
            with self._guard:
                self._served.add(net_id)

    def _ensure_port(self, net: dict, subnets: list[dict], state: dict) -> dict:
        """This host's DHCP port on ``net`` with one fixed IP per DHCP subnet."""
        dev_id = device_id(self.host, net["id"])
        found = [p for p in snapindex.of(state).where("ports", "device_id", dev_id)
                 if p.get("network_id") == net["id"]]
        if not found:
            found = self.client.list_ports(device_id=dev_id, network_id=net["id"])
        want = {s["id"] for s in subnets}
        if not found:
            body = {
                "network_id": net["id"], "project_id": net.get("project_id"),
                "device_owner": DHCP_OWNER, "device_id": dev_id, "name": "",
                "binding:host_id": self.host, "admin_state_up": True,
                "fixed_ips": [{"subnet_id": s} for s in sorted(want)]}
            port = self._port_call(net["id"], self.client.create_port, body)
            LOG.info("%s: created DHCP port %s on %s", self.host, port["id"], net["id"])
            return port
        port = sorted(found, key=lambda p: p["id"])[0]
        have = {f["subnet_id"] for f in port.get("fixed_ips", [])}
        update: dict = {}
        if have != want:
            update["fixed_ips"] = (
                [f for f in port["fixed_ips"] if f["subnet_id"] in want]
                + [{"subnet_id": s} for s in sorted(want - have)])
        if port.get("binding:host_id") != self.host:
            update["binding:host_id"] = self.host
        if update:
            port = self._port_call(net["id"], self.client.update_port, port["id"],
                                   update)
        return port

    def _port_call(self, net_id: str, method, *args) -> dict:
        """Create or update this host's DHCP port; the API refusing it (400/409, e.g.
        no free address left in a subnet) is a :class:`PermanentError`: retrying soon
        will not help, and the network's other ports are unaffected."""
        try:
            return method(*args)
        except api.ControllerError as e:
            if not errors.is_permanent(e):
                raise
            raise errors.PermanentError(
                f"DHCP port on network {net_id}: the API refused it ({e})") from e

    def _ensure_namespace(self, net: dict, port: dict,
                          subnets: list[dict]) -> tuple[Netns, str, bool]:
        """``qdhcp-<net>`` with the veth ``tap`` <-> ``ns-`` carrying the port's MAC
        and addresses; returns the namespace, the ``ns-`` name and whether the veth
        was (re)made now."""
        ns = netns.ensure_netns(self.where, names.dhcp_ns(net["id"]))
        tap, dev = names.tap(port["id"]), ns_device(port["id"])
        for lk in links.list_links(ns):  # an old port's leg (the DHCP port changed)
            if lk.name.startswith(NS_DEV) and lk.name != dev:
                links.delete_link(ns, lk.name)
        cur = links.get_link(ns, dev)
        fresh = cur is None
        mtu = net.get("mtu") or None
        if cur is None or cur.mtu != mtu or not cur.up \
                or links.get_link(self.where.root, tap) is None:
            links.ensure_veth(self.where.root, tap, dev, ns, mtu=mtu, up=False)
            cur = None
        if (cur is None or (cur.mac or "").lower() != port["mac_address"].lower()):
            links.set_mac(ns, dev, port["mac_address"])
        if cur is None:
            links.set_sysctl(ns, f"/proc/sys/net/ipv6/conf/{dev}/accept_dad", 0)
            links.set_up(ns, dev)
            links.set_up(self.where.root, tap)
        prefix = {s["id"]: ipaddress.ip_network(s["cidr"]).prefixlen for s in subnets}
        want = {f"{f['ip_address']}/{prefix[f['subnet_id']]}"
                for f in port.get("fixed_ips", []) if f["subnet_id"] in prefix}
        have = set(links.list_addresses(ns, dev))
        keep = {f"{METADATA_IP}/32"}
        for cidr in sorted(have - want - keep):
            if not ipaddress.ip_interface(cidr).ip.is_link_local:
                links.delete_address(ns, dev, cidr)
        for cidr in sorted(want - have):
            links.ensure_address(ns, dev, cidr)
        return ns, dev, fresh

    def _metadata(self, ns: Netns, dev: str, net_id: str, port: dict,
                  subnets: list[dict], isolated: bool) -> dict[str, str]:
        """Isolated metadata on or off; returns the option-121 next hops per subnet."""
        md = f"{METADATA_IP}/32"
        if self.metadata is None:
            return {}
        if isolated:
            links.ensure_address(ns, dev, md)
            self.metadata.ensure(ns, network_id=net_id)
            by_subnet = {f["subnet_id"]: f["ip_address"] for f in port.get("fixed_ips", [])}
            return {s["id"]: by_subnet[s["id"]] for s in subnets
                    if s["ip_version"] == 4 and s["id"] in by_subnet}
        if md in links.list_addresses(ns, dev, 4):
            links.delete_address(ns, dev, md)
        self.metadata.remove(ns, network_id=net_id)
        return {s["id"]: s["gateway_ip"] for s in subnets
                if s["ip_version"] == 4 and s.get("gateway_ip")}

    def _teardown(self, net_id: str, state: dict | None = None) -> None:
        """Remove everything of ``net_id`` (idempotent). With ``state``, also delete
        this host's DHCP port of it: the one in ``state``, or any the API knows when
        this host was serving the network (a namespace or config dir existed)."""
        files = self.files(net_id)
        dnsmasq.stop(files)
        ns = self.where.ns(names.dhcp_ns(net_id))
        served = ns.exists() or os.path.isdir(files.dir)
        if ns.exists():
            if self.metadata is not None:
                self.metadata.remove(ns, network_id=net_id)
            for lk in links.list_links(ns):
                if lk.name.startswith(NS_DEV):
                    links.delete_link(ns, lk.name)
            netns.delete_netns(self.where, names.dhcp_ns(net_id))
            LOG.info("%s: removed %s", self.host, ns.name)
        if os.path.isdir(files.dir):
            shutil.rmtree(files.dir, ignore_errors=True)
        with self._guard:
            self._served.discard(net_id)
        if state is None:
            return
        dev_id = device_id(self.host, net_id)
        found = {p["id"] for p in snapindex.of(state).where("ports", "device_id", dev_id)
                 if p.get("network_id") == net_id}
        if served:
            found |= {p["id"] for p in self.client.list_ports(device_id=dev_id,
                                                              network_id=net_id)}
        for port_id in sorted(found):
            self._delete_port(port_id)

    def _delete_port(self, port_id: str) -> None:
        self.client.delete_port(port_id)

