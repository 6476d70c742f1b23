"""Admin pages: hypervisors, network agents (liveness, HA state), compute services,
projects, users with their role assignments, quotas. Only for tokens holding
``admin`` (403 otherwise); the APIs enforce their own policy on top."""
from __future__ import annotations

import asyncio

from kumo.dashboard.client import COMPUTE, IDENTITY, NETWORK
from kumo.dashboard.tables import cell, row, table
from kumo.dashboard.web import Ctx, page


def _page(ctx: Ctx, title: str, tables: list):
    return ctx.render("table.html", title=title, tables=tables, forms=[])


def register(dash) -> None:
    @page(dash, "/admin/hypervisors", admin=True)
    async def hypervisors(ctx: Ctx):
        hv = await ctx.api.get(COMPUTE + "/os-hypervisors/detail")
        rows = []
        for h in hv["hypervisors"]:
            rows.append(row([h.get("hypervisor_hostname"), h.get("hypervisor_type", ""),
                             cell(h.get("state"), badge=True), h.get("status"),
                             f"{h.get('vcpus_used', '?')} / {h.get('vcpus', '?')}",
                             f"{h.get('memory_mb_used', '?')} / {h.get('memory_mb', '?')}",
                             f"{h.get('local_gb_used', '?')} / {h.get('local_gb', '?')}",
                             h.get("running_vms", "")]))
        return _page(ctx, "Hypervisors", [table(
            "Hypervisors", ["Host", "Type", "State", "Status", "VCPUs used",
                            "RAM used (MiB)", "Disk used (GiB)", "Instances"], rows)])

    @page(dash, "/admin/agents", admin=True)
    async def agents(ctx: Ctx):
        agents = await ctx.api.get(NETWORK + "/agents")
        rows = []
        for a in sorted(agents["agents"], key=lambda a: (a["host"], a["agent_type"])):
            rows.append(row([a["agent_type"], a["host"], a.get("binary", ""),
                             cell("alive" if a.get("alive") else "down", badge=True),
                             "up" if a.get("admin_state_up") else "down",
                             a.get("ha_state") or "",
                             (a.get("heartbeat_timestamp") or "").replace("T", " ")[:19]]))
        return _page(ctx, "Network agents", [table(
            "Network agents", ["Type", "Host", "Binary", "Alive", "Admin state",
                               "HA state", "Last heartbeat"], rows)])

    @page(dash, "/admin/services", admin=True)
    async def services(ctx: Ctx):
        svc = await ctx.api.get(COMPUTE + "/os-services")
        rows = [row([s["binary"], s["host"], s.get("zone", ""),
                     cell(s.get("status"), badge=True), cell(s.get("state"), badge=True),
                     (s.get("updated_at") or "").replace("T", " ")[:19]])
                for s in svc["services"]]
        return _page(ctx, "Compute services", [table(
            "Compute services", ["Binary", "Host", "Zone", "Status", "State", "Updated"],
            rows)])

    @page(dash, "/admin/projects", admin=True)
    async def projects(ctx: Ctx):
        projects = await ctx.api.get(IDENTITY + "/projects")
        rows = [row([p["name"], p["id"], p.get("domain_id", ""),
                     "yes" if p.get("enabled") else "no", p.get("description") or ""])
                for p in sorted(projects["projects"], key=lambda p: p["name"])]
        return _page(ctx, "Projects", [table(
            "Projects", ["Name", "ID", "Domain", "Enabled", "Description"], rows)])

    @page(dash, "/admin/users", admin=True)
    async def users(ctx: Ctx):
        users, assignments = await asyncio.gather(
            ctx.api.get(IDENTITY + "/users"),
            ctx.api.get(IDENTITY + "/role_assignments", include_names="true"))
        user_rows = [row([u["name"], u["id"], u.get("domain_id", ""),
                          "yes" if u.get("enabled") else "no", u.get("email") or ""])
                     for u in sorted(users["users"], key=lambda u: u["name"])]
        rows = []
        for a in assignments["role_assignments"]:
            who = a.get("user") or a.get("group") or {}
            scope = a.get("scope") or {}
            if "project" in scope:
                where = f"project {scope['project'].get('name', scope['project']['id'])}"
            elif "domain" in scope:
                where = f"domain {scope['domain'].get('name', scope['domain']['id'])}"
            else:
                where = "system"
            rows.append(row([("user " if "user" in a else "group ") +
                             str(who.get("name", who.get("id", ""))),
                             a["role"].get("name", a["role"]["id"]), where]))
        rows.sort(key=lambda r: [c["text"] for c in r["cells"]])
        return _page(ctx, "Users", [
            table("Users", ["Name", "ID", "Domain", "Enabled", "Email"], user_rows),
            table("Role assignments", ["Actor", "Role", "Scope"], rows)])

    @page(dash, "/admin/quotas", admin=True)
    async def quotas(ctx: Ctx):
        projects = (await ctx.api.get(IDENTITY + "/projects"))["projects"]
        projects = sorted(projects, key=lambda p: p["name"])[:100]

        async def one(p):
            nova, neutron = await asyncio.gather(
                ctx.api.get(f"{COMPUTE}/os-quota-sets/{p['id']}"),
                ctx.api.get(f"{NETWORK}/quotas/{p['id']}"))
            n, q = nova["quota_set"], neutron["quota"]
            return row([p["name"], n.get("instances"), n.get("cores"), n.get("ram"),
                        n.get("key_pairs"), q.get("network"), q.get("subnet"),
                        q.get("port"), q.get("router"), q.get("floatingip"),
                        q.get("security_group")])
        rows = await asyncio.gather(*(one(p) for p in projects))
        return _page(ctx, "Quotas", [table(
            "Quotas", ["Project", "Instances", "VCPUs", "RAM (MiB)", "Key pairs",
                       "Networks", "Subnets", "Ports", "Routers", "Floating IPs",
                       "Security groups"], list(rows))])
