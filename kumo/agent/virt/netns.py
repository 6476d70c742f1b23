"""The ``netns`` compute driver: an instance is a real lightweight machine.

- **Network**: the named network namespace ``<instance name>`` (``instance-0000000a``)
  in the host's run dir (``ip netns exec instance-0000000a ...`` works), lo up, and per
  port ``i`` a veth ``tap<port-id[:11]>`` (host root namespace, unattached: the L2
  network driver plugs it) <-> ``eth<i>`` inside with the port's MAC and MTU
  (:mod:`kumo.agent.virt.nics`). The instance configures its addresses itself (DHCP).
- **Re-plugging**: :meth:`NetnsDriver.watch` follows netlink link events of the host's
  namespace and requeues an instance the moment one of its taps is deleted (by hand,
  or with its ``eth<i>``: a veth pair goes as a whole); the reconcile makes the pair
  again and, when the instance runs, does what a NIC hot-plug does in a guest: it runs
  the guest's DHCP client once on the new ``eth<i>`` (``nics.GUEST_REPLUG``: busybox
  ``udhcpc -q`` with the image's ``/usr/share/udhcpc/default.script``, output to the
  console), so the guest gets its address and routes back while the API says ACTIVE.
- **Processes**: a small supervisor (``/bin/sh``, started with ``setsid -f`` inside the
  instance's network namespace, so it survives the agent) runs ``unshare --pid --mount
  --uts --ipc --fork --kill-child`` with ``boot.sh``, which mounts the root filesystem
  (overlay of the image's unpacked tree, or a private copy when overlayfs is
  unavailable), /proc, /sys, a tmpfs /dev with the host's null/zero/full/random/urandom/
  tty bound in and /dev/console bound to the log, /tmp, sets the hostname, and execs
  ``chroot <rootfs> /sbin/init`` as PID 1. stdout/stderr of all that is appended to
  ``console.log``. Init exiting with status 2 (or killed by SIGHUP) is restarted;
  otherwise the supervisor records the status in ``exit`` and ends.
- **Identity of processes**: ``supervisor.pid`` holds ``<pid> <start time>`` (from
  /proc/<pid>/stat) and is checked against /proc; init is the only child of the
  supervisor's ``unshare`` (``unshare.pid``). Processes are never looked up by name.
- **Power**: stop = SIGTERM to init, SIGKILL after ``agent_compute_stop_grace_s``;
  reboot SOFT = stop + start, HARD = SIGKILL + start; pause = cgroup freezer; rebuild =
  stop, wipe the instance's layer, start from the (maybe new) image.
- **Volumes** (:mod:`kumo.agent.virt.volumes`): a loop device per attached volume,
  its node ``/dev/vdX`` in the instance's /dev (boot.sh makes those listed in
  ``devices``; a running instance gets them through ``/proc/<init>/root/dev``);
  freed on detach and destroy. A server booted from a volume mounts the boot
  volume's loop as its root (``disk`` ``volume`` in ``meta.json``) instead of the
  image's tree.
- **Config drive** (:mod:`kumo.agent.virt.configdrive`): Nova's ISO 9660 drive
  ``disk.config`` on a read-only loop, ``/dev/sr0`` and ``/dev/disk/by-label/config-2``
  inside.
- **Limits**: :mod:`kumo.agent.virt.cgroups` (v2, v1, or none, reported in
  :meth:`NetnsDriver.configurations`); groups are named by instance id (unique on the
  machine, also across simulated hosts sharing its cgroup tree). A cpuset confines the
  instance to ``vcpus`` host CPUs where available, and :mod:`kumo.agent.virt.cpuview`
  shows it only those in /proc/cpuinfo and /sys/devices/system/cpu/online; each boot
  gets a time namespace whose boot clock starts at 0 (its own /proc/uptime).
- **Files**: ``<state_dir>/images/`` (the cache, :mod:`kumo.agent.virt.images`) and
  ``<state_dir>/instances/<id>/`` (``meta.json`` = what was realized, with the server's
  ``display_name`` and ``hostname`` for ``kumo console``; console.log,
  supervisor files, ``upper``/``work``/``rootfs``). ``state_dir`` defaults to
  ``<settings.state_dir>/compute``.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from kumo.agent.dataplane import netns as nsmod
from kumo.agent.virt import (CRASHED, NOSTATE, PAUSED, RUNNING, SHUTDOWN, ComputeDriver,
                             InstanceStatus, VirtError, register_driver)
from kumo.agent.virt import cpuview, stats
from kumo.agent.virt.cgroups import Cgroups
from kumo.agent.virt.configdrive import InstanceConfigDrive
from kumo.agent.virt.images import ImageCache
from kumo.agent.virt import volumes as vols
from kumo.agent.virt.nics import Nics, replug
from kumo.agent.virt.boot import BOOT, SUPERVISOR
from kumo.agent.virt.rescue import InstanceRescue
from kumo.agent.virt.snapshot import InstanceSnapshots

LOG = logging.getLogger(__name__)
NAME_RE = re.compile(r"^instance-[0-9a-f]{1,32}$")
ID_RE = re.compile(r"^[0-9a-fA-F-]{1,64}$")
PREFIX = "instance-"
#: mode of an instance's / (whatever the umask made of the directories under it)
ROOT_MODE = 0o755

def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command (index 0 = state), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text[text.rindex(")") + 2:].split()


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


#: What PID 1 of a starting instance runs before it execs the image's init: boot.sh's
#: shell, then chroot (our own stages, told apart in our own verified process).
BOOT_STAGES = ("sh", "chroot")


def _alive(pid: int, start: str | None = None) -> bool:
    st = _stat(pid)
    return bool(st) and st[0] not in ("Z", "X") and (start is None or st[19] == start)


def overlay_works(scratch: Path) -> bool:
    """Whether overlayfs mounts here (tried in a throw-away mount namespace)."""
    d = scratch / ".overlay-probe"
    shutil.rmtree(d, ignore_errors=True)
    try:
        for sub in ("l", "u", "w", "m"):
            (d / sub).mkdir(parents=True)
        (d / "l" / "f").write_text("x")
        opts = f"lowerdir={d}/l,upperdir={d}/u,workdir={d}/w"
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"mount -t overlay overlay -o {shlex.quote(opts)} {shlex.quote(str(d / 'm'))}"
             f" && cat {shlex.quote(str(d / 'm' / 'f'))}"],
            capture_output=True, text=True, timeout=10)
        return proc.returncode == 0 and proc.stdout == "x"
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(d, ignore_errors=True)


@register_driver("netns")
class NetnsDriver(InstanceRescue, InstanceSnapshots, vols.InstanceVolumes,
                  InstanceConfigDrive, ComputeDriver):
    """Instances as namespaces running the image's init (see the module doc)."""

    name = "netns"
    hypervisor_type = "namespace"

    def __init__(self, host: str, settings=None, client=None, where=None,
                 state_dir: str | None = None, fetch=None, stop_grace_s: float | None = None,
                 **_):
        self.host = host
        self.settings = settings
        self.where = where or nsmod.Host()
        if state_dir is None:
            if settings is None:
                raise ValueError("the netns driver needs settings or a state_dir")
            state_dir = os.path.join(settings.state_dir, "compute")
        self.state_dir = Path(state_dir)
        self.instances_dir = self.state_dir / "instances"
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        if fetch is None:
            if client is None:
                def fetch(image):
                    raise VirtError("no image source (the driver has no controller client)")
            else:
                def fetch(image):
                    from kumo.agent.client import NotFound
                    try:
                        return client.download(image["id"])
                    except NotFound as e:
                        raise VirtError(f"image {image['id']} not found") from e
        self.images = ImageCache(self.state_dir / "images", fetch)
        if client is not None:  # the config drive's files, rendered by the controller
            self.config_drive_source = lambda iid: client.config_drive(iid, host)
        self.grace_s = float(stop_grace_s if stop_grace_s is not None else
                             getattr(settings, "agent_compute_stop_grace_s", 5.0))
        self.cgroups = Cgroups()
        self.overlay = overlay_works(self.state_dir)
        self.nics = Nics(self.where)
        LOG.info("netns compute driver on %s: root filesystems by %s, limits %s",
                 host, "overlayfs" if self.overlay else "copy", self.cgroups.mode)

    # -- files -----------------------------------------------------------------
    def _dir(self, iid: str) -> Path:
        if not ID_RE.match(iid):
            raise VirtError(f"invalid instance id {iid!r}")
        return self.instances_dir / iid

    def _meta(self, iid: str) -> dict | None:
        try:
            return json.loads((self._dir(iid) / "meta.json").read_text())
        except (OSError, ValueError):
            return None

    def _save(self, iid: str, meta: dict) -> None:
        d = self._dir(iid)
        tmp = d / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, d / "meta.json")

    # -- processes -------------------------------------------------------------
    @staticmethod
    def _supervisor(d: Path) -> int | None:
        try:
            pid, start = (d / "supervisor.pid").read_text().split()
        except (OSError, ValueError):
            return None
        return int(pid) if _alive(int(pid), start) else None

    @staticmethod
    def _init_pid(d: Path, sup: int) -> int | None:
        try:
            u = int((d / "unshare.pid").read_text())
        except (OSError, ValueError):
            return None
        st = _stat(u)
        if not st or st[1] != str(sup) or st[0] == "Z":
            return None
        try:
            kids = Path(f"/proc/{u}/task/{u}/children").read_text().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def _signal(self, pid: int | None, sig: int) -> None:
        if pid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _wait_gone(self, d: Path, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._supervisor(d) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _stop(self, iid: str, name: str, hard: bool) -> None:
        """Stop init (SIGTERM, SIGKILL after the grace; SIGKILL at once if ``hard``);
        ``hard`` also kills whatever is left in the instance's cgroups."""
        d = self._dir(iid)
        sup = self._supervisor(d)
        if sup is not None:
            (d / "stop").touch()
            if self.cgroups.frozen(iid):
                self.cgroups.freeze(iid, False)
            init = self._init_pid(d, sup)
            self._signal(init, signal.SIGKILL if hard else signal.SIGTERM)
            if init is None or not self._wait_gone(d, 0.5 if hard else self.grace_s):
                self._signal(self._init_pid(d, sup), signal.SIGKILL)
                if not self._wait_gone(d, 5.0):
                    try:
                        u = int((d / "unshare.pid").read_text())
                    except (OSError, ValueError):
                        u = None
                    ours = bool(u) and (_stat(u) or ["", ""])[1] == str(sup)
                    self._signal(sup, signal.SIGKILL)
                    if ours:
                        self._signal(u, signal.SIGKILL)  # --kill-child takes init along
                    self._wait_gone(d, 2.0)
        if hard:
            self._kill_all(iid)

    def _start(self, iid: str, inst: dict, meta: dict) -> None:
        d = self._dir(iid)
        for f in ("stop", "exit", "supervisor.pid", "unshare.pid"):
            (d / f).unlink(missing_ok=True)
        (d / "console.log").touch()
        hostname = re.sub(r"[^A-Za-z0-9.-]", "", inst.get("hostname") or meta["name"])[:63]
        if meta["disk"] == "volume":
            boot = meta["boot_volume"] = vols.ensure(
                meta.get("boot_volume"), meta["boot_volume"]["path"], "vda",
                meta["boot_volume"].get("mode") == "ro")
            meta["base"] = boot["loop"]
            self._save(iid, meta)
            self._write_devices(iid, meta)
        (d / "boot.sh").write_text(BOOT.format(
            dir=shlex.quote(str(d)), mode=meta["disk"] if meta["disk"] in (
                "overlay", "volume") else "copy",
            base=meta.get("base", ""), hostname=shlex.quote(hostname or meta["name"]),
            rescue=shlex.quote(meta.get("rescue_base") or ""),
            rescue_mode="overlay" if self.overlay else "copy"))
        (d / "supervisor.sh").write_text(SUPERVISOR)
        ns = self.where.ns(meta["name"])

        def spawn():
            return subprocess.Popen(
                # SIGHUP back to its default: a shell cannot trap a signal ignored when
                # it started, so under `nohup kumo up` the guest's init would never see
                # its reboot request
                ["env", "--default-signal=HUP", "setsid", "-f", "/bin/sh",
                 str(d / "supervisor.sh"), str(d)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, close_fds=True).wait(10)

        nsmod.call(ns, spawn)
        deadline = time.monotonic() + 10
        while True:  # until init runs (or the supervisor ended: init failed at once)
            sup = self._supervisor(d)
            init = self._init_pid(d, sup) if sup is not None else None
            # init runs once the boot script's process has exec'd past its stages (a
            # child still named "unshare" has not exec'd yet; None: it already exited)
            comm = _comm(init) if init is not None else None
            if comm is not None and comm not in BOOT_STAGES + ("unshare",):
                return
            if sup is None and (d / "exit").exists():
                rc = (d / "exit").read_text().strip()
                tail = (self.console(iid, 2000) or "").strip().splitlines()[-3:]
                raise VirtError(f"instance {meta['name']}: boot failed (status {rc}): "
                                + " | ".join(tail))
            if time.monotonic() > deadline:
                self._kill_all(iid)
                raise RuntimeError(f"instance {meta['name']}: init did not start")
            time.sleep(0.02)

    def _kill_all(self, iid: str) -> None:
        """SIGKILL every process in the instance's cgroups (the last resort)."""
        for pid in self.cgroups.pids(iid):
            self._signal(pid, signal.SIGKILL)

    # -- disk --------------------------------------------------------------------
    def _prepare_disk(self, iid: str, inst: dict, meta: dict) -> None:
        d = self._dir(iid)
        boot = next((v for v in inst.get("volumes") or [] if v.get("boot")), None)
        if boot is not None and boot.get("path"):
            # boot from volume: the volume's filesystem (a loop device) is the root
            for sub in ("upper", "work", "rootfs"):
                shutil.rmtree(d / sub, ignore_errors=True)
            (d / "rootfs").mkdir()
            rec = vols.ensure(meta.get("boot_volume"), boot["path"], "vda",
                              boot.get("mode") == "ro")
            meta.update(disk="volume", base=rec["loop"], boot_volume=rec,
                        boot_volume_id=boot["volume_id"],
                        image_id=(inst.get("image") or {}).get("id"))
            return
        base = self.images.rootfs(inst.get("image") or {})
        for sub in ("upper", "work", "rootfs"):
            shutil.rmtree(d / sub, ignore_errors=True)
        if self.overlay:
            for sub in ("upper", "work", "rootfs"):
                (d / sub).mkdir()
            # the overlay's / has the upper layer's mode: a root filesystem's 0755, not
            # the 0700 of Kumo's umask (users inside, e.g. sshd reading a user's
            # authorized_keys as that user, must be able to traverse /)
            (d / "upper").chmod(ROOT_MODE)
            meta.update(disk="overlay", base=str(base))
        else:
            proc = subprocess.run(["cp", "-a", str(base), str(d / "rootfs")],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"copying the root filesystem: {proc.stderr[:300]}")
            (d / "rootfs").chmod(ROOT_MODE)
            meta.update(disk="copy", base=str(base))
        meta["image_id"] = (inst.get("image") or {}).get("id")

    # -- network -----------------------------------------------------------------
    def _replugged(self, iid: str, eth: str) -> None:
        """Run the guest's DHCP client for ``eth`` inside the running instance
        (:func:`kumo.agent.virt.nics.replug`); nothing when it is not running."""
        try:
            argv = self.enter_argv(iid)
        except VirtError:
            return
        replug(argv, self._dir(iid) / "console.log", iid, eth)

    def watch(self, requeue, stop) -> None:
        """Requeue an instance the moment one of its taps is deleted (netlink link
        events in the host's namespace), so its NIC is made again at once."""
        self.nics.watch(requeue, stop)

    # -- the contract --------------------------------------------------------------
    def reconcile(self, instance: dict) -> InstanceStatus:
        iid, name = instance["id"], instance.get("name") or ""
        if not NAME_RE.match(name):
            raise VirtError(f"invalid instance name {name!r}")
        power = instance.get("power") or "on"
        if power not in ("on", "off", "paused"):
            raise VirtError(f"unknown power {power!r}")
        if power == "paused" and not self.cgroups.can_freeze():
            raise VirtError("pause is unavailable on this host (no cgroup freezer)")
        reboot_seq = int(instance.get("reboot_seq") or 0)
        rebuild_seq = int(instance.get("rebuild_seq") or 0)
        flavor = instance.get("flavor") or {}
        d = self._dir(iid)
        meta = self._meta(iid)
        if meta is None:
            d.mkdir(parents=True, exist_ok=True)
            meta = {"id": iid, "name": name, "power": None, "reboot_seq": reboot_seq,
                    "rebuild_seq": rebuild_seq, "ports": []}
            self._save(iid, meta)  # first, so orphan cleanup knows the name
            self._prepare_disk(iid, instance, meta)
            self._save(iid, meta)
        # what `kumo console` matches a server name against (kept current on renames)
        meta.update(display_name=instance.get("display_name") or "",
                    hostname=instance.get("hostname") or "")
        remade = self.nics.plug(meta, instance.get("ports") or [])
        vcpus = meta["vcpus"] = int(flavor.get("vcpus") or 0)
        (d / "cgroups").write_text("\n".join(self.cgroups.ensure(
            iid, vcpus, int(flavor.get("ram") or 0))))
        if vcpus > 0:  # what boot.sh shows as /proc/cpuinfo
            cpuview.write(d, vcpus, self.cgroups.cpus(iid))
        self._save(iid, meta)
        self._attach_config_drive(iid, instance, meta)
        gone = self._attach_volumes(iid, instance, meta)
        alive = self._supervisor(d) is not None
        if self._boot_volume_changed(instance, meta):
            # the boot volume's attachment came after the server (its first feed
            # item): run it from the volume from now on
            self._stop(iid, name, hard=True)
            self._prepare_disk(iid, instance, meta)
            meta["power"] = None
            self._save(iid, meta)
            alive = False
        if self._rescue_changed(iid, instance, meta):
            alive = False  # boots below into (or out of) the rescue image
        if rebuild_seq != meta["rebuild_seq"]:
            self._stop(iid, name, hard=False)
            self._prepare_disk(iid, instance, meta)
            meta.update(rebuild_seq=rebuild_seq, reboot_seq=reboot_seq, power=None)
            self._save(iid, meta)
            alive = False
        elif reboot_seq != meta["reboot_seq"]:
            meta["reboot_seq"] = reboot_seq
            if power == "on":
                self._stop(iid, name, hard=instance.get("reboot_type") == "HARD")
                meta["power"] = None  # boot again below
                alive = False
        if power == "off":
            if meta["power"] != "off":
                self._stop(iid, name, hard=False)
        else:
            if meta["power"] in (None, "off") or (meta["power"] == "paused" and not alive):
                if not alive:
                    self._start(iid, instance, meta)
            frozen = self.cgroups.frozen(iid)
            if power == "paused" and not frozen:
                self.cgroups.freeze(iid, True)
            elif power == "on" and frozen:
                self.cgroups.freeze(iid, False)
        if remade and power == "on" and alive and self._supervisor(d) is not None:
            for eth in remade:
                self._replugged(iid, eth)
        meta["power"] = power
        self._save(iid, meta)
        self._sync_nodes(iid, meta, gone)
        return self.status(iid)

    def status(self, instance_id: str) -> InstanceStatus:
        meta = self._meta(instance_id)
        if meta is None:
            return InstanceStatus(NOSTATE)
        d = self._dir(instance_id)
        seqs = (int(meta.get("reboot_seq") or 0), int(meta.get("rebuild_seq") or 0))
        if self._supervisor(d) is not None:
            state = PAUSED if self.cgroups.frozen(instance_id) else RUNNING
        elif meta.get("power") in ("off", None):
            state = SHUTDOWN
        else:
            try:
                rc = (d / "exit").read_text().strip()
            except OSError:
                rc = None
            state = SHUTDOWN if rc == "0" else CRASHED
        volumes = set(meta.get("volumes") or {})
        if meta.get("disk") == "volume" and meta.get("boot_volume_id"):
            volumes.add(meta["boot_volume_id"])
        return InstanceStatus(state, *seqs, volumes=tuple(sorted(volumes)))

    #: console.log is cut back to its last KEEP bytes when it grows past MAX (writers
    #: append with O_APPEND, so they carry on at the new end).
    CONSOLE_MAX_BYTES = 4 << 20
    CONSOLE_KEEP_BYTES = 256 << 10

    def console(self, instance_id: str, max_bytes: int = 65536) -> str | None:
        try:
            path = self._dir(instance_id) / "console.log"
            with open(path, "r+b") as f:
                size = f.seek(0, os.SEEK_END)
                if size > self.CONSOLE_MAX_BYTES:
                    f.seek(size - self.CONSOLE_KEEP_BYTES)
                    keep = f.read()
                    f.seek(0)
                    f.truncate(0)
                    f.write(keep)
                    f.flush()
                    size = len(keep)
                f.seek(max(0, size - max_bytes))
                data = f.read(max_bytes)
        except (OSError, VirtError):
            return None
        return data.decode(errors="replace")

    def diagnostics(self, instance_id: str) -> dict | None:
        """Its cgroups', taps' and loops' counters (:mod:`kumo.agent.virt.stats`)."""
        meta = self._meta(instance_id)
        if meta is None:
            return None
        return stats.instance_diagnostics(self.cgroups, self.where, instance_id, meta,
                                          self.init_pid(instance_id),
                                          int(meta.get("vcpus") or 0))

    def destroy(self, instance_id: str) -> None:
        d = self._dir(instance_id)
        meta = self._meta(instance_id)
        if meta is None and not d.exists():
            return
        name = (meta or {}).get("name")
        self._stop(instance_id, name or "", hard=True)
        if self._supervisor(d) is not None:
            raise RuntimeError(f"instance {instance_id}: processes did not stop")
        if name:
            self.nics.unplug((meta or {}).get("ports", []))
            nsmod.delete_netns(self.where, name)
        self.cgroups.remove(instance_id)
        vols.free_all(self._all_volumes(meta or {}))
        shutil.rmtree(d, ignore_errors=True)

    def list_instances(self) -> dict[str, str]:
        out = {}
        for d in sorted(self.instances_dir.iterdir()) if self.instances_dir.is_dir() else []:
            if not ID_RE.match(d.name):
                continue
            meta = self._meta(d.name)
            out[d.name] = (meta or {}).get("name") or ""
        return out

    def cleanup_orphans(self, desired: dict[str, dict]) -> list[str]:
        gone = super().cleanup_orphans(desired)
        keep = {i.get("name") for i in desired.values()} | set(self.list_instances().values())
        for ns_name in nsmod.list_netns(self.where):
            if ns_name.startswith(PREFIX) and NAME_RE.match(ns_name) and ns_name not in keep:
                LOG.info("removing orphan instance namespace %s", ns_name)
                nsmod.delete_netns(self.where, ns_name)
        return gone

    def init_pid(self, instance_id: str) -> int | None:
        """The host PID of the instance's init (PID 1 inside), or None when stopped."""
        return instance_init_pid(self._dir(instance_id))

    def enter_argv(self, instance_id: str) -> list[str]:
        """The command prefix that runs a command inside the running instance (all its
        namespaces, its root and working directory): ``nsenter -t <init> -a -r -w``.
        ``VirtError`` when it is not running."""
        pid = self.init_pid(instance_id)
        if pid is None:
            raise VirtError(f"instance {instance_id} is not running")
        return ["nsenter", "-t", str(pid), "-a", "-r", "-w"]

    def host_resources(self) -> dict:
        mem_kb = 0
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
        except OSError:
            pass
        disk = shutil.disk_usage(self.state_dir)
        return {"vcpus": os.cpu_count() or 1, "memory_mb": mem_kb // 1024,
                "local_gb": disk.total >> 30, "hypervisor_hostname": self.host,
                "host_ip": getattr(self.settings, "agent_tunneling_ip", "") or "127.0.0.1"}

    def configurations(self) -> dict:
        return {"driver": "netns", "rootfs": "overlay" if self.overlay else "copy",
                **self.cgroups.describe()}


def instance_init_pid(instance_dir: Path) -> int | None:
    """The host PID of the init (PID 1 inside) of the instance whose files are in
    ``instance_dir`` (``<state_dir>/instances/<id>``), or None when it is not running;
    verified against /proc as the driver does (no driver object needed)."""
    d = Path(instance_dir)
    sup = NetnsDriver._supervisor(d)
    return NetnsDriver._init_pid(d, sup) if sup is not None else None
