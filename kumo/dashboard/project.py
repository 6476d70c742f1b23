"""The project's overview (quota usage) and instances: list, launch, details,
console log, power actions, delete, floating IP association."""
from __future__ import annotations

import asyncio
import base64

from kumo.dashboard import visible
from kumo.dashboard.client import COMPUTE, NETWORK, ApiError
from kumo.dashboard.web import Ctx, page

#: Server states that change on their own: the list keeps refreshing while any shows.
TRANSITIONAL = {"BUILD", "REBOOT", "HARD_REBOOT", "REBUILD", "RESIZE", "MIGRATING",
                "VERIFY_RESIZE", "REVERT_RESIZE"}
ACTIONS = {"start": {"os-start": None}, "stop": {"os-stop": None},
           "reboot": {"reboot": {"type": "SOFT"}}}


def _bar(label: str, used, limit) -> dict:
    used = used or 0
    unlimited = limit is None or limit < 0
    pct = 0 if unlimited or not limit else min(100, round(100 * used / limit))
    return {"label": label, "used": used, "limit": "unlimited" if unlimited else limit,
            "pct": pct, "level": "high" if pct >= 90 else "mid" if pct >= 70 else "low"}


async def server_rows(ctx: Ctx) -> tuple[list[dict], bool]:
    """The project's servers, newest first, ready for the template; and whether any is
    in a transitional state (the page keeps polling then)."""
    servers, flavors = await asyncio.gather(
        ctx.api.get(COMPUTE + "/servers/detail"),
        ctx.api.get(COMPUTE + "/flavors/detail"))
    flavor_names = {f["id"]: f["name"] for f in flavors["flavors"]}
    rows = []
    busy = False
    for s in servers["servers"]:
        addresses = [(net, a["addr"], a.get("OS-EXT-IPS:type", "fixed"))
                     for net, addrs in sorted((s.get("addresses") or {}).items())
                     for a in addrs]
        flavor = s.get("flavor") or {}
        task = s.get("OS-EXT-STS:task_state")
        busy = busy or s["status"] in TRANSITIONAL or bool(task)
        rows.append({"id": s["id"], "name": s["name"], "status": s["status"],
                     "task": task, "power": s.get("OS-EXT-STS:power_state"),
                     "addresses": addresses, "key_name": s.get("key_name"),
                     "flavor": flavor.get("original_name") or flavor_names.get(
                         flavor.get("id"), flavor.get("id", "")),
                     "created": s.get("created", "")})
    rows.sort(key=lambda r: r["created"], reverse=True)
    return rows, busy


def register(dash) -> None:
    @page(dash, "/project/")
    async def overview(ctx: Ctx):
        pid = ctx.session.project_id
        limits, net = await asyncio.gather(
            ctx.api.get(COMPUTE + "/limits"),
            ctx.api.get(f"{NETWORK}/quotas/{pid}/details.json"))
        a = limits["limits"]["absolute"]
        q = net.get("quota", {})
        bars = [_bar("Instances", a.get("totalInstancesUsed"), a.get("maxTotalInstances")),
                _bar("VCPUs", a.get("totalCoresUsed"), a.get("maxTotalCores")),
                _bar("RAM (MiB)", a.get("totalRAMUsed"), a.get("maxTotalRAMSize")),
                _bar("Key pairs", None, a.get("maxTotalKeypairs"))]
        for key, label in (("network", "Networks"), ("subnet", "Subnets"),
                           ("port", "Ports"), ("router", "Routers"),
                           ("floatingip", "Floating IPs"),
                           ("security_group", "Security groups"),
                           ("security_group_rule", "Security group rules")):
            if key in q:
                bars.append(_bar(label, q[key].get("used"), q[key].get("limit")))
        return ctx.render("overview.html", title="Overview", bars=bars)

    @page(dash, "/project/instances")
    async def instances(ctx: Ctx):
        rows, busy = await server_rows(ctx)
        if ctx.request.query_params.get("fragment"):
            return ctx.render("instances_rows.html", fragment=True, rows=rows, busy=busy)
        return ctx.render("instances.html", title="Instances", rows=rows, busy=busy)

    @page(dash, "/project/instances/launch", methods=("GET", "POST"))
    async def launch(ctx: Ctx):
        if ctx.request.method == "POST":
            f = ctx.form
            try:
                count = max(1, min(100, int(f.get("count") or 1)))
            except ValueError:
                count = 1
            server = {"name": f.get("name", ""), "imageRef": f.get("image", ""),
                      "flavorRef": f.get("flavor", ""), "min_count": count,
                      "max_count": count}
            nets = [n for n in f.getlist("networks") if n]
            server["networks"] = [{"uuid": n} for n in nets] if nets else "auto"
            if f.get("key_name"):
                server["key_name"] = f["key_name"]
            groups = [g for g in f.getlist("security_groups") if g]
            if groups:
                server["security_groups"] = [{"name": g} for g in groups]
            if f.get("user_data"):
                server["user_data"] = base64.b64encode(
                    f["user_data"].encode()).decode()
            await ctx.api.post(COMPUTE + "/servers", {"server": server})
            ctx.flash(f"Launching {count} instance(s) named {server['name']}.")
            return ctx.redirect("/project/instances")
        images, flavors, networks, keys, groups = await asyncio.gather(
            visible.images(ctx, status="active"),
            ctx.api.get(COMPUTE + "/flavors/detail"),
            visible.networks(ctx),
            ctx.api.get(COMPUTE + "/os-keypairs"),
            ctx.api.get(NETWORK + "/security-groups",
                        project_id=ctx.session.project_id))
        return ctx.render(
            "launch.html", title="Launch instance",
            images=sorted(images, key=lambda i: i.get("name") or ""),
            flavors=sorted(flavors["flavors"], key=lambda f: (f["ram"], f["name"])),
            networks=networks,
            keys=[k["keypair"]["name"] for k in keys["keypairs"]],
            groups=sorted({g["name"] for g in groups["security_groups"]}))

    @page(dash, "/project/instances/{server_id}")
    async def instance(ctx: Ctx):
        sid = ctx.request.path_params["server_id"]
        server, ports = await asyncio.gather(
            ctx.api.get(f"{COMPUTE}/servers/{sid}"),
            ctx.api.get(NETWORK + "/ports", device_id=sid))
        return ctx.render("instance.html", title=server["server"]["name"],
                          server=server["server"], ports=ports["ports"])

    @page(dash, "/project/instances/{server_id}/console")
    async def console(ctx: Ctx):
        sid = ctx.request.path_params["server_id"]
        server = (await ctx.api.get(f"{COMPUTE}/servers/{sid}"))["server"]
        try:
            out = await ctx.api.post(f"{COMPUTE}/servers/{sid}/action",
                                     {"os-getConsoleOutput": {"length": 500}})
            text = out.get("output") or ""
        except ApiError as err:
            if err.status in (401, 403):
                raise
            text = f"(no console log: {err.message})"
        if ctx.request.query_params.get("fragment"):
            return ctx.render("console_text.html", fragment=True, text=text)
        return ctx.render("console.html", title=f"Console log: {server['name']}",
                          server=server, text=text)

    @page(dash, "/project/instances/{server_id}/action", methods=("POST",))
    async def action(ctx: Ctx):
        sid = ctx.request.path_params["server_id"]
        what = ctx.form.get("action", "")
        if what == "delete":
            await ctx.api.delete(f"{COMPUTE}/servers/{sid}")
            ctx.flash("Deleting the instance.")
        elif what in ACTIONS:
            await ctx.api.post(f"{COMPUTE}/servers/{sid}/action", ACTIONS[what])
            ctx.flash(f"Requested {what}.")
        else:
            ctx.flash("Unknown action.", "error")
        return ctx.redirect("/project/instances")

    @page(dash, "/project/instances/{server_id}/floating_ip", methods=("GET", "POST"))
    async def floating_ip(ctx: Ctx):
        sid = ctx.request.path_params["server_id"]
        if ctx.request.method == "POST":
            choice = ctx.form.get("floating_ip", "")
            port_id = ctx.form.get("port_id", "")
            if choice.startswith("new:"):
                made = await ctx.api.post(NETWORK + "/floatingips", {"floatingip": {
                    "floating_network_id": choice[4:], "port_id": port_id}})
                address = made["floatingip"]["floating_ip_address"]
            else:
                made = await ctx.api.put(f"{NETWORK}/floatingips/{choice}",
                                         {"floatingip": {"port_id": port_id}})
                address = made["floatingip"]["floating_ip_address"]
            ctx.flash(f"Floating IP {address} associated.")
            return ctx.redirect(f"/project/instances/{sid}")
        server, ports, fips, externals = await asyncio.gather(
            ctx.api.get(f"{COMPUTE}/servers/{sid}"),
            ctx.api.get(NETWORK + "/ports", device_id=sid),
            ctx.api.get(NETWORK + "/floatingips", project_id=ctx.session.project_id),
            ctx.api.get(NETWORK + "/networks", **{"router:external": "true"}))
        free = [f for f in fips["floatingips"] if not f.get("port_id")]
        return ctx.render("floating_ip.html", title="Associate floating IP",
                          server=server["server"], ports=ports["ports"], free=free,
                          externals=externals["networks"])
