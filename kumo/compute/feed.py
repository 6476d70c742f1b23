"""The desired-state feed the compute agents watch (Kumo's own API, not Nova's), the
same design as :mod:`kumo.network.feed`: list the host's instances once
(:meth:`Feed.snapshot`, consistent with one revision), watch ``compute_change`` from that
revision (:meth:`Feed.changes`, long poll), relist on 410.

Instance shape (the compute contract)::

    {"id", "name": "instance-0000000a", "display_name", "hostname", "project_id",
     "user_id", "host", "image": {"id", "container_format", "disk_format", "size",
     "checksum", "kumo_rootfs"}, "flavor": {"vcpus", "ram" (MiB), "disk" (GiB)},
     "power": "on"|"off"|"paused", "reboot_seq", "reboot_type", "rebuild_seq",
     "ports": [{"id", "mac_address", "mtu", "network_id",
                "fixed_ips": [{"subnet_id", "ip_address", "cidr", "gateway_ip"}]}],
     "user_data", "revision",
     "volumes": [{"volume_id", "attachment_id", "device": "vdb", "path" (the backend
                  file, None without data), "mode": "rw"|"ro", "boot": bool}],
     "snapshot": {"image_id"} | None (a snapshot to take and upload, see
                 kumo.compute.snapshots),
     "rescue": {"id", "container_format", "disk_format", "size", "checksum",
                "kumo_rootfs"} | None (boot this image, the server's root beside it),
     "config_drive": bool (the agent builds the drive from
                     ``GET /kumo/v1/instances/{id}/config_drive``)}

``image`` is the shelved snapshot while an offloaded server is unshelved.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common.changefeed import ChangeFeed
from kumo.compute import models

#: The ``kumo_revision`` row holding the newest revision whose changes were pruned.
PRUNED = "compute_pruned"


IMAGE_KEYS = ("id", "container_format", "disk_format", "size", "checksum", "kumo_rootfs")


def _port(fact: dict) -> dict:
    return {"id": fact["id"], "mac_address": fact["mac_address"], "mtu": fact["mtu"],
            "network_id": fact["network_id"], "fixed_ips": [
                {k: ip[k] for k in ("subnet_id", "ip_address", "cidr", "gateway_ip")}
                for ip in fact["fixed_ips"]]}


def instance_name(seq: int) -> str:
    """Nova's ``instance_name_template``: ``instance-%08x``."""
    return "instance-%08x" % seq


class Feed(ChangeFeed):
    """List-and-watch over ``compute_change`` (:class:`kumo.common.changefeed.ChangeFeed`:
    a host's watch sees only its own instances' changes)."""

    def __init__(self, compute):
        super().__init__(compute.db, models.Change, "compute", PRUNED,
                         hostless_to_all=False)
        self.compute = compute

    def snapshot(self, host: str | None = None) -> dict:
        """``{"revision": R, "instances": [...]}``: every live instance on ``host``."""
        with self.compute.db.session(readonly=True) as s:
            if not self.compute.db.is_sqlite:
                s.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            revision = self.current_revision(s)
            I = models.Instance
            stmt = sa.select(I).where(I.deleted.is_(False), I.host.is_not(None))
            if host is not None:
                stmt = stmt.where(I.host == host)
            rows = list(s.scalars(stmt.order_by(I.seq)))
            return {"revision": revision, "instances": self.render(s, rows)}

    def render(self, session, rows: list[models.Instance]) -> list[dict]:
        """Instances in the contract's shape (one query for all their ports)."""
        port_ids = [p["port_id"] for r in rows for p in r.ports]
        ports = self.compute.servers.port_facts(session, port_ids)
        volumes = self._volumes(session, [r.id for r in rows])
        out = []
        for r in rows:
            meta = r.system_metadata or {}
            out.append({
                "id": r.id, "name": instance_name(r.seq), "display_name": r.display_name,
                "hostname": r.hostname, "project_id": r.project_id, "user_id": r.user_id,
                "host": r.host, "image": {k: (meta.get("boot_image") or r.image
                                              or {}).get(k) for k in IMAGE_KEYS},
                "flavor": {"vcpus": r.vcpus, "ram": r.memory_mb, "disk": r.root_gb},
                "power": r.power, "reboot_seq": r.reboot_seq, "reboot_type": r.reboot_type,
                "rebuild_seq": r.rebuild_seq,
                "ports": [_port(ports[p["port_id"]]) for p in r.ports
                          if p["port_id"] in ports],
                "user_data": r.user_data, "revision": r.revision,
                "volumes": volumes.get(r.id, []),
                "snapshot": ({"image_id": meta["snapshot"]["image_id"]}
                             if meta.get("snapshot") else None),
                "rescue": meta.get("rescue_image"),
                "config_drive": r.config_drive == "True"})
        return out

    def _volumes(self, session, ids: list[str]) -> dict[str, list[dict]]:
        vm = getattr(self.compute.cloud, "volumes", None)
        if vm is None or not ids:
            return {}
        return vm.attachments.for_instances(session, ids)

