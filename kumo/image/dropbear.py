"""The SSH server of Kumo's ``cirros`` image: Dropbear from Debian's ``dropbear-bin``,
as CirrOS ships it.

Debian builds Dropbear dynamically linked, so the image gets the binaries together with
every shared library they load (what ``ldd`` reports, symlinks resolved, at the same
paths: ``/lib/x86_64-linux-gnu/libc.so.6``...) and the program interpreter
(``/lib64/ld-linux-x86-64.so.2``). glibc >= 2.34 has the ``files`` NSS module built in,
so ``getpwnam`` and ``getspnam`` read ``/etc/passwd`` and ``/etc/shadow`` without
anything else; ``libcrypt`` checks the ``$6$`` password hash.

Image paths::

    /usr/sbin/dropbear     the server (init starts it: dropbear -F -E -p 22)
    /usr/bin/dropbearkey   makes the host keys at first boot (/etc/dropbear)
    /usr/bin/dbclient      the client; /usr/bin/ssh links to it, as in CirrOS
    /lib..., /lib64/...    their shared libraries and loader

:func:`files` returns them as ``(path in the image, mode, bytes)``; it raises
:class:`DropbearNotFound` when ``dropbear-bin`` is not installed or a library cannot
be found, so an image is never built with a server that cannot start.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

__all__ = ["DropbearNotFound", "BINARIES", "SYMLINKS", "find_dropbear",
           "shared_libraries", "files"]

#: image path -> host path of Debian's dropbear-bin binaries
BINARIES = {
    "usr/sbin/dropbear": "/usr/sbin/dropbear",
    "usr/bin/dropbearkey": "/usr/bin/dropbearkey",
    "usr/bin/dbclient": "/usr/bin/dbclient",
}
#: image path -> link target (relative)
SYMLINKS = {"usr/bin/ssh": "dbclient"}

_LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(\S+)\s+\(0x[0-9a-f]+\)\s*$")


class DropbearNotFound(RuntimeError):
    """Dropbear or one of its libraries is missing: install Debian's ``dropbear-bin``."""


def find_dropbear(binaries: dict[str, str] | None = None) -> dict[str, Path]:
    """``{image path: host path}`` of the Dropbear binaries (default :data:`BINARIES`).
    Raises :class:`DropbearNotFound` when one is missing."""
    found = {}
    for dest, src in (binaries or BINARIES).items():
        path = Path(src)
        if not path.is_file():
            raise DropbearNotFound(
                f"no {src}; install Debian's dropbear-bin (scripts/install-system-deps.sh)")
        found[dest] = path
    return found


def shared_libraries(binary: Path) -> list[Path]:
    """The absolute paths (as the loader names them, symlinks not resolved) of every
    shared library ``binary`` loads, its program interpreter included, from ``ldd``.
    Empty for a static binary. Raises :class:`DropbearNotFound` when ldd fails or
    reports a library as not found."""
    try:
        proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise DropbearNotFound(f"ldd {binary}: {e}") from None
    out = proc.stdout + proc.stderr
    if "not a dynamic executable" in out or "statically linked" in out:
        return []
    if proc.returncode != 0 or "not found" in out:
        raise DropbearNotFound(f"ldd {binary} failed: {out.strip()[:500]}")
    libs = []
    for line in proc.stdout.splitlines():
        m = _LDD_LINE.match(line)
        if m and m.group(2).startswith("/"):  # linux-vdso.so.1 has no file
            libs.append(Path(m.group(2)))
    return libs


def files(binaries: dict[str, str] | None = None) -> list[tuple[str, int, bytes]]:
    """``(path in the image, mode, contents)`` for the Dropbear binaries (0755), their
    shared libraries and loader (0755), sorted by path; symlinks are :data:`SYMLINKS`.
    Raises :class:`DropbearNotFound`."""
    out: dict[str, tuple[int, bytes]] = {}
    for dest, src in find_dropbear(binaries).items():
        out[dest] = (0o755, src.read_bytes())
        for lib in shared_libraries(src):
            key = str(lib).lstrip("/")
            if key not in out:
                try:
                    out[key] = (0o755, lib.resolve(strict=True).read_bytes())
                except OSError as e:
                    raise DropbearNotFound(f"{lib} ({src} needs it): {e}") from None
    return [(path, mode, data) for path, (mode, data) in sorted(out.items())]
