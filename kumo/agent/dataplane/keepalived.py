"""keepalived (Debian's ``/usr/sbin/keepalived``) for one HA router: its
configuration, the process inside the router's namespace, and its VRRP state.

Files of a router live in one directory (``<state_dir>/ha_confs/<router_id>``, mode
0700, as Neutron's ``ha_confs``): ``keepalived.conf``, ``notify.sh`` (keepalived runs
it on every state change; it writes the state to ``state``), ``pid`` and ``vrrp.pid``
(the parent and the VRRP child process). A process is trusted only when the pid in its
pid file is alive and its command line names this directory (never found by name).

The configuration is one ``vrrp_instance`` (Neutron's shape): state ``BACKUP`` with
``nopreempt`` and equal priorities, so a router that comes back stays standby and
nothing moves until the master fails; VRRP over the ``ha-`` leg (``track_interface``),
the router's primary VIP ``169.254.0.<vrid>/24`` on the ``ha-`` leg, and every
address of the ``qr-``/``qg-`` legs plus the floating IPs as
``virtual_ipaddress_excluded`` (kept out of the VRRP packet, as Neutron does), the
default and extra routes as ``virtual_routes``. So the master holds the addresses and
standbys none: nothing but keepalived configures them.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import signal
import time

from kumo.agent.dataplane import netns
from kumo.agent.dataplane.errors import KumoDataplaneError

BINARY = "/usr/sbin/keepalived"
#: Seconds between VRRP adverts (VRRPv3 allows fractions): a dead master is noticed
#: after about 3 of them (plus a skew under one).
ADVERT_INT = 0.5
PRIORITY = 50
#: keepalived's states as the agent reports them.
STATES = {"MASTER": "active", "BACKUP": "standby", "FAULT": "standby", "STOP": "standby"}


@dataclasses.dataclass(frozen=True)
class Files:
    """The paths of one router's keepalived under ``dir``."""

    dir: str

    @property
    def conf(self) -> str:
        return os.path.join(self.dir, "keepalived.conf")

    @property
    def notify(self) -> str:
        return os.path.join(self.dir, "notify.sh")

    @property
    def state(self) -> str:
        return os.path.join(self.dir, "state")

    @property
    def pid(self) -> str:
        return os.path.join(self.dir, "pid")

    @property
    def vrrp_pid(self) -> str:
        return os.path.join(self.dir, "vrrp.pid")


@dataclasses.dataclass
class Instance:
    """What a router's ``vrrp_instance`` says. ``vips``: ``[(cidr, device)]``;
    ``routes``: ``[(destination, nexthop, device or None)]``."""

    vr_id: int
    interface: str
    vips: list
    routes: list
    advert_int: float = ADVERT_INT


def primary_vip(vr_id: int) -> str:
    """The router's address on its ``ha-`` leg while master (Neutron's
    ``169.254.0.<vrid>/24``)."""
    return f"169.254.0.{vr_id}/24"


_DEVICE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _checked(inst: Instance) -> None:
    """ValueError unless every value is what its place in the file holds: the file is
    read by a keepalived that runs scripts as root, so a value carrying a line break
    or a brace must never reach it, whatever the feed says."""
    if not (isinstance(inst.vr_id, int) and 1 <= inst.vr_id <= 255):
        raise ValueError(f"VRID out of range: {inst.vr_id!r}")
    devices = [inst.interface] + [dev for _, dev in inst.vips] + [
        dev for _, _, dev in inst.routes if dev]
    for dev in devices:
        if not isinstance(dev, str) or not _DEVICE.match(dev):
            raise ValueError(f"not a device name: {dev!r}")
    for cidr, _ in inst.vips:
        ipaddress.ip_interface(cidr)
    for dst, hop, _ in inst.routes:
        if dst != "default":
            ipaddress.ip_network(dst, strict=False)
        ipaddress.ip_address(hop)


def render(inst: Instance, files: Files) -> str:
    """``keepalived.conf`` for ``inst``; ValueError for a value that is not an address,
    a network, a device name or a VRID (:func:`_checked`)."""
    _checked(inst)
    lines = ["global_defs {", "    router_id kumo", "    script_user root",
             "    vrrp_version 3", "}", "",
             f"vrrp_instance VR_{inst.vr_id} {{", "    state BACKUP",
             f"    interface {inst.interface}", f"    virtual_router_id {inst.vr_id}",
             f"    priority {PRIORITY}", "    nopreempt",
             f"    advert_int {inst.advert_int:g}",
             "    garp_master_delay 1", "    garp_master_refresh 2",
             "    garp_master_refresh_repeat 1",
             "    track_interface {", f"        {inst.interface}", "    }",
             "    virtual_ipaddress {",
             f"        {primary_vip(inst.vr_id)} dev {inst.interface}", "    }"]
    if inst.vips:
        lines.append("    virtual_ipaddress_excluded {")
        lines += [f"        {cidr} dev {dev}" for cidr, dev in inst.vips]
        lines.append("    }")
    if inst.routes:
        lines.append("    virtual_routes {")
        for dst, hop, dev in inst.routes:
            lines.append(f"        {dst} via {hop}" + (f" dev {dev}" if dev else ""))
        lines.append("    }")
    lines += [f'    notify "{files.notify}"', "}", ""]
    return "\n".join(lines)


NOTIFY = """#!/bin/sh
# keepalived notify: $1 type, $2 name, $3 state (MASTER, BACKUP, FAULT, STOP)
echo "$3" > "{dir}/state.tmp" && mv -f "{dir}/state.tmp" "{dir}/state"
"""


def write(files: Files, conf: str) -> bool:
    """Write ``conf`` (and the notify script) into ``files.dir`` (made 0700); returns
    whether the configuration changed."""
    os.makedirs(files.dir, mode=0o700, exist_ok=True)
    os.chmod(files.dir, 0o700)
    script = NOTIFY.format(dir=files.dir)
    if _read(files.notify) != script:
        _write(files.notify, script, 0o700)
    if _read(files.conf) == conf:
        return False
    _write(files.conf, conf, 0o600)
    return True


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _write(path: str, text: str, mode: int) -> None:
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return None
    return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


def _pid(path: str, files: Files) -> int | None:
    try:
        pid = int((_read(path) or "").strip() or 0)
    except ValueError:
        return None
    if pid <= 0:
        return None
    argv = _cmdline(pid)
    if argv is None or not any(files.dir + os.sep in a for a in argv):
        return None
    return pid


def pids(files: Files) -> list[int]:
    """The live keepalived processes of ``files`` (parent, VRRP child)."""
    return [p for p in (_pid(files.pid, files), _pid(files.vrrp_pid, files)) if p]


def running(files: Files) -> bool:
    """Whether both keepalived processes of ``files`` are alive."""
    return len(pids(files)) == 2


def state(files: Files) -> str | None:
    """``active``/``standby`` from the last notify, None when unknown."""
    raw = (_read(files.state) or "").strip()
    return STATES.get(raw)


def start(ns: netns.Netns, files: Files, timeout: float = 10.0) -> int:
    """Start keepalived (VRRP only) inside ``ns`` on ``files.conf``; returns the
    parent's pid once both pid files name live processes."""
    for path in (files.pid, files.vrrp_pid, files.state):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    netns.run(ns, [BINARY, "-P", "-f", files.conf, "-p", files.pid, "-r", files.vrrp_pid],
              timeout=timeout)
    deadline = time.monotonic() + timeout
    while not running(files):
        if time.monotonic() > deadline:
            raise KumoDataplaneError("keepalived", "started but wrote no pid files")
        time.sleep(0.05)
    return pids(files)[0]


def reload(files: Files) -> None:
    """SIGHUP: keepalived rereads its configuration."""
    pid = _pid(files.pid, files)
    if pid:
        os.kill(pid, signal.SIGHUP)


def stop(files: Files, timeout: float = 5.0) -> bool:
    """Stop keepalived (SIGTERM: it drops its addresses; SIGKILL after ``timeout``);
    returns whether one was running."""
    found = pids(files)
    if not found:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        for pid in found:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if all(_cmdline(p) is None for p in found):
                return True
            time.sleep(0.05)
    raise KumoDataplaneError(f"kill {found}", "keepalived did not exit")


def kill(files: Files) -> None:
    """SIGKILL every keepalived process of ``files`` (a crash, for tests and
    benchmarks); its addresses stay behind."""
    for pid in pids(files):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
