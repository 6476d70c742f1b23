"""Image tasks, the logic (Image API v2 "Tasks"): the ``import`` task type.

A task is ``pending`` when created, ``processing`` while a background thread runs it,
then ``success`` (``result: {"image_id": ...}``) or ``failure`` (``message`` says why),
and expires ``task_time_to_live`` (48 h, Glance's default) after it ends.

``import`` makes an image from ``input.image_properties`` (owned by the task's owner)
and streams ``input.import_from`` into it through the same upload path as
``PUT /v2/images/{id}/file`` (:meth:`kumo.image.manager.Images.upload`: hashed, quota
checked, nothing kept on failure). ``import_from`` is an ``http``/``https`` URL whose
host resolves to loopback addresses only: Kumo applies Glance's import host filtering
(``[import_filtering_opts]``) with an allow-list of the machine itself, so a task never
fetches from elsewhere. A failed import deletes the image it made.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import threading
import uuid
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.db import after_commit
from kumo.image import models

TIME_TO_LIVE = dt.timedelta(hours=48)
#: Bytes read per chunk from the source.
CHUNK = 1 << 20
#: Seconds a source may take to connect or between two reads.
SOURCE_TIMEOUT = 30


def check_source(url: str) -> None:
    """400 unless ``url`` is ``http(s)`` on a host that resolves to loopback only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise exc.BadRequest(f"The given uri is not valid: {url}; use an http or https "
                             "URL.")
    try:  # an address or "localhost" (/etc/hosts): a DNS name could resolve to
        ipaddress.ip_address(parts.hostname.split("%")[0])  # loopback here and to
    except ValueError:  # another address when httpx resolves it again (rebinding)
        if parts.hostname.lower() != "localhost":
            raise exc.BadRequest(f"Import from {parts.hostname} is not allowed: the "
                                 "import host filter admits loopback addresses and "
                                 "localhost only.") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise exc.BadRequest(f"The host of {url} cannot be resolved.") from None
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    if not addresses or not all(a.is_loopback for a in addresses):
        raise exc.BadRequest(f"Import from {parts.hostname} is not allowed: the import "
                             "host filter admits this machine's loopback addresses only.")


class Tasks:
    """Tasks of the Image service (``images``: the :class:`~kumo.image.manager.Images`
    whose upload path imports use)."""

    def __init__(self, images):
        self.images = images
        self.db = images.db

    def _visible(self, stmt, ctx):
        if ctx is not None and not ctx.is_admin:
            stmt = stmt.where(models.Task.owner == ctx.project_id)
        return stmt

    def get(self, ctx, task_id: str) -> models.Task:
        with self.db.session(readonly=True) as s:
            task = s.scalar(self._visible(sa.select(models.Task).where(
                models.Task.id == task_id), ctx))
            if task is None:
                raise exc.NotFound(f"Task with the given id {task_id} not found")
            return task

    def list(self, ctx, type_: str | None = None, status: str | None = None
             ) -> list[models.Task]:
        """Newest first."""
        with self.db.session(readonly=True) as s:
            stmt = self._visible(sa.select(models.Task), ctx).order_by(
                models.Task.created_at.desc(), models.Task.id.desc())
            if type_:
                stmt = stmt.where(models.Task.type == type_)
            if status:
                stmt = stmt.where(models.Task.status == status)
            return list(s.scalars(stmt))

    def create(self, ctx, type_: str, task_input: dict) -> models.Task:
        """Create a ``pending`` task and start it once committed. ``task_input`` was
        validated by the API (image properties, source URL)."""
        now = utcnow()
        task = models.Task(id=str(uuid.uuid4()), type=type_, status="pending",
                           owner=ctx.project_id if ctx is not None else None,
                           input=task_input, result=None, message="", expires_at=None,
                           created_at=now, updated_at=now)
        with self.db.session() as s:
            s.add(task)
            after_commit(s, lambda: threading.Thread(
                target=self._run, args=(task.id,), daemon=True,
                name=f"image-task-{task.id[:8]}").start())
        return task

    def _set(self, task_id: str, **values) -> None:
        with self.db.session() as s:
            task = s.get(models.Task, task_id)
            for key, value in values.items():
                setattr(task, key, value)
            task.updated_at = utcnow()
            if values.get("status") in ("success", "failure"):
                task.expires_at = task.updated_at + TIME_TO_LIVE

    def _run(self, task_id: str) -> None:
        self._set(task_id, status="processing")
        with self.db.session(readonly=True) as s:
            task = s.get(models.Task, task_id)
            owner, task_input = task.owner, dict(task.input)
        image_id = None
        try:
            attrs = dict(task_input["image_properties"])
            attrs.setdefault("disk_format", task_input["import_from_format"])
            if owner:
                attrs["owner"] = owner
            image_id = self.images.create(None, attrs).id
            check_source(task_input["import_from"])
            with httpx.stream("GET", task_input["import_from"], timeout=SOURCE_TIMEOUT,
                              follow_redirects=False) as resp:
                if resp.status_code != 200:
                    raise exc.BadRequest(f"The source answered HTTP {resp.status_code}.")
                length = resp.headers.get("content-length")
                self.images.upload(None, image_id, resp.iter_bytes(CHUNK),
                                   size=int(length) if length and length.isdigit()
                                   else None)
        except Exception as e:  # the task records every failure
            message = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            if image_id is not None:
                with self.db.session() as s:
                    s.execute(sa.delete(models.Image).where(models.Image.id == image_id))
            self._set(task_id, status="failure", message=message)
            return
        self._set(task_id, status="success", result={"image_id": image_id})
