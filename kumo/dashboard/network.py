"""The project's networking pages: networks and subnets, ports, routers (interfaces,
gateway), floating IPs, security groups and rules."""
from __future__ import annotations

import asyncio

from kumo.dashboard import visible
from kumo.dashboard.client import NETWORK
from kumo.dashboard.tables import action, cell, field, form, row, table
from kumo.dashboard.web import Ctx, page, url


def _ips(port: dict) -> str:
    return ", ".join(ip["ip_address"] for ip in port.get("fixed_ips") or [])


def _list_page(ctx: Ctx, title: str, tables: list, forms: list | None = None, **kw):
    return ctx.render("table.html", title=title, tables=tables, forms=forms or [], **kw)


def register(dash) -> None:
    # -- networks and subnets -----------------------------------------------------
    @page(dash, "/project/networks", methods=("GET", "POST"))
    async def networks(ctx: Ctx):
        if ctx.request.method == "POST":
            f = ctx.form
            net = (await ctx.api.post(NETWORK + "/networks", {"network": {
                "name": f.get("name", ""),
                "admin_state_up": True}}))["network"]
            if f.get("cidr"):
                body = _subnet_body(net["id"], f)
                body["name"] = body["name"] or f"{net['name']}-subnet"
                try:
                    await ctx.api.post(NETWORK + "/subnets", {"subnet": body})
                except Exception:
                    await ctx.api.delete(f"{NETWORK}/networks/{net['id']}")
                    raise
            ctx.flash(f"Network {net['name']} created.")
            return ctx.redirect("/project/networks")
        nets = await visible.networks(ctx)
        by_net: dict[str, list[str]] = {}
        for s in await visible.subnets(ctx, {n["id"] for n in nets}):
            by_net.setdefault(s["network_id"], []).append(f"{s['name']} {s['cidr']}")
        rows = [row([cell(n["name"] or n["id"], url(f"/project/networks/{n['id']}")),
                     "; ".join(by_net.get(n["id"], [])),
                     "yes" if n.get("shared") else "no",
                     "yes" if n.get("router:external") else "no",
                     cell(n.get("status"), badge=True)],
                    [action("Delete", url(f"/project/networks/{n['id']}/delete"), True)]
                    if n.get("project_id") == ctx.session.project_id else [])
                for n in nets]
        return _list_page(
            ctx, "Networks",
            [table("Networks", ["Name", "Subnets", "Shared", "External", "Status"], rows)],
            [form("Create network", url("/project/networks"), [
                field("name", "Name", required=True),
                field("subnet_name", "Subnet name"),
                field("cidr", "Subnet CIDR (optional)", placeholder="10.0.0.0/24"),
                field("gateway_ip", "Gateway IP (empty: the first address)"),
                field("enable_dhcp", "DHCP", "checkbox", value="1")],
                form_id="create-network")])

    @page(dash, "/project/networks/{network_id}")
    async def network(ctx: Ctx):
        nid = ctx.request.path_params["network_id"]
        net, subnets, ports = await asyncio.gather(
            ctx.api.get(f"{NETWORK}/networks/{nid}"),
            ctx.api.get(NETWORK + "/subnets", network_id=nid),
            ctx.api.get(NETWORK + "/ports", network_id=nid))
        net = net["network"]
        subnet_rows = [row([s["name"], s["cidr"], s.get("gateway_ip") or "",
                            "yes" if s.get("enable_dhcp") else "no"],
                           [action("Delete", url(f"/project/subnets/{s['id']}/delete"),
                                   True)])
                       for s in subnets["subnets"]]
        port_rows = [_port_row(p) for p in ports["ports"]]
        return _list_page(
            ctx, f"Network {net['name']}",
            [table("Subnets", ["Name", "CIDR", "Gateway", "DHCP"], subnet_rows),
             table("Ports", ["Name", "Fixed IPs", "MAC", "Device owner", "Status"],
                   port_rows)],
            [form("Add subnet", url(f"/project/networks/{nid}/subnets"), [
                field("subnet_name", "Name"), field("cidr", "CIDR", required=True),
                field("gateway_ip", "Gateway IP"),
                field("enable_dhcp", "DHCP", "checkbox", value="1")], submit="Add")],
            details={"ID": net["id"], "Status": net.get("status"),
                     "MTU": net.get("mtu"), "Shared": net.get("shared"),
                     "External": net.get("router:external")})

    @page(dash, "/project/networks/{network_id}/subnets", methods=("POST",))
    async def add_subnet(ctx: Ctx):
        nid = ctx.request.path_params["network_id"]
        await ctx.api.post(NETWORK + "/subnets", {"subnet": _subnet_body(nid, ctx.form)})
        ctx.flash("Subnet created.")
        return ctx.redirect(f"/project/networks/{nid}")

    @page(dash, "/project/networks/{network_id}/delete", methods=("POST",))
    async def delete_network(ctx: Ctx):
        await ctx.api.delete(f"{NETWORK}/networks/{ctx.request.path_params['network_id']}")
        ctx.flash("Network deleted.")
        return ctx.redirect("/project/networks")

    @page(dash, "/project/subnets/{subnet_id}/delete", methods=("POST",))
    async def delete_subnet(ctx: Ctx):
        await ctx.api.delete(f"{NETWORK}/subnets/{ctx.request.path_params['subnet_id']}")
        ctx.flash("Subnet deleted.")
        return ctx.redirect("/project/networks")

    # -- ports ----------------------------------------------------------------------
    @page(dash, "/project/ports", methods=("GET", "POST"))
    async def ports(ctx: Ctx):
        if ctx.request.method == "POST":
            body = {"network_id": ctx.form.get("network_id", ""),
                    "name": ctx.form.get("name", "")}
            if ctx.form.get("ip_address"):
                body["fixed_ips"] = [{"ip_address": ctx.form["ip_address"]}]
            made = (await ctx.api.post(NETWORK + "/ports", {"port": body}))["port"]
            ctx.flash(f"Port {made['name'] or made['id']} created ({_ips(made)}).")
            return ctx.redirect("/project/ports")
        ports, nets = await asyncio.gather(visible.ports(ctx), visible.networks(ctx))
        rows = [_port_row(p, [action("Delete", url(f"/project/ports/{p['id']}/delete"),
                                     True)] if not p.get("device_owner") else [])
                for p in ports]
        return _list_page(
            ctx, "Ports",
            [table("Ports", ["Name", "Fixed IPs", "MAC", "Device owner", "Status"], rows)],
            [form("Create port", url("/project/ports"), [
                field("name", "Name"),
                field("network_id", "Network", "select", options=sorted(
                    ((n["id"], n["name"]) for n in nets),
                    key=lambda o: o[1])),
                field("ip_address", "Fixed IP (optional)")], form_id="create-port")])

    @page(dash, "/project/ports/{port_id}/delete", methods=("POST",))
    async def delete_port(ctx: Ctx):
        await ctx.api.delete(f"{NETWORK}/ports/{ctx.request.path_params['port_id']}")
        ctx.flash("Port deleted.")
        return ctx.redirect("/project/ports")

    # -- routers --------------------------------------------------------------------
    @page(dash, "/project/routers", methods=("GET", "POST"))
    async def routers(ctx: Ctx):
        if ctx.request.method == "POST":
            body = {"name": ctx.form.get("name", "")}
            if ctx.form.get("external_network"):
                body["external_gateway_info"] = {
                    "network_id": ctx.form["external_network"]}
            r = (await ctx.api.post(NETWORK + "/routers", {"router": body}))["router"]
            ctx.flash(f"Router {r['name']} created.")
            return ctx.redirect(f"/project/routers/{r['id']}")
        routers, externals = await asyncio.gather(
            visible.routers(ctx),
            ctx.api.get(NETWORK + "/networks", **{"router:external": "true"}))
        ext_names = {n["id"]: n["name"] for n in externals["networks"]}
        rows = [row([cell(r["name"] or r["id"], url(f"/project/routers/{r['id']}")),
                     ext_names.get((r.get("external_gateway_info") or {}).get(
                         "network_id"), ""),
                     cell(r.get("status"), badge=True)],
                    [action("Delete", url(f"/project/routers/{r['id']}/delete"), True)])
                for r in routers]
        return _list_page(
            ctx, "Routers",
            [table("Routers", ["Name", "External network", "Status"], rows)],
            [form("Create router", url("/project/routers"), [
                field("name", "Name", required=True),
                field("external_network", "External network", "select",
                      options=[("", "(none)")] + sorted(
                          (n["id"], n["name"]) for n in externals["networks"]))],
                form_id="create-router")])

    @page(dash, "/project/routers/{router_id}")
    async def router(ctx: Ctx):
        rid = ctx.request.path_params["router_id"]
        r, ports, subnets, externals = await asyncio.gather(
            ctx.api.get(f"{NETWORK}/routers/{rid}"),
            ctx.api.get(NETWORK + "/ports", device_id=rid),
            ctx.api.get(NETWORK + "/subnets"),
            ctx.api.get(NETWORK + "/networks", **{"router:external": "true"}))
        r = r["router"]
        subnet_names = {s["id"]: f"{s['name']} ({s['cidr']})" if s["name"] else s["cidr"]
                        for s in subnets["subnets"]}
        rows = []
        attached = set()
        for p in ports["ports"]:
            subnet_ids = [ip["subnet_id"] for ip in p.get("fixed_ips") or []]
            attached.update(subnet_ids)
            gateway = p.get("device_owner") == "network:router_gateway"
            rows.append(row([
                "gateway" if gateway else "interface", _ips(p),
                ", ".join(subnet_names.get(s, s) for s in subnet_ids),
                cell(p.get("status"), badge=True)],
                [] if gateway else [action(
                    "Remove", url(f"/project/routers/{rid}/interfaces/remove"), True,
                    port_id=p["id"])]))
        gw = r.get("external_gateway_info") or {}
        tables = [table("Interfaces", ["Type", "Fixed IPs", "Subnets", "Status"], rows)]
        if ctx.session.is_admin:  # where it runs (and, for HA routers, each one's state)
            hosting = await ctx.api.get(f"{NETWORK}/routers/{rid}/l3-agents")
            tables.append(table("L3 agents", ["Host", "Alive", "HA state"], [
                row([a["host"], cell("alive" if a.get("alive") else "down", badge=True),
                     a.get("ha_state") or ""]) for a in hosting.get("agents", [])]))
        ext_options = [("", "(none: clear the gateway)")] + sorted(
            (n["id"], n["name"]) for n in externals["networks"])
        return _list_page(
            ctx, f"Router {r['name']}", tables,
            [form("Add interface", url(f"/project/routers/{rid}/interfaces"), [
                field("subnet_id", "Subnet", "select", options=sorted(
                    ((s, n) for s, n in subnet_names.items() if s not in attached),
                    key=lambda o: o[1]))], submit="Add interface",
                form_id="add-interface"),
             form("Gateway", url(f"/project/routers/{rid}/gateway"), [
                 field("external_network", "External network", "select",
                       value=gw.get("network_id", ""), options=ext_options)],
                  submit="Set gateway")],
            details={"ID": r["id"], "Status": r.get("status"),
                     "External network": gw.get("network_id", "")})

    @page(dash, "/project/routers/{router_id}/interfaces", methods=("POST",))
    async def add_interface(ctx: Ctx):
        rid = ctx.request.path_params["router_id"]
        await ctx.api.put(f"{NETWORK}/routers/{rid}/add_router_interface",
                          {"subnet_id": ctx.form.get("subnet_id", "")})
        ctx.flash("Interface added.")
        return ctx.redirect(f"/project/routers/{rid}")

    @page(dash, "/project/routers/{router_id}/interfaces/remove", methods=("POST",))
    async def remove_interface(ctx: Ctx):
        rid = ctx.request.path_params["router_id"]
        await ctx.api.put(f"{NETWORK}/routers/{rid}/remove_router_interface",
                          {"port_id": ctx.form.get("port_id", "")})
        ctx.flash("Interface removed.")
        return ctx.redirect(f"/project/routers/{rid}")

    @page(dash, "/project/routers/{router_id}/gateway", methods=("POST",))
    async def gateway(ctx: Ctx):
        rid = ctx.request.path_params["router_id"]
        ext = ctx.form.get("external_network")
        await ctx.api.put(f"{NETWORK}/routers/{rid}", {"router": {
            "external_gateway_info": {"network_id": ext} if ext else {}}})
        ctx.flash("Gateway set." if ext else "Gateway cleared.")
        return ctx.redirect(f"/project/routers/{rid}")

    @page(dash, "/project/routers/{router_id}/delete", methods=("POST",))
    async def delete_router(ctx: Ctx):
        await ctx.api.delete(f"{NETWORK}/routers/{ctx.request.path_params['router_id']}")
        ctx.flash("Router deleted.")
        return ctx.redirect("/project/routers")

    # -- floating IPs ---------------------------------------------------------------
    @page(dash, "/project/floating_ips", methods=("GET", "POST"))
    async def floating_ips(ctx: Ctx):
        if ctx.request.method == "POST":
            made = await ctx.api.post(NETWORK + "/floatingips", {"floatingip": {
                "floating_network_id": ctx.form.get("floating_network_id", "")}})
            ctx.flash(f"Allocated {made['floatingip']['floating_ip_address']}.")
            return ctx.redirect("/project/floating_ips")
        fips, externals = await asyncio.gather(
            ctx.api.get(NETWORK + "/floatingips", project_id=ctx.session.project_id),
            ctx.api.get(NETWORK + "/networks", **{"router:external": "true"}))
        rows = []
        for f in fips["floatingips"]:
            acts = [action("Disassociate",
                           url(f"/project/floating_ips/{f['id']}/disassociate"))] \
                if f.get("port_id") else []
            acts.append(action("Release", url(f"/project/floating_ips/{f['id']}/release"),
                               True))
            rows.append(row([f["floating_ip_address"], f.get("fixed_ip_address") or "",
                             cell(f.get("status"), badge=True)], acts))
        return _list_page(
            ctx, "Floating IPs",
            [table("Floating IPs", ["Address", "Mapped fixed IP", "Status"], rows)],
            [form("Allocate floating IP", url("/project/floating_ips"), [
                field("floating_network_id", "Pool", "select", options=sorted(
                    (n["id"], n["name"]) for n in externals["networks"]))],
                submit="Allocate")])

    @page(dash, "/project/floating_ips/{fip_id}/disassociate", methods=("POST",))
    async def disassociate(ctx: Ctx):
        await ctx.api.put(f"{NETWORK}/floatingips/{ctx.request.path_params['fip_id']}",
                          {"floatingip": {"port_id": None}})
        ctx.flash("Floating IP disassociated.")
        return ctx.redirect("/project/floating_ips")

    @page(dash, "/project/floating_ips/{fip_id}/release", methods=("POST",))
    async def release(ctx: Ctx):
        await ctx.api.delete(f"{NETWORK}/floatingips/{ctx.request.path_params['fip_id']}")
        ctx.flash("Floating IP released.")
        return ctx.redirect("/project/floating_ips")

    # -- security groups --------------------------------------------------------------
    @page(dash, "/project/security_groups", methods=("GET", "POST"))
    async def security_groups(ctx: Ctx):
        if ctx.request.method == "POST":
            g = (await ctx.api.post(NETWORK + "/security-groups", {"security_group": {
                "name": ctx.form.get("name", ""),
                "description": ctx.form.get("description", "")}}))["security_group"]
            ctx.flash(f"Security group {g['name']} created.")
            return ctx.redirect(f"/project/security_groups/{g['id']}")
        groups = await ctx.api.get(NETWORK + "/security-groups",
                                   project_id=ctx.session.project_id)
        rows = [row([cell(g["name"], url(f"/project/security_groups/{g['id']}")),
                     g.get("description", ""), len(g.get("security_group_rules") or [])],
                    [action("Delete", url(f"/project/security_groups/{g['id']}/delete"),
                            True)])
                for g in sorted(groups["security_groups"], key=lambda g: g["name"])]
        return _list_page(
            ctx, "Security groups",
            [table("Security groups", ["Name", "Description", "Rules"], rows)],
            [form("Create security group", url("/project/security_groups"), [
                field("name", "Name", required=True), field("description", "Description")])])

    @page(dash, "/project/security_groups/{group_id}", methods=("GET", "POST"))
    async def security_group(ctx: Ctx):
        gid = ctx.request.path_params["group_id"]
        if ctx.request.method == "POST":
            f = ctx.form
            rule = {"security_group_id": gid, "direction": f.get("direction", "ingress"),
                    "ethertype": f.get("ethertype", "IPv4")}
            if f.get("protocol"):
                rule["protocol"] = f["protocol"]
            for key in ("port_range_min", "port_range_max"):
                if f.get(key):
                    rule[key] = int(f[key]) if f[key].isdigit() else f[key]
            if f.get("remote_ip_prefix"):
                rule["remote_ip_prefix"] = f["remote_ip_prefix"]
            await ctx.api.post(NETWORK + "/security-group-rules",
                               {"security_group_rule": rule})
            ctx.flash("Rule added.")
            return ctx.redirect(f"/project/security_groups/{gid}")
        g = (await ctx.api.get(f"{NETWORK}/security-groups/{gid}"))["security_group"]
        rows = [row([r["direction"], r["ethertype"], r.get("protocol") or "any",
                     _port_range(r), r.get("remote_ip_prefix") or
                     (f"group {r['remote_group_id']}" if r.get("remote_group_id") else "any")],
                    [action("Delete", url(f"/project/security_group_rules/{r['id']}/delete"),
                            True, group_id=gid)])
                for r in g.get("security_group_rules") or []]
        return _list_page(
            ctx, f"Security group {g['name']}",
            [table("Rules", ["Direction", "Ether type", "Protocol", "Ports", "Remote"],
                   rows)],
            [form("Add rule", url(f"/project/security_groups/{gid}"), [
                field("direction", "Direction", "select",
                      options=[("ingress", "ingress"), ("egress", "egress")]),
                field("ethertype", "Ether type", "select",
                      options=[("IPv4", "IPv4"), ("IPv6", "IPv6")]),
                field("protocol", "Protocol", "select", options=[
                    ("", "any"), ("tcp", "tcp"), ("udp", "udp"), ("icmp", "icmp")]),
                field("port_range_min", "Port from"), field("port_range_max", "Port to"),
                field("remote_ip_prefix", "Remote CIDR", placeholder="0.0.0.0/0")],
                submit="Add rule")])

    @page(dash, "/project/security_group_rules/{rule_id}/delete", methods=("POST",))
    async def delete_rule(ctx: Ctx):
        await ctx.api.delete(
            f"{NETWORK}/security-group-rules/{ctx.request.path_params['rule_id']}")
        ctx.flash("Rule deleted.")
        return ctx.redirect(f"/project/security_groups/{ctx.form.get('group_id', '')}"
                            if ctx.form.get("group_id") else "/project/security_groups")

    @page(dash, "/project/security_groups/{group_id}/delete", methods=("POST",))
    async def delete_group(ctx: Ctx):
        await ctx.api.delete(
            f"{NETWORK}/security-groups/{ctx.request.path_params['group_id']}")
        ctx.flash("Security group deleted.")
        return ctx.redirect("/project/security_groups")


def _subnet_body(network_id: str, f) -> dict:
    body = {"network_id": network_id, "ip_version": 6 if ":" in f.get("cidr", "") else 4,
            "cidr": f.get("cidr", ""), "name": f.get("subnet_name", ""),
            "enable_dhcp": bool(f.get("enable_dhcp"))}
    if f.get("gateway_ip"):
        body["gateway_ip"] = f["gateway_ip"]
    return body


def _port_range(rule: dict) -> str:
    lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
    if lo is None:
        return "any"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _port_row(p: dict, actions: list | None = None) -> dict:
    return row([p.get("name") or p["id"][:8], _ips(p), p.get("mac_address", ""),
                p.get("device_owner") or "", cell(p.get("status"), badge=True)], actions)
