"""Images (create, upload with progress, delete), key pairs and volumes (when the
cloud's catalog has block storage)."""
from __future__ import annotations

import asyncio
from urllib.parse import quote

from kumo.dashboard import visible
from kumo.dashboard.client import COMPUTE, IDENTITY, IMAGE
from kumo.dashboard.tables import action, cell, field, form, row, table
from kumo.dashboard.web import Ctx, page, url

DISK_FORMATS = ["raw", "qcow2", "iso", "vmdk", "vdi", "vhd", "vhdx", "ami", "ari", "aki"]
CONTAINER_FORMATS = ["bare", "ovf", "ova", "docker", "ami", "ari", "aki", "compressed"]


def _size(n) -> str:
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def register(dash) -> None:
    register_volumes(dash)

    @page(dash, "/project/images", methods=("GET", "POST"))
    async def images(ctx: Ctx):
        if ctx.request.method == "POST":  # from the upload form's script: JSON back
            image = await ctx.api.post(IMAGE + "/images", {
                "name": ctx.form.get("name", ""),
                "disk_format": ctx.form.get("disk_format", "raw"),
                "container_format": ctx.form.get("container_format", "bare"),
                "visibility": "private"})
            return ctx.json({"id": image["id"],
                             "upload": url(f"/project/images/{image['id']}/data")},
                            status=201)
        images = await visible.images(ctx)
        rows = [row([cell(i.get("name") or i["id"]), cell(i["status"], badge=True),
                     i.get("visibility", ""), i.get("disk_format") or "",
                     _size(i.get("size"))],
                    [action("Delete", url(f"/project/images/{i['id']}/delete"), True)]
                    if i.get("owner") == ctx.session.project_id else [])
                for i in sorted(images, key=lambda i: i.get("name") or "")]
        return ctx.render("images.html", title="Images", tables=[table(
            "Images", ["Name", "Status", "Visibility", "Disk format", "Size"], rows)],
            disk_formats=DISK_FORMATS, container_formats=CONTAINER_FORMATS)

    @page(dash, "/project/images/{image_id}/data", methods=("PUT",), form=False)
    async def upload(ctx: Ctx):
        """The file, streamed through to Glance as the browser sends it (the browser's
        upload progress is the progress bar)."""
        image_id = ctx.request.path_params["image_id"]
        await ctx.api.request("PUT", f"{IMAGE}/images/{image_id}/file",
                              content=ctx.request.stream(),
                              headers={"content-type": "application/octet-stream"})
        image = await ctx.api.get(f"{IMAGE}/images/{image_id}")
        ctx.flash(f"Image {image.get('name')} uploaded ({_size(image.get('size'))}).")
        return ctx.json({"status": image["status"], "size": image.get("size")})

    @page(dash, "/project/images/{image_id}/delete", methods=("POST",))
    async def delete_image(ctx: Ctx):
        await ctx.api.delete(f"{IMAGE}/images/{ctx.request.path_params['image_id']}")
        ctx.flash("Image deleted.")
        return ctx.redirect("/project/images")

    @page(dash, "/project/key_pairs", methods=("GET", "POST"))
    async def key_pairs(ctx: Ctx):
        private_key = None
        if ctx.request.method == "POST":
            body = {"name": ctx.form.get("name", "")}
            if ctx.form.get("public_key", "").strip():
                body["public_key"] = ctx.form["public_key"].strip()
            made = (await ctx.api.post(COMPUTE + "/os-keypairs", {"keypair": body}))[
                "keypair"]
            private_key = made.get("private_key")
            if not private_key:
                ctx.flash(f"Key pair {made['name']} imported.")
                return ctx.redirect("/project/key_pairs")
            ctx.flash(f"Key pair {made['name']} created: save its private key now, "
                      "it is shown only once.")
        keys = await ctx.api.get(COMPUTE + "/os-keypairs")
        rows = [row([k["keypair"]["name"], k["keypair"].get("fingerprint", ""),
                     k["keypair"].get("type", "ssh")],
                    [action("Delete", url("/project/key_pairs/" + quote(
                        k["keypair"]["name"], safe="") + "/delete"), True)])
                for k in keys["keypairs"]]
        return ctx.render(
            "table.html", title="Key pairs", private_key=private_key,
            tables=[table("Key pairs", ["Name", "Fingerprint", "Type"], rows)],
            forms=[form("Create or import key pair", url("/project/key_pairs"), [
                field("name", "Name", required=True),
                field("public_key", "Public key (empty: generate one)", "textarea")])])

    @page(dash, "/project/key_pairs/{name}/delete", methods=("POST",))
    async def delete_key(ctx: Ctx):
        await ctx.api.delete(
            f"{COMPUTE}/os-keypairs/{quote(ctx.request.path_params['name'], safe='')}")
        ctx.flash("Key pair deleted.")
        return ctx.redirect("/project/key_pairs")


#: Service types block storage is registered under in catalogs (newest first).
VOLUME_TYPES = ("block-storage", "volumev3", "volume")


async def volume_root(ctx: Ctx) -> str | None:
    """The block-storage API's path under this app, from the token's catalog (the
    public endpoint, ``$(project_id)s`` filled in), or None when the cloud has none."""
    from urllib.parse import urlsplit

    catalog = (await ctx.api.get(IDENTITY + "/auth/catalog")).get("catalog", [])
    for kind in VOLUME_TYPES:
        for service in catalog:
            if service.get("type") != kind:
                continue
            for ep in service.get("endpoints", []):
                if ep.get("interface") == "public":
                    path = urlsplit(ep["url"]).path.rstrip("/")
                    pid = ctx.session.project_id or ""
                    for mark in ("$(project_id)s", "%(project_id)s", "$(tenant_id)s",
                                 "%(tenant_id)s"):
                        path = path.replace(mark, pid)
                    if "/v3" not in path:
                        path += f"/v3/{pid}"
                    return path
    return None


def register_volumes(dash) -> None:
    @page(dash, "/project/volumes", methods=("GET", "POST"))
    async def volumes(ctx: Ctx):
        root = await volume_root(ctx)
        if root is None:
            return ctx.render("table.html", title="Volumes", tables=[], forms=[],
                              notice="Block storage is not available on this cloud.")
        if ctx.request.method == "POST":
            try:
                size = int(ctx.form.get("size") or 1)
            except ValueError:
                size = 0
            made = (await ctx.api.post(root + "/volumes", {"volume": {
                "name": ctx.form.get("name", ""), "size": size}}))["volume"]
            ctx.flash(f"Creating volume {made.get('name')}.")
            return ctx.redirect("/project/volumes")
        vols, servers = await asyncio.gather(ctx.api.get(root + "/volumes/detail"),
                                             ctx.api.get(COMPUTE + "/servers"))
        names = {s["id"]: s["name"] for s in servers["servers"]}
        rows = []
        for v in vols["volumes"]:
            attached = [a for a in v.get("attachments") or []]
            acts = [action("Detach", url(f"/project/volumes/{v['id']}/detach"),
                           server_id=a["server_id"]) for a in attached]
            acts.append(action("Delete", url(f"/project/volumes/{v['id']}/delete"), True))
            rows.append(row([v.get("name") or v["id"], f"{v.get('size')} GiB",
                             cell(v.get("status"), badge=True),
                             ", ".join(f"{names.get(a['server_id'], a['server_id'])} on "
                                       f"{a.get('device', '')}" for a in attached)], acts))
        server_options = sorted(((s["id"], s["name"]) for s in servers["servers"]),
                                key=lambda o: o[1])
        volume_options = sorted(((v["id"], v.get("name") or v["id"])
                                 for v in vols["volumes"] if v.get("status") == "available"),
                                key=lambda o: o[1])
        return ctx.render(
            "table.html", title="Volumes",
            tables=[table("Volumes", ["Name", "Size", "Status", "Attached to"], rows)],
            forms=[form("Create volume", url("/project/volumes"), [
                field("name", "Name", required=True),
                field("size", "Size (GiB)", "number", value="1")]),
                form("Attach volume", url("/project/volumes/attach"), [
                    field("volume_id", "Volume", "select", options=volume_options),
                    field("server_id", "Instance", "select", options=server_options)],
                    submit="Attach")])

    @page(dash, "/project/volumes/attach", methods=("POST",))
    async def attach(ctx: Ctx):
        sid = ctx.form.get("server_id", "")
        await ctx.api.post(f"{COMPUTE}/servers/{quote(sid, safe='')}/os-volume_attachments",
                           {"volumeAttachment": {"volumeId": ctx.form.get("volume_id", "")}})
        ctx.flash("Attaching the volume.")
        return ctx.redirect("/project/volumes")

    @page(dash, "/project/volumes/{volume_id}/detach", methods=("POST",))
    async def detach(ctx: Ctx):
        sid = quote(ctx.form.get("server_id", ""), safe="")
        vid = ctx.request.path_params["volume_id"]
        await ctx.api.delete(f"{COMPUTE}/servers/{sid}/os-volume_attachments/{vid}")
        ctx.flash("Detaching the volume.")
        return ctx.redirect("/project/volumes")

    @page(dash, "/project/volumes/{volume_id}/delete", methods=("POST",))
    async def delete_volume(ctx: Ctx):
        root = await volume_root(ctx)
        if root is None:
            ctx.flash("Block storage is not available on this cloud.", "error")
            return ctx.redirect("/project/volumes")
        await ctx.api.delete(f"{root}/volumes/{ctx.request.path_params['volume_id']}")
        ctx.flash("Deleting the volume.")
        return ctx.redirect("/project/volumes")
