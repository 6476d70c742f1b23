"""Removing what Kumo made on a machine: ``kumo down [--purge]`` and ``kumo up --reset``.

What is Kumo's is decided by the rules the agents already use, never by a second list
of kernel objects:

- **servers** (the ``netns`` compute driver's instances: processes, ``instance-*``
  namespaces, ``tap`` legs, cgroups, files) go through
  :meth:`kumo.agent.virt.netns.NetnsDriver.cleanup_orphans` with nothing desired;
- **DHCP** (dnsmasq by its pid file, ``qdhcp-*``), **routers** (``qrouter-*`` and their
  legs), the **firewall** (the ``kumo_sg`` tables) and **L2** (``brq*`` bridges,
  ``vxlan-*``) go through each data-plane driver's ``cleanup_orphans`` with an empty
  desired state, exactly what an agent does for objects deleted while it was away;
- ``br-ex`` and the uplink guard go through :func:`kumo.agent.local.unprepare_host`
  (the inverse of what ``kumo up`` prepares);
- **simulated hosts** (``kumo up --hosts N``) go first, through
  :func:`kumo.hosts.remove_all`: a ``kumo down`` inside each host's namespaces (this
  same code), then their anchors, namespaces, legs and the ``kumo-underlay`` bridge and
  guard; their records stay for the next ``kumo up`` unless purged;
- a final sweep removes whatever still carries our names
  (:func:`kumo.agent.dataplane.names.is_ours` with an id-shaped suffix, so an
  operator's ``tap0`` is safe; instance names;
  :func:`~kumo.agent.dataplane.names.is_our_table`): processes left inside such
  namespaces are killed first (found by their namespace, like ``ip netns pids``).

:func:`down` counts what it removed by kind (an inventory before and after) for the
CLI to print. ``kumo up`` holds :class:`StateLock` (``<state>/kumo.lock``, 0600, an
``flock`` that dies with the process) for its whole life; ``kumo down`` refuses while
it is held, unless forced.

With ``purge`` (``kumo down --purge``, and ``kumo up --reset`` before it starts), the
state goes too: :data:`STATE_ENTRIES` in the state directory (database, keys,
clouds.yaml, the metadata secret, image files, caches, DHCP files, instances and the
compute driver's unpacked root filesystems). The operator's ``kumo.yaml`` and
``policy.yaml`` are kept; the directory is removed when nothing else is left in it.
"""
from __future__ import annotations

import collections
import errno
import fcntl
import logging
import os
import re
import shutil
import signal
from pathlib import Path

from kumo.agent.dataplane import links, names, netns, nft
from kumo.agent.dataplane.netns import Host

LOG = logging.getLogger(__name__)

LOCK_FILE = "kumo.lock"
#: What Kumo writes directly in the state directory (removed by a purge or a reset).
STATE_ENTRIES = ("kumo.db", "kumo.db-wal", "kumo.db-shm", "fernet-keys", "clouds.yaml",
                 "metadata_secret", "agent_password", "images", "cache", "agent",
                 "compute", "hosts", "volumes", "backups")
#: The operator's files in the state directory: never removed.
OPERATOR_FILES = ("kumo.yaml", "policy.yaml")
#: The clouds ``kumo up`` writes into ``~/.config/openstack/clouds.yaml``.
CLOUDS = ("kumo", "kumo-admin")
#: The order kinds are printed in, with their singular and plural names.
KINDS = {"hosts": ("simulated host", "simulated hosts"),
         "servers": ("server", "servers"), "dnsmasq": ("dnsmasq", "dnsmasq"),
         "namespaces": ("namespace", "namespaces"), "bridges": ("bridge", "bridges"),
         "vxlan": ("VXLAN device", "VXLAN devices"), "veths": ("veth", "veths"),
         "nft_tables": ("nft table", "nft tables"), "cgroups": ("cgroup", "cgroups"),
         "state": ("state entry", "state entries")}
#: The network drivers whose orphan cleanup removes the data plane, in order: the
#: namespaces (with the processes and legs in them) before the bridges they hang on.
NETWORK_DRIVERS = ("dhcp", "l3", "firewall", "linuxbridge")


# -- the lock ----------------------------------------------------------------------------

class Busy(RuntimeError):
    """The state directory is held by a running ``kumo up`` (``pid``, 0 if unknown)."""

    def __init__(self, path: Path, pid: int):
        super().__init__(f"{path} is held by a running kumo up (pid {pid or '?'})")
        self.path = path
        self.pid = pid


class StateLock:
    """``<state_dir>/kumo.lock``: an exclusive ``flock`` held while ``kumo up`` runs
    (released by the kernel when the process ends, however it ends), the file 0600 and
    holding the holder's pid."""

    def __init__(self, state_dir: str | os.PathLike):
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "StateLock":
        """Take the lock (creating the file); :class:`Busy` when another process holds
        it. The state directory must exist."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise Busy(self.path, self.holder_pid()) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def holder_pid(self) -> int:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def held(self) -> bool:
        """Whether another process holds the lock now."""
        if not self.path.exists():
            return False
        probe = StateLock(self.path.parent)
        try:
            probe.acquire()
        except Busy:
            return True
        except OSError:
            return False
        probe.release()
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- what is ours -----------------------------------------------------------------------

#: The sweep is stricter than :func:`names.is_ours`: the id part must look like the
#: start of a UUID, so an operator's ``tap0`` (qemu) or ``brqfoo`` is never touched.
_LINK_RE = re.compile(r"^(?:(?:tap|qr-|qg-|brq|ha-|fg-|sg-|rfp-|fpr-|qos)[0-9a-f-]{11}"
                      r"|vxlan-[0-9]{1,8})$")
_NETNS_RE = re.compile(r"^(?:qrouter|qdhcp|fip|snat)-[0-9a-f-]{36}$")


def _instance_name(name: str) -> bool:
    from kumo.agent.virt.netns import NAME_RE
    return bool(NAME_RE.match(name))


def _our_link(name: str) -> bool:
    return names.is_ours(name) and bool(_LINK_RE.match(name))


def _our_netns(name: str) -> bool:
    return (names.is_ours(name) and bool(_NETNS_RE.match(name))) or _instance_name(name)


def _bridges(settings) -> set[str]:
    return set((getattr(settings, "agent_bridge_mappings", None) or {}).values())


def inventory(settings, where: Host | None = None) -> dict[str, set[str]]:
    """What of Kumo's exists now: ``{kind: names}`` for ``namespaces`` (in the host's
    run dir), ``bridges``, ``vxlan``, ``veths`` (links in the host's namespace),
    ``nft_tables`` (``family name``), ``dnsmasq`` (networks whose dnsmasq runs) and
    ``servers`` (instance ids whose supervisor runs)."""
    where = where or Host()
    out: dict[str, set[str]] = {k: set() for k in KINDS}
    out["namespaces"] = {n for n in netns.list_netns(where) if _our_netns(n)}
    mapped = _bridges(settings)
    for lk in links.list_links(where.root):
        if lk.name in mapped or (_our_link(lk.name) and lk.kind == "bridge"):
            out["bridges"].add(lk.name)
        elif _our_link(lk.name):
            out["vxlan" if lk.name.startswith(names.VXLAN) else "veths"].add(lk.name)
    try:
        out["nft_tables"] = {f"{fam} {name}" for fam, name in nft.list_tables(where.root)
                             if names.is_our_table(name)}
    except Exception as e:  # noqa: BLE001 - no nft: no tables of ours either
        LOG.debug("listing nft tables: %s", e)
    state = Path(settings.state_dir)
    from kumo.agent.dataplane import dnsmasq
    dhcp = state / "agent" / "dhcp"
    if dhcp.is_dir():
        out["dnsmasq"] = {d.name for d in dhcp.iterdir()
                          if dnsmasq.running(dnsmasq.Files(str(d))) is not None}
    out["servers"] = set(_running_instances(state / "compute" / "instances"))
    return out


def _running_instances(instances: Path) -> list[str]:
    from kumo.agent.virt.netns import ID_RE, _alive
    out = []
    for d in sorted(instances.iterdir()) if instances.is_dir() else []:
        try:
            pid, start = (d / "supervisor.pid").read_text().split()
        except (OSError, ValueError):
            continue
        if ID_RE.match(d.name) and _alive(int(pid), start):
            out.append(d.name)
    return out


# -- removing -----------------------------------------------------------------------------

class _Offline:
    """The controller client handed to drivers during a teardown: nothing may call it
    (with nothing desired, orphan cleanup needs no API)."""

    def __getattr__(self, name):
        raise RuntimeError(f"kumo down talks to no controller (client.{name})")


def _host_name(settings) -> str:
    import socket
    return getattr(settings, "agent_host", None) or socket.gethostname()


def _recorded_cgroups(instances: Path) -> list[Path]:
    """The cgroup directories instances' supervisors joined (``<instance>/cgroups``),
    only those under /sys/fs/cgroup named by their instance's id."""
    from kumo.agent.virt import cgroups
    out = []
    for d in sorted(instances.iterdir()) if instances.is_dir() else []:
        try:
            lines = (d / "cgroups").read_text().split()
        except OSError:
            continue
        for line in lines:
            p = Path(line)
            if p.name == d.name and cgroups.ROOT in p.parents:
                out.append(p)
    return out


def _remove_instances(settings, where: Host, problems: list[str]) -> int:
    """Destroy every instance of the netns compute driver on this state dir; returns
    how many cgroup directories went (the instances are counted by the inventory)."""
    from kumo.agent.virt import cgroups, netns as virt_netns
    instances = Path(settings.state_dir) / "compute" / "instances"
    held = instances.is_dir() and any(instances.iterdir())
    strays = any(_instance_name(n) for n in netns.list_netns(where))
    if not (held or strays):
        return 0
    groups = _recorded_cgroups(instances)
    driver = virt_netns.NetnsDriver(host=_host_name(settings), settings=settings,
                                    where=where, stop_grace_s=2.0)
    try:
        driver.cleanup_orphans({})
    except Exception as e:  # noqa: BLE001 - the sweep below goes on
        problems.append(f"servers: {e}")
    finally:
        driver.stop()
    # groups recorded under another cgroup than ours (kumo up ran in another session)
    removed = 0
    for g in groups:
        for pid in cgroups.pids_of(g):
            _kill(pid)
        if cgroups.remove_dir(g):
            removed += 1
    for parent in {g.parent for g in groups} | set(driver.cgroups.dirs.values()):
        cgroups.remove_dir(parent, timeout=0)  # the "kumo" parents, when empty
    return removed


def _remove_network(settings, where: Host, problems: list[str]) -> None:
    from kumo.agent import drivers as registry
    present = [n for n in NETWORK_DRIVERS if n in registry.available()]
    for driver in registry.build(present, _host_name(settings), settings,
                                 client=_Offline(), where=where):
        try:
            driver.cleanup_orphans({})
        except Exception as e:  # noqa: BLE001 - the sweep below goes on
            problems.append(f"{driver.name}: {e}")
        finally:
            try:
                driver.stop()
            except Exception:  # noqa: BLE001
                LOG.exception("driver %s: stop failed", driver.name)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def netns_pids(path: str) -> list[int]:
    """The processes whose network namespace is the one bound at ``path``
    (``ip netns pids``)."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ns = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (ns.st_dev, ns.st_ino) == (st.st_dev, st.st_ino):
            out.append(int(entry))
    return out


def _sweep(settings, where: Host, problems: list[str]) -> None:
    """Whatever still carries our names after the drivers' cleanups."""
    for name in netns.list_netns(where):
        if not _our_netns(name):
            continue
        for pid in netns_pids(where.ns(name).path):
            if pid != os.getpid():
                _kill(pid)
        try:
            netns.delete_netns(where, name)
        except Exception as e:  # noqa: BLE001
            problems.append(f"namespace {name}: {e}")
    for lk in links.list_links(where.root):
        if _our_link(lk.name):
            try:
                links.delete_link(where.root, lk.name)
            except Exception as e:  # noqa: BLE001
                problems.append(f"link {lk.name}: {e}")
    try:
        tables = nft.list_tables(where.root)
    except Exception:  # noqa: BLE001 - no nft
        tables = []
    for fam, name in tables:
        if names.is_our_table(name):
            try:
                nft.delete_table(where.root, fam, name)
            except Exception as e:  # noqa: BLE001
                problems.append(f"nft table {fam} {name}: {e}")


def remove_dataplane(settings, where: Host | None = None) -> tuple[dict[str, int], list[str]]:
    """Remove every server and data-plane object of Kumo's on the host ``where`` (the
    machine by default); idempotent. Returns ``({kind: count removed}, problems)``."""
    from kumo.agent import local
    where = where or Host()
    problems: list[str] = []
    before = inventory(settings, where)
    cgroup_count = _remove_instances(settings, where, problems)
    _remove_network(settings, where, problems)
    try:
        local.unprepare_host(settings, where.root)
    except Exception as e:  # noqa: BLE001
        problems.append(f"br-ex and the uplink guard: {e}")
    _sweep(settings, where, problems)
    after = inventory(settings, where)
    counts = {k: len(before[k] - after[k]) for k in KINDS}
    counts["cgroups"] = cgroup_count
    for kind, left in after.items():
        if left:
            problems.append(f"{KINDS[kind][1]} left: {', '.join(sorted(left))}")
    return counts, problems


def can_touch_kernel() -> str | None:
    """``None`` when this process may remove kernel objects, else why not."""
    if os.geteuid() != 0:
        return "not root"
    missing = [t for t in ("ip", "nft") if not shutil.which(t)]
    return f"{', '.join(missing)} missing" if missing else None


def purge_state(state_dir: str | os.PathLike, keep_lock: bool = False) -> int:
    """Remove :data:`STATE_ENTRIES` from the state directory (and the lock file unless
    ``keep_lock``), then the directory itself when nothing else is in it. Returns how
    many entries went."""
    state = Path(state_dir)
    removed = 0
    for name in STATE_ENTRIES + (() if keep_lock else (LOCK_FILE,)):
        target = state / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
            removed += 1
        elif target.exists() or target.is_symlink():
            target.unlink()
            removed += name != LOCK_FILE
    if not keep_lock:
        try:
            state.rmdir()
        except OSError:
            pass  # the operator's files (or anything else) are still there
    return removed


def forget_clouds(path: str | os.PathLike | None = None) -> bool:
    """Remove the clouds ``kumo`` and ``kumo-admin`` from the user's clouds.yaml
    (``~/.config/openstack/clouds.yaml``), deleting the file when no cloud is left.
    Returns whether anything changed."""
    import yaml
    path = Path(path) if path else Path.home() / ".config" / "openstack" / "clouds.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    clouds = data.get("clouds") or {}
    if not any(c in clouds for c in CLOUDS):
        return False
    for c in CLOUDS:
        clouds.pop(c, None)
    if clouds or set(data) - {"clouds"}:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    else:
        path.unlink()
    return True


def down(settings, *, purge: bool = False, where: Host | None = None,
         dataplane: bool = True, keep_lock: bool = False) -> tuple[dict[str, int], list[str]]:
    """``kumo down``: remove the data plane (when ``dataplane`` and allowed: see
    :func:`can_touch_kernel`), and with ``purge`` the state (:func:`purge_state`).
    The caller holds (or forced past) the :class:`StateLock`. Returns
    ``({kind: count removed}, problems)``."""
    counts = {k: 0 for k in KINDS}
    problems: list[str] = []
    if dataplane:
        why = can_touch_kernel()
        if why is None:
            # kumo up --hosts: each simulated host is torn down from inside (a kumo down
            # in its namespaces), then its namespaces, legs and the underlay go.
            in_hosts, host_problems = {}, []
            if where is None:  # the machine's own (its hosts, the underlay)
                from kumo import hosts
                in_hosts, host_problems = hosts.remove_all(settings, purge=purge)
            counts, problems = remove_dataplane(settings, where)
            for kind, n in in_hosts.items():
                counts[kind] = counts.get(kind, 0) + n
            problems = host_problems + problems
        else:
            problems.append(f"the data plane was left alone ({why})")
    if purge:
        counts["state"] = purge_state(settings.state_dir, keep_lock=keep_lock)
    return counts, problems


def summary(counts: dict[str, int]) -> str:
    """``"2 servers, 1 dnsmasq, 3 namespaces"``, or ``"nothing"``."""
    parts = [f"{n} {KINDS[k][0] if n == 1 else KINDS[k][1]}"
             for k in KINDS if (n := counts.get(k, 0))]
    return ", ".join(parts) or "nothing"


def count_servers(settings) -> int:
    """How many servers of the netns compute driver run on this state dir."""
    return len(_running_instances(Path(settings.state_dir) / "compute" / "instances"))
