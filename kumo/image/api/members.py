"""Image members: sharing an image with other projects (Image API v2 "Image members").

Only ``shared`` images have members (403 otherwise). The owner adds and removes
members; a member accepts or rejects (or resets to pending) its own membership; the
owner sees every member, a member only itself.
"""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.image import schemas
from kumo.image.api import render, service


def _image(req: Request):
    return req.cloud.images.get(req.context, req.params["image_id"])


@service.route("POST", "/v2/images/{image_id}/members")
def add_member(req: Request) -> Reply:
    """200 with the member (``pending``); 409 if already a member."""
    image = _image(req)
    req.context.enforce("add_member", render.target(image))
    member_id = req.json(schemas.MEMBER_CREATE)["member"]
    member = req.cloud.images.add_member(req.context, image.id, member_id)
    return Reply(200, render.member(member))


@service.route("GET", "/v2/images/{image_id}/members")
def list_members(req: Request) -> Reply:
    image = _image(req)
    req.context.enforce("get_members", render.target(image))
    members = req.cloud.images.members(req.context, image.id)
    return Reply(200, {"members": [render.member(m) for m in members],
                       "schema": "/v2/schemas/members"})


@service.route("GET", "/v2/images/{image_id}/members/{member_id}")
def get_member(req: Request) -> Reply:
    image = _image(req)
    req.context.enforce("get_member", render.target(image))
    member = req.cloud.images.get_member(req.context, image.id, req.params["member_id"])
    return Reply(200, render.member(member))


@service.route("PUT", "/v2/images/{image_id}/members/{member_id}")
def update_member(req: Request) -> Reply:
    """``{"status": "accepted"|"rejected"|"pending"}`` by the member itself (403 for
    the owner); 400 for another status."""
    image = _image(req)
    member_id = req.params["member_id"]
    req.context.enforce("modify_member", render.target(image, member_id=member_id))
    status = req.json(schemas.MEMBER_UPDATE)["status"]
    member = req.cloud.images.update_member(req.context, image.id, member_id, status)
    return Reply(200, render.member(member))


@service.route("DELETE", "/v2/images/{image_id}/members/{member_id}")
def delete_member(req: Request) -> Reply:
    image = _image(req)
    req.context.enforce("delete_member", render.target(image))
    req.cloud.images.delete_member(req.context, image.id, req.params["member_id"])
    return Reply(204)
