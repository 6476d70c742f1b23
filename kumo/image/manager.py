"""The Image service's logic, with no HTTP in it (Image API v2 "Images", "Image data",
"Interoperable image import", "Image tags", "Image members").

Callers pass the request context (``None`` acts as the cloud itself, e.g. bootstrap).
Visibility is a SQL clause: a project sees its own images, public and community ones,
and shared ones it is a member of (any member status); admins see everything. An image
the caller cannot see is 404.

Image data goes through :class:`~kumo.image.store.FileStore`; an upload is
``queued -> saving -> active`` and falls back to ``queued`` (with no data kept) when it
fails; ``glance-direct`` import is ``queued -> uploading`` (staged) ``-> importing ->
active``.
"""
from __future__ import annotations

import threading
import uuid
from typing import Iterable

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.policy import sees_all
from kumo.common.timeutils import utcnow
from kumo.config import Settings
from kumo.db import Database, after_commit
from kumo.image import listing, models, schemas
from kumo.image.store import FileStore, StorageQuotaFull

HASH_ALGO = "sha512"
#: Statuses whose image has data in the store.
WITH_DATA = ("active", "deactivated")


def _admin(ctx) -> bool:
    return ctx is None or ctx.is_admin


def visible_clause(ctx):
    """The SQL condition for images ``ctx`` may see (None for admins and the service
    role, :func:`kumo.common.policy.sees_all`; the policies still decide what they may
    do: a service user shows and downloads any image, nothing more)."""
    if _admin(ctx) or sees_all(ctx):
        return None
    pid = ctx.project_id
    member = sa.select(models.ImageMember.image_id).where(
        models.ImageMember.image_id == models.Image.id,
        models.ImageMember.member_id == pid).exists()
    return sa.or_(models.Image.owner == pid,
                  models.Image.visibility.in_(("public", "community")),
                  sa.and_(models.Image.visibility == "shared", member))


class UploadLimitExceeded(exc.PayloadTooLarge):
    """The project has as many uploads in progress as it may (Kumo's
    ``max_concurrent_uploads_per_project``).

    413, because that is what Glance answers for its quota of the same nature:
    ``image_count_uploading`` (images of a project being uploaded or staged at once)
    raises ``LimitExceeded``, which ``glance.api.v2.image_data`` turns into
    ``HTTPRequestEntityTooLarge`` for both upload and stage, as it does for
    ``image_size_total``. Clients (openstacksdk, glanceclient) already treat 413 as
    "over quota"; 429 would be a rate limit, which this is not (it frees up as soon as
    an upload ends), and 409 would wrongly blame the image's state."""

    message = ("Denying attempt to upload image data: project %(project)s already has "
               "%(limit)s uploads in progress, the most allowed at once "
               "(max_concurrent_uploads_per_project).")


class UploadSlots:
    """Counts the uploads in progress per project (in this process) against
    ``limit`` (0 or less: no limit)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}

    def acquire(self, project: str | None):
        """Take a slot for ``project`` (None: not counted); returns the function that
        gives it back (idempotent). 413 :class:`UploadLimitExceeded` when full."""
        if project is None or self.limit <= 0:
            return lambda: None
        with self._lock:
            held = self._count.get(project, 0)
            if held >= self.limit:
                raise UploadLimitExceeded(project=project, limit=self.limit)
            self._count[project] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                left = self._count[project] - 1
                if left:
                    self._count[project] = left
                else:
                    del self._count[project]
        return release

    def in_progress(self, project: str) -> int:
        with self._lock:
            return self._count.get(project, 0)


def _upload_owner(ctx) -> str | None:
    """Whose slots an upload takes: the caller's project (Glance counts
    ``image_count_uploading`` against ``context.owner``), else the user."""
    if ctx is None:
        return None
    return ctx.project_id or (f"user:{ctx.user_id}" if ctx.user_id else None)


class Upload:
    """One upload or staging in progress (a :class:`~kumo.common.http.BodySink`):
    :meth:`write` each chunk, then :meth:`finish` (the image is ``active``, or staged
    data is in place), or :meth:`abort` (the image is ``queued`` again, no data kept).
    Any error from :meth:`write` or :meth:`finish` aborts. The project's upload slot
    is given back when it ends either way. ``image`` is the active image after
    :meth:`finish` of an upload."""

    def __init__(self, images: Images, image_id: str, staged: bool, writer, release):
        self.images = images
        self.image_id = image_id
        self.staged = staged
        self.writer = writer
        self.release = release
        self.image: models.Image | None = None
        self._done = False

    @property
    def _status(self) -> str:
        return "uploading" if self.staged else "saving"

    def write(self, chunk: bytes) -> None:
        try:
            self.writer.write(chunk)
        except BaseException:
            self.abort()
            raise

    def finish(self) -> None:
        written = None
        try:
            written = self.writer.close()
            if self.staged:
                self.images.store.commit(written, self.image_id, staged=True)
            else:
                self.image = self.images._finish(self.image_id, written, self._status)
        except BaseException:
            if written is not None:
                self.images.store.discard(written)
            self.abort()
            raise
        self._done = True
        self.release()

    def abort(self) -> None:
        """Remove the data and put the image back to ``queued`` (idempotent; a no-op
        after a successful :meth:`finish`)."""
        if self._done:
            return
        self._done = True
        try:
            self.writer.abort()
            self.images._requeue(self.image_id, self._status)
        finally:
            self.release()

    def feed(self, chunks: Iterable[bytes]) -> None:
        """:meth:`write` every chunk of an iterable, then :meth:`finish`."""
        try:
            for chunk in chunks:
                self.write(chunk)
            self.finish()
        except BaseException:
            self.abort()
            raise


class Images:
    """Images, their data, tags and members."""

    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.store = FileStore(settings.image_store_path)
        self.slots = UploadSlots(settings.max_concurrent_uploads_per_project)
        from kumo.image.metadefs import Metadefs
        from kumo.image.tasks import Tasks
        self.metadefs = Metadefs(db)
        self.tasks = Tasks(self)

    # -- reads ----------------------------------------------------------------------
    def get(self, ctx, image_id: str, session=None) -> models.Image:
        """The image, if ``ctx`` can see it; 404 otherwise."""
        with self.db.session(readonly=session is None) as s:
            stmt = sa.select(models.Image).where(models.Image.id == image_id)
            clause = visible_clause(ctx)
            if clause is not None:
                stmt = stmt.where(clause)
            image = s.scalar(stmt)
            if image is None:
                raise exc.NotFound(f"No image found with ID {image_id}")
            return image

    def list(self, ctx, query) -> tuple[list[models.Image], str | None]:
        """A page of images by Glance's list rules (see :mod:`kumo.image.listing`);
        ``query`` is a plain dict of the list's parameters; returns ``(images,
        next_marker)``."""
        with self.db.session(readonly=True) as s:
            return listing.list_images(s, ctx, query, visible_clause(ctx),
                                       self.settings.api_max_limit)

    def used_bytes(self, session) -> int:
        """Bytes held by the store (images with data)."""
        return session.scalar(sa.select(sa.func.coalesce(sa.func.sum(models.Image.size), 0))
                              .where(models.Image.status.in_(WITH_DATA))) or 0

    # -- create, update, delete ------------------------------------------------------
    def create(self, ctx, attrs: dict) -> models.Image:
        """Create a ``queued`` image from a validated create body (core attributes,
        ``tags`` and string custom properties). 409 if the id is taken."""
        now = utcnow()
        core = {k: v for k, v in attrs.items() if k in schemas.CORE}
        props = {k: v for k, v in attrs.items() if k not in schemas.CORE}
        owner = core.get("owner") or (ctx.project_id if ctx is not None else None)
        image = models.Image(
            id=core.get("id") or str(uuid.uuid4()), name=core.get("name"), status="queued",
            visibility=core.get("visibility") or "shared",
            protected=core.get("protected", False), os_hidden=core.get("os_hidden", False),
            owner=owner, disk_format=core.get("disk_format"),
            container_format=core.get("container_format"),
            min_disk=core.get("min_disk", 0), min_ram=core.get("min_ram", 0),
            created_at=now, updated_at=now)
        image.properties = [models.ImageProperty(name=k, value=v) for k, v in props.items()]
        image.tags = [models.ImageTag(value=t) for t in dict.fromkeys(core.get("tags", []))]
        with self.db.session() as s:
            if s.get(models.Image, image.id) is not None:
                raise exc.Conflict(f"An image with identifier {image.id} already exists")
            s.add(image)
        return image

    def update(self, ctx, image_id: str, core: dict, props: dict,
               removed: Iterable[str] = ()) -> models.Image:
        """Apply a patched image: ``core`` attributes, custom ``props`` to set and
        ``removed`` custom properties to drop (a patch computed by
        :func:`kumo.image.patch.apply`)."""
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            if "tags" in core:
                image.tags = [models.ImageTag(value=t) for t in dict.fromkeys(core.pop("tags"))]
            for key, value in core.items():
                setattr(image, key, value)
            by_name = {p.name: p for p in image.properties}
            for name in removed:
                if name in by_name:
                    image.properties.remove(by_name.pop(name))
            for name, value in props.items():
                if name in by_name:
                    by_name[name].value = value
                else:
                    image.properties.append(models.ImageProperty(name=name, value=value))
            image.updated_at = utcnow()
        return image

    def delete(self, ctx, image_id: str) -> None:
        """Delete the image and its data; 403 if it is protected."""
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            if image.protected:
                raise exc.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            s.delete(image)
            after_commit(s, lambda: self.store.delete(image_id))

    def set_active(self, ctx, image_id: str, active: bool) -> None:
        """Reactivate (``active``) or deactivate an image; 403 unless it is active or
        deactivated (a no-op when already in the target state)."""
        target = "active" if active else "deactivated"
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            if image.status == target:
                return
            if image.status not in WITH_DATA:
                verb = "reactivate" if active else "deactivate"
                raise exc.Forbidden(f"Not allowed to {verb} image in status "
                                    f"'{image.status}'")
            image.status = target
            image.updated_at = utcnow()

    # -- tags --------------------------------------------------------------------------
    def add_tag(self, ctx, image_id: str, tag: str) -> None:
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            if tag not in [t.value for t in image.tags]:
                image.tags.append(models.ImageTag(value=tag))
                image.updated_at = utcnow()

    def remove_tag(self, ctx, image_id: str, tag: str) -> None:
        """404 if the image has no such tag."""
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            found = [t for t in image.tags if t.value == tag]
            if not found:
                raise exc.NotFound(f"Tag {tag} not found")
            image.tags.remove(found[0])
            image.updated_at = utcnow()

    # -- data ------------------------------------------------------------------------
    def _begin_write(self, ctx, image_id: str, staged: bool) -> None:
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            if image.status != "queued":
                what = "stage" if staged else "upload"
                raise exc.Conflict(f"Image status transition from '{image.status}' to "
                                   f"'{'uploading' if staged else 'saving'}' is not "
                                   f"allowed: cannot {what} data to an image that is not "
                                   "queued.")
            image.status = "uploading" if staged else "saving"
            image.updated_at = utcnow()

    def _requeue(self, image_id: str, from_status: str) -> None:
        with self.db.session() as s:
            image = s.get(models.Image, image_id)
            if image is not None and image.status == from_status:
                image.status = "queued"
                image.updated_at = utcnow()

    def _limit(self) -> int | None:
        quota = self.settings.image_store_quota_bytes
        if not quota or quota < 0:
            return None
        with self.db.session(readonly=True) as s:
            return quota - self.used_bytes(s)

    def begin_upload(self, ctx, image_id: str, size: int | None = None,
                     md5: str | None = None, staged: bool = False) -> Upload:
        """Start ``PUT /v2/images/{id}/file`` (or ``/stage`` when ``staged``): the
        image becomes ``saving`` (``uploading``) and the returned :class:`Upload` takes
        the data (a :class:`~kumo.common.http.BodySink`). 413
        :class:`UploadLimitExceeded` when the caller's project already has
        ``max_concurrent_uploads_per_project`` uploads in progress, 409 unless
        ``queued``; nothing is changed then."""
        release = self.slots.acquire(_upload_owner(ctx))
        try:
            self._begin_write(ctx, image_id, staged)
        except BaseException:
            release()
            raise
        try:
            writer = self.store.writer(self._limit(), size, None if staged else md5)
        except BaseException:
            self._requeue(image_id, "uploading" if staged else "saving")
            release()
            raise
        return Upload(self, image_id, staged, writer, release)

    def upload(self, ctx, image_id: str, chunks: Iterable[bytes],
               size: int | None = None, md5: str | None = None) -> models.Image:
        """``PUT /v2/images/{id}/file`` from an iterable (bootstrap, tests): stream
        ``chunks`` into the store and make the image ``active`` with its size and
        hashes. Errors as :meth:`begin_upload` and :class:`Upload`: 413
        :class:`StorageQuotaFull` past the store quota; 400 on a size or Content-MD5
        mismatch. On any failure the image is ``queued`` again and no data is kept."""
        upload = self.begin_upload(ctx, image_id, size, md5)
        upload.feed(chunks)
        return upload.image

    def _finish(self, image_id: str, written, from_status: str) -> models.Image:
        """Record ``written`` as the image's data (quota checked again, exactly, in the
        transaction) and move it into place."""
        with self.db.session() as s:
            image = s.get(models.Image, image_id)
            if image is None or image.status != from_status:
                raise exc.Conflict(f"Image {image_id} was changed or deleted during the "
                                   "upload.")
            quota = self.settings.image_store_quota_bytes
            if quota and quota > 0 and self.used_bytes(s) + written.size > quota:
                raise StorageQuotaFull(detail=f"the store quota is {quota} bytes")
            image.size = image.virtual_size = written.size
            image.checksum = written.checksum
            image.os_hash_algo = HASH_ALGO
            image.os_hash_value = written.os_hash_value
            image.status = "active"
            image.updated_at = utcnow()
            self.store.commit(written, image_id)
        return image

    def stage(self, ctx, image_id: str, chunks: Iterable[bytes],
              size: int | None = None) -> None:
        """``PUT /v2/images/{id}/stage`` from an iterable: stream data to the staging
        area; the image becomes ``uploading``. Errors as :meth:`upload`."""
        self.begin_upload(ctx, image_id, size, staged=True).feed(chunks)

    def import_image(self, ctx, image_id: str, method: str,
                     request_id: str | None = None) -> None:
        """``POST /v2/images/{id}/import`` with ``glance-direct``: the image becomes
        ``importing`` and a background thread moves the staged data into the store
        (``active``), or back to ``queued`` if that fails. As Glance (2.12), the import
        is recorded as an ``api_image_import`` task (``processing``, then ``success``
        or ``failure``) shown by ``GET /v2/images/{id}/tasks`` with the request's id.
        400 for another method, 409 unless the image was staged."""
        if method != "glance-direct":
            raise exc.BadRequest(f"Import method {method} is not available; the "
                                 "available method is glance-direct.")
        with self.db.session() as s:
            image = self.get(ctx, image_id, session=s)
            if image.status != "uploading":
                raise exc.Conflict("Image needs to be staged before 'glance-direct' "
                                   "method can be used")
            image.status = "importing"
            now = image.updated_at = utcnow()
            task = models.Task(
                id=str(uuid.uuid4()), type="api_image_import", status="processing",
                owner=image.owner, message="", expires_at=None, created_at=now,
                updated_at=now,
                input={"image_id": image_id, "import_req": {"method": {"name": method}},
                       "backend": ["file"]},
                # Glance's task columns image_id, request_id and user_id (shown by the
                # image tasks route, kept out of the task's own result)
                result={"image_id": image_id, "request_id": request_id,
                        "user_id": ctx.user_id if ctx is not None else None})
            s.add(task)
            task_id = task.id
            after_commit(s, lambda: threading.Thread(
                target=self._run_import, args=(image_id, task_id), daemon=True).start())

    def _run_import(self, image_id: str, task_id: str | None = None) -> None:
        staged = self.store.staged_path(image_id)
        try:
            written = self.store.hash_file(staged)
            self._finish(image_id, written, "importing")
        except Exception as e:
            staged.unlink(missing_ok=True)
            self._requeue(image_id, "importing")
            self._end_task(task_id, "failure", str(e) or type(e).__name__)
        else:
            self._end_task(task_id, "success", "")

    def _end_task(self, task_id: str | None, status: str, message: str) -> None:
        if task_id is None:
            return
        from kumo.image.tasks import TIME_TO_LIVE
        with self.db.session() as s:
            task = s.get(models.Task, task_id)
            if task is not None:
                task.status, task.message = status, message
                task.updated_at = utcnow()
                task.expires_at = task.updated_at + TIME_TO_LIVE

    def create_from_file(self, path: str | Path, name: str, *, owner: str | None = None,
                         visibility: str = "public", disk_format: str = "raw",
                         container_format: str = "bare", properties: dict | None = None,
                         protected: bool = False) -> models.Image:
        """Register a local file as an ``active`` image (bootstrap: no request, no
        policy). ``properties`` are string custom properties (e.g. ``{"kumo_rootfs":
        "tar"}``). Returns the image; raises like :meth:`upload`."""
        attrs = {"name": name, "visibility": visibility, "disk_format": disk_format,
                 "container_format": container_format, "protected": protected,
                 **(properties or {})}
        if owner:
            attrs["owner"] = owner
        image = self.create(None, attrs)

        def chunks():
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
        try:
            return self.upload(None, image.id, chunks())
        except BaseException:
            with self.db.session() as s:
                s.execute(sa.delete(models.Image).where(models.Image.id == image.id))
            raise

    def find(self, name: str) -> list[models.Image]:
        """Images named ``name`` (any owner or status), newest first."""
        with self.db.session(readonly=True) as s:
            return list(s.scalars(sa.select(models.Image).where(models.Image.name == name)
                                  .order_by(models.Image.created_at.desc())))

    # -- members -----------------------------------------------------------------------
    def _shared(self, ctx, image_id: str, s) -> models.Image:
        image = self.get(ctx, image_id, session=s)
        if image.visibility != "shared":
            raise exc.Forbidden("Only shared images have members.")
        return image

    def add_member(self, ctx, image_id: str, member_id: str) -> models.ImageMember:
        """Share with project ``member_id`` (``pending``); 409 if already a member."""
        now = utcnow()
        with self.db.session() as s:
            self._shared(ctx, image_id, s)
            if s.get(models.ImageMember, (image_id, member_id)) is not None:
                raise exc.Conflict(f"Member {member_id} already associated with image "
                                   f"{image_id}")
            member = models.ImageMember(image_id=image_id, member_id=member_id,
                                        status="pending", created_at=now, updated_at=now)
            s.add(member)
        return member

    def members(self, ctx, image_id: str) -> list[models.ImageMember]:
        """The owner (and admins) see every member; a member only itself."""
        with self.db.session(readonly=True) as s:
            image = self._shared(ctx, image_id, s)
            stmt = sa.select(models.ImageMember).where(
                models.ImageMember.image_id == image_id).order_by(
                models.ImageMember.created_at, models.ImageMember.member_id)
            if not _admin(ctx) and image.owner != ctx.project_id:
                stmt = stmt.where(models.ImageMember.member_id == ctx.project_id)
            return list(s.scalars(stmt))

    def get_member(self, ctx, image_id: str, member_id: str) -> models.ImageMember:
        for member in self.members(ctx, image_id):
            if member.member_id == member_id:
                return member
        raise exc.NotFound(f"{member_id} is not a member of image {image_id}")

    def update_member(self, ctx, image_id: str, member_id: str,
                      status: str) -> models.ImageMember:
        """Set the member's status (pending, accepted, rejected; 400 otherwise)."""
        if status not in schemas.MEMBER_STATUSES:
            raise exc.BadRequest(f"Provided member status '{status}' is not valid; "
                                 "valid values are pending, accepted, rejected.")
        self.get_member(ctx, image_id, member_id)
        with self.db.session() as s:
            member = s.get(models.ImageMember, (image_id, member_id))
            member.status = status
            member.updated_at = utcnow()
        return member

    def delete_member(self, ctx, image_id: str, member_id: str) -> None:
        self.get_member(ctx, image_id, member_id)
        with self.db.session() as s:
            s.execute(sa.delete(models.ImageMember).where(
                models.ImageMember.image_id == image_id,
                models.ImageMember.member_id == member_id))
