"""The hypervisor uptime's two halves without a server: what an agent reads of its
machine (``kumo.agent.virt.uptime``) and the ``uptime`` line the API makes of it
(``kumo.compute.hosts.uptime_report`` / ``uptime_text``)."""
from __future__ import annotations

import datetime as dt
import struct
from types import SimpleNamespace

from kumo.agent.virt import uptime
from kumo.compute.hosts import uptime_report, uptime_text

NOW = dt.datetime(2026, 1, 2, 8, 32, 11)


def _line(seconds, users=0, load="0.20, 0.12, 0.14"):
    row = SimpleNamespace(boot_time=NOW - dt.timedelta(seconds=seconds), users=users,
                          load_average=load)
    return uptime_text(row, NOW)


def test_uptime_line_as_the_uptime_command():
    assert _line(93 * 86400 + 18 * 3600 + 25 * 60 + 7, 1) == (
        " 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12, 0.14")
    assert _line(86400 + 5 * 60, 12) == (
        " 08:32:11 up 1 day, 5 min, 12 users,  load average: 0.20, 0.12, 0.14")
    assert _line(3 * 3600) == " 08:32:11 up  3:00,  0 users,  load average: 0.20, 0.12, 0.14"
    assert _line(-5).startswith(" 08:32:11 up 0 min, ")  # a clock behind the host's
    assert uptime_text(SimpleNamespace(boot_time=None, users=None, load_average=None),
                       NOW) is None


def test_report_columns_from_heartbeat():
    assert uptime_report({"host": "h"}) == {"boot_time": None, "load_average": None,
                                            "users": None}
    got = uptime_report({"boot_time": 0, "load_average": [0.5, 2, 10.125], "users": 3})
    assert got == {"boot_time": dt.datetime(1970, 1, 1), "users": 3,
                   "load_average": "0.50, 2.00, 10.12"}


def test_machine_facts(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nbtime 1796500895\nprocesses 7\n")
    assert uptime.boot_time(str(stat)) == 1796500895
    stat.write_text("cpu 1\n")
    assert uptime.boot_time(str(stat)) is None
    assert uptime.boot_time(str(tmp_path / "absent")) is None
    real = uptime.machine_uptime()
    btime = int(next(line for line in open("/proc/stat")
                     if line.startswith("btime ")).split()[1])
    assert abs(real["boot_time"] - btime) <= 1  # computed on each read: may move by 1 s
    assert len(real["load_average"]) == 3 and real["users"] >= 0


def test_logged_in_users_counts_user_processes(tmp_path):
    def record(kind):
        return struct.pack("<h", kind) + bytes(uptime.UTMP_RECORD - 2)
    utmp = tmp_path / "utmp"
    # boot time (2), two logins (7), a dead process (8), a run level (1)
    utmp.write_bytes(b"".join(record(k) for k in (2, 7, 7, 8, 1)))
    assert uptime.logged_in_users((str(tmp_path / "none"), str(utmp))) == 2
    assert uptime.logged_in_users((str(tmp_path / "none"),)) == 0
