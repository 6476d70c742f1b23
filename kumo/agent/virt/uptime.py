"""What a compute host reports for Nova's hypervisor uptime (``GET /os-hypervisors/{id}/
uptime`` before 2.88, ``uptime`` in a 2.88+ hypervisor; Nova's libvirt driver answers
with the host's ``uptime`` command output, which the API rebuilds from these facts, see
:func:`kumo.compute.hosts.uptime_text`).

:func:`machine_uptime` reads this machine's: the kernel's boot time (``btime`` in
``/proc/stat``, seconds since the epoch), its load averages (:func:`os.getloadavg`,
over 1, 5 and 15 minutes) and its logged-in users (``USER_PROCESS`` records in the
utmp file, as ``uptime`` counts them; 0 when there is no utmp file, as in most
containers). Every compute driver Kumo has runs its host on this machine (a
simulated host is namespaces of this kernel, the fake driver's host is this process),
so this is what is true for all of them.
"""
from __future__ import annotations

import os
import struct

#: glibc's ``struct utmp`` on Linux (x86-64, arm64...): 384 bytes, ``ut_type`` the
#: first short; ``USER_PROCESS`` records are logged-in sessions.
UTMP_RECORD = 384
USER_PROCESS = 7
UTMP_PATHS = ("/run/utmp", "/var/run/utmp")


def boot_time(stat_path: str = "/proc/stat") -> int | None:
    """The kernel's boot time, whole seconds since the epoch (``btime``); None if
    unreadable."""
    try:
        with open(stat_path, encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def logged_in_users(paths: tuple[str, ...] = UTMP_PATHS) -> int:
    """How many ``USER_PROCESS`` records the first existing utmp file holds (0 if none
    exists or it cannot be read)."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        except OSError:
            return 0
        count = 0
        for off in range(0, len(data) - UTMP_RECORD + 1, UTMP_RECORD):
            (kind,) = struct.unpack_from("<h", data, off)
            if kind == USER_PROCESS:
                count += 1
        return count
    return 0


def machine_uptime() -> dict:
    """This machine's facts for the heartbeat: ``{"boot_time": int seconds since the
    epoch, "load_average": [1, 5, 15 minute averages], "users": int}``; ``{}`` when
    the boot time cannot be read (the API then answers uptime as Nova over a driver
    without it)."""
    booted = boot_time()
    if booted is None:
        return {}
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = [0.0, 0.0, 0.0]
    return {"boot_time": booted, "load_average": load, "users": logged_in_users()}
