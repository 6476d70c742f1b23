"""What the project's pages show, as Horizon's project panels do: the current project's
own resources plus the shared and external networks and the public images. (An admin's
token lists every project's rows; the project pages still show only this project.)"""
from __future__ import annotations

import asyncio

from kumo.dashboard.client import IMAGE, NETWORK


async def networks(ctx, **filters) -> list[dict]:
    """The project's networks, the shared ones and the external ones, once each."""
    pid = ctx.session.project_id
    parts = await asyncio.gather(*(
        ctx.api.get(NETWORK + "/networks", **{**filters, **extra})
        for extra in ({"project_id": pid}, {"shared": "true"},
                      {"router:external": "true"})))
    seen: dict[str, dict] = {}
    for part in parts:
        for n in part["networks"]:
            seen.setdefault(n["id"], n)
    return sorted(seen.values(), key=lambda n: (n["name"], n["id"]))


async def subnets(ctx, network_ids: set[str]) -> list[dict]:
    return [s for s in (await ctx.api.get(NETWORK + "/subnets"))["subnets"]
            if s["network_id"] in network_ids]


async def routers(ctx) -> list[dict]:
    return (await ctx.api.get(NETWORK + "/routers",
                              project_id=ctx.session.project_id))["routers"]


async def ports(ctx, **filters) -> list[dict]:
    return (await ctx.api.get(NETWORK + "/ports", project_id=ctx.session.project_id,
                              **filters))["ports"]


async def images(ctx, **filters) -> list[dict]:
    """Public and community images, the project's own, and those shared with it (Glance
    lists a member only those; an admin, every project's: then only its own)."""
    pid = ctx.session.project_id
    listed = (await ctx.api.get(IMAGE + "/images", **filters))["images"]
    return [i for i in listed
            if i.get("owner") == pid or i.get("visibility") in ("public", "community")
            or (i.get("visibility") == "shared" and not ctx.session.is_admin)]
