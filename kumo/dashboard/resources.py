"""Images (create, upload with progress, delete) and key pairs."""
from __future__ import annotations

from urllib.parse import quote

from kumo.dashboard.client import COMPUTE, IMAGE
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
        images = await ctx.api.get(IMAGE + "/images")
        rows = [row([cell(i.get("name") or i["id"]), cell(i["status"], badge=True),
                     i.get("visibility", ""), i.get("disk_format") or "",
                     _size(i.get("size"))],
                    [action("Delete", url(f"/project/images/{i['id']}/delete"), True)]
                    if i.get("owner") == ctx.session.project_id else [])
                for i in sorted(images["images"], key=lambda i: i.get("name") or "")]
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
