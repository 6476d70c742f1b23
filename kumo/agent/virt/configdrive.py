"""Config drives of netns instances (Nova's ``config_drive``, nova/virt/configdrive.py).

- **The image**: an ISO 9660 file with Joliet and Rock Ridge, volume label
  ``config-2``, made by ``genisoimage`` with the arguments Nova's
  ``ConfigDriveBuilder._make_iso9660`` passes (``-ldots -allow-lowercase
  -allow-multidot -l -publisher ... -quiet -J -r -V config-2``). genisoimage (Debian's
  package, installed by ``scripts/install-system-deps.sh``) rather than a Python ISO
  writer: it is the tool Nova runs, so the drive is byte-for-byte Nova's format, and
  its ``isoinfo`` reads a drive back for troubleshooting and the tests.
- **Its content**: the files the controller renders with the metadata service's own
  functions (``GET /compute/kumo/v1/instances/{id}/config_drive``,
  :func:`kumo.compute.metadata.config_drive_files`), written under a scratch directory
  when the instance first needs the drive and again on a rebuild (as Nova); the file
  is ``disk.config`` in the instance's directory (libvirt's name) and is kept across
  agent restarts.
- **The device**: a read-only loop device over the file (``losetup --read-only``,
  :mod:`kumo.agent.virt.volumes`), recorded as ``config_drive`` in ``meta.json`` and
  handled with the volumes' loops: boot.sh makes the node from ``devices``, a running
  instance gets it through ``/proc/<init>/root/dev``, a loop lost (freed by hand, a
  host reboot) is set up again at the next reconcile, and destroy frees it and removes
  the file with the instance's directory. The node is ``/dev/sr0`` (see
  :data:`DEVICE`) plus the symlink ``/dev/disk/by-label/config-2`` in the instance's
  tmpfs ``/dev``, which is where cloud-init looks.

A guest cannot mount the drive on a kernel without iso9660 (Kumo's test machines): the
device is still there and reads as Nova's drive (``isoinfo -i /dev/sr0``).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from kumo.agent.virt import VirtError
from kumo.agent.virt import volumes as vols

LOG = logging.getLogger(__name__)
#: Nova's volume label of a config drive (what cloud-init's ConfigDrive source finds).
LABEL = "config-2"
#: The guest's node. Nova's libvirt driver attaches an iso9660 config drive as a cdrom
#: (blockinfo.get_config_drive_type) on the machine type's cdrom bus (IDE, or SATA on
#: q35: libvirt's target ``hdd`` or ``sda``, names the guest never sees); a Linux guest
#: names the first ATAPI/SCSI cdrom ``/dev/sr0`` whatever the bus, so ``sr0`` is where
#: a guest of a Nova/libvirt cloud finds its config drive.
DEVICE = "sr0"
#: The drive's file in the instance's directory (the name Nova's libvirt driver uses).
ISO = "disk.config"
#: Nova's ``mkisofs_cmd`` default.
MKISOFS = "genisoimage"


def available() -> bool:
    """Whether this host can build config drives (``genisoimage`` is installed)."""
    return shutil.which(MKISOFS) is not None


def make_iso(files: dict[str, bytes], dest: Path) -> None:
    """Write the drive holding ``files`` (``{relative path: content}``) to ``dest``
    (atomically: a scratch file renamed; mode 0600, as it carries user_data).
    :class:`VirtError` for a path outside the drive or when genisoimage is missing or
    fails (retrying will not help)."""
    if not available():
        raise VirtError(f"cannot build the config drive: {MKISOFS} is not installed "
                        "(scripts/install-system-deps.sh)")
    dest = Path(dest)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".config-drive-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for rel, data in sorted(files.items()):
            parts = PurePosixPath(rel).parts
            if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
                raise VirtError(f"config drive: bad path {rel!r}")
            path = root.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out = Path(tmp) / ISO
        proc = subprocess.run(
            [MKISOFS, "-o", str(out), "-ldots", "-allow-lowercase", "-allow-multidot",
             "-l", "-publisher", "Kumo", "-quiet", "-J", "-r", "-V", LABEL, str(root)],
            capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise VirtError(f"config drive: {MKISOFS}: {proc.stderr.strip()[:300]}")
        os.chmod(out, 0o600)  # it holds the server's user_data and metadata
        os.replace(out, dest)


class InstanceConfigDrive:
    """The netns driver's config drive step (a mixin: uses its ``_dir``, ``_save`` and
    :attr:`config_drive_source`, ``iid -> {path: bytes}``)."""

    config_drive_source = None

    def _attach_config_drive(self, iid: str, instance: dict, meta: dict) -> None:
        """Build the drive the first time ``instance`` wants one (and again when its
        ``rebuild_seq`` is new: call before the rebuild is recorded) and keep its
        read-only loop set up (a new loop when the recorded one no longer backs the
        file); the record goes to ``meta["config_drive"]`` (saved)."""
        if not instance.get("config_drive"):
            return
        path = self._dir(iid) / ISO
        old = meta.get("config_drive")
        if old and int(instance.get("rebuild_seq") or 0) != int(meta.get("rebuild_seq")
                                                                 or 0):
            # a rebuild makes the drive again, as Nova's (a new name, metadata or
            # user_data); the old loop goes first: it would still name the path
            try:
                vols.free(old.get("loop"), old.get("path"))
            except vols.LoopError as e:
                raise RuntimeError(f"instance {iid}: config drive: {e}") from None
            path.unlink(missing_ok=True)
            meta.pop("config_drive")
            self._save(iid, meta)
        if not path.exists():
            if self.config_drive_source is None:
                raise VirtError("cannot build the config drive: no controller client")
            make_iso(self.config_drive_source(iid), path)
            LOG.info("instance %s: config drive built (%d bytes)", iid,
                     path.stat().st_size)
        try:
            rec = vols.ensure(meta.get("config_drive"), str(path), DEVICE, readonly=True)
        except vols.LoopError as e:
            raise RuntimeError(f"instance {iid}: config drive: {e}") from None
        rec["label"] = LABEL
        if rec != meta.get("config_drive"):
            meta["config_drive"] = rec
            self._save(iid, meta)
