"""Attached volumes of netns instances: a loop device over the volume's backend file,
its node inside the instance as ``/dev/vdX``.

- **Loop devices** come from ``losetup --find --show [--read-only] FILE`` (util-linux;
  pyroute2 has no loop support). A loop is ours only while
  ``/sys/block/loopN/loop/backing_file`` names the volume's file (checked before every
  reuse and before freeing, so a number reused by someone else is never touched);
  ``losetup -d`` frees it (the kernel clears it lazily while the guest still has it
  open or mounted).
- **Nodes** are block special files (``mknod``, the loop's major/minor) in the
  instance's private tmpfs ``/dev``: written by boot.sh from ``<instance>/devices`` at
  every start, and made or removed at once in a running instance through
  ``/proc/<init>/root/dev`` (its mount namespace), so an attach shows up without a
  restart and a detach takes the node away.
- **Records**: the instance's ``meta.json`` keeps ``volumes``:
  ``{volume_id: {"device", "path", "loop", "mode"}}``; the driver frees every loop of
  an instance it destroys.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
from pathlib import Path

LOG = logging.getLogger(__name__)
DEVICE_RE = re.compile(r"^vd[a-z]{1,2}$")
LOOP_RE = re.compile(r"^/dev/loop[0-9]+$")


class LoopError(Exception):
    """losetup failed (the message has its stderr)."""


def backing_file(loop: str) -> str | None:
    """The file behind ``/dev/loopN`` (None: free or no such loop)."""
    if not LOOP_RE.match(loop or ""):
        return None
    try:
        text = Path(f"/sys/block/{loop[5:]}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return text.removesuffix(" (deleted)")


def setup(path: str, readonly: bool) -> str:
    """A new loop device over ``path``; returns ``/dev/loopN``."""
    argv = ["losetup", "--find", "--show"] + (["--read-only"] if readonly else []) + [path]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    loop = proc.stdout.strip()
    if proc.returncode != 0 or not LOOP_RE.match(loop):
        raise LoopError(f"losetup {path}: {proc.stderr.strip()[:300]}")
    return loop


def free(loop: str | None, path: str | None) -> None:
    """Detach ``loop`` if it still backs ``path`` (anything else is left alone)."""
    if not loop or backing_file(loop) != path:
        return
    proc = subprocess.run(["losetup", "-d", loop], capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0 and backing_file(loop) == path:
        raise LoopError(f"losetup -d {loop}: {proc.stderr.strip()[:300]}")


def resize(loop: str, path: str) -> None:
    """``losetup -c`` when the file grew (an extend of the attached volume): the
    guest's ``/dev/vdX`` gets the new size."""
    try:
        sectors = int(Path(f"/sys/block/{loop[5:]}/size").read_text())
        if os.path.getsize(path) == sectors * 512:
            return
    except (OSError, ValueError):
        return
    proc = subprocess.run(["losetup", "-c", loop], capture_output=True, text=True,
                          timeout=30)
    if proc.returncode != 0:
        LOG.warning("losetup -c %s: %s", loop, proc.stderr.strip()[:300])


def rdev(loop: str) -> tuple[int, int]:
    st = os.stat(loop)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def reconcile(held: dict, wanted: list[dict]) -> tuple[dict, list[dict]]:
    """Make the loops of ``wanted`` (the feed's non-boot ``volumes`` with a ``path``)
    exist and free those of ``held`` (meta's ``volumes``) no longer wanted; returns
    the new ``held`` and the records removed (their nodes go too)."""
    want = {v["volume_id"]: v for v in wanted
            if v.get("path") and DEVICE_RE.match(v.get("device") or "")}
    out, gone = {}, []
    for vid, rec in held.items():
        w = want.get(vid)
        same = w is not None and w["device"] == rec["device"] and \
            w["path"] == rec["path"] and w.get("mode", "rw") == rec.get("mode", "rw")
        if same and backing_file(rec.get("loop")) == rec["path"]:
            resize(rec["loop"], rec["path"])
            out[vid] = rec
            continue
        free(rec.get("loop"), rec.get("path"))
        gone.append(rec)
    for vid, w in want.items():
        if vid in out:
            continue
        try:
            loop = setup(w["path"], w.get("mode") == "ro")
        except LoopError as e:
            e.held, e.gone = out, gone  # what is real so far (the caller records it)
            raise
        out[vid] = {"device": w["device"], "path": w["path"], "loop": loop,
                    "mode": w.get("mode", "rw")}
    return out, gone


def ensure(rec: dict | None, path: str, device: str, readonly: bool) -> dict:
    """One loop over ``path`` (the boot volume): ``rec`` when it still backs it, else
    a new one (``rec``'s freed)."""
    mode = "ro" if readonly else "rw"
    if rec and rec.get("path") == path and rec.get("mode") == mode and \
            backing_file(rec.get("loop")) == path:
        return rec
    if rec:
        free(rec.get("loop"), rec.get("path"))
    return {"device": device, "path": path, "loop": setup(path, readonly), "mode": mode}


def free_all(held: dict) -> None:
    for rec in (held or {}).values():
        try:
            free(rec.get("loop"), rec.get("path"))
        except LoopError:
            LOG.exception("freeing %s", rec.get("loop"))


def devices_file(held: dict) -> str:
    """``<name> <major> <minor> [<label>]`` lines for boot.sh (``mknod $ROOT/dev/<name>
    b ...``, and ``/dev/disk/by-label/<label>`` -> it for a record with a ``label``)."""
    lines = []
    for rec in sorted(held.values(), key=lambda r: r["device"]):
        try:
            major, minor = rdev(rec["loop"])
        except OSError:
            continue
        label = f" {rec['label']}" if rec.get("label") else ""
        lines.append(f"{rec['device']} {major} {minor}{label}\n")
    return "".join(lines)


def sync_nodes(init_pid: int, held: dict, gone: list[dict]) -> None:
    """In the running instance whose init is ``init_pid``: a node per held volume
    (made again when its major/minor differ), none for the ``gone`` ones."""
    _sync_dir(f"/proc/{init_pid}/root/dev", held, gone)


def _sync_dir(dev_dir: str, held: dict, gone: list[dict]) -> None:
    dev = Path(dev_dir)
    keep = {rec["device"] for rec in held.values()}
    for rec in gone:
        if rec["device"] not in keep and DEVICE_RE.match(rec["device"]):
            try:
                (dev / rec["device"]).unlink()
            except FileNotFoundError:
                pass
    for rec in held.values():
        node = dev / rec["device"]
        major, minor = rdev(rec["loop"])
        try:
            st = os.lstat(node)
            if stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(major, minor):
                continue
            node.unlink()
        except FileNotFoundError:
            pass
        os.mknod(node, 0o660 | stat.S_IFBLK, os.makedev(major, minor))
    for rec in held.values():
        if rec.get("label"):
            link = dev / "disk" / "by-label" / rec["label"]
            if os.path.islink(link) and os.readlink(link) == f"../../{rec['device']}":
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(f"../../{rec['device']}")


class InstanceVolumes:
    """The netns driver's volume steps (a mixin: uses its ``_save``, ``_dir`` and
    ``init_pid``); ``meta`` is the instance's ``meta.json``."""

    @staticmethod
    def _boot_volume_changed(instance: dict, meta: dict) -> bool:
        """Whether the desired boot volume (``boot`` with a ``path``) is not the root
        the instance runs from."""
        boot = next((v for v in instance.get("volumes") or []
                     if v.get("boot") and v.get("path")), None)
        return boot is not None and (meta.get("disk") != "volume" or (
            meta.get("boot_volume") or {}).get("path") != boot["path"])

    def _attach_volumes(self, iid: str, instance: dict, meta: dict) -> list[dict]:
        """Loops for the desired non-boot volumes, the old ones freed; records them
        and boot.sh's ``devices``; returns the records removed."""
        wanted = [v for v in instance.get("volumes") or [] if not v.get("boot")]
        try:
            held, gone = reconcile(meta.get("volumes") or {}, wanted)
        except LoopError as e:
            meta["volumes"] = getattr(e, "held", meta.get("volumes") or {})
            self._save(iid, meta)
            raise RuntimeError(str(e)) from None  # retried with backoff
        meta["volumes"] = held
        self._save(iid, meta)
        self._write_devices(iid, meta)
        return gone

    def _all_volumes(self, meta: dict) -> dict:
        """Every loop the instance holds: its volumes, the boot volume's (key ``""``)
        and the config drive's (key ``config_drive``,
        :mod:`kumo.agent.virt.configdrive`)."""
        held = dict(meta.get("volumes") or {})
        if meta.get("disk") == "volume" and meta.get("boot_volume"):
            held[""] = meta["boot_volume"]
        if meta.get("config_drive"):
            held["config_drive"] = meta["config_drive"]
        return held

    def _write_devices(self, iid: str, meta: dict) -> None:
        d = self._dir(iid)
        tmp = d / "devices.tmp"
        tmp.write_text(devices_file(self._all_volumes(meta)))
        os.replace(tmp, d / "devices")

    def _sync_nodes(self, iid: str, meta: dict, gone: list[dict]) -> None:
        """The running instance's ``/dev/vdX`` nodes match its volumes."""
        pid = self.init_pid(iid)
        if pid is None:
            return
        try:
            sync_nodes(pid, self._all_volumes(meta), gone)
        except OSError as e:
            if self.init_pid(iid) is not None:
                raise RuntimeError(f"instance {iid}: volume nodes: {e}") from None
