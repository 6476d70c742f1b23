"""CPU and memory limits (and the freezer for pause) of namespace instances, through
cgroups: v2 when the unified hierarchy has the ``cpu`` and ``memory`` controllers, else
v1 (``memory.limit_in_bytes``, ``cpu.cfs_quota_us``, ``freezer.state``), else none
(:attr:`Cgroups.mode` is ``"none"`` and limits are reported unavailable). The
instance is also put in the v1 ``cpuacct`` and ``blkio`` groups (v2: the ``io``
controller where delegated) for the counters its diagnostics report
(:mod:`kumo.agent.virt.stats`).

Instance groups are created *below the agent's own group* of each hierarchy
(``<mount>/<own path>/kumo/<instance-id>``: ids, not names, are unique on the
machine, also across simulated hosts), so whatever accounts for the agent also
accounts for its instances. Units: RAM in MiB, CPU in vCPUs (quota = vcpus x period).

CPU placement: where the ``cpuset`` controller is available (v1 hierarchy, or v2 with
``cpuset`` in the subtree), each instance is also confined to ``vcpus`` of the host's
CPUs (``cpuset.cpus``; all of them when the flavor asks for more than the host has),
chosen from the instance id so instances spread over the cores; :meth:`Cgroups.cpus`
tells which (what :mod:`kumo.agent.virt.cpuview` shows as the instance's
/proc/cpuinfo). No cpuset: CPU time is still limited by the quota.
"""
from __future__ import annotations

import logging
import os
import time
import zlib
from pathlib import Path

LOG = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100000


def _own_paths() -> dict[str, str]:
    """``{controller or "" (v2): path}`` from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            out[c] = path
    return out


class Cgroups:
    """Where instance cgroups go, and how limits are written."""

    def __init__(self, root: Path = ROOT):
        self.root = root
        own = _own_paths()
        self.mode = "none"
        self.dirs: dict[str, Path] = {}  # role (memory, cpu, freezer, v2) -> parent dir
        unified = root if (root / "cgroup.controllers").exists() else root / "unified"
        ctrls = set()
        try:
            ctrls = set((unified / "cgroup.controllers").read_text().split())
        except OSError:
            pass
        if {"cpu", "memory"} <= ctrls:
            self.mode = "v2"
            self.dirs["v2"] = unified / own.get("", "/").lstrip("/") / "kumo"
        elif all((root / c / "cgroup.procs").exists() for c in ("memory", "cpu")):
            self.mode = "v1"
            seen = set()
            # cpuacct and blkio: no limits, only the counters diagnostics read
            for c in ("memory", "cpu", "freezer", "cpuset", "cpuacct", "blkio"):
                if (root / c / "cgroup.procs").exists() and \
                        (root / c).resolve() not in seen:  # cpu,cpuacct co-mounted
                    seen.add((root / c).resolve())
                    self.dirs[c] = root / c / own.get(c, "/").lstrip("/") / "kumo"
        self._v2_ctrls = ctrls
        if self.mode != "none":
            try:
                self._make_parents()
            except OSError as e:
                LOG.warning("cgroups %s not writable (%s): instance limits unavailable",
                            self.mode, e)
                self.mode = "none"
                self.dirs = {}
        self.cpuset = self.mode != "none" and self._setup_cpuset(ctrls)
        if self.mode == "none":
            LOG.warning("no usable cgroup cpu/memory controllers: instances run without "
                        "CPU and memory limits")

    def _make_parents(self, parents: bool = True) -> None:
        """The ``kumo`` parent groups (and v2's controllers for their children);
        ``parents``: also the groups above them."""
        for d in self.dirs.values():
            d.mkdir(parents=parents, exist_ok=True)
        if self.mode == "v2":
            try:  # block I/O counters (io.stat) for diagnostics, where delegated
                (self.dirs["v2"] / "cgroup.subtree_control").write_text("+io")
            except OSError:
                pass
            (self.dirs["v2"] / "cgroup.subtree_control").write_text("+cpu +memory")

    def _restore_parents(self) -> None:
        """Make the ``kumo`` parents again: they are shared by every Kumo on the machine
        that runs in the same cgroup (simulated hosts, several clouds), and another's
        ``kumo down`` removes them when they are empty."""
        LOG.info("cgroup parents %s were removed; making them again",
                 ", ".join(map(str, self.dirs.values())))
        self._make_parents(parents=False)  # only kumo/: the agent's own group is there
        if self.cpuset and not self._setup_cpuset(self._v2_ctrls):
            self.cpuset = False

    def _setup_cpuset(self, v2_ctrls: set) -> bool:
        """Enable CPU placement (see the module docstring); False when unavailable."""
        try:
            if self.mode == "v2":
                if "cpuset" not in v2_ctrls:
                    return False
                (self.dirs["v2"] / "cgroup.subtree_control").write_text("+cpuset")
                return True
            d = self.dirs.get("cpuset")
            if d is None:
                return False
            # a v1 cpuset group is unusable until it has CPUs and memory nodes: the
            # kumo group gets its parent's
            for f in ("cpuset.mems", "cpuset.cpus"):
                if not (d / f).read_text().strip():
                    (d / f).write_text((d.parent / f).read_text().strip() or "0")
            return True
        except OSError as e:
            LOG.warning("cgroup cpuset unusable (%s): instances are not pinned", e)
            self.dirs.pop("cpuset", None)
            return False

    def _host_cpus(self) -> list[int]:
        """The CPUs instances may use (the kumo group's effective cpuset)."""
        d = self.dirs.get("cpuset") or self.dirs.get("v2")
        for f in ("cpuset.effective_cpus", "cpuset.cpus.effective", "cpuset.cpus"):
            try:
                cpus = parse_cpulist((d / f).read_text()) if d else []
            except OSError:
                continue
            if cpus:
                return cpus
        return sorted(os.sched_getaffinity(0))

    def pick_cpus(self, name: str, vcpus: int) -> list[int]:
        """``vcpus`` host CPUs for instance ``name`` (all when it asks for as many or
        more), starting at a place derived from the id so instances spread."""
        host = self._host_cpus()
        if vcpus <= 0 or vcpus >= len(host):
            return host
        start = zlib.crc32(name.encode()) % len(host)
        return sorted((host * 2)[start:start + vcpus])

    def cpus(self, name: str) -> list[int] | None:
        """The CPUs instance ``name`` is confined to (None: no cpuset here)."""
        if not self.cpuset:
            return None
        d = (self.dirs.get("cpuset") or self.dirs["v2"]) / name
        try:
            return parse_cpulist((d / "cpuset.cpus").read_text()) or None
        except OSError:
            return None

    def describe(self) -> dict:
        return {"limits": self.mode, "pause": "freezer" if self.can_freeze() else "none",
                "cpuset": "on" if self.cpuset else "off"}

    def can_freeze(self) -> bool:
        return self.mode == "v2" or "freezer" in self.dirs

    def ensure(self, name: str, vcpus: int, ram_mb: int) -> list[str]:
        """Create the groups of instance ``name`` (its id) with the limits; returns the group
        directories its supervisor joins (writes itself into ``cgroup.procs``). A
        ``kumo`` parent found missing is made again (see :meth:`_restore_parents`);
        OSError when the groups cannot be made."""
        for attempt in range(3):
            try:
                return self._ensure(name, vcpus, ram_mb)
            except FileNotFoundError:
                if attempt == 2 or all(p.is_dir() for p in self.dirs.values()):
                    raise
                self._restore_parents()
        raise AssertionError("unreachable")

    def _ensure(self, name: str, vcpus: int, ram_mb: int) -> list[str]:
        out = []
        for role, parent in self.dirs.items():
            d = parent / name
            d.mkdir(exist_ok=True)
            if role == "memory" and ram_mb > 0:
                _write(d / "memory.limit_in_bytes", ram_mb << 20)
            elif role == "cpu" and vcpus > 0:
                _write(d / "cpu.cfs_period_us", PERIOD_US)
                _write(d / "cpu.cfs_quota_us", vcpus * PERIOD_US)
            elif role == "cpuset" and self.cpuset:
                _write(d / "cpuset.mems", (parent / "cpuset.mems").read_text().strip())
                _write(d / "cpuset.cpus", format_cpulist(self.pick_cpus(name, vcpus)))
            elif role == "v2":
                if self.cpuset:
                    _write(d / "cpuset.cpus", format_cpulist(self.pick_cpus(name, vcpus)))
                if ram_mb > 0:
                    _write(d / "memory.max", ram_mb << 20)
                if vcpus > 0:
                    _write(d / "cpu.max", f"{vcpus * PERIOD_US} {PERIOD_US}")
            out.append(str(d))
        return out

    def limits(self, name: str) -> dict:
        """The limits in force (for tests and status): ``{"memory_bytes", "cpu_quota_us",
        "cpu_period_us"}`` (those available)."""
        out: dict = {}
        for role, parent in self.dirs.items():
            d = parent / name
            try:
                if role == "memory":
                    out["memory_bytes"] = int((d / "memory.limit_in_bytes").read_text())
                elif role == "cpu":
                    out["cpu_quota_us"] = int((d / "cpu.cfs_quota_us").read_text())
                    out["cpu_period_us"] = int((d / "cpu.cfs_period_us").read_text())
                elif role == "v2":
                    out["memory_bytes"] = int((d / "memory.max").read_text())
                    q, p = (d / "cpu.max").read_text().split()
                    out["cpu_quota_us"], out["cpu_period_us"] = int(q), int(p)
            except (OSError, ValueError):
                pass
        return out

    def freeze(self, name: str, frozen: bool) -> None:
        """Freeze (pause) or thaw every process of the instance."""
        if self.mode == "v2":
            _write(self.dirs["v2"] / name / "cgroup.freeze", 1 if frozen else 0)
        elif "freezer" in self.dirs:
            _write(self.dirs["freezer"] / name / "freezer.state",
                   "FROZEN" if frozen else "THAWED")
        else:
            raise OSError("no cgroup freezer: pause is unavailable")

    def frozen(self, name: str) -> bool:
        try:
            if self.mode == "v2":
                return (self.dirs["v2"] / name / "cgroup.freeze").read_text().strip() == "1"
            if "freezer" in self.dirs:
                state = (self.dirs["freezer"] / name / "freezer.state").read_text().strip()
                return state in ("FROZEN", "FREEZING")
        except OSError:
            pass
        return False

    def remove(self, name: str, timeout: float = 5.0) -> None:
        """Remove the instance's groups (waiting, bounded, for their processes to go)."""
        for parent in self.dirs.values():
            d = parent / name
            deadline = time.monotonic() + timeout
            while d.exists():
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        LOG.warning("cgroup %s still busy; left in place", d)
                        break
                    time.sleep(0.05)

    def pids(self, name: str) -> list[int]:
        """Every process in the instance's groups (for the final SIGKILL)."""
        out: set[int] = set()
        for parent in self.dirs.values():
            try:
                out |= {int(p) for p in (parent / name / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(out)

    def exists(self, name: str) -> bool:
        return any((p / name).exists() for p in self.dirs.values())


def pids_of(group: Path) -> list[int]:
    """The processes in the cgroup directory ``group`` (none when it is gone)."""
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def remove_dir(group: Path, timeout: float = 5.0) -> bool:
    """Remove the (empty of processes) cgroup directory ``group``, waiting up to
    ``timeout`` seconds for its last processes to go; returns whether it was removed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(group)
            return True
        except FileNotFoundError:
            return False
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def parse_cpulist(text: str) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]`` (the kernel's cpu list format)."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return sorted(out)


def format_cpulist(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []  # [first, last] of each run of consecutive CPUs
    for c in sorted(set(cpus)):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _write(path: Path, value) -> None:
    path.write_text(str(value))
