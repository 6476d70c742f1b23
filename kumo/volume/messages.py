"""User messages (Block Storage API v3 "Messages (messages)", 3.3; list paging,
sorting and filters 3.5): what went wrong when a step the user asked for (and got a
2xx for) failed later, in the worker. No HTTP here; the routes are
kumo/volume/api/messages.py.

**What a message is.** A row of ``volume_message``: the project and request it
belongs to, the resource (``resource_type`` ``VOLUME``, ``VOLUME_SNAPSHOT`` or
``VOLUME_BACKUP`` and its id), an action id and a detail id from Cinder's tables
(:data:`ACTIONS`, :data:`DETAILS`, as Cinder's ``message_field``), ``event_id``
``VOLUME_<resource type>_<action id>_<detail id>`` and a level (``ERROR``...). The
text users see, ``user_message``, is made when shown: ``"<action text>:<detail
text>"`` (Cinder's wording: clients and Tempest compare it), e.g. ``"schedule
allocate volume:Could not find any available weighted backend."``.

**Who and when.** :meth:`Messages.record` takes the project and request id from the
request being served (the worker's steps run in their request's context, see
:class:`kumo.volume.manager.Worker`); a step with no request (a periodic job) passes
the project and gets a fresh request id. Recording never fails its caller (a failed
write is logged). Each message lives ``volume_message_ttl_s`` seconds (Cinder's
``message_ttl``, 2592000 = 30 days; shown as ``guaranteed_until``): an expired one is
never listed or shown, and is deleted by the next message recorded (Cinder reaps them
periodically).

**Who sees what.** A project's members see its messages; admins see every project's
(Cinder's list is not restricted for admins, and has no ``all_tenants``). Another
project's message is 404 ``Message <id> could not be found.``.
"""
from __future__ import annotations

import datetime as dt
import errno
import logging
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common import log
from kumo.common.listing import CINDER
from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.errors import NotFoundError

LOG = logging.getLogger(__name__)

#: Resource types (Cinder's ``message_field.Resource``).
VOLUME = "VOLUME"
VOLUME_SNAPSHOT = "VOLUME_SNAPSHOT"
VOLUME_BACKUP = "VOLUME_BACKUP"

#: Action ids and their text (Cinder's ``message_field.Action``).
ACTIONS = {
    "001": "schedule allocate volume", "002": "attach volume",
    "003": "copy volume to image", "004": "update attachment",
    "005": "copy image to volume", "006": "unmanage volume", "007": "extend volume",
    "008": "create volume from backend storage", "009": "create snapshot",
    "010": "delete snapshot", "011": "update snapshot",
    "012": "update snapshot metadata", "013": "create backup", "014": "delete backup",
    "015": "restore backup", "016": "reimage volume",
}
SCHEDULE_ALLOCATE_VOLUME, ATTACH_VOLUME, COPY_VOLUME_TO_IMAGE = "001", "002", "003"
COPY_IMAGE_TO_VOLUME, EXTEND_VOLUME, CREATE_VOLUME_FROM_BACKEND = "005", "007", "008"
SNAPSHOT_CREATE, BACKUP_CREATE, BACKUP_RESTORE = "009", "013", "015"

#: Detail ids and their text (Cinder's ``message_field.Detail``).
DETAILS = {
    "001": "An unknown error occurred.",
    "002": "Driver is not initialized at present.",
    "003": "Could not find any available weighted backend.",
    "004": "Failed to upload volume to image at backend.",
    "005": "Volume's attach mode is invalid.",
    "006": "Not enough quota resource for operation.",
    "007": "Image used for creating volume exceeds available space.",
    "008": "Unmanaging encrypted volumes is not supported.",
    "009": "Compute service failed to extend volume.",
    "010": "Volume Driver failed to extend volume.",
    "011": "Image signature verification failed.",
    "012": "Driver failed to create the volume.",
    "013": "Snapshot failed to create.",
    "014": "Volume snapshot update metadata failed.",
    "015": "Snapshot is busy.",
    "016": "Snapshot failed to delete.",
    "017": "Backup status is invalid.",
    "018": "Backup service is down.",
    "019": "Failed to get backup device from the volume service.",
    "020": "Backup driver failed to create backup.",
    "021": "Failed to attach volume.",
    "022": "Failed to detach volume.",
    "023": "Cleanup of temporary volume/snapshot failed.",
    "024": "Backup failed to schedule. Service not found for creating backup.",
    "025": "Backup driver failed to delete backup.",
    "026": "Backup driver failed to restore backup.",
    "027": "Volume status is invalid.",
    "028": "Compute service failed to reimage volume.",
    "029": "The image disk format must be the same as the volume format for the "
           "volume type you are requesting.",
    "030": "Incremental backup not possible, forcing full backup.",
}
UNKNOWN_ERROR, NO_BACKEND_AVAILABLE, FAILED_TO_UPLOAD_VOLUME = "001", "003", "004"
NOT_ENOUGH_SPACE_FOR_IMAGE, ATTACH_ERROR = "007", "021"
DRIVER_FAILED_EXTEND, DRIVER_FAILED_CREATE, SNAPSHOT_CREATE_ERROR = "010", "012", "013"
BACKUP_CREATE_DRIVER_ERROR, BACKUP_RESTORE_ERROR = "020", "026"

#: Columns a list may sort by and filter on (filters: Cinder's
#: ``resource_filters.json`` for ``message``, and ``project_id``, which admins may
#: give, as ``openstack volume message list --project`` does).
M = models.Message
SORT_COLUMNS = {"id": M.id, "created_at": M.created_at, "expires_at": M.expires_at,
                "guaranteed_until": M.expires_at, "event_id": M.event_id,
                "message_level": M.message_level, "request_id": M.request_id,
                "resource_type": M.resource_type, "resource_uuid": M.resource_uuid,
                "project_id": M.project_id}
FILTERS = ("resource_uuid", "resource_type", "event_id", "request_id", "message_level",
           "project_id")


def create_failure(volume_id: str, scheduled: bool, image: bool, backup_id: str | None,
                   copy: bool) -> tuple | None:
    """What a failed volume create tells the user, as Cinder's create flow: no backend
    (the scheduler's), a failed copy of an image, a failed restore of a backup into
    the new volume, the driver failing to make an empty one; a copy of a snapshot or
    volume records nothing (None). ``(action, detail, resource type, resource id)``
    for :meth:`Messages.record_failure`."""
    if not scheduled:
        return SCHEDULE_ALLOCATE_VOLUME, NO_BACKEND_AVAILABLE, VOLUME, volume_id
    if copy:
        return None
    if image:
        return COPY_IMAGE_TO_VOLUME, UNKNOWN_ERROR, VOLUME, volume_id
    if backup_id:
        return BACKUP_RESTORE, BACKUP_RESTORE_ERROR, VOLUME_BACKUP, backup_id
    return CREATE_VOLUME_FROM_BACKEND, DRIVER_FAILED_CREATE, VOLUME, volume_id


def user_message(msg: models.Message) -> str:
    """The text shown for a message: ``"<action>:<detail>"`` as Cinder words it
    (an unknown action is ``unknown action``, an unknown detail the unknown error)."""
    action = ACTIONS.get(msg.action_id or "", "unknown action")
    return f"{action}:{DETAILS.get(msg.detail_id or '', DETAILS[UNKNOWN_ERROR])}"


class Messages:
    """Record, list, show and delete user messages (see the module doc)."""

    def __init__(self, manager):
        self.m = manager

    def _visible(self, ctx, stmt):
        stmt = stmt.where(M.expires_at > utcnow())
        if ctx is not None and not ctx.is_admin:
            stmt = stmt.where(M.project_id == ctx.project_id)
        return stmt

    def record(self, action: str, detail: str = UNKNOWN_ERROR,
               resource_type: str = VOLUME, resource_uuid: str | None = None,
               level: str = "ERROR", project_id: str | None = None,
               request_id: str | None = None) -> str | None:
        """Write a message about ``action`` (an :data:`ACTIONS` id) failing with
        ``detail`` (a :data:`DETAILS` id) on ``resource_type``/``resource_uuid``;
        project and request id default to the current request's. Returns the new
        message's id, or None if it could not be written (logged, never raised)."""
        current = log.current()
        project_id = project_id or (current.project_id if current else None)
        request_id = request_id or (current.request_id if current else None) \
            or log.new_request_id()
        if project_id is None:
            LOG.warning("no project for a user message about %s %s", resource_type,
                        resource_uuid)
            return None
        now = utcnow()
        ttl = float(self.m.settings.volume_message_ttl_s)
        msg = M(id=str(uuid.uuid4()), project_id=project_id, request_id=request_id,
                resource_type=resource_type, resource_uuid=resource_uuid,
                event_id=f"VOLUME_{resource_type}_{action}_{detail}",
                action_id=action, detail_id=detail, message_level=level,
                created_at=now, expires_at=now + dt.timedelta(seconds=ttl))
        try:
            with self.m.db.session() as s:
                s.execute(sa.delete(M).where(M.expires_at <= now))
                s.add(msg)
        except Exception:  # noqa: BLE001 (a message must never fail the step's cleanup)
            LOG.exception("recording a user message for request %s failed", request_id)
            return None
        LOG.info("user message %s: %s (%s %s)", msg.id, msg.event_id, resource_type,
                 resource_uuid)
        return msg.id

    def record_failure(self, failure: tuple | None, error: BaseException) -> str | None:
        """Record a :func:`create_failure` (nothing for None); an image copy that ran
        out of space is Cinder's "exceeds available space" detail."""
        if failure is None:
            return None
        action, detail, rtype, ruuid = failure
        if action == COPY_IMAGE_TO_VOLUME and getattr(error, "errno", None) == errno.ENOSPC:
            detail = NOT_ENOUGH_SPACE_FOR_IMAGE
        return self.record(action, detail, rtype, ruuid)

    def backup_failed(self, backup_id: str) -> str | None:
        """A backup's data step failed (Cinder's backup manager: the driver failed)."""
        return self.record(BACKUP_CREATE, BACKUP_CREATE_DRIVER_ERROR, VOLUME_BACKUP,
                           backup_id)

    def attach_failed(self, volume_id: str, project_id: str) -> str | None:
        """An attachment never completed (the compute agent did not map it in time):
        Cinder's attach action with its "Failed to attach volume." detail, for the
        volume's project."""
        return self.record(ATTACH_VOLUME, ATTACH_ERROR, VOLUME, volume_id,
                           project_id=project_id)

    def get(self, ctx, message_id: str, s: orm.Session | None = None) -> models.Message:
        """The message if the caller may see it and it has not expired; else 404."""
        def find(session):
            msg = session.scalar(self._visible(ctx, sa.select(M).where(
                M.id == message_id)))
            if msg is None:
                raise NotFoundError(f"Message {message_id} could not be found.")
            return msg
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, query, paged: bool = True) -> tuple[list[models.Message], bool]:
        """A page of the caller's messages (``paged``, 3.5+: Cinder's ``limit``,
        ``marker``, ``offset``, ``sort``/``sort_key``/``sort_dir`` and the
        :data:`FILTERS`; default newest first), and whether more follow. Before 3.5
        every message, newest first."""
        visible = self._visible(ctx, sa.select(M))
        stmt = visible
        if not paged:
            query = {}
        for key in FILTERS:
            if key in query:
                stmt = stmt.where(SORT_COLUMNS[key] == query[key])
        with self.m.read() as s:
            return CINDER.list(s, visible, stmt, query, SORT_COLUMNS, ("id", M.id))

    def delete(self, ctx, message_id: str, enforce=None) -> None:
        """Delete a message the caller may see (404 otherwise); ``enforce(project_id)``
        (the API's policy check) runs on it first, in the same transaction."""
        with self.m.db.session() as s:
            msg = self.get(ctx, message_id, s)
            if enforce is not None:
                enforce(msg.project_id)
            s.delete(msg)
