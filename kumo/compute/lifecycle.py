"""The server actions beyond power and resize (Compute API "Servers - run an action"):
suspend/resume, shelve/shelveOffload/unshelve, rescue/unrescue, os-resetState,
createBackup, add/removeSecurityGroup, add/removeFloatingIp, migrate, os-migrateLive,
evacuate, trigger_crash_dump; and the migration records (``os-migrations``).

Each runs through :meth:`kumo.compute.actions.Actions.run` (lock, vm_state/task_state
check with Nova's 409 "Cannot 'X' instance ... while it is in vm_state Y", one write,
the instance action recorded, the agents' feed changed). What the host does:

- suspend: desired ``power`` ``paused`` (the netns driver freezes the instance's
  processes with the cgroup freezer, as pause does); the report completes
  ``suspending`` -> SUSPENDED with power state 7 (Nova's SUSPENDED). resume thaws.
- shelve: the guest is powered off and its root filesystem snapshot into the image
  ``<name>-shelved`` (:mod:`kumo.compute.snapshots`); once uploaded, with
  ``shelved_offload_time`` 0 (Nova's default) it is offloaded at once:
  shelveOffload takes the instance off its host (the agent destroys it, its capacity is
  free, its ports unbound), SHELVED_OFFLOADED. unshelve schedules it again (2.77
  ``availability_zone``, 2.91 ``host``), re-binds the ports and boots it from the
  shelved image, which is deleted once the guest runs.
- rescue/unrescue restart the guest (``reboot_seq``) into the rescue image (the
  feed's ``rescue``: ``rescue_image_ref`` or the server's own image; the netns driver
  mounts the server's root at ``/mnt/rescue``) and back; they end RESCUE / ACTIVE.
- migrate (cold): the scheduler picks another host (2.56 ``host``); the instance moves
  and waits in VERIFY_RESIZE for confirmResize/revertResize as Nova's. Between netns
  hosts (:data:`MOVE_DRIVERS`) its root filesystem moves with it through a hidden
  transient image (as the live move's), kept as the source's copy until confirm
  (deleted) or revert (the source boots it again); elsewhere it is destroyed on the
  source and booted from its image. One host: 400 "No valid host was found.".
- os-migrateLive: only between hosts whose driver can (the fake driver moves the
  instance and it stays ACTIVE/PAUSED); the netns driver cannot: before 2.25 a 400
  "Migration pre-check error", from 2.25 (asynchronous in Nova) a 202 with the
  migration in ``error`` and the server unchanged.
- evacuate: only off a host whose compute service is down or forced down (400 "Compute
  service of H is still in use."); rebuilt on another host from its image, as Nova
  without shared storage (nothing can be copied off a down host, and Kumo's hosts share
  no instance storage): the root filesystem's changes are lost; a volume-backed
  server keeps its root volume.
"""
from __future__ import annotations

import secrets
import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute.models import Host, Instance, Migration
from kumo.compute.scheduler import NoValidHost

#: Drivers that can move a running instance (live migration).
LIVE_MIGRATION_DRIVERS = ("fake",)
#: Drivers whose live migration is a move by stop and restart (root filesystem copied
#: through a transient image; not memory-preserving).
MOVE_DRIVERS = ("netns",)
SUSPENDED = 7  # Nova's power_state.SUSPENDED


def password() -> str:
    """A generated admin password (Nova's ``utils.generate_password`` length 12)."""
    return secrets.token_urlsafe(9)[:12]


class HostNotFound(exc.NotFound):
    """A move's requested host is unknown: 404 for evacuate, 400 for migrations."""


class Lifecycle:
    def __init__(self, compute):
        self.compute = compute

    @property
    def actions(self):
        return self.compute.actions

    # -- suspend / resume --------------------------------------------------------------
    def suspend(self, ctx, sid, rid):
        def apply(s, row):
            row.power, row.task_state = "paused", "suspending"
        return self.actions.run(ctx, sid, "suspend", rid, apply, ("active",))

    def resume(self, ctx, sid, rid):
        def apply(s, row):
            row.power, row.task_state = "on", "resuming"
        return self.actions.run(ctx, sid, "resume", rid, apply, ("suspended",))

    # -- shelve ----------------------------------------------------------------------------
    def shelve(self, ctx, sid, rid):
        """Power off, snapshot the root filesystem into ``<name>-shelved`` and end
        SHELVED (offloaded at once with ``shelved_offload_time`` 0): the snapshot's end
        does that (:meth:`kumo.compute.snapshots.Snapshots.finished`)."""
        c = self.compute
        with c.read() as s:
            row = c.servers.get(s, ctx, sid)
            name = row.display_name
            backed = c.snapshots.boot_volume(s, row) is not None
        if backed:
            # as Nova: a volume-backed server is shelved without an image (its root
            # stays in the volume, attached again where it is unshelved)
            def shelve_now(s, row):
                row.power = "off"
                row.vm_state, row.task_state, row.power_state = "shelved", None, 4
                if c.settings.shelved_offload_time == 0:
                    self._offload(s, row)
            return self.actions.run(ctx, sid, "shelve", rid, shelve_now,
                                    ("active", "stopped", "paused", "suspended"),
                                    network=True)

        def apply(s, row):
            row.power = "off"
        return c.snapshots.start(ctx, sid, rid, "shelve", "shelve", f"{name}-shelved",
                                 apply=apply)

    def _offload(self, s, row):
        c = self.compute
        if row.host:
            c.changed(s, row, "delete", host=row.host)
        c.servers.rebind(s, row, None)
        row.host, row.node = None, None
        row.vm_state, row.task_state, row.power_state = "shelved_offloaded", None, 0

    def shelve_offload(self, ctx, sid, rid):
        def apply(s, row):
            self._offload(s, row)
        return self.actions.run(ctx, sid, "shelveOffload", rid, apply, ("shelved",),
                                network=True)

    def unshelve(self, ctx, sid, rid, az: str | None = None, host: str | None = None,
                 az_given: bool = False):
        c = self.compute
        with c.read() as s:
            shelved = (c.servers.get(s, ctx, sid).system_metadata or {}).get(
                "shelved_image_id")
        # an offloaded server boots from its shelved snapshot (deleted once it runs)
        boot = c.snapshots.boot_image(shelved) if shelved else None

        def apply(s, row):
            row.power = "on"
            # a fresh boot, also where the host had not yet removed the offloaded
            # instance (its report must differ from the last one it sent)
            row.reboot_seq += 1
            row.reboot_type = "HARD"
            if row.vm_state == "shelved_offloaded" and boot is not None:
                row.system_metadata = {**(row.system_metadata or {}),
                                       "boot_image": boot}
            if row.vm_state == "shelved":
                if az_given or host:
                    raise exc.Conflict(f"The availability_zone or host can only be "
                                       f"specified when unshelving a server in the "
                                       f"SHELVED_OFFLOADED state: {row.id}")
                row.task_state = "unshelving"
                return
            zone = az if az_given else row.requested_az
            if host:
                if s.scalar(sa.select(Host.id).where(Host.host == host)) is None:
                    raise exc.BadRequest(f"Compute host {host} could not be found.")
            try:
                cands = c.scheduler.candidates(s)
                if host:
                    cands = [x for x in cands if x.host == host]
                pick = c.scheduler.select(s, {"vcpus": row.vcpus, "ram": row.memory_mb,
                                              "disk": row.root_gb}, 1, zone,
                                          candidates=cands)[0]
            except NoValidHost as e:
                raise exc.BadRequest(e.message) from None
            row.host, row.node, row.availability_zone = pick.host, pick.node, pick.az
            if az_given:
                row.requested_az = az
            c.servers.rebind(s, row, row.host)
            row.task_state = "unshelving"
        self.actions.run(ctx, sid, "unshelve", rid, apply,
                         ("shelved", "shelved_offloaded"), network=True, placed=False)

    # -- rescue ----------------------------------------------------------------------------
    def rescue(self, ctx, sid, rid, admin_pass: str | None, image_ref: str | None = None,
               volume_backed_ok: bool = False) -> str:
        """Boot the rescue image (``image_ref``, else the server's own image) with the
        server's root beside it (the driver's rescue layout, e.g. the netns driver's
        ``/mnt/rescue``). 400 for an image the hosts cannot boot, and for a
        volume-backed server unless ``volume_backed_ok`` (Nova's 2.87)."""
        c = self.compute
        pw = admin_pass or password()
        with c.read() as s:
            row = c.servers.get(s, ctx, sid)
            own = dict(row.image or {})
            backed = c.snapshots.boot_volume(s, row) is not None
        if backed and not volume_backed_ok:
            raise exc.BadRequest(f"Instance {sid} cannot be rescued: Cannot rescue a "
                                 "volume-backed instance")
        image = own
        if image_ref:
            image = c.snapshots.boot_image(image_ref)
            if image is None:
                raise exc.BadRequest(f"Image {image_ref} could not be found.")
            if own.get("kumo_rootfs") and image.get("kumo_rootfs") != own["kumo_rootfs"]:
                raise exc.BadRequest(
                    f"Instance {sid} cannot be rescued: image {image_ref} is not a root "
                    f"filesystem the hosts boot (property kumo_rootfs="
                    f"{own['kumo_rootfs']})")
        rescue = {k: image.get(k) for k in ("id", "container_format", "disk_format",
                                            "size", "checksum", "kumo_rootfs")}

        def apply(s, row):
            row.reboot_seq += 1
            row.reboot_type = "HARD"
            row.power, row.task_state = "on", "rescuing"
            row.system_metadata = {**(row.system_metadata or {}), "rescue_image": rescue}
        self.actions.run(ctx, sid, "rescue", rid, apply, ("active", "stopped", "error"))
        return pw

    def unrescue(self, ctx, sid, rid):
        def apply(s, row):
            row.reboot_seq += 1
            row.reboot_type = "HARD"
            row.power, row.task_state = "on", "unrescuing"
            meta = dict(row.system_metadata or {})
            meta.pop("rescue_image", None)
            row.system_metadata = meta
        return self.actions.run(ctx, sid, "unrescue", rid, apply, ("rescued",))

    # -- admin -----------------------------------------------------------------------------
    def reset_state(self, ctx, sid, rid, state: str):
        from kumo.compute.actions import _ANY_STATE, _ANY_TASK

        def apply(s, row):
            row.vm_state, row.task_state = state, None
            if (row.system_metadata or {}).get("snapshot"):
                # the host stops being asked for it (an upload still under way is
                # refused: no snapshot in progress); the image stays, as in Nova
                row.system_metadata = {k: v for k, v in row.system_metadata.items()
                                       if k != "snapshot"}
        return self.actions.run(ctx, sid, "resetState", rid, apply, _ANY_STATE + (
            "deleted",), _ANY_TASK + tuple(TASKS), lock_exempt=True, placed=False)

    def trigger_crash_dump(self, ctx, sid, rid):
        def apply(s, row):
            pass
        return self.actions.run(ctx, sid, "trigger_crash_dump", rid, apply, (
            "active", "paused", "rescued", "resized", "error"))

    # -- backups -----------------------------------------------------------------------
    def backup(self, ctx, sid, rid, name: str, backup_type: str, rotation: int,
               metadata: dict) -> str:
        """Snapshot the server into a backup image (as createImage does); once it is
        uploaded the oldest backups of ``backup_type`` beyond ``rotation`` are deleted
        (as Nova: with rotation 0 the new one goes too); returns the new image's id."""
        return self.compute.snapshots.start(
            ctx, sid, rid, "createBackup", "backup", name, metadata,
            extra={"backup_type": backup_type},
            pending={"backup_type": backup_type, "rotation": rotation})

    # -- security groups ---------------------------------------------------------------
    def security_group(self, ctx, sid, rid, name: str, add: bool):
        c = self.compute
        found = c.networking.port_api.find_security_group(ctx, name)
        if found is None:
            raise exc.NotFound(f"Security group {name} not found for project "
                               f"{ctx.project_id}.")
        gid, gname = found
        action = "addSecurityGroup" if add else "removeSecurityGroup"

        def apply(s, row):
            papi = c.networking.port_api
            port_ids = [p["port_id"] for p in row.ports]
            if not port_ids:
                raise exc.BadRequest(f"Server {row.id} has no ports")  # Nova's 400 path
            current = papi.security_groups(s, port_ids)
            on = [pid for pid in port_ids if gid in current.get(pid, [])]
            if add and len(on) == len(port_ids):
                raise exc.BadRequest(f"Security group {name} is already associated with "
                                     f"the instance {row.id}")
            if not add and not on:
                raise exc.BadRequest(f"Security group {name} not associated with the "
                                     f"instance {row.id}")
            for pid in port_ids:
                groups = list(current.get(pid, []))
                groups = groups + [gid] if add and gid not in groups else \
                    [g for g in groups if g != gid] if not add else groups
                papi.set_security_groups(s, [pid], groups)
            names = list(row.security_groups or [])
            if add and gname not in names:
                names.append(gname)
            elif not add:
                names = [n for n in names if n != gname]
            row.security_groups = names
        return self.actions.run(ctx, sid, action, rid, apply, _LIVE, _TASKS_ANY,
                                lock_exempt=True, network=True, placed=False)

    # -- floating IPs (before 2.44) ----------------------------------------------------
    def floating_ip(self, ctx, sid, rid, address: str, fixed: str | None, add: bool):
        c = self.compute
        action = "addFloatingIp" if add else "removeFloatingIp"

        def apply(s, row):
            papi = c.networking.port_api
            fip = papi.floating_ip(s, ctx, address)
            if fip is None:
                raise exc.NotFound(f"Floating IP not found for address {address}.") \
                    if add else exc.NotFound("floating IP not found")
            port_ids = [p["port_id"] for p in row.ports]
            if not add:
                if fip.fixed_port_id not in port_ids:
                    raise exc.Conflict(f"Floating IP {address} is not associated with "
                                       f"instance {row.id}.")
                papi.associate_floating_ip(s, ctx, fip, None)
                return
            facts = papi.facts(s, port_ids)
            target = None
            for pid in port_ids:
                ips = [ip["ip_address"] for ip in facts.get(pid, {}).get("fixed_ips", [])
                       if ip.get("version", 4) == 4]
                if fixed is None and ips:
                    target = (pid, None, ips[0])
                    break
                if fixed is not None and fixed in ips:
                    target = (pid, fixed, fixed)
                    break
            if target is None:
                raise exc.BadRequest("Specified fixed address not assigned to instance"
                                     if fixed else "No nw_info cache associated with "
                                     "instance")
            try:
                papi.associate_floating_ip(s, ctx, fip, target[0], target[1])
            except exc.Conflict as e:
                # Nova: whatever else Neutron refuses is a 400 (e.g. the fixed IP
                # has a floating IP already)
                raise exc.BadRequest(
                    f"Unable to associate floating IP {address} to fixed IP {target[2]} "
                    f"for instance {row.id}. Error: {e.message}") from None
        return self.actions.run(ctx, sid, action, rid, apply, _LIVE, _TASKS_ANY,
                                lock_exempt=True, network=True, placed=False)

    # -- moves -----------------------------------------------------------------------------
    def _migration(self, s, ctx, row, kind: str, status: str, dest: str | None,
                   dest_node: str | None, new_flavor: str | None = None) -> Migration:
        now = utcnow()
        m = Migration(uuid=str(uuid.uuid4()), instance_uuid=row.id,
                      project_id=row.project_id, user_id=getattr(ctx, "user_id", "") or "",
                      migration_type=kind, status=status, source_compute=row.host,
                      source_node=row.node, dest_compute=dest, dest_node=dest_node,
                      dest_host=None, old_flavor_id=(row.flavor or {}).get("id"),
                      new_flavor_id=new_flavor or (row.flavor or {}).get("id"),
                      created_at=now, updated_at=now)
        s.add(m)
        return m

    def record_resize(self, s, ctx, row, old_host, new_flavor_id):
        """The migration record of a resize (called by :meth:`Actions.resize`)."""
        m = self._migration(s, ctx, row, "resize", "finished", row.host, row.node,
                            new_flavor_id)
        m.source_compute = old_host

    def settle(self, s, row, status: str) -> None:
        """Mark the instance's open resize/migration ``status`` (confirmed/reverted)."""
        for m in s.scalars(sa.select(Migration).where(
                Migration.instance_uuid == row.id,
                Migration.status.in_(("finished", "post-migrating", "migrating")))):
            m.status, m.updated_at = status, utcnow()

    def _pick(self, s, row, host: str | None, az: str | None):
        c = self.compute
        if host is not None:
            if s.scalar(sa.select(Host.id).where(Host.host == host)) is None:
                raise HostNotFound(f"Compute host {host} could not be found.")
            if host == row.host:
                raise exc.BadRequest(f"Unable to migrate instance ({row.id}) to current "
                                     f"host ({row.host}).")
        cands = c.scheduler.candidates(s)
        if host is not None:
            cands = [x for x in cands if x.host == host]
        return c.scheduler.select(s, {"vcpus": row.vcpus, "ram": row.memory_mb,
                                      "disk": row.root_gb}, 1, az, exclude=(row.host,),
                                  candidates=cands)[0]

    def migrate(self, ctx, sid, rid, host: str | None):
        """Cold migration. Between hosts whose driver moves instances by stop and
        restart (:data:`MOVE_DRIVERS`) the root filesystem moves with it, as the live
        move's (:meth:`kumo.compute.snapshots.Snapshots.pend_move`, kind ``resize``): the source powers the guest off and
        uploads its root into a hidden transient image, the instance then boots on the
        destination from it and waits in VERIFY_RESIZE; the image is the source's copy
        until confirmResize (deleted) or revertResize (booted on the source again).
        Otherwise the instance moves at once and boots from its image."""
        c = self.compute
        transient = c.snapshots.transient(ctx, sid, "resize")
        used = {}

        def apply(s, row):
            try:
                pick = self._pick(s, row, host, row.requested_az)
            except HostNotFound as e:  # Nova's migrate: ComputeHostNotFound is a 400
                raise exc.BadRequest(e.message) from None
            except NoValidHost:
                raise exc.BadRequest("No valid host was found. No valid host found for "
                                     "cold migrate") from None
            row.old_flavor, row.old_host = dict(row.flavor), row.host
            if c.snapshots.movable(s, row, pick, transient):
                m = self._migration(s, ctx, row, "migration", "migrating", pick.host,
                                    pick.node)
                used["move"] = c.snapshots.pend_move(row, transient, pick, m, "resize")
                return
            self._migration(s, ctx, row, "migration", "finished", pick.host, pick.node)
            c.changed(s, row, "delete", host=row.host)
            row.host, row.node, row.availability_zone = pick.host, pick.node, pick.az
            c.servers.rebind(s, row, row.host)
            if row.power == "off":
                row.vm_state, row.task_state = "resized", None
            else:
                row.task_state = "resize_migrating"
        try:
            return self.actions.run(ctx, sid, "migrate", rid, apply, ("active", "stopped"),
                                    network=True)
        finally:
            if transient is not None and not used:
                c.snapshots._delete(transient.id)

    def live_migrate(self, ctx, sid, rid, host: str | None, asynchronous: bool):
        """Live migration. Between hosts whose driver moves running instances
        (:data:`LIVE_MIGRATION_DRIVERS`) the instance moves at once; between hosts whose
        driver moves them by stopping and restarting (:data:`MOVE_DRIVERS`: netns, not
        memory-preserving) the source powers it off and uploads its root filesystem
        into a hidden transient image (:mod:`kumo.compute.snapshots`, kind ``migrate``),
        then it boots on the destination from that image (MIGRATING, the migration
        ``running``, then ``completed`` and ACTIVE/PAUSED; the image is deleted). Else
        Nova's "Migration pre-check error" (400 before 2.25; from 2.25 a 202 with the
        migration in ``error``)."""
        c = self.compute
        failed, used = {}, {}
        transient = c.snapshots.transient(ctx, sid, "migrate", ("active", "paused"))

        def apply(s, row):
            try:
                pick = self._pick(s, row, host, None)
                drivers = dict(s.execute(sa.select(Host.host, Host.driver).where(
                    Host.host.in_((row.host, pick.host)))).all())
                move = c.snapshots.movable(s, row, pick, transient)
                cannot = [h for h in (row.host, pick.host)
                          if drivers.get(h) not in LIVE_MIGRATION_DRIVERS]
                if cannot and not move:
                    raise exc.BadRequest(
                        f"Migration pre-check error: the {drivers.get(cannot[0]) or 'unknown'}"
                        f" compute driver of host {cannot[0]} cannot live-migrate "
                        "instances")
            except HostNotFound as e:  # Nova: checked at once, a 400 in any version
                raise exc.BadRequest(e.message) from None
            except (NoValidHost, exc.BadRequest) as e:
                if not asynchronous:
                    raise exc.BadRequest(e.message) from None
                self._migration(s, ctx, row, "live-migration", "error", host, None)
                failed["message"] = e.message
                return
            if move:
                m = self._migration(s, ctx, row, "live-migration", "running", pick.host,
                                    pick.node)
                used["move"] = c.snapshots.pend_move(row, transient, pick, m, "migrate")
                return
            self._migration(s, ctx, row, "live-migration", "completed", pick.host,
                            pick.node)
            c.changed(s, row, "delete", host=row.host)
            row.host, row.node, row.availability_zone = pick.host, pick.node, pick.az
            c.servers.rebind(s, row, row.host)
            row.task_state = "migrating"
        try:
            self.actions.run(ctx, sid, "live-migration", rid, apply, ("active", "paused"),
                             network=True)
        finally:
            if transient is not None and not used:
                c.snapshots._delete(transient.id)
        if failed:
            with c.write() as s:
                row = c.servers.get(s, ctx, sid)
                self.actions._finish(s, row, failed["message"])

    def evacuate(self, ctx, sid, rid, host: str | None, admin_pass: str | None,
                 stop: bool) -> str:
        c = self.compute
        pw = admin_pass or password()

        def apply(s, row):
            src = s.scalar(sa.select(Host).where(Host.host == row.host))
            if src is not None and not src.forced_down and c.hosts.is_up(src):
                raise exc.BadRequest(f"Compute service of {row.host} is still in use.")
            try:
                pick = self._pick(s, row, host, None)
            except NoValidHost as e:
                raise exc.BadRequest(e.message) from None
            self._migration(s, ctx, row, "evacuation", "done", pick.host, pick.node)
            c.changed(s, row, "delete", host=row.host)
            row.host, row.node, row.availability_zone = pick.host, pick.node, pick.az
            c.servers.rebind(s, row, row.host)
            if stop or row.vm_state == "stopped":
                row.power, row.vm_state, row.task_state = "off", "stopped", None
            else:
                row.rebuild_seq += 1
                row.power, row.task_state = "on", "rebuilding"
                if row.vm_state == "error":
                    row.vm_state = "active"
        self.actions.run(ctx, sid, "evacuate", rid, apply, ("active", "stopped", "error"),
                         network=True)
        return pw

    # -- os-server-password --------------------------------------------------------------
    def set_password(self, instance_id: str, text: str, overwrite: bool = False) -> None:
        """Store the guest's encrypted password (Nova keeps it in system metadata);
        the metadata service refuses a second one (409) unless cleared first."""
        with self.compute.db.session() as s:
            row = s.scalar(sa.select(Instance).where(
                Instance.id == instance_id, Instance.deleted.is_(False)).with_for_update())
            if row is None:
                raise exc.NotFound(f"Instance {instance_id} could not be found.")
            meta = dict(row.system_metadata or {})
            if meta.get("password") and not overwrite:
                raise exc.Conflict("Password already set")
            meta["password"] = text
            row.system_metadata = meta

    # -- os-migrations -----------------------------------------------------------------
    def migrations(self, query: dict, paging: dict | None = None
                   ) -> tuple[list[tuple[Migration, Instance | None]], bool]:
        """Migrations newest first (``created_at``, ``id`` descending, as Nova) by the
        filters in ``query``; ``paging`` (2.59+): ``limit``, ``marker`` (a migration's
        uuid; 400 "Marker ... could not be found."), ``changes-since`` and (2.66+)
        ``changes-before`` on ``updated_at`` (400 for a bad time or since > before).
        Returns ``([(migration, instance)], more)``."""
        from kumo.common.listing import NOVA, Key, marker_values, page
        from kumo.compute.listing import _time
        M = Migration
        stmt = sa.select(M)
        for key, col in (("host", None), ("status", M.status),
                         ("migration_type", M.migration_type),
                         ("instance_uuid", M.instance_uuid),
                         ("source_compute", M.source_compute),
                         ("project_id", M.project_id), ("user_id", M.user_id)):
            value = query.get(key)
            if value is None:
                continue
            if key == "host":
                stmt = stmt.where(sa.or_(M.source_compute == value, M.dest_compute == value))
            else:
                stmt = stmt.where(col == value)
        paging = paging or {}
        since = _time("changes-since", paging.get("changes-since"))
        before = _time("changes-before", paging.get("changes-before"))
        if since is not None and before is not None and since > before:
            raise exc.BadRequest("The value of changes-since must be less than or equal "
                                 "to changes-before.")
        changed = sa.func.coalesce(M.updated_at, M.created_at)
        if since is not None:
            stmt = stmt.where(changed >= since)
        if before is not None:
            stmt = stmt.where(changed <= before)
        keys = [Key("created_at", M.created_at, False), Key("id", M.id, False)]
        limit = NOVA.limit(paging.get("limit"), self.compute.settings.api_max_limit) \
            if paging.get("limit") is not None else None
        with self.compute.read() as s:
            start = None
            if paging.get("marker") is not None:
                # looked up among all migrations, as Nova's migration_get_by_uuid
                start = marker_values(s, sa.select(M), M.uuid, paging["marker"], keys)
                if start is None:
                    raise exc.BadRequest(f"Marker {paging['marker']} could not be found.")
            rows, more = page(s, stmt, keys, start=start, limit=limit)
            ids = {m.instance_uuid for m in rows}
            inst = {i.id: i for i in s.scalars(sa.select(Instance).where(
                Instance.id.in_(ids)))} if ids else {}
            return [(m, inst.get(m.instance_uuid)) for m in rows], more


_LIVE = ("active", "stopped", "paused", "suspended", "resized", "error", "rescued",
         "shelved", "shelved_offloaded", "building")
_TASKS_ANY = (None,)
#: task states Nova's reset-state may clear (beyond the power ones).
TASKS = ("suspending", "resuming", "shelving", "unshelving", "rescuing", "unrescuing",
         "migrating", "spawning", "scheduling", "networking")
