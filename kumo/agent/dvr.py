"""Distributed routers on an L3 agent in ``agent_mode`` ``dvr`` or ``dvr_snat``
(Neutron's ``dvr_local_router``/``dvr_edge_router``), used by
:class:`kumo.agent.l3.L3Driver` for every router item with ``distributed`` true.

**Where.** A host realizes a distributed router's ``qrouter-<id>`` when it has a port
bound to it on one of the router's interface networks (the feed gives it the router
and the router's other networks, :func:`kumo.network.scope.networks_of`; the L2 driver
wires those networks too, :func:`needed_networks`). The router's ``snat-<id>`` runs on
the host the scheduler gave it (a ``dvr_snat`` agent), and each floating IP on the host
of its fixed port, through that host's ``fip-<external network id>``.

**qrouter- (every such host).** One ``qr-<port[:11]>`` leg per interface, holding the
interface's addresses (the subnet's gateway IP: the same on every host) but the
**host's distributed MAC** (``dvr_host_mac``, one per host, allocated by the API) in
place of the port's: every frame a host's router puts on the wire carries a source MAC
that exists on that host only, so the bridges of the other hosts learn it where it is
and the gateway MAC never moves between hosts (Neutron rewrites the source MAC to the
same per-host MAC with OpenFlow; a Linux bridge has no such action, so the leg simply
owns it). The leg's host end ``tap<port[:11]>`` is enslaved to the network's bridge by
this driver (the interface port stays unbound: every host has its own leg). Because
every host answers for the same gateway address, **ARP for the gateway addresses must
not cross hosts**: a bridge table ``bridge kumo_dvr`` drops ARP whose sender or target
address is a distributed router's gateway address on the network's VXLAN device, in
both directions (Neutron drops it with flows on the tunnel bridge), written before the
host's legs are made (a leg never answers across before its host guards the tunnels,
so a server can only ever learn its own host's router). So a server's ARP
for its gateway is answered by its own host's router only; the router, whose own ARP
requests (sent from the gateway address) are dropped at the tunnel too, knows its
neighbours from permanent entries: every port on its subnets (L2 population gives the
other hosts' ports with their MACs, the snapshot this host's). East-west traffic is
routed on the sending host and delivered across the tunnel straight to the destination
server; the reply is routed on the destination's host: the network host never sees it.

Traffic leaving the router's subnets: a server with a floating IP goes through the
``fip-`` namespace (source rule ``from <fixed> lookup 16``, priorities 32768.., table 16
default via the ``fpr-`` end), everything else to the SNAT node: per internal subnet a
rule ``from <cidr> lookup <100+i>`` (priorities 40000..) whose table's default route
is the subnet's ``sg-`` address, reached across the tunnel. Connected routes (main
table, looked up first at priority 32766) keep east-west traffic local.

**fip-<external network> (hosts with floating IPs).** The host's ``fg-<port[:11]>``
leg (the ``network:floatingip_agent_gateway`` port the API made for this host, plugged
into the external bridge by the L2 driver) with its external address, a default route
via the external subnet's gateway and proxy ARP on, so the host answers ARP for its
floating IPs; per router a veth ``fpr-<router[:11]>`` (here) <-> ``rfp-<router[:11]>``
(in ``qrouter-``) with a link-local ``/31`` from 169.254.64.0/18 (the pair already
there is kept; a new one takes the first free pair from a hash of the router id), and
``<floating>/32 via`` the ``rfp-`` end. The qrouter's nft table DNATs floating ->
fixed arriving on ``rfp-`` and SNATs fixed -> floating leaving by it.

**snat-<router> (the dvr_snat host the router is scheduled to).** ``sg-<port[:11]>``
legs (the ``network:router_centralized_snat`` ports, bound here and plugged by the L2
driver) and the ``qg-`` gateway leg; default route via the external gateway, SNAT of
the internal subnets to the gateway address out of ``qg-`` (``enable_snat``).
Made by :mod:`kumo.agent.dvr_snat`; **DVR+HA** (``ha``): on every dvr_snat host in the
router's ``hosts``, keepalived owning the ``sg-``/``qg-`` addresses and default route.

IPv4 only (IPv6 subnets get their leg addresses, nothing else). Everything carries
Neutron's names; :meth:`DvrRouters.cleanup_orphans` removes ``snat-``/``fip-``
namespaces nothing wants and the bridge table when no gateway needs guarding.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading

from kumo.agent import dvr_snat, metadata, snapindex
from kumo.agent.dataplane import links, names, netns, nft, rules
from kumo.agent.dataplane.netns import Netns
from kumo.agent.drivers import Report

LOG = logging.getLogger(__name__)
DVR_MODES = ("dvr", "dvr_snat")
FG_OWNER = "network:floatingip_agent_gateway"
FIP_TABLE = 16
FIP_RULES = (32768, 36000)
SNAT_RULES = (40000, 41000)
SNAT_TABLE_BASE = 100
LINK_LOCAL = ipaddress.ip_network("169.254.64.0/18")
ARP_TABLE = "kumo_dvr"
NAT_TABLE = "neutron-l3-agent"


def fip_ns(network_id: str) -> str:
    return names.FIP_NS + network_id


snat_ns = dvr_snat.snat_ns


def _cidr(fixed: dict) -> str:
    return f"{fixed['ip_address']}/{ipaddress.ip_network(fixed['cidr']).prefixlen}"


def _v4(address: str) -> bool:
    return ipaddress.ip_address(address.split("/")[0]).version == 4


def local_networks(host: str, state: dict) -> set[str]:
    """Networks ``host`` has a bound port on."""
    return {p["network_id"] for p in state.get("ports", [])
            if p.get("binding:host_id") == host}


def wants_qrouter(host: str, router: dict, state: dict, local: set[str] | None = None
                  ) -> bool:
    """Whether ``host`` realizes distributed ``router``'s ``qrouter-`` (see the doc)."""
    if not router.get("distributed") or not router.get("admin_state_up", True):
        return False
    local = local_networks(host, state) if local is None else local
    return any(p["network_id"] in local for p in router.get("interfaces", []))


def needed_networks(host: str, state: dict) -> set[str]:
    """The interface networks of the distributed routers ``host`` realizes (its L2
    driver wires them even without a port of its own there)."""
    local = local_networks(host, state)
    out: set[str] = set()
    for router in state.get("routers", []):
        if wants_qrouter(host, router, state, local):
            out.update(p["network_id"] for p in router.get("interfaces", []))
    return out


class DvrRouters:
    """The distributed part of an :class:`~kumo.agent.l3.L3Driver` (``driver``)."""

    def __init__(self, driver):
        self.d = driver
        self.host, self.where, self.root = driver.host, driver.where, driver.where.root
        self.mode = driver.mode
        self._guard = threading.Lock()  # the bridge table and fip- namespaces
        self._nat: dict[str, str] = {}  # namespace name -> NAT content applied
        self._arp: str | None = None

    # -- entry points --------------------------------------------------------------------
    def sync(self, router: dict, state: dict, report: Report) -> list[dict]:
        """Realize distributed ``router`` on this host; returns the floating IPs realized
        here (reported ``ACTIVE``)."""
        rid = router["id"]
        fips: list[dict] = []
        if wants_qrouter(self.host, router, state):
            fips = self._qrouter(router, state)
        else:
            self._remove_qrouter(rid)
        if self.hosts_snat(router):
            self._snat(router, state)
        else:
            if self.d.ha.known(rid):  # DVR+HA: this host's keepalived of the snat-
                self.d.ha.remove(rid)
            self._remove_ns(snat_ns(rid))
        with self._guard:
            self._arp_guard(state)
            self._fip_namespaces(state)
        for f in fips:
            report.floatingips[f["id"]] = "ACTIVE"
        return fips

    def hosts_snat(self, router: dict) -> bool:
        """Whether this host runs ``router``'s ``snat-`` (:func:`dvr_snat.hosts_snat`)."""
        return dvr_snat.hosts_snat(self.mode, self.host, router)

    def remove(self, router_id: str, state: dict | None = None,
               keep_qrouter: bool = False) -> None:
        """Tear down the distributed parts of ``router_id`` on this host (nothing if
        absent); ``keep_qrouter``: its ``qrouter-`` is a legacy router's now."""
        had = self.where.ns(snat_ns(router_id)).exists() or names.router_ns(router_id) \
            in self._nat
        if not had:
            return
        if not keep_qrouter:
            self._remove_qrouter(router_id)
        self._nat.pop(names.router_ns(router_id), None)
        if self.d.ha.known(router_id):
            self.d.ha.remove(router_id)  # the legacy path starts its own if HA
        self._remove_ns(snat_ns(router_id))
        if state is not None:
            with self._guard:
                self._arp_guard(state)
                self._fip_namespaces(state)

    def wanted_qrouters(self, desired: dict) -> set[str]:
        local = local_networks(self.host, desired)
        return {names.router_ns(r["id"]) for r in desired.get("routers", [])
                if wants_qrouter(self.host, r, desired, local)}

    def cleanup_orphans(self, desired: dict) -> None:
        """Remove ``snat-``/``fip-`` namespaces nothing in ``desired`` wants and bring the
        bridge table in line (the L3 driver removes ``qrouter-`` ones)."""
        snat = {snat_ns(r["id"]) for r in desired.get("routers", [])
                if r.get("distributed") and self.hosts_snat(r)}
        for ns_name in netns.list_netns(self.where):
            if ns_name.startswith(names.SNAT_NS) and names.is_ours(ns_name) \
                    and ns_name not in snat:
                LOG.info("%s: removing orphan %s", self.host, ns_name)
                self._remove_ns(ns_name)
        with self._guard:
            self._arp = None
            self._arp_guard(desired)
            self._fip_namespaces(desired)

    # -- qrouter- ------------------------------------------------------------------------
    def _qrouter(self, router: dict, state: dict) -> list[dict]:
        rid = router["id"]
        mac = router.get("dvr_host_mac")
        if not mac:
            raise RuntimeError(f"{self.host}: no distributed MAC yet for this host "
                               f"(router {rid}); the API allocates it on the L3 agent's "
                               "heartbeat")
        idx = snapindex.of(state)
        with self._guard:  # before any leg answers for a gateway address
            self._arp_guard(state)
        ns = netns.ensure_netns(self.where, names.router_ns(rid))
        if links.get_sysctl(ns, "net.ipv4.ip_forward") != "1":
            links.set_ip_forward(ns, True)
        legs = {names.router_interface(p["port_id"]): p for p in router.get("interfaces", [])}
        for p in router.get("interfaces", []):
            net = idx.get("networks", p["network_id"])
            self._qr_leg(ns, names.router_interface(p["port_id"]), p, net, mac.lower())
        # local floating IPs (fixed port bound here) and their fip- namespace
        local_ports = {p["id"] for p in state.get("ports", [])
                       if p.get("binding:host_id") == self.host}
        fips = [f for f in state.get("floatingips", [])
                if f.get("router_id") == rid and f.get("port_id") in local_ports
                and f.get("fixed_ip_address") and _v4(f["fixed_ip_address"])]
        gw = router.get("gateway")
        rfp = names.ROUTER_TO_FIP + rid[:names.ID_LEN]
        keep = set(legs)
        pair = None
        # the floating IPs' NAT before the fip- leg and the routes that use it, so a
        # fixed address never leaves by rfp- unNATed (rules name rfp- by name)
        self._qrouter_nat(ns, rid, fips if gw else [], rfp)
        if fips and gw:
            pair = self._fip_leg(router, gw, fips, state, ns)
            keep.add(rfp)
        for lk in links.list_links(ns):
            if lk.name.startswith((names.ROUTER_INTERFACE, names.ROUTER_TO_FIP,
                                   names.ROUTER_GATEWAY)) and lk.name not in keep:
                links.delete_link(ns, lk.name)
        if pair is None:
            self._drop_fip_leg(router, state)
        self._neighbours(ns, router, state, idx)
        self._routing(ns, router, pair, fips)
        if self.d.proxy is not None:
            links.ensure_address(ns, "lo", f"{metadata.ADDRESS}/32")
            self.d.proxy.ensure(ns, router_id=rid, legs={
                names.router_interface(p["port_id"]): p["network_id"]
                for p in router.get("interfaces", [])})
        return fips if pair else []

    def _qr_leg(self, ns: Netns, leg: str, port: dict, net: dict | None, mac: str) -> None:
        """``leg`` in ``ns`` <-> ``tap<port>`` enslaved to the network's bridge, with the
        host's distributed MAC and the port's addresses."""
        if net is None:
            raise RuntimeError(f"{self.host}: network {port['network_id']} of {leg} is "
                               "not in this host's state yet")
        bridge = names.bridge(net["id"])
        br = links.get_link(self.root, bridge)
        if br is None:
            raise RuntimeError(f"{self.host}: bridge {bridge} for {leg} not made yet "
                               "(the L2 driver makes it)")
        tap = names.tap(port["port_id"])
        mtu = net.get("mtu") or None
        cur = links.get_link(ns, leg)
        tap_link = links.get_link(self.root, tap)
        if cur is None or cur.kind != "veth" or tap_link is None:
            links.ensure_veth(self.root, tap, leg, ns, mtu=mtu, up=False)
            cur = links.get_link(ns, leg)
            tap_link = links.get_link(self.root, tap)
        if (cur.mac or "").lower() != mac:
            links.set_mac(ns, leg, mac)
        if mtu and cur.mtu != mtu:
            links.set_mtu(ns, leg, mtu)
        if not cur.up:
            links.set_up(ns, leg)
        if tap_link.master != br.index or not tap_link.up:
            links.set_link(self.root, tap, master=bridge, up=True)
        have = {a for a in links.list_addresses(ns, leg)
                if not ipaddress.ip_interface(a).ip.is_link_local}
        want = {str(ipaddress.ip_interface(_cidr(f))) for f in port["fixed_ips"]}
        for cidr in sorted(have - want):
            links.delete_address(ns, leg, cidr)
        for cidr in sorted(want - have):
            links.ensure_address(ns, leg, cidr)

    def _neighbours(self, ns: Netns, router: dict, state: dict, idx) -> None:
        """Permanent ARP entries on each ``qr-`` leg for every port on its subnets."""
        own = {f["ip_address"] for p in router.get("interfaces", []) for f in p["fixed_ips"]}
        for p in router.get("interfaces", []):
            leg = names.router_interface(p["port_id"])
            cidrs = [ipaddress.ip_network(f["cidr"]) for f in p["fixed_ips"]
                     if _v4(f["ip_address"])]
            want: dict[str, str] = {}
            net = idx.get("networks", p["network_id"]) or {}
            entries = [(peer["mac_address"], peer.get("ip_addresses") or [])
                       for peer in net.get("l2_population") or []]
            entries += [(q["mac_address"], [f["ip_address"] for f in q.get("fixed_ips", [])])
                        for q in idx.network_ports(p["network_id"])]
            for mac, ips in entries:
                for ip in ips:
                    if ip in own or not _v4(ip):
                        continue
                    if any(ipaddress.ip_address(ip) in c for c in cidrs):
                        want[ip] = mac.lower()
            have = {ip: (mac or "").lower() for ip, mac in links.list_neigh(ns, leg)
                    if _v4(ip)}
            for ip in set(have) - set(want):
                links.delete_neigh(ns, leg, ip)
            for ip, mac in want.items():
                if have.get(ip) != mac:
                    links.ensure_neigh(ns, leg, ip, mac)

    def _routing(self, ns: Netns, router: dict, pair, fips: list[dict]) -> None:
        """Extra routes (main table), the SNAT tables and rules, the floating IP table
        and rules (see the module doc)."""
        want_main = {str(ipaddress.ip_network(r["destination"])): r["nexthop"]
                     for r in router.get("routes") or [] if _v4(r["nexthop"])}
        for r in links.list_routes(ns, 4):
            if r["gateway"] and want_main.get(r["dst"]) != r["gateway"]:
                links.delete_route(ns, r["dst"], gateway=r["gateway"])
        for dst, hop in want_main.items():
            links.ensure_route(ns, dst, gateway=hop)
        # SNAT: per internal IPv4 subnet with an sg- port, its own table
        sg_by_subnet = {f["subnet_id"]: f["ip_address"]
                        for p in router.get("snat_ports") or [] for f in p["fixed_ips"]
                        if _v4(f["ip_address"])}
        subnet_rules: dict[int, tuple[str, int]] = {}
        tables: dict[int, tuple[str, str]] = {}
        i = 0
        for p in router.get("interfaces", []):
            for f in p["fixed_ips"]:
                hop = sg_by_subnet.get(f["subnet_id"])
                if hop is None or not _v4(f["ip_address"]):
                    continue
                table = SNAT_TABLE_BASE + i
                subnet_rules[SNAT_RULES[0] + i] = (str(ipaddress.ip_network(f["cidr"])), table)
                tables[table] = (hop, names.router_interface(p["port_id"]))
                i += 1
        for table in range(SNAT_TABLE_BASE, SNAT_TABLE_BASE + max(len(tables), 4) + 1):
            cur = links.list_routes(ns, 4, table=table)
            if table not in tables:
                for r in cur:
                    links.delete_route(ns, r["dst"], gateway=r["gateway"], table=table)
                continue
            hop, dev = tables[table]
            if not any(r["dst"] == "0.0.0.0/0" and r["gateway"] == hop for r in cur):
                links.ensure_route(ns, "0.0.0.0/0", gateway=hop, dev=dev, table=table)
        fip_rules: dict[int, tuple[str, int]] = {}
        if pair is not None:
            ours, theirs = pair
            rfp = names.ROUTER_TO_FIP + router["id"][:names.ID_LEN]
            cur = links.list_routes(ns, 4, table=FIP_TABLE)
            if not any(r["dst"] == "0.0.0.0/0" and r["gateway"] == theirs for r in cur):
                links.ensure_route(ns, "0.0.0.0/0", gateway=theirs, dev=rfp,
                                   table=FIP_TABLE)
            for n, f in enumerate(sorted(fips, key=lambda f: f["fixed_ip_address"])):
                fip_rules[FIP_RULES[0] + n] = (f"{f['fixed_ip_address']}/32", FIP_TABLE)
        rules.ensure_rules(ns, fip_rules, *FIP_RULES)
        rules.ensure_rules(ns, subnet_rules, *SNAT_RULES)

    def _qrouter_nat(self, ns: Netns, rid: str, fips: list[dict], rfp: str) -> None:
        chains = [nft.Chain("prerouting", "nat", "prerouting", -100),
                  nft.Chain("postrouting", "nat", "postrouting", 100),
                  nft.Chain("input", "filter", "input", 0)]
        rule_list = [nft.Rule("input", [
            nft.iifname(names.ROUTER_INTERFACE + "*", op="!="),
            nft.daddr(metadata.ADDRESS), nft.drop()], comment="metadata")]
        for f in fips:
            fip, fixed = f["floating_ip_address"], f["fixed_ip_address"]
            rule_list.append(nft.Rule("prerouting", [nft.iifname(rfp), nft.daddr(fip),
                                                     nft.dnat(fixed)],
                                      comment=f"floating {f['id']}"))
            rule_list.append(nft.Rule("postrouting", [nft.oifname(rfp), nft.saddr(fixed),
                                                      nft.snat(fip)],
                                      comment=f"floating {f['id']}"))
        self._apply_nat(ns, names.router_ns(rid), chains, rule_list)

    def _apply_nat(self, ns: Netns, key: str, chains, rule_list) -> None:
        content = json.dumps([[c.json("ip", NAT_TABLE) for c in chains],
                              [r.json("ip", NAT_TABLE) for r in rule_list]], sort_keys=True)
        if self._nat.get(key) == content and ("ip", NAT_TABLE) in nft.list_tables(ns):
            return
        digest = "digest " + hashlib.sha256(content.encode()).hexdigest()[:32]
        applied = nft.list_table(ns, "ip", NAT_TABLE) or []
        if not any(o.get("rule", {}).get("chain") == "digest"
                   and o["rule"].get("comment") == digest for o in applied):
            nft.replace_table(ns, "ip", NAT_TABLE, chains=[*chains, nft.Chain("digest")],
                              rules=[*rule_list, nft.Rule("digest", [nft.return_()],
                                                          comment=digest)])
        self._nat[key] = content

    def _remove_qrouter(self, rid: str) -> None:
        ns = self.where.ns(names.router_ns(rid))
        if self.d.proxy is not None:
            self.d.proxy.remove(ns)
        self._nat.pop(names.router_ns(rid), None)
        if ns.exists():
            for lk in links.list_links(ns):
                if lk.name.startswith((names.ROUTER_INTERFACE, names.ROUTER_GATEWAY,
                                       names.ROUTER_TO_FIP)):
                    links.delete_link(ns, lk.name)
            netns.delete_netns(self.where, names.router_ns(rid))

    # -- fip- ----------------------------------------------------------------------------
    def _fg_port(self, network_id: str, state: dict) -> dict | None:
        return next((p for p in state.get("ports", [])
                     if p.get("device_owner") == FG_OWNER and p["network_id"] == network_id
                     and p.get("binding:host_id") == self.host), None)

    def _fip_leg(self, router: dict, gw: dict, fips: list[dict], state: dict,
                 qns: Netns) -> tuple[str, str]:
        """The ``fip-`` namespace with its ``fg-`` leg, this router's ``rfp-``/``fpr-``
        pair and routes to its floating IPs; returns ``(rfp address, fpr address)``."""
        ext = gw["network_id"]
        fg = self._fg_port(ext, state)
        if fg is None:
            raise RuntimeError(f"{self.host}: no floating IP gateway port on {ext} yet")
        idx = snapindex.of(state)
        with self._guard:
            fns = netns.ensure_netns(self.where, fip_ns(ext))
            if links.get_sysctl(fns, "net.ipv4.ip_forward") != "1":
                links.set_ip_forward(fns, True)
            leg = names.FIP_GATEWAY + fg["id"][:names.ID_LEN]
            subnets = {s["id"]: s for s in idx.subnets(ext)}
            fixed = [dict(f, cidr=subnets[f["subnet_id"]]["cidr"],
                          gateway_ip=subnets[f["subnet_id"]].get("gateway_ip"))
                     for f in fg.get("fixed_ips", []) if f["subnet_id"] in subnets]
            if not fixed:
                raise RuntimeError(f"{self.host}: subnets of {ext} not in state yet")
            self.d._leg(fns, leg, {"port_id": fg["id"], "mac_address": fg["mac_address"],
                                   "network_id": ext}, idx.get("networks", ext),
                        [_cidr(f) for f in fixed])
            for lk in links.list_links(fns):
                if lk.name.startswith(names.FIP_GATEWAY) and lk.name != leg:
                    links.delete_link(fns, lk.name)
            if links.get_sysctl(fns, f"/proc/sys/net/ipv4/conf/{leg}/proxy_arp") != "1":
                links.set_proxy_arp(fns, leg, True)
            hop = next((f["gateway_ip"] for f in fixed if f.get("gateway_ip")
                        and _v4(f["gateway_ip"])), None)
            if hop and not any(r["dst"] == "0.0.0.0/0" and r["gateway"] == hop
                               for r in links.list_routes(fns, 4)):
                links.ensure_route(fns, "0.0.0.0/0", gateway=hop, dev=leg)
            rid = router["id"]
            fpr = names.FIP_TO_ROUTER + rid[:names.ID_LEN]
            rfp = names.ROUTER_TO_FIP + rid[:names.ID_LEN]
            pair = self._pair(fns, fpr, rid)
            if links.get_link(fns, fpr) is None or links.get_link(qns, rfp) is None:
                links.delete_link(fns, fpr)
                links.delete_link(qns, rfp)
                links.ensure_veth(fns, fpr, rfp, qns, up=True)
                links.set_up(qns, rfp)
            ours, theirs = pair  # rfp side, fpr side
            if f"{theirs}/31" not in links.list_addresses(fns, fpr):
                links.ensure_address(fns, fpr, f"{theirs}/31")
            if f"{ours}/31" not in links.list_addresses(qns, rfp):
                links.ensure_address(qns, rfp, f"{ours}/31")
            want = {f"{f['floating_ip_address']}/32" for f in fips}
            for r in links.list_routes(fns, 4):
                if r["dev"] == fpr and r["dst"] not in want:
                    links.delete_route(fns, r["dst"], gateway=r["gateway"], dev=fpr)
            have = {r["dst"] for r in links.list_routes(fns, 4) if r["dev"] == fpr}
            for dst in sorted(want - have):
                links.ensure_route(fns, dst, gateway=ours, dev=fpr)
        return pair

    def _pair(self, fns: Netns, fpr: str, rid: str) -> tuple[str, str]:
        """This router's link-local /31 (``rfp`` address, ``fpr`` address): the one on
        its ``fpr-`` already, else the first free pair from a hash of its id."""
        for a in links.list_addresses(fns, fpr) if links.get_link(fns, fpr) else []:
            iface = ipaddress.ip_interface(a)
            if iface.network.prefixlen == 31 and iface.ip in LINK_LOCAL:
                theirs = iface.ip
                return str(iface.network.network_address
                           if theirs != iface.network.network_address
                           else iface.network.broadcast_address), str(theirs)
        used = set()
        for lk in links.list_links(fns):
            if lk.name.startswith(names.FIP_TO_ROUTER):
                for a in links.list_addresses(fns, lk.name):
                    used.add(ipaddress.ip_interface(a).network)
        pairs = LINK_LOCAL.num_addresses // 2
        start = int(hashlib.sha256(rid.encode()).hexdigest(), 16) % pairs
        for k in range(pairs):
            net = ipaddress.ip_network(
                (int(LINK_LOCAL.network_address) + 2 * ((start + k) % pairs), 31))
            if net not in used:
                return str(net.network_address), str(net.broadcast_address)
        raise RuntimeError(f"{self.host}: no free link-local pair for router {rid}")

    def _drop_fip_leg(self, router: dict, state: dict) -> None:
        """This router has no floating IP here: its ``fpr-``/``rfp-`` pair goes."""
        fpr = names.FIP_TO_ROUTER + router["id"][:names.ID_LEN]
        with self._guard:
            for ns_name in netns.list_netns(self.where):
                if ns_name.startswith(names.FIP_NS):
                    fns = self.where.ns(ns_name)
                    if links.get_link(fns, fpr) is not None:
                        links.delete_link(fns, fpr)

    def _fip_namespaces(self, state: dict) -> None:
        """Remove ``fip-`` namespaces whose external network no router realized here
        has a floating IP on (caller holds ``_guard``)."""
        wanted = set()
        local = local_networks(self.host, state)
        local_ports = {p["id"] for p in state.get("ports", [])
                       if p.get("binding:host_id") == self.host}
        for r in state.get("routers", []):
            if r.get("gateway") and wants_qrouter(self.host, r, state, local) and any(
                    f.get("router_id") == r["id"] and f.get("port_id") in local_ports
                    for f in state.get("floatingips", [])):
                wanted.add(fip_ns(r["gateway"]["network_id"]))
        for ns_name in netns.list_netns(self.where):
            if ns_name.startswith(names.FIP_NS) and names.is_ours(ns_name) \
                    and ns_name not in wanted:
                LOG.info("%s: removing %s", self.host, ns_name)
                self._remove_ns(ns_name)

    # -- snat- ---------------------------------------------------------------------------
    def _snat(self, router: dict, state: dict) -> None:
        dvr_snat.sync(self, router, state)

    def _remove_ns(self, ns_name: str) -> None:
        ns = self.where.ns(ns_name)
        self._nat.pop(ns_name, None)
        if not ns.exists():
            return
        for lk in links.list_links(ns):
            if names.is_ours(lk.name) and lk.kind == "veth":
                links.delete_link(ns, lk.name)
        netns.delete_netns(self.where, ns_name)

    # -- the bridge table ----------------------------------------------------------------
    def _arp_guard(self, state: dict) -> None:
        """``bridge kumo_dvr``: no ARP from or for a distributed gateway address crosses
        a VXLAN device (caller holds ``_guard``)."""
        idx = snapindex.of(state)
        local = local_networks(self.host, state)
        per_dev: dict[str, set[str]] = {}
        for r in state.get("routers", []):
            if not wants_qrouter(self.host, r, state, local):
                continue
            for p in r.get("interfaces", []):
                net = idx.get("networks", p["network_id"]) or {}
                if net.get("network_type") != "vxlan" or not net.get("segmentation_id"):
                    continue
                dev = names.vxlan(int(net["segmentation_id"]))
                per_dev.setdefault(dev, set()).update(
                    f["ip_address"] for f in p["fixed_ips"] if _v4(f["ip_address"]))
        chains = [nft.Chain("forward", "filter", "forward", -10)]
        # every other frame leaves at the first rule (one comparison per frame)
        rule_list = [nft.Rule("forward", [
            nft.match(nft.payload("ether", "type"), "arp", op="!="), nft.accept()])]
        for dev, ips in sorted(per_dev.items()):
            gws = nft.anon_set(nft.addr(ip) for ip in sorted(ips))
            for side in (nft.iifname(dev), nft.oifname(dev)):
                for fld in ("saddr ip", "daddr ip"):
                    rule_list.append(nft.Rule("forward", [
                        side, nft.match(nft.payload("ether", "type"), "arp"),
                        nft.match(nft.payload("arp", fld), gws), nft.drop()],
                        comment="dvr gateway arp"))
        content = json.dumps([r.json("bridge", ARP_TABLE) for r in rule_list],
                             sort_keys=True)
        present = ("bridge", ARP_TABLE) in nft.list_tables(self.root)
        if not per_dev:
            if present:
                nft.delete_table(self.root, "bridge", ARP_TABLE)
            self._arp = content
            return
        if self._arp == content and present:
            return
        nft.replace_table(self.root, "bridge", ARP_TABLE, chains=chains, rules=rule_list)
        self._arp = content
