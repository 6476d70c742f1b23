"""Snapshots of the netns driver's instances (createImage, createBackup, shelve).

The root filesystem is packed in the format Kumo's bootable images use
(``kumo_rootfs=tar``, as the cirros image: a gzip'd tar of the root, owners numeric),
so a server booted from the snapshot gets the same files:

- a **running** (or frozen) instance is read through ``/proc/<init>/root``, the
  guest's own view of its root (the overlay with the guest's changes), live as Nova's
  live snapshots are; ``--one-file-system`` leaves out what is mounted inside (/proc,
  /sys, /dev, /tmp, attached volumes the guest mounted);
- a **stopped** instance with an overlay root is read through a read-only overlay of
  its own layer over the image's tree (``lowerdir=<upper>:<image>``, whiteouts and
  opaque directories honoured), mounted in a throw-away mount namespace, so nothing
  is mounted on the host afterwards and the instance's own layer is not touched;
- a copied root (no overlayfs) is read as it is.

A server booted from a volume is not snapshot by the driver (:class:`VirtError`).
"""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from kumo.agent.virt import VirtError

#: tar exits 1 for "file changed as we read it" (a live guest writing): still a
#: usable archive, as Nova's live snapshots of a running disk are.
TAR_OK = (0, 1)
TIMEOUT_S = 600


def tar_argv(root: str, dest: str) -> list[str]:
    """The ``tar`` command packing directory ``root`` into ``dest``."""
    return ["tar", "--create", "--gzip", "--numeric-owner", "--one-file-system",
            "--sparse", "--warning=no-file-changed", "--warning=no-file-ignored",
            "--file", dest, "--directory", root, "."]


def _run(argv: list[str], what: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise VirtError(f"{what}: packing the root filesystem took over {TIMEOUT_S} s") \
            from None
    if proc.returncode not in TAR_OK:
        raise VirtError(f"{what}: packing the root filesystem failed (status "
                        f"{proc.returncode}): {proc.stderr.strip()[-300:]}")


class InstanceSnapshots:
    """The netns driver's part for snapshots (mixed into
    :class:`kumo.agent.virt.netns.NetnsDriver`; uses its ``_dir``, ``_meta``,
    ``init_pid`` and ``state_dir``)."""

    @property
    def snapshot_dir(self) -> str:
        """Where the agent packs snapshots before uploading (``<state_dir>/snapshots``)."""
        d = Path(self.state_dir) / "snapshots"
        d.mkdir(parents=True, exist_ok=True)
        return str(d)

    def snapshot(self, instance_id: str, dest: str) -> None:
        meta = self._meta(instance_id)
        if meta is None:
            raise VirtError(f"instance {instance_id} is not on this host")
        what = f"snapshot of {meta.get('name') or instance_id}"
        disk = meta.get("disk")
        if disk == "volume":
            raise VirtError(f"{what}: the server boots from a volume; the netns driver "
                            "snapshots only image-backed roots")
        pid = self.init_pid(instance_id)
        if pid is not None:
            _run(tar_argv(f"/proc/{pid}/root", dest), what)
        elif disk == "overlay":
            d = self._dir(instance_id)
            mnt = d / "snapshot-mnt"
            mnt.mkdir(exist_ok=True)
            try:
                opts = f"ro,lowerdir={d / 'upper'}:{meta['base']}"
                script = (f"mount -t overlay overlay -o {shlex.quote(opts)} "
                          f"{shlex.quote(str(mnt))} && exec "
                          + " ".join(shlex.quote(a) for a in tar_argv(str(mnt), dest)))
                _run(["unshare", "--mount", "--propagation", "private",
                      "sh", "-c", script], what)
            finally:
                try:
                    mnt.rmdir()
                except OSError:
                    pass
        else:
            _run(tar_argv(str(self._dir(instance_id) / "rootfs"), dest), what)
        if Path(dest).stat().st_size == 0:
            raise VirtError(f"{what}: empty archive")
