"""The network topology: external networks, routers, networks and servers with their
addresses, as JSON for the page's SVG graph (``static/dashboard.js``), which polls it."""
from __future__ import annotations

import asyncio

from kumo.dashboard import visible
from kumo.dashboard.client import COMPUTE
from kumo.dashboard.web import Ctx, page, url


async def topology(ctx: Ctx) -> dict:
    """``{"networks": [...], "routers": [...], "servers": [...]}``: each node with its
    id, name, status and ``href`` (its details page); links are by network id."""
    networks, routers, ports, servers = await asyncio.gather(
        visible.networks(ctx), visible.routers(ctx), visible.ports(ctx),
        ctx.api.get(COMPUTE + "/servers/detail"))
    cidrs: dict[str, list[str]] = {}
    for s in await visible.subnets(ctx, {n["id"] for n in networks}):
        cidrs.setdefault(s["network_id"], []).append(s["cidr"])
    interfaces: dict[str, set[str]] = {}
    server_nets: dict[str, dict[str, list[str]]] = {}
    for p in ports:
        owner = p.get("device_owner") or ""
        ips = [ip["ip_address"] for ip in p.get("fixed_ips") or []]
        if owner.startswith("network:router_interface"):
            interfaces.setdefault(p["device_id"], set()).add(p["network_id"])
        elif owner.startswith("compute:"):
            server_nets.setdefault(p["device_id"], {}).setdefault(
                p["network_id"], []).extend(ips)
    out_nets = [{"id": n["id"], "name": n["name"], "status": n.get("status"),
                 "external": bool(n.get("router:external")),
                 "shared": bool(n.get("shared")),
                 "cidrs": sorted(cidrs.get(n["id"], [])),
                 "href": url(f"/project/networks/{n['id']}")}
                for n in networks]
    out_routers = []
    for r in sorted(routers, key=lambda r: (r["name"], r["id"])):
        gw = r.get("external_gateway_info") or {}
        out_routers.append({
            "id": r["id"], "name": r["name"], "status": r.get("status"),
            "gateway": gw.get("network_id"),
            "gateway_ips": [ip["ip_address"] for ip in gw.get("external_fixed_ips") or []],
            "networks": sorted(interfaces.get(r["id"], ())),
            "href": url(f"/project/routers/{r['id']}")})
    out_servers = []
    for s in sorted(servers["servers"], key=lambda s: (s["name"], s["id"])):
        floating = [a["addr"] for addrs in (s.get("addresses") or {}).values()
                    for a in addrs if a.get("OS-EXT-IPS:type") == "floating"]
        out_servers.append({
            "id": s["id"], "name": s["name"], "status": s["status"],
            "networks": {k: v for k, v in sorted(server_nets.get(s["id"], {}).items())},
            "floating": floating,
            "href": url(f"/project/instances/{s['id']}")})
    return {"networks": out_nets, "routers": out_routers, "servers": out_servers}


def register(dash) -> None:
    @page(dash, "/project/topology")
    async def topology_page(ctx: Ctx):
        return ctx.render("topology.html", title="Network topology")

    @page(dash, "/project/topology.json")
    async def topology_json(ctx: Ctx):
        return ctx.json(await topology(ctx))
