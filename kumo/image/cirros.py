"""Kumo's default image ``cirros``: a small root filesystem built from Debian's busybox.

``kumo up`` registers it on first start, so no image download is ever needed. The image is
built locally from the static busybox of Debian's ``busybox-static`` package
(``scripts/install-system-deps.sh`` installs it): one binary, its applet symlinks, ``/etc``
and an init written in shell that does what CirrOS's init does.

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

There is no SSH server (busybox has none); the console is ``kumo console`` or
``ip netns exec`` into the instance. Root and cirros have locked passwords.
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

__all__ = [
    "BusyboxNotFound", "IMAGE_NAME", "CONTAINER_FORMAT", "DISK_FORMAT", "MIN_DISK_GB",
    "MIN_RAM_MB", "IMAGE_PROPERTIES", "image_attributes", "find_busybox", "build_rootfs",
    "ensure_rootfs",
]

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

INIT = r'''#!/bin/sh
# /sbin/init of Kumo's cirros image: PID 1, in shell, as CirrOS's init is.
# Logs every step to the console (stdout) as "cirros-init: ...".
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
umask 022
IFACE=eth0
MD=http://169.254.169.254
STATE=/run/cirros
DHCP_WAIT=30     # seconds to wait for a lease before booting on without one
MD_TRIES=5       # metadata attempts while the server is unreachable

log() { echo "cirros-init: $*"; }
logcmd() { "$@" 2>&1 | while IFS= read -r l; do log "  $l"; done; }

# ---- stopping: SIGTERM (busybox reboot), SIGUSR2 (poweroff), SIGUSR1 (halt): exit 0;
# SIGHUP: exit 2, "start me again"
alive() {  # any process besides PID 1 that is not a zombie?
  for s in /proc/[0-9]*/stat; do
    read -r p c st rest 2>/dev/null < "$s" || continue
    [ "$p" = 1 ] || [ "$st" = Z ] || return 0
  done
  return 1
}
stop() {  # $1: what, $2: exit status
  trap '' TERM INT HUP USR1 USR2
  log "$1: stopping all processes"
  if [ "$$" = 1 ]; then
    kill -TERM -1 2>/dev/null
    i=0; while alive && [ $i -lt 30 ]; do usleep 100000; i=$((i+1)); done
    alive && { log "$1: killing what is left"; kill -KILL -1 2>/dev/null; }
  else
    kill $(jobs -p) 2>/dev/null
  fi
  sync
  log "$1: done, exiting with status $2"
  exit "$2"
}
trap 'stop "SIGTERM: power off" 0' TERM
trap 'stop "SIGINT: power off" 0' INT
trap 'stop "poweroff" 0' USR2
trap 'stop "halt" 0' USR1
trap 'stop "SIGHUP: reboot" 2' HUP

# ---- filesystems (nothing may redirect to /dev/null before /dev is set up) -----------
mounted() { grep -q "^[^ ]* $1 " /proc/mounts; }
[ -e /proc/self/stat ] || mount -t proc -o nosuid,nodev,noexec proc /proc \
  || log "warning: cannot mount /proc"
T0=$(cut -d' ' -f1 /proc/uptime)
log "Kumo cirros image starting ($(busybox 2>&1 | head -n 1 | cut -d' ' -f1-2), pid $$)"
if [ -c /dev/null ] && [ -c /dev/urandom ]; then
  log "/dev: provided by the host"
elif mount -t tmpfs -o nosuid,mode=0755,size=1024k dev /dev \
     && mknod -m 666 /dev/null c 1 3; then
  mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
  mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9
  mknod -m 666 /dev/tty c 5 0
  log "/dev: tmpfs with basic device nodes"
else
  mounted /dev && umount /dev
  if mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev; then log "/dev: devtmpfs"
  else log "warning: cannot set up /dev"; fi
fi
mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys \
  || log "warning: cannot mount /sys"
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts \
  && { [ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx; }
mounted /dev/shm || mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
mounted /tmp || mount -t tmpfs -o nosuid,nodev,mode=1777 tmp /tmp
mkdir -p "$STATE" /var/www
hostname -F /etc/hostname 2>/dev/null || hostname cirros

# ---- network: lo, then eth0 by DHCP --------------------------------------------------
ip link set lo up
i=0
while ! ip link show "$IFACE" >/dev/null 2>&1; do
  [ $i -eq 0 ] && log "waiting for $IFACE"
  i=$((i+1)); [ $i -ge 100 ] && break
  usleep 100000
done
LEASE=""
if ip link show "$IFACE" >/dev/null 2>&1; then
  ip link set "$IFACE" up
  log "starting DHCP on $IFACE (udhcpc)"
  udhcpc -f -i "$IFACE" -s /etc/udhcpc/default.script -t 3 -T 2 -A 3 \
    -O mtu -O staticroutes -O domain 2>&1 &
  i=0
  while [ ! -s "$STATE/dhcp.$IFACE" ] && [ $i -lt $((DHCP_WAIT * 10)) ]; do
    usleep 100000; i=$((i+1))
  done
  if [ -s "$STATE/dhcp.$IFACE" ]; then
    . "$STATE/dhcp.$IFACE"
    LEASE=$DHCP_IP
    log "$IFACE: address $DHCP_IP/$DHCP_MASK, router ${DHCP_ROUTER:-none}, dns ${DHCP_DNS:-none}, mtu ${DHCP_MTU:-default}"
  else
    log "no DHCP lease on $IFACE after ${DHCP_WAIT}s; booting on (udhcpc keeps trying)"
  fi
else
  log "no $IFACE: booting without network"
fi
log "network info:"
logcmd ip -o link
logcmd ip -o addr
logcmd ip route

# ---- metadata ------------------------------------------------------------------------
ERR=""
# (busybox-static 1.35 wget -T segfaults, hence timeout(1))
fetch() {  # PATH FILE -> 0 fetched, 1 not found (HTTP 4xx), 2 unreachable
  ERR=$(timeout 10 wget -q -O "$2.part" "$MD$1" 2>&1) && { mv "$2.part" "$2"; return 0; }
  rm -f "$2.part"
  case "$ERR" in *"HTTP/"*" 4"[0-9][0-9]*) return 1 ;; esac
  return 2
}
fetch_retry() {  # like fetch, retrying while the server is unreachable
  n=1
  while :; do
    fetch "$1" "$2"; rc=$?
    { [ $rc -ne 2 ] || [ $n -ge $MD_TRIES ]; } && return $rc
    log "metadata: $MD$1 failed (try $n/$MD_TRIES): $ERR"
    n=$((n+1)); sleep 1
  done
}
json_str() {  # KEY FILE -> the first string value of "KEY" (flat enough for metadata)
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1
}
json_keys() {  # FILE -> the values of the "public_keys" object, one a line
  grep -o '"public_keys"[[:space:]]*:[[:space:]]*{[^}]*}' "$1" \
    | sed 's/^"public_keys"[[:space:]]*:[[:space:]]*{//' \
    | grep -o '"[^"]*"[[:space:]]*:[[:space:]]*"[^"]*"' \
    | sed 's/^"[^"]*"[[:space:]]*:[[:space:]]*"//; s/"$//; s/\\n$//; s#\\/#/#g'
}
SOURCE=""; MD_HOSTNAME=""; UD_PATH=""
: > "$STATE/keys"
if [ -n "$LEASE" ]; then
  log "metadata: fetching $MD/openstack/latest/meta_data.json"
  if fetch_retry /openstack/latest/meta_data.json "$STATE/meta_data.raw"; then
    SOURCE=openstack
    tr '\n' ' ' < "$STATE/meta_data.raw" > "$STATE/meta_data.json"
    MD_HOSTNAME=$(json_str hostname "$STATE/meta_data.json")
    log "metadata: instance $(json_str uuid "$STATE/meta_data.json") (openstack format)"
    json_keys "$STATE/meta_data.json" > "$STATE/keys"
    UD_PATH=/openstack/latest/user_data
  else
    log "metadata: no openstack metadata ($ERR); trying EC2 format"
    if fetch_retry /latest/meta-data/instance-id "$STATE/instance-id"; then
      SOURCE=ec2
      log "metadata: instance $(cat "$STATE/instance-id") (ec2 format)"
      fetch /latest/meta-data/hostname "$STATE/hostname" && MD_HOSTNAME=$(head -n 1 "$STATE/hostname")
      fetch /latest/meta-data/public-keys/0/openssh-key "$STATE/keys"
      UD_PATH=/latest/user-data
    else
      log "metadata: no metadata service ($ERR)"
    fi
  fi
else
  log "metadata: skipped (no network)"
fi

# ---- hostname ------------------------------------------------------------------------
NAME=$(printf %s "${MD_HOSTNAME:-$DHCP_HOSTNAME}" | tr -cd 'A-Za-z0-9.-' | cut -c1-255)
SHORT=$(printf %s "${NAME%%.*}" | cut -c1-63)
if [ -n "$SHORT" ]; then
  hostname "$SHORT"
  echo "$SHORT" > /etc/hostname
  { echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost ip6-loopback"
    if [ "$NAME" = "$SHORT" ]; then echo "127.0.1.1 $SHORT"; else echo "127.0.1.1 $NAME $SHORT"; fi
  } > /etc/hosts
  log "hostname: $SHORT (from ${SOURCE:-dhcp}${NAME:+, fqdn $NAME})"
else
  log "hostname: $(hostname) (default)"
fi

# ---- public keys for the cirros user -------------------------------------------------
SSH=/home/cirros/.ssh
grep -v '^[[:space:]]*$' "$STATE/keys" > "$STATE/keys.clean"
NKEYS=$(wc -l < "$STATE/keys.clean")
if [ "$NKEYS" -gt 0 ]; then
  mkdir -p "$SSH"
  cp "$STATE/keys.clean" "$SSH/authorized_keys"
  chmod 700 "$SSH"; chmod 600 "$SSH/authorized_keys"
  chown -R 1000:1000 "$SSH"
  log "public keys: wrote $NKEYS key(s) to $SSH/authorized_keys"
  while read -r kt kd kc; do log "  $kt ...${kd#"${kd%????????????}"} ${kc}"; done < "$SSH/authorized_keys"
else
  log "public keys: none"
fi

# ---- user data -----------------------------------------------------------------------
UD=$STATE/user-data
if [ -n "$UD_PATH" ] && fetch "$UD_PATH" "$UD"; then
  if [ "$(head -c 2 "$UD")" = "#!" ]; then
    chmod 700 "$UD"
    log "user-data: running script ($(wc -c < "$UD") bytes, $(head -n 1 "$UD"))"
    rm -f "$UD.out" "$UD.done"; mkfifo "$UD.out"
    { while IFS= read -r l || [ -n "$l" ]; do log "user-data: $l"; done < "$UD.out"
      : > "$UD.done"; } &
    (cd /root && exec "$UD") < /dev/null > "$UD.out" 2>&1 &
    wait $!
    rc=$?
    i=0; while [ ! -e "$UD.done" ] && [ $i -lt 20 ]; do usleep 100000; i=$((i+1)); done
    log "user-data: exited with status $rc"
  elif [ -s "$UD" ]; then
    log "user-data: $(wc -c < "$UD") bytes, not a script (no #!): not run"
  else
    log "user-data: empty"
  fi
elif [ -n "$UD_PATH" ]; then
  log "user-data: none"
fi

# ---- services ------------------------------------------------------------------------
hostname > /var/www/index.html
httpd -f -p 80 -h /var/www 2>&1 &
log "httpd: serving /var/www (the hostname) on port 80"
T1=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)
log "boot finished in $(echo "$T0 $T1" | awk '{printf "%.2f", $2 - $1}')s: hostname $(hostname), $IFACE ${LEASE:-unconfigured}"

# ---- stay alive: reap children (and orphans reparented to PID 1) until told to stop ---
while :; do
  sleep 10 &
  wait $!
done
'''

UDHCPC_SCRIPT = r'''#!/bin/sh
# udhcpc event script of Kumo's cirros image (udhcpc -s). $1 is the event:
# deconfig, bound, renew, leasefail or nak. udhcpc passes the lease in the environment:
# interface ip mask (prefix length) broadcast router dns domain mtu hostname
# staticroutes ("net/len gw ..." from option 121) lease serverid.
STATE=/run/cirros
log() { echo "cirros-init: dhcp: $*"; }
event=$1
case "$event" in
deconfig)
  ip -4 addr flush dev "$interface" 2>/dev/null
  ip link set dev "$interface" up
  ;;
leasefail|nak)
  log "$event on $interface${message:+: $message}"
  ;;
bound|renew)
  if [ -n "$mtu" ] && [ "$mtu" -ge 576 ] 2>/dev/null; then
    ip link set dev "$interface" mtu "$mtu"
  fi
  if ! ip -o -4 addr show dev "$interface" | grep -q " $ip/${mask:-24} "; then
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
  fi
  if [ -n "$staticroutes" ]; then  # RFC 3442: classless routes replace the router option
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
      else ip route replace "$1" via "$2" dev "$interface"; fi
      shift 2
    done
  elif [ -n "$router" ]; then
    for r in $router; do
      ip route replace default via "$r" dev "$interface" && break
    done
  fi
  if [ -n "$dns" ]; then
    { echo "# written by udhcpc for $interface (Kumo cirros image)"
      [ -n "$domain" ] && echo "search $domain"
      for s in $dns; do echo "nameserver $s"; done
    } > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf
  fi
  mkdir -p "$STATE"
  q() { printf %s "$1" | tr -d "'\\\\"; }
  { echo "DHCP_IP='$(q "$ip")'"; echo "DHCP_MASK='$(q "${mask:-24}")'"
    echo "DHCP_ROUTER='$(q "$router")'"; echo "DHCP_DNS='$(q "$dns")'"
    echo "DHCP_DOMAIN='$(q "$domain")'"; echo "DHCP_MTU='$(q "$mtu")'"
    echo "DHCP_HOSTNAME='$(q "$hostname")'"; echo "DHCP_ROUTES='$(q "$staticroutes")'"
    echo "DHCP_SERVER='$(q "$serverid")'"; echo "DHCP_LEASE='$(q "$lease")'"
  } > "$STATE/dhcp.$interface.new" && mv "$STATE/dhcp.$interface.new" "$STATE/dhcp.$interface"
  log "$event: $interface $ip/${mask:-24} router ${router:-none} dns ${dns:-none} mtu ${mtu:-default}${staticroutes:+ routes $staticroutes} lease ${lease:-?}s"
  ;;
esac
exit 0
'''

ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "cirros:x:1000:1000:cirros:/home/cirros:/bin/sh\n",
    "etc/shadow": "root:*:19723:0:99999:7:::\ncirros:*:19723:0:99999:7:::\n",
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
    add(_Entry("etc/udhcpc", "dir"))
    add(_Entry("etc/udhcpc/default.script", "file", 0o755, data=UDHCPC_SCRIPT.encode()))
    add(_Entry("usr/share/udhcpc/default.script", "symlink", 0o777,
               target="../../../etc/udhcpc/default.script"))
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
    busybox."""
    dest = Path(dest)
    _write_if_changed(dest, _tar_bytes(_entries(find_busybox(busybox))))
    return dest


def ensure_rootfs(cache_dir: Path, busybox: Path | None = None) -> Path:
    """The cirros rootfs tarball in ``cache_dir``, built on the first call and reused
    after: ``cache_dir/cirros-<digest>.tar.gz``, where the digest covers the busybox
    binary and every file of the image, so a new busybox or a new builder gives a new
    file and an unchanged one is never rebuilt. Safe with concurrent callers."""
    entries = _entries(find_busybox(busybox))
    h = hashlib.sha256()
    for e in entries:
        h.update(f"{e.path}\0{e.kind}\0{e.mode}\0{e.uid}\0{e.target}\0".encode())
        h.update(hashlib.sha256(e.data).digest())
    dest = Path(cache_dir) / f"cirros-{h.hexdigest()[:16]}.tar.gz"
    if not dest.is_file():
        _write_if_changed(dest, _tar_bytes(entries))
    return dest
