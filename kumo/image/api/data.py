"""Image data: upload, download, staging and interoperable import (Image API v2
"Image data", "Interoperable image import").

Uploads and staging are ``stream=True`` routes: the handler checks the request and
starts the upload (:meth:`~kumo.image.manager.Images.begin_upload`), then the API edge
feeds the body from the connection into the store batch by batch, never whole in
memory and without holding a worker thread while the client is slow; a body that
stalls for ``body_idle_timeout_s`` is a 408 and leaves the image ``queued``.

Downloads are streamed replies with ``Content-Length`` and ``Content-MD5``; a single
``Range: bytes=a-b`` (or ``a-``, ``-n``) gives 206 with ``Content-Range``, 416 when it
cannot be satisfied.
"""
from __future__ import annotations

import re

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.image import schemas
from kumo.image.api import render, service

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(exc.KumoError):
    status = 416
    title = "Requested Range Not Satisfiable"
    message = "Requested range not satisfiable"


def _content_length(req: Request) -> int | None:
    value = req.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _check_octet_stream(req: Request) -> None:
    media_type = (req.headers.get("content-type") or "").split(";")[0].strip()
    if media_type and media_type != "application/octet-stream":
        raise exc.UnsupportedMediaType(f"Unsupported Content-Type {media_type}; image "
                                       "data is application/octet-stream.")


@service.route("PUT", "/v2/images/{image_id}/file", stream=True)
def upload(req: Request) -> Reply:
    """204; the image becomes ``active``. 409 unless ``queued``; 413 past the store
    quota or the project's concurrent uploads; 400 if fewer bytes arrive than
    ``Content-Length`` announced or the data does not match a ``Content-MD5`` (hex)
    header; 408 if the body stalls. Any failure leaves the image ``queued``."""
    images = req.cloud.images
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("upload_image", render.target(image))
    _check_octet_stream(req)
    req.receive_into(images.begin_upload(req.context, image.id, _content_length(req),
                                         req.headers.get("content-md5")))
    return Reply(204)


@service.route("PUT", "/v2/images/{image_id}/stage", stream=True)
def stage(req: Request) -> Reply:
    """204; the image becomes ``uploading`` (staged for ``glance-direct``). Errors
    as :func:`upload`."""
    images = req.cloud.images
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("upload_image", render.target(image))
    _check_octet_stream(req)
    req.receive_into(images.begin_upload(req.context, image.id, _content_length(req),
                                         staged=True))
    return Reply(204)


@service.route("POST", "/v2/images/{image_id}/import")
def import_image(req: Request) -> Reply:
    """``{"method": {"name": "glance-direct"}}``: 202; the image is ``importing``,
    then ``active``. 400 for another method, 409 unless staged."""
    images = req.cloud.images
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("import_image", render.target(image))
    method = req.json(schemas.IMPORT)["method"]["name"]
    images.import_image(req.context, image.id, method, req.request_id)
    return Reply(202)


def _range(header: str, size: int) -> tuple[int, int]:
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable()
    first, last = m.group(1), m.group(2)
    if not first:  # the last n bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable()
        return max(size - n, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable()
    return start, end


@service.route("GET", "/v2/images/{image_id}/file")
def download(req: Request) -> Reply:
    """200 with the data (or 206 for a range); 204 if the image has no data; 403 for
    a deactivated image unless admin; 416 for an unsatisfiable range."""
    images = req.cloud.images
    image = images.get(req.context, req.params["image_id"])
    req.context.enforce("download_image", render.target(image))
    if image.status == "deactivated" and not req.context.is_admin:
        raise exc.Forbidden("The requested image has been deactivated. Image data "
                            "download is forbidden.")
    if image.status not in ("active", "deactivated"):
        return Reply(204)
    size = image.size
    header = req.headers.get("range")
    if header:
        try:
            start, end = _range(header, size)
        except RangeNotSatisfiable as e:
            reply = Reply(416, service.fault(e))
            reply.headers["Content-Range"] = f"bytes */{size}"
            return reply
        return Reply(206, images.store.read(image.id, start, end),
                     content_type="application/octet-stream",
                     headers={"Content-Range": f"bytes {start}-{end}/{size}",
                              "Content-Length": str(end - start + 1)})
    return Reply(200, images.store.read(image.id), content_type="application/octet-stream",
                 headers={"Content-MD5": image.checksum, "Content-Length": str(size)})
