"""The L3 driver (Neutron's ``neutron-l3-agent``, legacy routers), registry name ``l3``.

For every router of the snapshot whose ``"host"`` (the L3 agent scheduler's choice,
:mod:`kumo.network.l3_scheduler`) is this agent's host and whose ``admin_state_up`` is
true, on the :class:`~kumo.agent.dataplane.netns.Host` it serves:

- a namespace ``qrouter-<router_id>`` (loopback up, IPv4 forwarding on);
- per interface port a veth ``qr-<port[:11]>`` (in the namespace: the port's MAC, its
  fixed IPs with their subnets' prefix lengths) <-> ``tap<port[:11]>`` in the host's
  root namespace, which the L2 driver plugs into the network's bridge (the ports are
  bound to this host by the scheduler) and reports ``ACTIVE``;
- for the gateway port the same with ``qg-<port[:11]>``, plus each floating IP of the
  router as ``/32`` on it, a default route via the external subnet's ``gateway_ip`` and
  the router's extra ``routes`` (``{"destination", "nexthop"}``);
- an nftables table ``ip neutron-l3-agent`` in the namespace (replaced atomically, only
  when its content changes; no other table is touched): per floating IP, DNAT
  floating -> fixed (prerouting and output) and SNAT fixed -> floating out of ``qg-``;
  per port forwarding of a floating IP (it has no port then), DNAT of its external
  port(s) to the internal address and port(s) and SNAT back
  (:mod:`kumo.agent.dataplane.portfwd`);
  with ``enable_snat``, SNAT of the internal subnets to the gateway address out of
  ``qg-`` (traffic between the router's subnets, or to floating IPs, never leaves by
  ``qg-`` and so is not SNATed), except the subnets in the same address scope as the
  gateway's IPv4 subnet (``address_scope_id`` of the subnets' pools in the snapshot):
  those are routed without NAT, as Neutron does within an address scope; and an input filter dropping anything addressed to
  169.254.169.254 that did not arrive on a ``qr-`` leg;
- QoS of floating IPs and of the gateway (``qos_rules`` of the snapshot's floating IPs
  and ``gateway``; ``bandwidth_limit`` only): HTB per address on ``qg-``
  (:class:`kumo.agent.qos.GatewayQos`);
- metadata (when the driver has a controller client or a proxy):
  ``169.254.169.254/32`` on the namespace's ``lo`` and the in-process proxy
  (:class:`kumo.agent.metadata.MetadataProxy`) listening on 169.254.169.254:80 bound
  to each ``qr-`` leg, so it knows the network from the leg a request came in by
  (nothing listens on the ``qg-`` side or on the legs' own addresses).

HA routers (``ha``; every host in the router's ``hosts`` runs it) get the same
namespace, legs and NAT table without addresses or routes on the ``qr-``/``qg-`` legs:
an ``ha-`` leg and keepalived own those (:mod:`kumo.agent.l3_ha`), so only the VRRP
master holds them.

Floating IPs are reported ``ACTIVE`` when realized on a router hosted here, ``DOWN``
when not associated. Routers that are deleted, disabled or moved to another host lose
their proxy, legs (deleting a ``qr-``/``qg-`` deletes its tap peer) and namespace.
Everything else is diffed against the kernel (addresses, routes, links) and only the
difference is applied. :meth:`L3Driver.cleanup_orphans` removes only ``qrouter-*``
namespaces of this host that no router hosted here wants.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import threading

from kumo.agent import fwaas, l3_ha, metadata, nflog, qos, snapindex
from kumo.agent.dataplane import links, names, netns, nft, portfwd
from kumo.agent.dataplane.netns import Host, Netns
from kumo.agent.drivers import Driver, Report, register_driver

LOG = logging.getLogger(__name__)
TABLE = "neutron-l3-agent"
FAMILY = "ip"


def _find(state: dict, kind: str, obj_id: str | None) -> dict | None:
    """The object ``obj_id`` of collection ``kind`` in snapshot ``state`` (its
    :mod:`~kumo.agent.snapindex`, built once per snapshot), or None."""
    return snapindex.of(state).get(kind, obj_id)


def _cidr(fixed: dict) -> str:
    """``ip/prefixlen`` of a fixed IP item (``ip_address`` and its subnet ``cidr``)."""
    return f"{fixed['ip_address']}/{ipaddress.ip_network(fixed['cidr']).prefixlen}"


def _v4(address: str) -> bool:
    return ipaddress.ip_address(address.split("/")[0]).version == 4


@register_driver("l3")
class L3Driver(Driver):
    """The L3 driver of agent host ``host``. ``where``: the host to work in (default
    the machine); ``client``: the controller client (enables the metadata proxy);
    ``metadata_proxy``: a ready :class:`~kumo.agent.metadata.MetadataProxy` instead."""

    name = "l3"
    agent_type = "L3 agent"
    binary = "neutron-l3-agent"
    kinds = ("routers", "floatingips")

    def __init__(self, host: str, settings=None, *, where: Host | None = None,
                 client=None, state_dir: str | None = None,
                 metadata_proxy: metadata.MetadataProxy | None = None,
                 agent_mode: str | None = None):
        self.host = host
        #: Neutron's agent_mode: legacy, dvr or dvr_snat (distributed routers are
        #: realized by :class:`kumo.agent.dvr.DvrRouters` in the DVR modes)
        self.mode = agent_mode or getattr(settings, "agent_mode", None) or "legacy"
        self.where = where or Host()
        self.root = self.where.root
        self.proxy = metadata_proxy if metadata_proxy is not None else (
            metadata.MetadataProxy(client, settings) if client is not None else None)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._nat: dict[str, str] = {}  # router id -> the NAT table content applied
        self._fip_router: dict[str, str] = {}  # floating IP id -> router id realized
        from kumo.agent import dvr
        self.dvr = dvr.DvrRouters(self) if self.mode in dvr.DVR_MODES else None
        self._gw_routers: set[str] = set()  # routers realized with a gateway port here
        #: QoS of floating IPs and the gateway on qg- (qos-fip, qos-gateway-ip)
        self.gw_qos = qos.GatewayQos()
        if state_dir is None:
            state_dir = os.path.join(getattr(settings, "state_dir", None) or ".", "agent")
        self.ha = l3_ha.HARouters(host, self.where, state_dir, client)
        #: firewall groups, network logs (<state_dir>/logs) and metering (kumo.agent.fwaas)
        self.tables = fwaas.RouterTables(nflog.LogWriter(os.path.join(state_dir, "logs")))

    # -- the contract ----------------------------------------------------------------
    def configurations(self) -> dict:
        try:
            count = sum(1 for n in netns.list_netns(self.where)
                        if n.startswith(names.ROUTER_NS))
        except Exception:  # noqa: BLE001 - a heartbeat never fails on this
            count = 0
        with self._guard:
            gateways = len(self._gw_routers)
        return {"agent_mode": self.mode, "routers": count, "ex_gw_ports": gateways,
                "handle_internal_only_routers": True, "metadata_port": metadata.PORT}

    def reconcile(self, desired: dict, revision: int) -> Report | None:
        state, obj = desired["state"], desired["object"]
        report = Report()
        if desired["kind"] == "routers":
            self._sync(desired["id"], state, report)
            return report
        fip_id = desired["id"]
        with self._guard:
            old = self._fip_router.get(fip_id)
        for router_id in dict.fromkeys(r for r in ((obj or {}).get("router_id"), old) if r):
            self._sync(router_id, state, report)
        if obj is not None and not obj.get("port_id") and not obj.get("port_forwardings"):
            report.floatingips[fip_id] = "DOWN"
        if obj is None:
            with self._guard:
                self._fip_router.pop(fip_id, None)
        return report

    def cleanup_orphans(self, desired: dict) -> None:
        wanted = {names.router_ns(r["id"]) for r in desired.get("routers", [])
                  if self._hosted(r) and not (self.dvr and r.get("distributed"))}
        if self.dvr is not None:
            wanted |= self.dvr.wanted_qrouters(desired)
            self.dvr.cleanup_orphans(desired)
        self.ha.cleanup({r["id"] for r in desired.get("routers", [])
                         if self._hosted(r) and l3_ha.is_ha(r)})
        for ns_name in netns.list_netns(self.where):
            if ns_name.startswith(names.ROUTER_NS) and names.is_ours(ns_name) \
                    and ns_name not in wanted:
                LOG.info("%s: removing orphan %s", self.host, ns_name)
                self._remove(ns_name[len(names.ROUTER_NS):])
        if self.proxy is not None:
            paths = {self.where.ns(n).path for n in wanted}
            for path in self.proxy.serving():
                if path not in paths and path.startswith(self.where.run_dir.rstrip("/") + "/"
                                                         + names.ROUTER_NS):
                    self.proxy.remove(Netns(path))

    def watch(self, requeue, stop: threading.Event) -> None:
        """HA routers' keepalived: states reported, dead ones restarted."""
        self.ha.watch(requeue, stop)

    def stop(self) -> None:
        self.tables.stop()
        if self.proxy is not None:
            self.proxy.stop()

    # -- routers ---------------------------------------------------------------------
    def _hosted(self, router: dict) -> bool:
        here = router.get("host") == self.host or (
            l3_ha.is_ha(router) and self.host in router.get("hosts", []))
        return here and bool(router.get("admin_state_up", True))

    def _lock(self, router_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(router_id, threading.Lock())

    def _sync(self, router_id: str, state: dict, report: Report) -> None:
        """Make router ``router_id``'s namespace match the snapshot ``state``."""
        with self._lock(router_id):
            router = _find(state, "routers", router_id)
            if self.dvr is not None:  # distributed routers: kumo.agent.dvr
                if router is not None and router.get("distributed"):
                    fips = self.dvr.sync(router, state, report)
                    with self._guard:
                        for fip_id in [f for f, r in self._fip_router.items()
                                       if r == router_id]:
                            del self._fip_router[fip_id]
                        for f in fips:
                            self._fip_router[f["id"]] = router_id
                    return
                # a legacy router hosted here keeps its qrouter- (the legacy path's)
                self.dvr.remove(router_id, state, keep_qrouter=router is not None
                                and self._hosted(router))
            if router is None or not self._hosted(router):
                self._remove(router_id)
                return
            idx = snapindex.of(state)
            fips = [f for f in idx.where("floatingips", "router_id", router_id)
                    if (f.get("port_id") and f.get("fixed_ip_address"))
                    or f.get("port_forwardings")]
            ns_name = names.router_ns(router_id)
            if not self.where.ns(ns_name).exists():
                self._nat.pop(router_id, None)
                self.gw_qos.forget(self.where.ns(ns_name).path)
            ns = netns.ensure_netns(self.where, ns_name)
            gw = router.get("gateway")
            legs: dict[str, tuple[dict, list[str]]] = {}
            for port in router.get("interfaces", []):
                legs[names.router_interface(port["port_id"])] = (
                    port, [_cidr(f) for f in port["fixed_ips"]])
            qg = None
            with self._guard:
                (self._gw_routers.add if gw else self._gw_routers.discard)(router_id)
            if gw:
                qg = names.router_gateway(gw["port_id"])
                legs[qg] = (gw, [_cidr(f) for f in gw["fixed_ips"]]
                            + [f"{f['floating_ip_address']}/32" for f in fips])
            # NAT and firewall first: the rules name legs by name, so they can be in
            # place before a leg has an address; the other order leaves a moment in
            # which a new subnet is routed to the external network unNATed (its private
            # addresses leak) or a new floating IP's address answers unfiltered
            self._nft(ns, router, gw, qg, fips)
            self.tables.sync(ns, router, qg)
            if links.get_sysctl(ns, "net.ipv4.ip_forward") != "1":
                links.set_ip_forward(ns, True)
            for lk in links.list_links(ns):
                if lk.name.startswith((names.ROUTER_INTERFACE, names.ROUTER_GATEWAY)) \
                        and lk.name not in legs:
                    links.delete_link(ns, lk.name)
            ha = l3_ha.is_ha(router)
            if not ha:  # converted from HA: keepalived (it drops its addresses) goes first
                self.ha.remove(router_id)
                for lk in links.list_links(ns):
                    if lk.name.startswith(names.HA):
                        links.delete_link(ns, lk.name)
            for leg, (port, cidrs) in legs.items():  # HA: keepalived's addresses
                self._leg(ns, leg, port, idx.get("networks", port["network_id"]),
                          None if ha else cidrs)
            if ha:
                self.ha.sync(ns, router, legs, self._leg)
            else:
                self._routes(ns, router, gw, qg)
            if qg:
                self.gw_qos.sync(ns, qg, gw["port_id"], fips, gw)
            if self.proxy is not None:
                links.ensure_address(ns, "lo", f"{metadata.ADDRESS}/32")
                self.proxy.ensure(ns, router_id=router_id, legs={
                    names.router_interface(p["port_id"]): p["network_id"]
                    for p in router.get("interfaces", [])})
            with self._guard:
                for fip_id in [f for f, r in self._fip_router.items() if r == router_id]:
                    del self._fip_router[fip_id]
                for f in fips:
                    self._fip_router[f["id"]] = router_id
            for f in fips:
                report.floatingips[f["id"]] = "ACTIVE" if qg else "DOWN"

    def _leg(self, ns: Netns, leg: str, port: dict, net: dict | None,
             cidrs: list[str] | None, keep=()) -> None:
        """The veth ``leg`` (in ``ns``) <-> ``tap<port>`` (host root) with the port's MAC,
        the network's MTU and exactly ``cidrs`` (IPv6 link-local ones and ``keep`` are
        kept; ``None``: addresses are someone else's, keepalived's)."""
        tap = names.tap(port["port_id"])
        mac = port["mac_address"].lower()
        mtu = (net or {}).get("mtu") or None
        cur = links.get_link(ns, leg)
        if cur is None or cur.kind != "veth" or links.get_link(self.root, tap) is None:
            links.ensure_veth(self.root, tap, leg, ns, mtu=mtu, up=False)
            links.set_mac(ns, leg, mac)
            links.set_up(self.root, tap)
            cur = links.get_link(ns, leg)
        if (cur.mac or "").lower() != mac:
            links.set_mac(ns, leg, mac)
        if mtu and cur.mtu != mtu:
            links.set_mtu(ns, leg, mtu)
        if not cur.up:
            links.set_up(ns, leg)
        if cidrs is None:
            return
        have = {a for a in links.list_addresses(ns, leg)
                if not ipaddress.ip_interface(a).ip.is_link_local}
        want = {str(ipaddress.ip_interface(c)) for c in cidrs}
        for cidr in sorted(have - want - {str(ipaddress.ip_interface(k)) for k in keep}):
            links.delete_address(ns, leg, cidr)
        for cidr in sorted(want - have):
            links.ensure_address(ns, leg, cidr)

    def _routes(self, ns: Netns, router: dict, gw: dict | None, qg: str | None) -> None:
        """Default route via the external gateway and the extra routes; other gatewayed
        routes in the main table go."""
        want: dict[str, tuple[str, str | None]] = {}
        for fixed in (gw or {}).get("fixed_ips", []):
            if fixed.get("gateway_ip"):
                dst = "0.0.0.0/0" if _v4(fixed["gateway_ip"]) else "::/0"
                want.setdefault(dst, (fixed["gateway_ip"], qg))
        for route in router.get("routes") or []:
            want[str(ipaddress.ip_network(route["destination"]))] = (route["nexthop"], None)
        for family in (4, 6):
            have = {r["dst"]: r for r in links.list_routes(ns, family) if r["gateway"]}
            for dst, r in have.items():
                if dst not in want or want[dst][0] != r["gateway"]:
                    links.delete_route(ns, dst, gateway=r["gateway"])
            for dst, (hop, dev) in want.items():
                if (ipaddress.ip_network(dst).version == family
                        and (dst not in have or have[dst]["gateway"] != hop)):
                    links.ensure_route(ns, dst, gateway=hop, dev=dev)

    def _nft(self, ns: Netns, router: dict, gw: dict | None, qg: str | None,
             fips: list[dict]) -> None:
        """The router's NAT table (see the module doc), replaced only on change."""
        chains = [nft.Chain("prerouting", "nat", "prerouting", -100),
                  nft.Chain("output", "nat", "output", -100),
                  nft.Chain("postrouting", "nat", "postrouting", 100),
                  nft.Chain("input", "filter", "input", 0)]
        # the metadata address is for the tenant side only (the proxy listens only on
        # qr- legs; this is defence in depth)
        rules = [nft.Rule("input", [
            nft.iifname(names.ROUTER_INTERFACE + "*", op="!="),
            nft.daddr(metadata.ADDRESS), nft.drop()], comment="metadata")]
        if qg:
            for f in fips:
                if f.get("port_forwardings") and _v4(f["floating_ip_address"]):
                    rules += portfwd.rules(f, qg)
                if not (f.get("fixed_ip_address") and _v4(f["floating_ip_address"])
                        and _v4(f["fixed_ip_address"])):
                    continue
                fip, fixed = f["floating_ip_address"], f["fixed_ip_address"]
                for chain in ("prerouting", "output"):
                    rules.append(nft.Rule(chain, [nft.daddr(fip), nft.dnat(fixed)],
                                          comment=f"floating {f['id']}"))
                rules.append(nft.Rule("postrouting", [
                    nft.oifname(qg), nft.saddr(fixed), nft.snat(fip)],
                    comment=f"floating {f['id']}"))
            gw_v4 = next((x for x in gw["fixed_ips"] if _v4(x["ip_address"])), {})
            gw_ip, scope = gw_v4.get("ip_address"), gw_v4.get("address_scope_id")
            # address scopes: a subnet in the gateway's scope is routed, not NATed
            internal = sorted({str(ipaddress.ip_network(x["cidr"]))
                               for p in router.get("interfaces", [])
                               for x in p["fixed_ips"] if _v4(x["cidr"])
                               and not (scope and x.get("address_scope_id") == scope)})
            if router.get("enable_snat", True) and gw_ip and internal:
                rules.append(nft.snat_out(qg, internal, gw_ip))
        content = json.dumps([[c.json(FAMILY, TABLE) for c in chains],
                              [r.json(FAMILY, TABLE) for r in rules]], sort_keys=True)
        router_id = router["id"]
        digest = "digest " + hashlib.sha256(content.encode()).hexdigest()[:32]
        if self._nat.get(router_id) == content and (FAMILY, TABLE) in nft.list_tables(ns):
            return
        # After an agent restart the memory is empty: the digest kept in the table
        # itself tells whether the kernel already holds this content (then nothing is
        # replaced: restarts diff, they do not rewrite).
        applied = nft.list_table(ns, FAMILY, TABLE) or []
        if not any(o.get("rule", {}).get("chain") == "digest"
                   and o["rule"].get("comment") == digest for o in applied):
            nft.replace_table(ns, FAMILY, TABLE, chains=[*chains, nft.Chain("digest")],
                              rules=[*rules, nft.Rule("digest", [nft.return_()],
                                                      comment=digest)])
        self._nat[router_id] = content

    def _remove(self, router_id: str) -> None:
        """Tear router ``router_id`` down on this host (nothing if absent)."""
        ns = self.where.ns(names.router_ns(router_id))
        self.ha.remove(router_id)
        if self.proxy is not None:
            self.proxy.remove(ns)
        self._nat.pop(router_id, None)
        self.tables.forget(router_id)
        self.gw_qos.forget(ns.path)
        with self._guard:
            self._gw_routers.discard(router_id)
            for fip_id in [f for f, r in self._fip_router.items() if r == router_id]:
                del self._fip_router[fip_id]
        if not ns.exists():
            return
        for lk in links.list_links(ns):
            if lk.name.startswith((names.ROUTER_INTERFACE, names.ROUTER_GATEWAY,
                                   names.HA)):
                links.delete_link(ns, lk.name)
        netns.delete_netns(self.where, names.router_ns(router_id))
