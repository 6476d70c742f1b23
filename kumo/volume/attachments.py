"""Volume attachments (Block Storage API v3 "Attachments", 3.27+; and what Nova's
``os-volume_attachments`` asks of Cinder). No HTTP here.

Cinder's flow: an attachment created without a connector is ``reserved`` (the volume
``reserved``); given a connector (create or update) it is ``attaching`` and answers
the connection info; ``os-complete`` makes it ``attached`` and the volume ``in-use``.
Deleting the last attachment makes the volume ``available`` again. A volume that is
not ``multiattach`` takes one attachment at a time (409 otherwise).

Kumo's connection info is the backend file (``driver_volume_type`` ``file``, its
``device_path``). :meth:`Attachments.for_instances` gives the compute feed the
attachments of the instances it renders (the agent on the server's host puts a loop
device over the file and its node in the instance as the attachment's ``/dev/vdX``);
every change of an attachment with a server calls the ``listeners`` with the server's
id (the compute manager records a feed change for it).

Nova's flow (``os-volume_attachments``, boot from volume) marks its attachments
``complete_on_report``: the compute agent's report that it mapped the volume completes
them (:meth:`Attachments.agent_report`); an attachment made with the v3 API is
completed only by ``os-complete``, as in Cinder. An agent that never reports does not
leave them hanging: :meth:`Attachments.expire` (a periodic job,
``volume_attach_timeout_s``) turns an ``attaching`` one into ``error_attaching`` (the
volume ``error_attaching``, as Cinder's failed attach) and puts a ``detaching`` one
back to ``attached`` (the volume ``in-use``, Cinder's ``os-roll_detaching``).
:meth:`Attachments.swap` is Nova's swap: the old volume's data is copied into the new
one before the server's device switches to it.
"""
from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.volume import models
from kumo.volume.errors import InvalidInput, NotFoundError, invalid_volume
from kumo.volume.volumes import is_admin


LOG = logging.getLogger(__name__)


class AlreadyAttached(exc.Conflict):
    message = "%(message)s"


class Attachments:
    def __init__(self, manager):
        self.m = manager
        #: ``fn(instance_uuid)`` after a committed change of that server's attachments
        self.listeners: list = []
        #: ``fn(instance_uuid, volume_id)`` after an attached volume grew (Cinder's
        #: ``volume-extended`` external event to Nova)
        self.extend_listeners: list = []
        #: ``fn(instance_uuid) -> project id | None`` of this cloud's servers: an
        #: attachment to one of them is acted on by its host's agent, so only its own
        #: project (or an admin, or a service) may name it (:meth:`_check_instance`)
        self.instance_project = lambda instance_uuid: None

    def _check_instance(self, ctx, instance_uuid: str | None) -> None:
        """400 when ``instance_uuid`` is a server of this cloud in another project
        than the caller's (unless the caller is an admin or a service): Cinder only
        records an attachment, but here the server's host maps the volume into it,
        so a member must not put a volume into another project's server."""
        if not instance_uuid or ctx is None or ctx.is_admin \
                or "service" in (getattr(ctx, "roles", None) or ()):
            return
        owner = self.instance_project(instance_uuid)
        if owner is not None and owner != ctx.project_id:
            raise InvalidInput(f"Invalid input received: instance {instance_uuid} "
                               "is not in the caller's project.")

    def _changed(self, *instance_uuids) -> None:
        for iid in {i for i in instance_uuids if i}:
            for fn in self.listeners:
                try:
                    fn(iid)
                except Exception:  # noqa: BLE001 - the next resync catches up
                    LOG.exception(
                        "attachment change of server %s not recorded", iid)

    def for_instances(self, session, instance_ids: list[str]) -> dict[str, list[dict]]:
        """The compute feed's ``volumes`` of each server (one query), in the caller's
        session: ``{server id: [{"volume_id", "attachment_id", "device": "vdb",
        "path": backend file or None, "mode": "rw"|"ro", "boot": bool}]}`` for the
        ``attaching``/``attached`` attachments (``boot``: mounted as ``/dev/vda``)."""
        out: dict[str, list[dict]] = {}
        if not instance_ids:
            return out
        A, V = models.Attachment, models.Volume
        rows = session.execute(sa.select(A, V).join(V, A.volume_id == V.id).where(
            A.instance_uuid.in_(instance_ids),
            A.attach_status.in_(("attaching", "attached"))).order_by(A.mountpoint))
        for att, vol in rows:
            path = None
            try:
                _, driver = self.m.backend_of(vol.host)
                path = driver.read_path(vol.id)
            except Exception:  # noqa: BLE001 - no data (fake backend, being made)
                path = None
            device = (att.mountpoint or "").rpartition("/")[2]
            out.setdefault(att.instance_uuid, []).append({
                "volume_id": vol.id, "attachment_id": att.id, "device": device,
                "path": str(path) if path else None,
                "mode": "ro" if (vol.readonly or att.attach_mode == "ro") else "rw",
                "boot": device == "vda"})
        return out

    def get(self, ctx, attachment_id: str, s=None) -> models.Attachment:
        def find(session):
            stmt = sa.select(models.Attachment).join(models.Volume).where(
                models.Attachment.id == attachment_id)
            if not is_admin(ctx):
                stmt = stmt.where(models.Volume.project_id == ctx.project_id)
            att = session.scalar(stmt)
            if att is None:
                raise NotFoundError(f"VolumeAttachment {attachment_id} could not be "
                                    "found.")
            return att
        if s is not None:
            return find(s)
        with self.m.read() as session:
            return find(session)

    def list(self, ctx, query, all_tenants: bool) -> list[models.Attachment]:
        A, V = models.Attachment, models.Volume
        stmt = sa.select(A).join(V)
        if not (is_admin(ctx) and all_tenants):
            stmt = stmt.where(V.project_id == ctx.project_id)
        for key, col in (("volume_id", A.volume_id), ("instance_id", A.instance_uuid),
                         ("status", A.attach_status)):
            if key in query:
                stmt = stmt.where(col == query[key])
        with self.m.read() as s:
            return list(s.scalars(stmt.order_by(A.created_at.desc(), A.id)))

    def connection_info(self, volume: models.Volume) -> dict:
        _, driver = self.m.backend_of(volume.host)
        path = None
        try:
            path = driver.read_path(volume.id)
        except Exception:
            path = None
        return {"driver_volume_type": "file", "data": {
            "device_path": str(path) if path else None, "volume_id": volume.id,
            "access_mode": "ro" if volume.readonly else "rw"}}

    def create(self, ctx, volume_id: str, instance_uuid: str | None,
               connector: dict | None, mode: str = "rw", host: str | None = None,
               mountpoint: str | None = None, complete: bool = False,
               delete_on_termination: bool = False,
               complete_on_report: bool = False) -> models.Attachment:
        """A new attachment (see the module doc); ``complete`` attaches at once
        (a server on no host); ``complete_on_report``: Nova's flow, the agent's report
        completes it."""
        self._check_instance(ctx, instance_uuid)
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            live = [a for a in vol.attachments]
            if instance_uuid and any(a.instance_uuid == instance_uuid for a in live):
                raise AlreadyAttached(message=f"Volume {vol.id} is already attached to "
                                      f"instance {instance_uuid}.")
            if live and not vol.multiattach:
                raise AlreadyAttached(message=f"Invalid volume: Volume {vol.id} status "
                                      f"must be available or downloading to reserve, but "
                                      f"the current status is {vol.status}.")
            if not live and vol.status not in ("available", "downloading"):
                raise invalid_volume(f"Volume {vol.id} status must be available or "
                                     f"downloading to reserve, but the current status "
                                     f"is {vol.status}.")
            now = utcnow()
            status = "attached" if complete else ("attaching" if connector else "reserved")
            att = models.Attachment(
                id=str(uuid.uuid4()), volume_id=vol.id, instance_uuid=instance_uuid,
                attached_host=host or (connector or {}).get("host"),
                mountpoint=mountpoint or (connector or {}).get("mountpoint"),
                attach_status=status, attach_mode="ro" if vol.readonly else mode,
                connector=connector, delete_on_termination=delete_on_termination,
                complete_on_report=complete_on_report, created_at=now, updated_at=now)
            vol.attachments.append(att)
            self._volume_status(vol)
            s.flush()
            s.refresh(att)
        self._changed(instance_uuid)
        return att

    @staticmethod
    def _volume_status(vol: models.Volume) -> None:
        states = {a.attach_status for a in vol.attachments}
        if "attached" in states:
            vol.status, vol.attach_status = "in-use", "attached"
        elif "detaching" in states:
            vol.status, vol.attach_status = "detaching", "attached"
        elif "attaching" in states:
            vol.status, vol.attach_status = "attaching", "attaching"
        elif "reserved" in states:
            vol.status, vol.attach_status = "reserved", "reserved"
        elif "error_attaching" in states:
            vol.status, vol.attach_status = "error_attaching", "error_attaching"
        else:
            vol.status, vol.attach_status = "available", "detached"
        vol.updated_at = utcnow()

    def update(self, ctx, attachment_id: str, connector: dict) -> models.Attachment:
        with self.m.write() as s:
            att = self.get(ctx, attachment_id, s)
            if att.attach_status == "attached":
                pass
            else:
                att.attach_status = "attaching"
            att.connector = connector
            att.attached_host = connector.get("host") or att.attached_host
            att.mountpoint = connector.get("mountpoint") or att.mountpoint
            att.updated_at = utcnow()
            vol = s.get(models.Volume, att.volume_id)
            self._volume_status(vol)
            s.flush()
        self._changed(att.instance_uuid)
        return att

    def complete(self, ctx, attachment_id: str) -> None:
        with self.m.write() as s:
            att = self.get(ctx, attachment_id, s)
            att.attach_status = "attached"
            att.updated_at = utcnow()
            self._volume_status(s.get(models.Volume, att.volume_id))
            iid = att.instance_uuid
        self._changed(iid)

    def delete(self, ctx, attachment_id: str) -> None:
        with self.m.write() as s:
            att = self.get(ctx, attachment_id, s)
            vol = s.get(models.Volume, att.volume_id)
            iid = att.instance_uuid
            vol.attachments.remove(att)
            self._volume_status(vol)
        self._changed(iid)

    def volume_changed(self, volume_id: str) -> None:
        """The volume's data changed size (an extend): its servers' hosts look again
        (the loop device takes the new size)."""
        with self.m.read() as s:
            ids = list(s.scalars(sa.select(models.Attachment.instance_uuid).where(
                models.Attachment.volume_id == volume_id)))
        for iid in {i for i in ids if i}:
            for fn in self.extend_listeners:
                try:
                    fn(iid, volume_id)
                except Exception:  # noqa: BLE001 - the feed change below still goes
                    LOG.exception(
                        "extend of volume %s not told to server %s", volume_id, iid)
        self._changed(*ids)

    # -- the legacy volume actions (os-reserve, os-attach, os-detach, ...) ---------------
    def reserve(self, ctx, volume_id: str) -> None:
        """``os-reserve``: an attachment with no server yet; the volume ``attaching``;
        400 unless the volume is ``available`` (or a multiattach one ``in-use``)."""
        with self.m.read() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            if vol.status != "available" and not (vol.multiattach
                                                  and vol.status == "in-use"):
                raise invalid_volume(f"Volume {vol.id} status must be available to "
                                     f"reserve, but the current status is {vol.status}.")
        att = self.create(ctx, volume_id, None, None)
        self._set_legacy(att.id, "attaching")

    def unreserve(self, ctx, volume_id: str) -> None:
        """``os-unreserve``: the reservations (attachments not attached, no server)
        go; the volume is ``available`` again if nothing else holds it."""
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            for att in [a for a in vol.attachments if a.instance_uuid is None
                        and a.attach_status in ("reserved", "attaching")]:
                vol.attachments.remove(att)
            self._volume_status(vol)

    def attach_legacy(self, ctx, volume_id: str, instance_uuid: str | None,
                      host: str | None, mountpoint: str, mode: str) -> None:
        """``os-attach``: a reservation (os-reserve) or a new attachment becomes
        ``attached`` to the server (or host) at ``mountpoint``; the volume ``in-use``."""
        self._check_instance(ctx, instance_uuid)
        with self.m.write() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            held = [a for a in vol.attachments if a.instance_uuid is None
                    and a.attach_status in ("reserved", "attaching")]
            if held:
                att = held[0]
                att.instance_uuid, att.attached_host = instance_uuid, host
                att.mountpoint, att.attach_mode = mountpoint, mode
                att.attach_status, att.updated_at = "attached", utcnow()
                self._volume_status(vol)
        if not held:
            self.create(ctx, volume_id, instance_uuid, None, mode=mode, host=host,
                        mountpoint=mountpoint, complete=True)
        else:
            self._changed(instance_uuid)

    def detach_legacy(self, ctx, volume_id: str, attachment_id: str | None) -> None:
        """``os-detach`` / ``os-force_detach``: the attachment (the only one when no
        id is given) goes; nothing when the volume has none; 400 for several and no
        id, 404 for an id not of this volume."""
        with self.m.read() as s:
            vol = self.m.volumes.get(ctx, volume_id, s)
            ids = [a.id for a in vol.attachments]
        if attachment_id is None:
            if not ids:  # nothing attached: Cinder's detach is a no-op then
                return
            if len(ids) != 1:
                raise invalid_volume(f"Volume {volume_id} has {len(ids)} attachments: "
                                     "name the attachment_id to detach.")
            attachment_id = ids[0]
        elif attachment_id not in ids:
            raise NotFoundError(f"Volume attachment {attachment_id} could not be found.")
        self.delete(ctx, attachment_id)

    def _set_legacy(self, attachment_id: str, status: str) -> None:
        with self.m.write() as s:
            att = s.get(models.Attachment, attachment_id)
            att.attach_status, att.updated_at = status, utcnow()
            self._volume_status(s.get(models.Volume, att.volume_id))

    # -- Nova's side -------------------------------------------------------------------
    def begin_detach(self, attachment_id: str) -> None:
        """Nova's detach: the attachment is ``detaching`` (the volume too) and leaves
        the compute feed; the agent's next report without it removes it
        (:meth:`agent_report`)."""
        with self.m.write() as s:
            att = s.get(models.Attachment, attachment_id)
            if att is None:
                return
            att.attach_status = "detaching"
            att.updated_at = utcnow()
            self._volume_status(s.get(models.Volume, att.volume_id))
            iid = att.instance_uuid
        self._changed(iid)

    def agent_report(self, instance_uuid: str, mapped: set[str]) -> None:
        """The server's host says which volumes it has as block devices: its
        ``attaching`` attachments of Nova's flow (``complete_on_report``) among them
        become ``attached`` (the volume ``in-use``), its ``detaching`` ones not among
        them are removed (the volume ``available`` when it has no other). Nothing else
        changes (a v3 API attachment waits for ``os-complete``)."""
        A = models.Attachment
        with self.m.read() as s:
            todo = [(a.id, a.volume_id, a.attach_status) for a in s.scalars(
                sa.select(A).where(A.instance_uuid == instance_uuid, sa.or_(
                    A.attach_status == "detaching", sa.and_(
                        A.attach_status == "attaching",
                        A.complete_on_report.is_(True)))))]
        todo = [t for t in todo if (t[2] == "attaching") == (t[1] in mapped)]
        if not todo:
            return
        with self.m.write() as s:
            for att_id, _, status in todo:
                att = s.get(A, att_id)
                if att is None or att.attach_status != status:
                    continue  # changed meanwhile
                vol = s.get(models.Volume, att.volume_id)
                if status == "attaching":
                    att.attach_status = "attached"
                    att.updated_at = utcnow()
                else:
                    vol.attachments.remove(att)
                self._volume_status(vol)

    def expire(self, timeout_s: float, now=None) -> list[tuple[str, str]]:
        """Attachments of Nova's flow stuck longer than ``timeout_s`` seconds (their
        host's agent is down or failing): ``attaching`` ones become
        ``error_attaching`` and leave the compute feed, ``detaching`` ones go back to
        ``attached`` (see the module doc). Returns ``(attachment id, new status)``."""
        import datetime as dt

        A = models.Attachment
        cutoff = (now or utcnow()) - dt.timedelta(seconds=float(timeout_s))
        stale = sa.and_(A.updated_at < cutoff, sa.or_(
            A.attach_status == "detaching", sa.and_(
                A.attach_status == "attaching", A.complete_on_report.is_(True))))
        with self.m.read() as s:  # the common case writes nothing
            if s.scalar(sa.select(A.id).where(stale).limit(1)) is None:
                return []
        done, servers, failed = [], set(), []
        with self.m.write() as s:
            for att in s.scalars(sa.select(A).where(stale)):
                att.attach_status = "error_attaching" \
                    if att.attach_status == "attaching" else "attached"
                att.updated_at = utcnow()
                vol = s.get(models.Volume, att.volume_id)
                self._volume_status(vol)
                done.append((att.id, att.attach_status))
                servers.add(att.instance_uuid)
                if att.attach_status == "error_attaching" and vol is not None:
                    failed.append((vol.id, vol.project_id))
        for volume_id, project_id in failed:  # the user's message (no request here)
            self.m.messages.attach_failed(volume_id, project_id)
        if done:
            LOG.warning(
                "volume attachments timed out after %ss (their compute agent did not "
                "report): %s", timeout_s, ", ".join(f"{a} -> {st}" for a, st in done))
        self._changed(*servers)
        return done

    def swap(self, ctx, instance_uuid: str, old_attachment_id: str, new_volume_id: str,
             host: str | None) -> models.Attachment:
        """Nova's swap (``PUT os-volume_attachments/{volume}``, admins): the new
        volume (``available``, unattached, at least the old one's size; else 400) is
        ``reserved`` for the server at the old attachment's device; the worker copies
        the old volume's data into it, then in one transaction the new attachment
        takes the old one's place (``attaching`` until the agent maps it, or at once
        on no host) and the old volume is detached. A failed copy leaves the old
        attachment as it was and the new volume ``available``. Writes the guest makes
        to the old device during the copy are not carried over."""
        A, V = models.Attachment, models.Volume
        with self.m.write() as s:
            old = s.get(A, old_attachment_id)
            if old is None or old.instance_uuid != instance_uuid:
                raise NotFoundError(f"VolumeAttachment {old_attachment_id} could not be "
                                    "found.")
            old_vol = s.get(V, old.volume_id)
            new_vol = self.m.volumes.get(ctx, new_volume_id, s)
            if new_vol.status != "available" or new_vol.attachments:
                raise invalid_volume(f"Volume {new_vol.id} status must be available to "
                                     f"swap to, but the current status is "
                                     f"{new_vol.status}.")
            if new_vol.size < old_vol.size:
                raise invalid_volume(f"Volume {new_vol.id} ({new_vol.size} GiB) is "
                                     f"smaller than volume {old_vol.id} "
                                     f"({old_vol.size} GiB) it would replace.")
            if old.attach_status != "attached":
                raise AlreadyAttached(message=f"Volume {old_vol.id} is "
                                      f"{old.attach_status}, not attached: it cannot be "
                                      "swapped now.")
            now = utcnow()
            att = A(id=str(uuid.uuid4()), volume_id=new_vol.id,
                    instance_uuid=instance_uuid, attached_host=host,
                    mountpoint=old.mountpoint, attach_status="reserved",
                    attach_mode="ro" if new_vol.readonly else old.attach_mode,
                    connector={"host": host, "mountpoint": old.mountpoint},
                    delete_on_termination=old.delete_on_termination,
                    complete_on_report=host is not None, created_at=now, updated_at=now)
            new_vol.attachments.append(att)
            self._volume_status(new_vol)
            s.flush()
            s.refresh(att)
            plan = (old_vol.host, old_vol.id, new_vol.host, new_vol.id)
        self.m.worker.submit(lambda: self._swap_copy(att.id, old_attachment_id, plan),
                             lambda e: self._swap_failed(att.id))
        return att

    def _swap_copy(self, new_att_id: str, old_att_id: str, plan: tuple) -> None:
        old_host, old_id, new_host, new_id = plan
        _, old_driver = self.m.backend_of(old_host)
        _, new_driver = self.m.backend_of(new_host)
        source = old_driver.read_path(old_id)
        new_driver.write_from(new_id, source)
        with self.m.write() as s:
            new = s.get(models.Attachment, new_att_id)
            old = s.get(models.Attachment, old_att_id)
            if new is None or new.attach_status != "reserved":
                return  # deleted meanwhile
            new.attach_status = "attaching" if new.complete_on_report else "attached"
            new.updated_at = utcnow()
            self._volume_status(s.get(models.Volume, new.volume_id))
            if old is not None:
                old_vol = s.get(models.Volume, old.volume_id)
                old_vol.attachments.remove(old)
                self._volume_status(old_vol)
            iid = new.instance_uuid
        self._changed(iid)

    def _swap_failed(self, new_att_id: str) -> None:
        with self.m.write() as s:
            new = s.get(models.Attachment, new_att_id)
            if new is None:
                return
            vol = s.get(models.Volume, new.volume_id)
            vol.attachments.remove(new)
            self._volume_status(vol)

    def set_host(self, instance_uuid: str, host: str | None) -> None:
        """The server's host is known (boot from volume attaches before scheduling):
        its attachments' ``attached_host``."""
        if host is None:
            return
        with self.m.write() as s:
            for att in s.scalars(sa.select(models.Attachment).where(
                    models.Attachment.instance_uuid == instance_uuid)):
                att.attached_host = host
                if att.connector is not None:
                    att.connector = {**att.connector, "host": host}

    def of_instance(self, instance_uuid: str) -> list[models.Attachment]:
        with self.m.read() as s:
            return list(s.scalars(sa.select(models.Attachment).where(
                models.Attachment.instance_uuid == instance_uuid).order_by(
                models.Attachment.mountpoint)))

    def servers_of(self, volume_id: str) -> list[str]:
        """The ids of the servers the volume is attached to (or being attached to or
        detached from: Nova's block device mappings of the volume), oldest first."""
        A = models.Attachment
        with self.m.read() as s:
            return list(s.scalars(sa.select(A.instance_uuid).where(
                A.volume_id == volume_id, A.instance_uuid.is_not(None),
                A.attach_status != "error_attaching").order_by(A.created_at, A.id)))

    def all_attached(self) -> dict[str, list[models.Attachment]]:
        """Every attachment with a server, by server id (one query, for lists)."""
        out: dict[str, list[models.Attachment]] = {}
        with self.m.read() as s:
            for att in s.scalars(sa.select(models.Attachment).where(
                    models.Attachment.instance_uuid.is_not(None)).order_by(
                    models.Attachment.mountpoint)):
                out.setdefault(att.instance_uuid, []).append(att)
        return out

    def detach_instance(self, instance_uuid: str) -> list[str]:
        """The server is gone: remove its attachments; returns the ids of the volumes
        to delete (``delete_on_termination``)."""
        doomed = []
        with self.m.write() as s:
            for att in s.scalars(sa.select(models.Attachment).where(
                    models.Attachment.instance_uuid == instance_uuid)):
                vol = s.get(models.Volume, att.volume_id)
                vol.attachments.remove(att)
                self._volume_status(vol)
                if att.delete_on_termination:
                    doomed.append(vol.id)
        return doomed

    def on_server_deleted(self, instance_uuid: str) -> None:
        """Nova's side of a server delete: detach, then delete the volumes marked
        ``delete_on_termination``."""
        for vid in self.detach_instance(instance_uuid):
            try:
                self.m.volumes.delete(None, vid, cascade=True)
            except exc.KumoError:
                pass
