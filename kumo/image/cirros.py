"""Kumo's default image ``cirros``: a small root filesystem built from Debian's busybox.

``kumo up`` registers it on first start, so no image download is ever needed. The image is
built locally from the static busybox of Debian's ``busybox-static`` package
(``scripts/install-system-deps.sh`` installs it): one binary, its applet symlinks, ``/etc``
and an init written in shell that does what CirrOS's init does (plus a shell ``lsblk``
listing the disks in /dev, which busybox lacks; Tempest's validation uses it).

The image convention (what the Glance service registers and the namespace compute
driver boots)::

    name              cirros             visibility  public
    container_format  bare               disk_format raw
    min_disk          1 (GB)             min_ram     32 (MB)
    properties        kumo_rootfs=tar    the payload is a gzip-compressed tar of a root
                                         filesystem (not a disk image)
                      os_distro=cirros   os_type=linux
                      architecture=x86_64 (the host's: busybox-static is the host's arch)

:func:`image_attributes` returns exactly that as one dict (core attributes plus
properties). Any image with ``kumo_rootfs=tar`` boots the same way, so users can upload
their own rootfs tarballs.

How the namespace compute driver boots such an image:

- unpack the tarball (as root, keeping owners, modes and symlinks) into the instance's
  directory, or use it as an overlay's lower layer;
- start ``/sbin/init`` chrooted (or pivot_root'ed) into it, as PID 1 of new PID, mount,
  UTS, IPC and network namespaces; ``eth0`` in that network namespace is the veth whose
  host end is ``tap<port-id[:11]>`` (init waits up to 10 s for eth0 to appear, so the
  driver may move the veth in just after starting it);
- stdout and stderr of init are the console: everything init does is logged there as
  ``cirros-init: ...`` lines, including udhcpc's ``udhcpc: lease of <ip> obtained ...``,
  the hostname and keys from metadata, and each line of user_data output as
  ``cirros-init: user-data: ...``;
- init mounts /proc, /sys, /dev (a tmpfs with basic device nodes; devtmpfs only when
  mknod is refused; left alone when the driver already provides /dev/null), /dev/pts,
  /run and /tmp itself; the driver does not need to mount anything;
- boot: lo up, DHCP on eth0 (udhcpc stays running and renews; it configures address,
  routes including classless static routes, DNS and MTU), metadata from
  http://169.254.169.254 (OpenStack ``/openstack/latest/meta_data.json`` for hostname and
  public_keys, else EC2 ``/latest/meta-data/``), hostname, the ``cirros`` user's
  ``authorized_keys``, user_data run when it starts with ``#!``, then ``httpd`` on port 80
  serving the hostname (``wget -qO- http://<ip>/`` answers it);
- stop: SIGTERM makes init stop every process (SIGTERM, then SIGKILL after 3 s) and exit
  with status 0; so do ``poweroff`` and ``halt`` inside (busybox sends SIGUSR2/SIGUSR1 to
  PID 1) and ``reboot`` (busybox sends SIGTERM, so it cannot be told from a stop).
  SIGHUP makes init exit with status 2, meaning "start me again"; ``reboot -f`` inside
  makes the kernel kill init with SIGHUP (WIFSIGNALED), and ``poweroff -f`` with SIGINT.
  A driver should send SIGKILL after a grace period of about 5 s.

SSH, as in CirrOS: init starts Dropbear (:mod:`kumo.image.dropbear`: Debian's
``dropbear-bin`` with its shared libraries) on port 22 after making its host keys
(``/etc/dropbear``, rsa/ecdsa/ed25519) at first boot and logging their fingerprints as
``cirros-init: ssh: host key SHA256:... (ed25519)``. The user ``cirros`` logs in with
the key pair from metadata (``/home/cirros/.ssh/authorized_keys``) or CirrOS's
documented password ``gocubsgo``; root's password is locked (``kumo console`` on the
host gives a root shell). ``ssh`` inside the image is Dropbear's ``dbclient``.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import platform
import struct
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kumo.image import dropbear
from kumo.image.cirros_scripts import INIT, LSBLK, UDHCPC_SCRIPT

__all__ = [
    "BusyboxNotFound", "IMAGE_NAME", "CONTAINER_FORMAT", "DISK_FORMAT", "MIN_DISK_GB",
    "MIN_RAM_MB", "IMAGE_PROPERTIES", "image_attributes", "find_busybox", "build_rootfs",
    "ensure_rootfs", "DropbearNotFound", "CIRROS_PASSWORD",
]
DropbearNotFound = dropbear.DropbearNotFound

IMAGE_NAME = "cirros"
CONTAINER_FORMAT = "bare"
DISK_FORMAT = "raw"
MIN_DISK_GB = 1
MIN_RAM_MB = 32
_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(),
                                                     platform.machine().lower() or "x86_64")
IMAGE_PROPERTIES = {
    "kumo_rootfs": "tar",
    "os_distro": "cirros",
    "os_type": "linux",
    "architecture": _ARCH,
}

BUSYBOX_PATHS = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
MTIME = 1704067200  # 2024-01-01T00:00:00Z: every member's mtime, so builds are identical
CIRROS_UID = 1000
CIRROS_PASSWORD = "gocubsgo"  # CirrOS's documented password of the cirros user
CIRROS_PASSWORD_HASH = ("$6$kumo.cirros$fuZyTLfFBCW97E/JM/GPE9mTCCY5DD2SJQDQUTv9EKMPXGF8D"
                        "r7XZjnaQ15SHOP/G3tyvOSSYPzfpxUyVKNp71")


class BusyboxNotFound(RuntimeError):
    """No statically linked busybox: install Debian's ``busybox-static``."""


def image_attributes() -> dict:
    """The Image API v2 create body for the default image: core attributes plus the
    properties above (``kumo_rootfs``, ``os_distro``, ``os_type``, ``architecture``)."""
    return {"name": IMAGE_NAME, "container_format": CONTAINER_FORMAT,
            "disk_format": DISK_FORMAT, "visibility": "public",
            "min_disk": MIN_DISK_GB, "min_ram": MIN_RAM_MB, **IMAGE_PROPERTIES}


# Applets linked to /bin/busybox, at the paths busybox's --list-full gives them.
APPLETS = {
    "bin": "ash base64 cat chgrp chmod chown cp cpio date dd df dmesg echo egrep false "
           "fgrep getopt grep gunzip gzip hostname ionice ipcalc kill link ln login ls "
           "mkdir mknod mktemp more mount mv netstat pidof ping ping6 ps pwd readlink rev "
           "rm rmdir run-parts sed setpriv sh sleep stat stty su sync tar touch true "
           "umount uname usleep vi watch zcat",
    "sbin": "arp blockdev getty halt ifconfig ifdown ifup ip ipneigh logread losetup mdev "
            "poweroff reboot route start-stop-daemon sulogin switch_root sysctl syslogd tc "
            "udhcpc",
    "usr/bin": "[ [[ awk basename bc bunzip2 bzcat clear cmp crontab cut diff dirname du "
               "env expr find free groups head hexdump id killall less logger md5sum "
               "mkfifo nc nproc nslookup od passwd paste printf realpath reset seq setsid "
               "sha1sum sha256sum sha512sum sort tac tail tee telnet test tftp time "
               "timeout top tr traceroute truncate tty uniq unshare unxz unzip uptime "
               "wc wget which who whoami xargs xxd xz xzcat yes",
    "usr/sbin": "arping brctl chroot crond httpd nologin rdate telnetd udhcpd",
}
REQUIRED_APPLETS = set(
    "sh ash ip ifconfig route udhcpc ping nc wget httpd hostname cat echo mkdir mount "
    "umount ls ps sleep usleep kill grep sed awk tr cut head tail date uname dmesg chmod "
    "chown rm mv cp ln id env seq true false test [ printf poweroff halt mknod mkfifo wc "
    "tee timeout".split())

ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "cirros:x:1000:1000:cirros:/home/cirros:/bin/sh\n",
    # cirros's password is CirrOS's documented "gocubsgo" (SHA-512 crypt, fixed salt
    # so that builds stay identical); root's is locked
    "etc/shadow": "root:*:19723:0:99999:7:::\n"
                  "cirros:" + CIRROS_PASSWORD_HASH + ":19723:0:99999:7:::\n",
    "etc/group": "root:x:0:\ncirros:x:1000:\n",
    "etc/hostname": "cirros\n",
    "etc/hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
                 "127.0.1.1 cirros\n",
    "etc/resolv.conf": "# placeholder: udhcpc writes the DHCP name servers here\n",
    "etc/shells": "/bin/sh\n/bin/ash\n",
    "etc/os-release": 'NAME="CirrOS"\nID=cirros\nPRETTY_NAME="CirrOS (Kumo busybox image)"\n'
                      'HOME_URL="https://github.com/cirros-dev/cirros"\n',
    "etc/profile": "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
                   "PS1='\\u@\\h:\\w\\$ '\nexport PS1\n",
    "var/www/index.html": "cirros\n",
}


@dataclass(frozen=True)
class _Entry:
    path: str                  # relative, no leading slash
    kind: str                  # "dir", "file" or "symlink"
    mode: int = 0o755
    uid: int = 0
    data: bytes = b""          # file contents
    target: str = ""           # symlink target


def find_busybox(busybox: Path | None = None) -> Path:
    """The statically linked busybox to put in the image: ``busybox`` if given, else
    ``/bin/busybox`` or ``/usr/bin/busybox`` (Debian's busybox-static).

    Raises :class:`BusyboxNotFound` when there is none or it is dynamically linked (it
    must run in a root filesystem without a C library)."""
    candidates = [Path(busybox)] if busybox is not None else list(BUSYBOX_PATHS)
    for path in candidates:
        if path.is_file():
            if not _is_static_elf(path):
                raise BusyboxNotFound(
                    f"{path} is not a statically linked executable; install Debian's "
                    "busybox-static (scripts/install-system-deps.sh)")
            return path
    raise BusyboxNotFound(
        f"no busybox at {', '.join(map(str, candidates))}; install Debian's "
        "busybox-static (scripts/install-system-deps.sh)")


def _is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP)."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF":
            return False
        bits64, endian = ident[4] == 2, "<" if ident[5] == 1 else ">"
        f.seek(0)
        head = f.read(64)
        if bits64:
            phoff, = struct.unpack_from(endian + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
        else:
            phoff, = struct.unpack_from(endian + "I", head, 28)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 42)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack(endian + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def _applets(busybox: Path) -> dict[str, str]:
    """{applet: directory} for the applets this busybox has (all of APPLETS when it
    cannot be asked). Raises BusyboxNotFound when a required applet is missing."""
    wanted = {name: d for d, names in APPLETS.items() for name in names.split()}
    try:
        out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return wanted
    have = set(out.split())
    missing = sorted(REQUIRED_APPLETS - have)
    if missing:
        raise BusyboxNotFound(f"{busybox} lacks applets the image needs: {missing}")
    return {name: d for name, d in wanted.items() if name in have}


def _entries(busybox: Path) -> list[_Entry]:
    """Every member of the image, sorted by path (parents before children)."""
    entries: dict[str, _Entry] = {}

    def add(e: _Entry) -> None:
        parts = e.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            entries.setdefault(parent, _Entry(parent, "dir"))
        entries[e.path] = e

    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/share/udhcpc", "lib", "etc",
              "proc", "sys", "dev", "run", "mnt", "var/log", "var/www", "home"):
        add(_Entry(d, "dir"))
    add(_Entry("tmp", "dir", 0o1777))
    add(_Entry("root", "dir", 0o700))
    add(_Entry("home/cirros", "dir", 0o755, CIRROS_UID))
    add(_Entry("home/cirros/.ssh", "dir", 0o700, CIRROS_UID))
    add(_Entry("var/run", "symlink", 0o777, target="../run"))
    add(_Entry("var/tmp", "symlink", 0o777, target="../tmp"))
    add(_Entry("bin/busybox", "file", 0o755, data=busybox.read_bytes()))
    up = {"bin": "", "sbin": "../bin/", "usr/bin": "../../bin/", "usr/sbin": "../../bin/"}
    for name, d in _applets(busybox).items():
        add(_Entry(f"{d}/{name}", "symlink", 0o777, target=up[d] + "busybox"))
    add(_Entry("sbin/init", "file", 0o755, data=INIT.encode()))
    add(_Entry("usr/bin/lsblk", "file", 0o755, data=LSBLK.encode()))
    add(_Entry("etc/udhcpc", "dir"))
    add(_Entry("etc/udhcpc/default.script", "file", 0o755, data=UDHCPC_SCRIPT.encode()))
    add(_Entry("usr/share/udhcpc/default.script", "symlink", 0o777,
               target="../../../etc/udhcpc/default.script"))
    add(_Entry("etc/dropbear", "dir", 0o700))
    for path, mode, data in dropbear.files():
        add(_Entry(path, "file", mode, data=data))
    for path, target in dropbear.SYMLINKS.items():
        add(_Entry(path, "symlink", 0o777, target=target))
    for path, text in ETC.items():
        add(_Entry(path, "file", 0o640 if path == "etc/shadow" else 0o644,
                   data=text.encode()))
    return [entries[p] for p in sorted(entries)]


def _tar_bytes(entries: list[_Entry]) -> bytes:
    """A gzip-compressed ustar archive, identical for identical entries: fixed mtimes,
    owners and order, and a gzip header without file name or time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo("./" + e.path if e.kind != "dir" else "./" + e.path + "/")
            info.mtime, info.mode, info.uid, info.gid = MTIME, e.mode, e.uid, e.uid
            info.uname = info.gname = "cirros" if e.uid == CIRROS_UID else "root"
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9,
                       mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _write_if_changed(dest: Path, data: bytes) -> None:
    """Atomically replace ``dest`` with ``data`` unless it already holds exactly that."""
    try:
        if dest.stat().st_size == len(data) and dest.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # like every file under the state directory
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise


def build_rootfs(dest: Path, busybox: Path | None = None) -> Path:
    """Write the cirros root filesystem to ``dest`` as a gzip-compressed tar; return
    ``dest``.

    ``busybox`` is a statically linked busybox (default: Debian busybox-static's
    ``/bin/busybox``). Members are ``./``-relative with fixed mtimes and owners (root,
    and uid/gid 1000 for /home/cirros), so the same busybox gives a byte-identical
    file. Idempotent: ``dest`` is written atomically, and left untouched when it already
    holds these bytes. Raises :class:`BusyboxNotFound` when there is no static
    busybox, :class:`DropbearNotFound` when Dropbear (``dropbear-bin``) or one of its
    libraries is missing."""
    dest = Path(dest)
    _write_if_changed(dest, _tar_bytes(_entries(find_busybox(busybox))))
    return dest


def ensure_rootfs(cache_dir: Path, busybox: Path | None = None) -> Path:
    """The cirros rootfs tarball in ``cache_dir``, built on the first call and reused
    after: ``cache_dir/cirros-<digest>.tar.gz``, where the digest covers the busybox
    binary and every file of the image (Dropbear and its libraries too), so a new
    busybox or a new builder gives a new file and an unchanged one is never rebuilt.
    Safe with concurrent callers. Raises like :func:`build_rootfs`."""
    entries = _entries(find_busybox(busybox))
    h = hashlib.sha256()
    for e in entries:
        h.update(f"{e.path}\0{e.kind}\0{e.mode}\0{e.uid}\0{e.target}\0".encode())
        h.update(hashlib.sha256(e.data).digest())
    dest = Path(cache_dir) / f"cirros-{h.hexdigest()[:16]}.tar.gz"
    if not dest.is_file():
        _write_if_changed(dest, _tar_bytes(entries))
    return dest
