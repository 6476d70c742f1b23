"""The ``snat-<router>`` part of a distributed router on a ``dvr_snat`` host (Neutron's
``dvr_edge_router`` / ``dvr_edge_ha_router``), used by
:class:`kumo.agent.dvr.DvrRouters`.

``snat-<router>`` holds the ``sg-<port[:11]>`` legs (the router's
``network:router_centralized_snat`` ports, one per internal subnet) and the ``qg-``
gateway leg, a default route via the external subnet's gateway and the SNAT of the
internal subnets to the gateway address out of ``qg-`` (``enable_snat``).

**DVR+HA** (the router's ``ha`` with its ``ha_info``): every dvr_snat host in the
router's ``hosts`` makes the namespace, its legs and NAT table, but not the ``sg-``/
``qg-`` addresses nor the default route: the L3 driver's
:class:`kumo.agent.l3_ha.HARouters` (the one its HA ``qrouter-``s use) adds the
``ha-`` leg and keepalived, which owns them, so only the VRRP master holds them; it
reports the state, restarts a dead keepalived and empties conntrack on becoming
master. The router's extra routes are left to the ``qrouter-``s.
"""
from __future__ import annotations

import ipaddress

from kumo.agent import l3_ha, snapindex
from kumo.agent.dataplane import links, names, netns, nft


def snat_ns(router_id: str) -> str:
    return names.SNAT_NS + router_id


def _cidr(fixed: dict) -> str:
    return f"{fixed['ip_address']}/{ipaddress.ip_network(fixed['cidr']).prefixlen}"


def _v4(address: str) -> bool:
    return ipaddress.ip_address(address.split("/")[0]).version == 4


def hosts_snat(mode: str, host: str, router: dict) -> bool:
    """Whether ``host`` (an L3 agent in ``mode``) runs ``router``'s ``snat-``: a
    ``dvr_snat`` agent, the router up with a gateway, and this host its scheduled one
    (DVR+HA: any of its ``hosts``, each running keepalived)."""
    if mode != "dvr_snat" or not router.get("admin_state_up", True) \
            or not router.get("gateway"):
        return False
    if l3_ha.is_ha(router):
        return host in router.get("hosts", [])
    return router.get("host") == host


def sync(routers, router: dict, state: dict) -> None:
    """Realize ``router``'s ``snat-`` for :class:`~kumo.agent.dvr.DvrRouters`
    ``routers`` (see the module doc)."""
    rid, gw = router["id"], router["gateway"]
    idx = snapindex.of(state)
    ns = netns.ensure_netns(routers.where, snat_ns(rid))
    legs: dict[str, tuple[dict, list[str]]] = {}
    for p in router.get("snat_ports") or []:
        legs[names.SNAT_LEG + p["port_id"][:names.ID_LEN]] = (
            p, [_cidr(f) for f in p["fixed_ips"]])
    qg = names.router_gateway(gw["port_id"])
    legs[qg] = (gw, [_cidr(f) for f in gw["fixed_ips"]])
    # the SNAT first (it names qg- by name): a new subnet never leaves unNATed
    gw_ip = next((f["ip_address"] for f in gw["fixed_ips"] if _v4(f["ip_address"])),
                 None)
    internal = sorted({str(ipaddress.ip_network(f["cidr"]))
                       for p in router.get("interfaces", []) for f in p["fixed_ips"]
                       if _v4(f["cidr"])})
    chains = [nft.Chain("postrouting", "nat", "postrouting", 100)]
    rule_list = []
    if router.get("enable_snat", True) and gw_ip and internal:
        rule_list.append(nft.snat_out(qg, internal, gw_ip))
    routers._apply_nat(ns, snat_ns(rid), chains, rule_list)
    if links.get_sysctl(ns, "net.ipv4.ip_forward") != "1":
        links.set_ip_forward(ns, True)
    for lk in links.list_links(ns):
        if lk.name.startswith((names.SNAT_LEG, names.ROUTER_GATEWAY)) \
                and lk.name not in legs:
            links.delete_link(ns, lk.name)
    ha = l3_ha.is_ha(router)
    if not ha and routers.d.ha.known(rid):  # was DVR+HA: keepalived (and ha-) go
        routers.d.ha.remove(rid)
        for lk in links.list_links(ns):
            if lk.name.startswith(names.HA):
                links.delete_link(ns, lk.name)
    for leg, (port, cidrs) in legs.items():  # DVR+HA: keepalived's addresses
        routers.d._leg(ns, leg, port, idx.get("networks", port["network_id"]),
                       None if ha else cidrs)
    if ha:
        # the sg-/qg- addresses and the default route are keepalived's (the master
        # holds them, as kumo.agent.l3_ha does for an HA router's qrouter-); the
        # router's extra routes are the qrouter-'s business, not the snat-'s
        routers.d.ha.sync(ns, dict(router, routes=[]), legs, routers.d._leg)
    else:
        hop = next((f["gateway_ip"] for f in gw["fixed_ips"] if f.get("gateway_ip")
                    and _v4(f["gateway_ip"])), None)
        if hop and not any(r["dst"] == "0.0.0.0/0" and r["gateway"] == hop
                           for r in links.list_routes(ns, 4)):
            links.ensure_route(ns, "0.0.0.0/0", gateway=hop, dev=qg)
