"""``kumo console <server> [-- command...]``: a root shell (or one command) inside a
server running on this host with the ``netns`` compute driver.

Run as root on the host where the server lives. The server is found in the compute
driver's own state, ``<state_dir>/compute/instances/<id>/meta.json`` (no API call, no
credentials, works while the API is down): ``<server>`` is its id, its instance name
(``instance-0000000a``), its name (``display_name``) or its hostname, tried in that
order; a name shared by several servers is refused with their ids. The init of the
server is found as the driver finds it (:func:`kumo.agent.virt.netns.instance_init_pid`)
and the command runs in all of its namespaces, root and working directory::

    nsenter -t <init pid> -a -r -w /bin/sh -l        (no command: an interactive shell)
    nsenter -t <init pid> -a -r -w -- command...     (exit status = the command's)

with a clean environment (``PATH`` of the image, ``HOME=/root``, the caller's ``TERM``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from kumo.agent.virt.netns import ID_RE, instance_init_pid

__all__ = ["ConsoleError", "find_instance", "command", "main"]

GUEST_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"


class ConsoleError(RuntimeError):
    """The server cannot be entered (unknown, ambiguous, not running, not root)."""


def _instances(compute_dir: Path) -> list[tuple[Path, dict]]:
    out = []
    base = Path(compute_dir) / "instances"
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        if not ID_RE.match(d.name):
            continue
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        out.append((d, meta))
    return out


def find_instance(compute_dir: Path, ref: str) -> tuple[Path, dict]:
    """``(instance directory, meta)`` of the server ``ref`` (id, instance name, name or
    hostname, in that order of precedence). Raises :class:`ConsoleError` when none or
    several match."""
    found = _instances(compute_dir)
    for key in ("id", "name", "display_name", "hostname"):
        hits = [(d, m) for d, m in found
                if ref and (d.name if key == "id" else m.get(key)) == ref]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            ids = ", ".join(m.get("id") or d.name for d, m in hits)
            raise ConsoleError(f"more than one server on this host is named {ref!r} "
                               f"({ids}); give the id")
    raise ConsoleError(
        f"no server {ref!r} on this host (looked in {Path(compute_dir) / 'instances'}); "
        "`openstack server show <server> -c OS-EXT-SRV-ATTR:host` (as admin) tells where "
        "it runs")


def command(compute_dir: Path, ref: str, argv: list[str] | None = None) -> list[str]:
    """The ``nsenter`` command line that runs ``argv`` (default: a login shell) inside
    the running server ``ref``. Raises :class:`ConsoleError`."""
    d, meta = find_instance(compute_dir, ref)
    pid = instance_init_pid(d)
    if pid is None:
        raise ConsoleError(f"server {meta.get('display_name') or ref} ({d.name}) is not "
                           "running on this host")
    enter = ["nsenter", "-t", str(pid), "-a", "-r", "-w"]
    return enter + (["--", *argv] if argv else ["/bin/sh", "-l"])


def main(compute_dir: Path, ref: str, argv: list[str] | None = None) -> int:
    """Exec the command (so its exit status is ours); 1 with a message on errors."""
    try:
        if os.geteuid() != 0:
            raise ConsoleError("kumo console needs root (it enters the server's "
                               "namespaces with nsenter)")
        if shutil.which("nsenter") is None:
            raise ConsoleError("no nsenter command (util-linux)")
        cmd = command(compute_dir, ref, argv)
    except ConsoleError as e:
        print(f"kumo console: {e}", file=sys.stderr)
        return 1
    env = {"PATH": GUEST_PATH, "HOME": "/root", "TERM": os.environ.get("TERM", "vt100")}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(shutil.which("nsenter"), cmd, env)  # nsenter finds the command in env's PATH
    return 0  # not reached
