"""Server actions (Compute API "Servers - run an action (servers, action)"), the agents'
status reports that complete them, and instance actions ("Servers actions
(servers, os-instance-actions)").

An action checks the server's state as the reference does (409 otherwise), sets the
``task_state`` and changes the desired state the agent realizes (``power``,
``reboot_seq``, ``rebuild_seq``, ``host``, ``flavor``...). The agent's status report
(``POST /compute/kumo/v1/instances/{id}/status``) then finishes the task: for example
``powering-off`` + ``shutdown`` -> SHUTOFF. A report with ``error`` during a boot
reschedules on another host (up to ``scheduler_max_attempts``), else sets ERROR with a
``fault``.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kumo.common import exceptions as exc
from kumo.common.timeutils import isotime, utcnow
from kumo.db import after_commit

from kumo.compute.models import Console, Diagnostics, Instance, InstanceAction, ServerGroup
from kumo.compute.scheduler import NoValidHost
from kumo.compute.servers import InstanceInvalidState, InstanceNotFound, server_sysmeta

#: The console tail kept per instance (characters).
CONSOLE_MAX = 65536
_CONSOLE = Console.__table__
_DIAGNOSTICS = Diagnostics.__table__
POWER = {"nostate": 0, "running": 1, "paused": 3, "shutdown": 4, "crashed": 6}
BOOTING = ("spawning", "scheduling", "networking", "block_device_mapping")
LOG = logging.getLogger(__name__)
#: task_state -> (reported power state, resulting vm_state)
COMPLETES = {
    "spawning": ("running", "active"), "rebuilding": ("running", "active"),
    "rebuild_spawning": ("running", "active"), "rebooting": ("running", "active"),
    "reboot_started": ("running", "active"), "rebooting_hard": ("running", "active"),
    "reboot_started_hard": ("running", "active"), "powering-off": ("shutdown", "stopped"),
    "powering-on": ("running", "active"), "pausing": ("paused", "paused"),
    "unpausing": ("running", "active"), "resize_migrating": ("running", "resized"),
    "resize_finish": ("running", "resized"), "resize_reverting": ("running", "active"),
    "suspending": ("paused", "suspended"), "resuming": ("running", "active"),
    "unshelving": ("running", "active"),
    "rescuing": ("running", "rescued"), "unrescuing": ("running", "active"),
    "migrating": ("running", "active"),
}


class Actions:
    def __init__(self, compute):
        self.compute = compute

    # -- instance actions ------------------------------------------------------------------
    def record(self, session, ctx, row: Instance, action: str, request_id: str,
               done: bool = False, event: str | None = None) -> None:
        """Add server ``row``'s instance action ``action`` (os-instance-actions) with
        one event on its host: ``event`` (default Nova's ``compute_<action>_instance``),
        in progress until the agent's report finishes it (:meth:`_finish`), or with
        ``done`` finished now ("Success"). ``ctx`` None: no user (an
        event from another service, e.g. Cinder's ``volume-extended``)."""
        now = utcnow()
        result = "Success" if done else None
        session.add(InstanceAction(
            instance_id=row.id, request_id=request_id, action=action,
            project_id=row.project_id, user_id=getattr(ctx, "user_id", None) or "",
            message=None, start_time=now, updated_at=now,
            events=[{"event": event or f"compute_{action}_instance",
                     "start_time": now.isoformat(),
                     "finish_time": now.isoformat() if result else None,
                     "result": result, "traceback": None, "host": row.host}]))

    def _finish(self, session, row: Instance, error: str | None = None) -> None:
        last = session.scalar(sa.select(InstanceAction).where(
            InstanceAction.instance_id == row.id).order_by(InstanceAction.id.desc()).limit(1))
        if last is None:
            return
        now = utcnow().isoformat()
        events = [dict(e) for e in last.events]
        for e in events:
            if e.get("finish_time") is None:
                e["finish_time"] = now
                e["result"] = "Error" if error else "Success"
                e["traceback"] = error
        last.events = events
        if error:
            last.message = "Error"
        last.updated_at = utcnow()

    def list(self, ctx, server_id: str) -> list[InstanceAction]:
        with self.compute.read() as s:
            self.compute.servers.get(s, ctx, server_id, deleted=True)
            return list(s.scalars(sa.select(InstanceAction).where(
                InstanceAction.instance_id == server_id)
                .order_by(InstanceAction.id.desc())))

    def get(self, ctx, server_id: str, request_id: str) -> InstanceAction:
        with self.compute.read() as s:
            self.compute.servers.get(s, ctx, server_id, deleted=True)
            found = s.scalar(sa.select(InstanceAction).where(
                InstanceAction.instance_id == server_id,
                InstanceAction.request_id == request_id))
            if found is None:
                raise exc.NotFound(f"Action for request_id {request_id} on instance "
                                   f"{server_id} not found")
            return found

    # -- actions ---------------------------------------------------------------------------
    def run(self, ctx, server_id: str, action: str, request_id: str, apply,
            states: tuple, tasks: tuple = (None,), lock_exempt: bool = False,
            network: bool = False, placed: bool = True):
        """Check state and lock, then ``apply(session, row)`` in one write."""
        c = self.compute
        with c.write(network=network) as s:
            row = c.servers.get(s, ctx, server_id)
            # agents' reports take no revision, only this row: read it as they left it
            s.refresh(row, with_for_update=True)
            if not lock_exempt:
                c.servers.check_unlocked(ctx, row)
            if row.vm_state not in states or row.task_state not in tasks:
                raise InstanceInvalidState(row, action)
            if row.host is None and not lock_exempt and placed:
                raise exc.Conflict(f"Cannot '{action}' instance {row.id}: it was never "
                                   "placed on a host")
            result = apply(s, row)
            row.updated_at = utcnow()
            self.record(s, ctx, row, action, request_id, done=row.task_state is None)
            c.changed(s, row)
            return result

    def reboot(self, ctx, sid, rid, kind: str):
        def apply(s, row):
            row.reboot_seq += 1
            row.reboot_type = kind
            row.power = "on"
            row.task_state = "reboot_started_hard" if kind == "HARD" else "reboot_started"
        if kind == "HARD":
            return self.run(ctx, sid, "reboot", rid, apply,
                            ("active", "stopped", "paused", "suspended", "error"),
                            (None, "reboot_started", "rebooting", "reboot_pending"))
        return self.run(ctx, sid, "reboot", rid, apply, ("active",))

    def stop(self, ctx, sid, rid):
        def apply(s, row):
            row.power, row.task_state = "off", "powering-off"
        return self.run(ctx, sid, "stop", rid, apply, ("active", "error"))

    def start(self, ctx, sid, rid):
        def apply(s, row):
            row.power, row.task_state = "on", "powering-on"
        return self.run(ctx, sid, "start", rid, apply, ("stopped",))

    def pause(self, ctx, sid, rid):
        def apply(s, row):
            row.power, row.task_state = "paused", "pausing"
        return self.run(ctx, sid, "pause", rid, apply, ("active",))

    def unpause(self, ctx, sid, rid):
        def apply(s, row):
            row.power, row.task_state = "on", "unpausing"
        return self.run(ctx, sid, "unpause", rid, apply, ("paused",))

    def lock(self, ctx, sid, rid, reason: str | None):
        def apply(s, row):
            row.locked, row.locked_reason = True, reason
            row.locked_by = "admin" if ctx.is_admin else "owner"
        return self.run(ctx, sid, "lock", rid, apply, _ANY_STATE, _ANY_TASK,
                        lock_exempt=True)

    def unlock(self, ctx, sid, rid):
        def apply(s, row):
            if row.locked_by == "admin" and not ctx.is_admin:
                raise exc.PolicyNotAuthorized(
                    action="os_compute_api:os-lock-server:unlock:unlock_override")
            row.locked, row.locked_reason, row.locked_by = False, None, None
        return self.run(ctx, sid, "unlock", rid, apply, _ANY_STATE, _ANY_TASK,
                        lock_exempt=True)

    def rebuild(self, ctx, sid, rid, image: dict | None, attrs: dict):
        def apply(s, row):
            if image is not None:
                row.image, row.image_id = image, image["id"]
            for key, col in (("name", "display_name"), ("description", "description")):
                if key in attrs:
                    setattr(row, col, attrs[key])
            if "metadata" in attrs:
                row.meta = dict(attrs["metadata"])
            if server_sysmeta(attrs):
                row.system_metadata = {**(row.system_metadata or {}),
                                       **server_sysmeta(attrs)}
            if "user_data" in attrs:
                row.user_data = attrs["user_data"]
            if "key_name" in attrs:
                row.key_name = attrs["key_name"]
                row.key_data = attrs.get("key_data")
            row.rebuild_seq += 1
            # Nova: a stopped server is rebuilt and stays stopped (SHUTOFF)
            row.power = "off" if row.vm_state == "stopped" else "on"
            row.task_state, row.fault = "rebuilding", None
            if row.vm_state == "error":
                row.vm_state = "active"
        return self.run(ctx, sid, "rebuild", rid, apply, ("active", "stopped", "error"))

    def resize(self, ctx, sid, rid, flavor: dict, disk_config: str | None = None):
        """Resize; to another host between netns hosts the root filesystem moves with
        the server as in a cold migration
        (:meth:`kumo.compute.lifecycle.Lifecycle.migrate`)."""
        c = self.compute
        transient = c.snapshots.transient(ctx, sid, "resize")
        used = {}

        def apply(s, row):
            if flavor["id"] == (row.flavor or {}).get("id"):
                raise exc.BadRequest("When resizing, instances must change flavor!")
            if flavor["disk"] < row.root_gb:
                raise exc.BadRequest("Resize error: Unable to resize disk down.")
            c.quotas.check_servers(s, row.project_id, 1, max(
                flavor["vcpus"] - row.vcpus, 0), max(flavor["ram"] - row.memory_mb, 0), 1)
            # the server's own usage is freed for the choice (same host allowed)
            old = {"vcpus": row.vcpus, "ram": row.memory_mb, "disk": row.root_gb}
            cands = c.scheduler.candidates(s)
            for cand in cands:
                if cand.host == row.host:
                    cand.free_vcpus += old["vcpus"]
                    cand.free_ram += old["ram"]
                    cand.free_disk += old["disk"]
            try:
                pick = c.scheduler.select(s, flavor, 1, row.requested_az,
                                          candidates=cands)[0]
            except NoValidHost as e:
                raise exc.BadRequest(e.message) from None
            row.old_flavor, row.old_host = dict(row.flavor), row.host
            row.flavor = flavor
            if disk_config:
                row.system_metadata = {**(row.system_metadata or {}),
                                       "disk_config": disk_config}
            row.vcpus, row.memory_mb, row.root_gb = flavor["vcpus"], flavor["ram"], \
                flavor["disk"]
            if pick.host != row.host and c.snapshots.movable(s, row, pick, transient):
                m = c.lifecycle._migration(s, ctx, row, "resize", "migrating", pick.host,
                                           pick.node, flavor["id"])
                used["move"] = c.snapshots.pend_move(row, transient, pick, m, "resize")
                return
            c.lifecycle.record_resize(s, ctx, row, row.old_host, flavor["id"])
            if pick.host != row.host:
                c.changed(s, row, "delete", host=row.host)
                row.host, row.node = pick.host, pick.node
                c.servers.rebind(s, row, row.host)
                row.task_state = "resize_migrating"
            else:
                row.vm_state, row.task_state = "resized", None
        try:
            return self.run(ctx, sid, "resize", rid, apply, ("active", "stopped"),
                            network=True)
        finally:
            if transient is not None and not used:
                c.snapshots._delete(transient.id)

    def confirm_resize(self, ctx, sid, rid):
        """confirmResize: the move is kept; a cold move's source copy (the transient
        image, ``resize_image_id``) is deleted (once the guest booted from it)."""
        def apply(s, row):
            row.old_flavor, row.old_host = None, None
            row.vm_state = "active" if row.power != "off" else "stopped"
            self.compute.lifecycle.settle(s, row, "confirmed")
            meta = dict(row.system_metadata or {})
            kept = meta.pop("resize_image_id", None)
            meta.pop("resize_source", None)
            if kept and meta.get("boot_image"):
                meta["moved_image_id"] = kept  # not booted yet: deleted once it runs
            elif kept:
                after_commit(s, lambda: self.compute.snapshots._delete(kept))
            row.system_metadata = meta
        return self._resized(ctx, sid, rid, "confirmResize", apply)

    def revert_resize(self, ctx, sid, rid):
        """revertResize: back to the old flavor and host; after a cold move between
        netns hosts the source boots its root filesystem as it was when the move
        began (the transient image, deleted once the guest runs)."""
        c = self.compute
        with c.read() as s:
            kept = (c.servers.get(s, ctx, sid).system_metadata or {}).get(
                "resize_image_id")
        boot = c.snapshots.boot_image(kept) if kept else None

        def apply(s, row):
            old = row.old_flavor
            c.lifecycle.settle(s, row, "reverted")
            row.flavor = old
            row.vcpus, row.memory_mb, row.root_gb = old["vcpus"], old["ram"], old["disk"]
            meta = dict(row.system_metadata or {})
            image_id = meta.pop("resize_image_id", None)
            source = meta.pop("resize_source", None) or {}
            if row.old_host and row.old_host != row.host:
                c.changed(s, row, "delete", host=row.host)
                row.host = row.old_host
                if image_id:
                    row.node = source.get("node") or row.node
                    row.availability_zone = source.get("az") or row.availability_zone
                    meta.pop("boot_image", None)
                    if boot is not None and boot["id"] == image_id:
                        meta.update(boot_image=boot, moved_image_id=image_id)
                    else:
                        after_commit(s, lambda: c.snapshots._delete(image_id))
                c.servers.rebind(s, row, row.host)
                if image_id and row.power == "off":
                    row.vm_state, row.task_state = "stopped", None
                else:
                    row.task_state = "resize_reverting"
            else:
                row.vm_state = "active"
            row.system_metadata = meta
            row.old_flavor, row.old_host = None, None
        return self._resized(ctx, sid, rid, "revertResize", apply)

    def _resized(self, ctx, sid, rid, action, apply):
        with self.compute.read() as s:
            row = self.compute.servers.get(s, ctx, sid)
            if row.vm_state != "resized":
                raise exc.BadRequest("Instance has not been resized.") \
                    if row.task_state is None else InstanceInvalidState(row, action)
        return self.run(ctx, sid, action, rid, apply, ("resized",), network=True)

    def console(self, ctx, sid, length: int | None) -> str:
        """The console tail the agent last reported (``compute_console``), its last
        ``length`` lines when given; 409 while building or in error with none yet."""
        with self.compute.read() as s:
            row = self.compute.servers.get(s, ctx, sid)
            text = s.scalar(sa.select(Console.text).where(Console.instance_id == row.id))
            if row.vm_state in ("building", "error") and not text:
                raise exc.Conflict(f"Instance {sid} is not ready")
            text = text or ""
        if length is not None:  # Nova's ``_tail_log``: the last ``length`` pieces of
            # the text split at newlines, joined again (so "a\nb\n" with 1 is "")
            text = "\n".join(text.split("\n")[-length:]) if length > 0 else ""
        return text

    def create_image(self, ctx, sid, rid, name: str, metadata: dict) -> str:
        """Snapshot the server's root filesystem into a new image (see
        :mod:`kumo.compute.snapshots`); returns the image id at once (the image is
        ``queued``, then ``saving``, then ``active``)."""
        return self.compute.snapshots.start(ctx, sid, rid, "createImage", "snapshot",
                                            name, metadata)

    # -- agent status reports ------------------------------------------------------------
    def report(self, instance_id: str, body: dict) -> None:
        """Apply an agent's status report (see the module doc); 404 unknown instance,
        409 if it is no longer on the reporting host.

        A report records what the host observed (power state, a finished task, an
        error) and changes no desired state, so it takes no revision row: one short
        transaction locking just the instance's row (``FOR UPDATE`` on PostgreSQL;
        actions lock it too, see :meth:`run`). Only a report that must change desired
        state runs again inside :meth:`Compute.write`: a failed boot that reschedules
        (``network=True``: ports are re-bound) and a guest that stopped on its own
        (``power`` becomes ``off``). The console tail is written afterwards in its own
        transaction (``compute_console``), and so are the ``diagnostics`` counters
        (``compute_diagnostics``, the last report replacing the one before)."""
        c = self.compute
        with c.db.session() as s:
            need = self._apply_report(s, self._reporting(s, instance_id, body), body,
                                      locked=False)
        if need is not None:
            with c.write(network=need == "network") as s:
                self._apply_report(s, self._reporting(s, instance_id, body), body,
                                   locked=True)
        if body.get("console") is not None:
            self.save_console(instance_id, body["console"][-CONSOLE_MAX:])
        if body.get("diagnostics") is not None:
            self._upsert(_DIAGNOSTICS, instance_id, data=body["diagnostics"])
        if body.get("volumes") is not None:
            vm = getattr(c.cloud, "volumes", None)
            if vm is not None:
                vm.attachments.agent_report(instance_id, set(body["volumes"]))

    @staticmethod
    def _reporting(session, instance_id: str, body: dict) -> Instance:
        row = session.scalar(sa.select(Instance).where(
            Instance.id == instance_id, Instance.deleted.is_(False)).with_for_update())
        if row is None:
            raise InstanceNotFound(id=instance_id)
        if row.host != body["host"]:
            raise exc.Conflict(f"Instance {instance_id} is not on host {body['host']}")
        return row

    def _apply_report(self, s, row: Instance, body: dict, locked: bool) -> str | None:
        """Apply ``body`` to ``row``; unless ``locked``, return ``"network"`` or
        ``"compute"`` instead (changing nothing) when desired state must change."""
        if body.get("error"):
            if row.vm_state == "building" and not locked:
                return "network"  # a reschedule: new host, ports re-bound, feed changes
            self._failed(s, row, body["error"])
            return None
        current = (body.get("reboot_seq", row.reboot_seq) == row.reboot_seq
                   and body.get("rebuild_seq", row.rebuild_seq) == row.rebuild_seq)
        state = body.get("power_state") or "nostate"
        if not current:
            return None
        task = row.task_state
        done = COMPLETES.get(task)
        if (row.system_metadata or {}).get("snapshot") and task in (
                "migrating", "resize_migrating"):
            done = None  # a move's upload is pending: the guest runs on the source yet
        if task == "migrating" and row.power == "paused":  # a paused server moved live
            done = ("paused", "paused")
        if task == "rebuilding" and row.power == "off":  # a stopped server rebuilt
            done = ("shutdown", "stopped")
        stopped = (done is None and task is None and row.vm_state == "active"
                   and state in ("shutdown", "crashed"))
        if stopped and not locked:
            return "compute"  # the guest stopped: desired power becomes off
        power_state = POWER.get(state, 0)
        if state == "paused" and (row.vm_state == "suspended" or task == "suspending"):
            power_state = 7  # Nova's SUSPENDED: the frozen guest of a suspend
        changed = row.power_state != power_state
        row.power_state = power_state
        if done is not None and done[0] == state:
            if task == "spawning" or row.launched_at is None:
                row.launched_at = utcnow()
            row.vm_state, row.task_state = done[1], None
            if task in ("unshelving", "migrating") or (
                    state == "running" and (row.system_metadata or {}).get("boot_image")):
                self._booted(s, row, task)
            self._finish(s, row)
            changed = True
        elif stopped:
            row.vm_state, row.power = "stopped", "off"
            self.compute.changed(s, row)
            changed = True
        if changed:
            row.updated_at = utcnow()
        return None

    def _booted(self, s, row: Instance, task: str) -> None:
        """The guest runs after an unshelve or a move (a move by stop and restart, or
        the revert of a cold one; a cold move's ``resize_image_id`` is kept): forget the image it booted from (the shelved snapshot, the move's
        transient one) and delete it, as Nova does after the spawn; a move's migration
        is ``completed``."""
        meta = dict(row.system_metadata or {})
        doomed = [meta.pop("moved_image_id", None)]
        if task == "unshelving":
            doomed.append(meta.pop("shelved_image_id", None))
            for key in ("shelved_at", "shelved_host"):
                meta.pop(key, None)
        meta.pop("boot_image", None)
        moving = meta.pop("moving_migration", None)
        row.system_metadata = meta
        if moving:
            from kumo.compute.models import Migration
            m = s.scalar(sa.select(Migration).where(Migration.uuid == moving))
            if m is not None:
                m.status, m.updated_at = "completed", utcnow()
        for image_id in filter(None, doomed):
            after_commit(s, lambda i=image_id: self.compute.snapshots._delete(i))

    def save_console(self, instance_id: str, text: str) -> None:
        """Store an instance's console tail (one upsert in its own transaction)."""
        self._upsert(_CONSOLE, instance_id, text=text)

    def _upsert(self, table, instance_id: str, **values) -> None:
        """Insert or replace ``table``'s row of the instance (one statement in its own
        transaction), with ``updated_at`` now."""
        with self.compute.db.session() as s:
            insert = (pg_insert if s.get_bind().dialect.name == "postgresql"
                      else sqlite_insert)(table)
            s.execute(insert.values(instance_id=instance_id, updated_at=utcnow(),
                                    **values).on_conflict_do_update(
                index_elements=[table.c.instance_id],
                set_={k: insert.excluded[k] for k in (*values, "updated_at")}))

    def _failed(self, session, row: Instance, error: str) -> None:
        c = self.compute
        now = utcnow()
        if row.vm_state == "building":
            tried = list(row.tried_hosts or [])
            if len(tried) < c.settings.scheduler_max_attempts:
                try:
                    group_hosts = []
                    group = session.get(ServerGroup, row.server_group_id) \
                        if row.server_group_id else None
                    if group is not None:
                        group_hosts = list(session.scalars(sa.select(Instance.host).where(
                            Instance.id.in_(group.members), Instance.id != row.id,
                            Instance.host.is_not(None), Instance.deleted.is_(False))))
                    cands = c.scheduler.candidates(session)
                    pick = c.scheduler.select(session, {
                        "vcpus": row.vcpus, "ram": row.memory_mb, "disk": row.root_gb},
                        1, row.requested_az, group, exclude=tuple(tried),
                        group_hosts=group_hosts, candidates=cands)[0]
                except NoValidHost as e:
                    pick, why = None, e.reason
                if pick is not None:
                    LOG.error("Build of instance %s on host %s failed: %s; rescheduled to "
                              "host %s (attempt %d of %d)", row.id, row.host, error,
                              pick.host, len(tried) + 1, c.settings.scheduler_max_attempts)
                    c.changed(session, row, "delete", host=row.host)
                    row.host, row.node, row.availability_zone = pick.host, pick.node, pick.az
                    row.tried_hosts = tried + [pick.host]
                    c.servers.rebind(session, row, row.host)
                    row.updated_at = now
                    c.changed(session, row)
                    return
                message = ("No valid host was found. There are not enough hosts "
                           f"available. Last exception: {error}")
                LOG.error("Build of instance %s on host %s failed: %s; no other host "
                          "(%s): instance set to ERROR", row.id, row.host, error, why)
            else:
                message = (f"Exceeded maximum number of retries. Exceeded max scheduling "
                           f"attempts {c.settings.scheduler_max_attempts} for instance "
                           f"{row.id}. Last exception: {error}")
                LOG.error("Build of instance %s on host %s failed: %s; attempts "
                          "exhausted (%d): instance set to ERROR", row.id, row.host,
                          error, c.settings.scheduler_max_attempts)
        else:
            message = error
            LOG.error("Instance %s on host %s failed (task %s): %s: instance set to "
                      "ERROR", row.id, row.host, row.task_state or "none", error)
        row.vm_state, row.task_state = "error", None
        row.fault = {"code": 500, "message": message[:255], "details": error,
                     "created": isotime(now, subsecond=False)}
        row.updated_at = now
        self._finish(session, row, error)


_ANY_STATE = ("active", "building", "stopped", "paused", "suspended", "resized", "error",
              "rescued", "shelved", "shelved_offloaded", "soft-deleted")
_ANY_TASK = (None, "spawning", "rebooting", "reboot_started", "rebooting_hard",
             "reboot_started_hard", "powering-off", "powering-on", "pausing", "unpausing",
             "rebuilding", "resize_migrating", "resize_reverting", "image_snapshot",
             "suspending", "resuming", "shelving", "unshelving", "rescuing", "unrescuing",
             "migrating", "image_backup", "image_pending_upload", "image_uploading",
             "shelving_image_pending_upload", "shelving_image_uploading")
