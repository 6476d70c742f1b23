"""The counters of a netns instance that its diagnostics report (Nova's ``GET
/servers/{id}/diagnostics``; the agent sends them, :mod:`kumo.agent.compute`).

- **CPU**: the instance cgroup's CPU time in ns (v2 ``cpu.stat`` ``usage_usec``, v1
  ``cpuacct.usage``) and, on v1, per host CPU (``cpuacct.usage_percpu``), which gives a
  per-vCPU time where a cpuset pins vCPU ``i`` to the ``i``-th of its CPUs.
- **Memory** (bytes): in use (v2 ``memory.current``, v1 ``memory.usage_in_bytes``: page
  cache included, as the guest's RAM holds it), the limit (``memory.max``,
  ``memory.limit_in_bytes``) and the resident anonymous part (``memory.stat``'s
  ``anon`` / ``rss``).
- **Block I/O** per device ``(major, minor)``: bytes and requests read and written
  (v2 ``io.stat``, v1 ``blkio.throttle.io_service_bytes`` / ``io_serviced``).

A figure the host cannot read (no such controller, a file missing) is ``None``, never
made up.
"""
from __future__ import annotations

import os
from pathlib import Path

from kumo.agent.virt.cgroups import Cgroups


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None  # "max": no limit


def _keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (``cpu.stat``, ``memory.stat``) as a dict."""
    out = {}
    for line in (_read(path) or "").splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def _dev(text: str) -> tuple[int, int] | None:
    major, _, minor = text.partition(":")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def io_v2(text: str) -> dict[tuple[int, int], dict]:
    """``io.stat`` -> ``{(major, minor): {"read_bytes", "write_bytes", "read_requests",
    "write_requests"}}``."""
    names = {"rbytes": "read_bytes", "wbytes": "write_bytes", "rios": "read_requests",
             "wios": "write_requests"}
    out = {}
    for line in text.splitlines():
        dev, *fields = line.split()
        key = _dev(dev) if dev else None
        if key is None:
            continue
        row = dict.fromkeys(names.values(), 0)
        for f in fields:
            k, _, v = f.partition("=")
            if k in names and v.isdigit():
                row[names[k]] = int(v)
        out[key] = row
    return out


def io_v1(service_bytes: str, serviced: str) -> dict[tuple[int, int], dict]:
    """``blkio.throttle.io_service_bytes`` and ``io_serviced`` (``MAJ:MIN Read N``
    lines) -> the shape of :func:`io_v2`."""
    out: dict[tuple[int, int], dict] = {}
    for text, unit in ((service_bytes, "bytes"), (serviced, "requests")):
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("Read", "Write") or \
                    not parts[2].isdigit():
                continue
            key = _dev(parts[0])
            if key is None:
                continue
            row = out.setdefault(key, {"read_bytes": 0, "write_bytes": 0,
                                       "read_requests": 0, "write_requests": 0})
            row[f"{parts[1].lower()}_{unit}"] = int(parts[2])
    return out


def cgroup_stats(cg: Cgroups, name: str) -> dict:
    """The counters of instance ``name``'s groups: ``{"cpu_time_ns", "cpu_percpu_ns":
    [ns per host CPU] | None, "memory_used_bytes", "memory_limit_bytes",
    "memory_rss_bytes", "io": {(major, minor): {...}} | None}`` (``None``: unknown)."""
    out: dict = {"cpu_time_ns": None, "cpu_percpu_ns": None, "memory_used_bytes": None,
                 "memory_limit_bytes": None, "memory_rss_bytes": None, "io": None}
    if cg.mode == "v2":
        d = cg.dirs["v2"] / name
        usec = _keyed(d / "cpu.stat").get("usage_usec")
        out["cpu_time_ns"] = usec * 1000 if usec is not None else None
        out["memory_used_bytes"] = _int(d / "memory.current")
        out["memory_limit_bytes"] = _int(d / "memory.max")
        out["memory_rss_bytes"] = _keyed(d / "memory.stat").get("anon")
        text = _read(d / "io.stat")
        out["io"] = io_v2(text) if text is not None else None
    elif cg.mode == "v1":
        acct = cg.dirs.get("cpuacct") or cg.dirs.get("cpu")
        if acct is not None:
            out["cpu_time_ns"] = _int(acct / name / "cpuacct.usage")
            per = _read(acct / name / "cpuacct.usage_percpu")
            if per is not None and per.split():
                out["cpu_percpu_ns"] = [int(x) for x in per.split() if x.isdigit()]
        mem = cg.dirs.get("memory")
        if mem is not None:
            out["memory_used_bytes"] = _int(mem / name / "memory.usage_in_bytes")
            out["memory_limit_bytes"] = _int(mem / name / "memory.limit_in_bytes")
            out["memory_rss_bytes"] = _keyed(mem / name / "memory.stat").get("rss")
        blk = cg.dirs.get("blkio")
        if blk is not None:
            b = _read(blk / name / "blkio.throttle.io_service_bytes")
            n = _read(blk / name / "blkio.throttle.io_serviced")
            out["io"] = io_v1(b, n) if b is not None and n is not None else None
    return out


def vcpu_times(stats: dict, cpus: list[int] | None, vcpus: int) -> list[int | None]:
    """Per-vCPU CPU time in ns: vCPU ``i`` is host CPU ``cpus[i]`` when a cpuset pins
    the instance to exactly ``vcpus`` CPUs and per-CPU times are known; a one-vCPU
    instance's is the total; otherwise ``None`` each (the total cannot be split)."""
    per = stats.get("cpu_percpu_ns")
    if per is not None and cpus and len(cpus) == vcpus and max(cpus) < len(per):
        return [per[c] for c in cpus]
    if vcpus == 1:
        return [stats.get("cpu_time_ns")]
    return [None] * max(vcpus, 0)


def nic_counters(link: dict | None) -> dict:
    """The instance's view of its NIC from its host-side tap's kernel counters
    (:func:`kumo.agent.dataplane.links.link_stats`): what the tap sends the guest
    receives, so rx and tx swap (as libvirt reports a tap)."""
    keys = ("rx_octets", "rx_packets", "rx_errors", "rx_drop", "tx_octets",
            "tx_packets", "tx_errors", "tx_drop")
    if link is None:
        return dict.fromkeys(keys)
    return {"rx_octets": link["tx_bytes"], "rx_packets": link["tx_packets"],
            "rx_errors": link["tx_errors"], "rx_drop": link["tx_dropped"],
            "tx_octets": link["rx_bytes"], "tx_packets": link["rx_packets"],
            "tx_errors": link["rx_errors"], "tx_drop": link["rx_dropped"]}


#: a v1 memory limit at or past this is "no limit" (the kernel's page-rounded LONG_MAX)
NO_LIMIT = 1 << 60
LOOP_MAJOR = 7
DISK_KEYS = ("read_bytes", "read_requests", "write_bytes", "write_requests")


def process_start(pid: int | None) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None when
    there is no such process."""
    from kumo.agent.virt.uptime import boot_time
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    boot = boot_time()
    return None if boot is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def _disk(name: str, row: dict | None) -> dict:
    out = {"name": name, "errors_count": None}  # the cgroup counts no I/O errors
    out.update({k: (row or {}).get(k) for k in DISK_KEYS})
    return out


def _sum(rows: list[dict]) -> dict:
    return {k: sum(r[k] for r in rows) for k in DISK_KEYS}


def instance_diagnostics(cg: Cgroups, where, iid: str, meta: dict, init_pid: int | None,
                         vcpus: int) -> dict:
    """A netns instance's diagnostics report (the contract's shape,
    :meth:`kumo.agent.virt.ComputeDriver.diagnostics`) from its cgroups, its taps
    (in ``where``'s root namespace) and its loop devices (``meta``: its meta.json).
    The root disk ``vda`` is the boot volume's loop, or else every non-loop device the
    instance's processes did I/O on (the image's tree lives on the host's disk); then
    the attached volumes by device name, then the config drive (``sr0``) if any."""
    from kumo.agent.dataplane import links, names
    from kumo.agent.virt.volumes import rdev
    st = cgroup_stats(cg, iid)
    limit = st["memory_limit_bytes"]
    nics = []
    for port_id in meta.get("ports") or []:
        try:
            link = links.link_stats(where.root, names.tap(port_id))
        except Exception:  # noqa: BLE001 - unreadable now: unknown
            link = None
        nics.append({"port_id": port_id, **nic_counters(link)})
    io = st["io"]

    def dev_row(loop: str | None) -> dict | None:
        if io is None or not loop:
            return None
        try:
            return io.get(rdev(loop), dict.fromkeys(DISK_KEYS, 0))
        except OSError:
            return None
    if meta.get("disk") == "volume":
        root = dev_row((meta.get("boot_volume") or {}).get("loop"))
    else:
        root = None if io is None else _sum(
            [r for dev, r in io.items() if dev[0] != LOOP_MAJOR])
    disks = [_disk("vda", root)]
    for rec in sorted((meta.get("volumes") or {}).values(), key=lambda r: r["device"]):
        disks.append(_disk(rec["device"], dev_row(rec.get("loop"))))
    if meta.get("config_drive"):  # a disk of the guest too, as libvirt lists it
        rec = meta["config_drive"]
        disks.append(_disk(rec["device"], dev_row(rec.get("loop"))))
    return {"started_at": process_start(init_pid), "cpu_time_ns": st["cpu_time_ns"],
            "vcpu_times_ns": vcpu_times(st, cg.cpus(iid), vcpus),
            "memory_used_bytes": st["memory_used_bytes"],
            "memory_max_bytes": limit if limit is not None and limit < NO_LIMIT else None,
            "memory_rss_bytes": st["memory_rss_bytes"], "nics": nics, "disks": disks}
