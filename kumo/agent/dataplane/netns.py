"""Network namespaces: hosts, named namespaces, running code and commands inside them.

A :class:`Netns` is a handle on one network namespace, by the path of its bind-mounted
file (``/run/netns/qrouter-<id>``), or ``path=None`` for the namespace the calling
process is in. A :class:`Host` is the unit an agent serves: the namespace it operates in
(``netns``; ``None`` for the machine itself) and the directory where its named
namespaces live (``run_dir``, ``/run/netns`` by default). Simulated hosts in tests are
each a namespace with their own ``run_dir`` (or a private mount namespace with its own
``/run/netns``), so two hosts can both hold ``qrouter-<id>``.

Code runs in a namespace on a short-lived thread that ``setns(2)``\\ s first
(:func:`call`), so the caller's thread never moves; :func:`run` spawns commands from such
a thread, so the child inherits the namespace (like ``ip netns exec`` without the /sys
remount). Netlink sockets are opened in the namespace by pyroute2 (:meth:`Netns.ipr`);
:func:`shared_ipr` lends a cached one per namespace (pyroute2 forks a helper process to
open a socket in another namespace, ~12 ms, so every netlink call paying it made router
realization slow). A cached socket would keep a deleted namespace alive, so
:func:`delete_netns_path` closes it first, and a namespace file that now names another
namespace (deleted and made again by someone else) is noticed by its inode.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno as errno_mod
import os
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns

from kumo.agent.dataplane.errors import KumoDataplaneError

DEFAULT_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise KumoDataplaneError(f"setns {what}", os.strerror(err), err)


@dataclass(frozen=True)
class Netns:
    """One network namespace: ``path`` of its namespace file, ``None`` = the caller's."""

    path: str | None = None

    @property
    def name(self) -> str | None:
        """The namespace's name (the file's base name), ``None`` for the caller's."""
        return os.path.basename(self.path) if self.path else None

    def exists(self) -> bool:
        """Whether the namespace file exists (always true for the caller's)."""
        return self.path is None or os.path.exists(self.path)

    def ipr(self) -> IPRoute:
        """A new pyroute2 ``IPRoute`` bound to this namespace (close it, or use it as a
        context manager). Raises :class:`KumoDataplaneError` if the namespace is gone;
        it never creates one."""
        if self.path is None:
            return IPRoute()
        if not os.path.exists(self.path):
            raise KumoDataplaneError(f"netns {self.path}", "no such namespace",
                                     errno_mod.ENOENT)
        return IPRoute(netns=self.path, flags=0)

    def __str__(self) -> str:
        return self.path or "<current>"


ROOT = Netns(None)


@dataclass(frozen=True)
class Host:
    """Where an agent works: its own namespace and the directory of its named ones.

    ``netns``: path of the host's namespace file, or ``None`` for the machine (the
    caller's namespace). ``run_dir``: directory holding this host's named namespaces
    (``qrouter-<id>``, ``qdhcp-<id>``...), ``/run/netns`` by default.
    """

    netns: str | None = None
    run_dir: str = DEFAULT_RUN_DIR

    @property
    def root(self) -> Netns:
        """The host's own namespace (where bridges, VXLAN and taps live)."""
        return Netns(self.netns)

    def ns(self, name: str) -> Netns:
        """The handle on this host's named namespace ``name`` (may not exist yet)."""
        _check_name(name)
        return Netns(os.path.join(self.run_dir, name))


# -- shared netlink sockets --------------------------------------------------------------

#: Most namespaces with an open cached socket (each holds a few descriptors).
SHARED_MAX = 256


class _Shared:
    __slots__ = ("ino", "ipr", "lock")

    def __init__(self, ino: int | None, ipr: IPRoute):
        self.ino = ino
        self.ipr = ipr
        self.lock = threading.RLock()


_shared: "OrderedDict[str | None, _Shared]" = OrderedDict()
_shared_guard = threading.Lock()


def _ino(path: str | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        drop_shared(path)
        raise KumoDataplaneError(f"netns {path}", "no such namespace",
                                 errno_mod.ENOENT) from None


def _close_shared(entry: _Shared) -> None:
    with entry.lock:
        try:
            entry.ipr.close()
        except Exception:  # noqa: BLE001 - closing a dead socket
            pass


def drop_shared(path: str | None) -> None:
    """Close the cached socket of namespace ``path`` (nothing if none)."""
    with _shared_guard:
        entry = _shared.pop(path, None)
    if entry is not None:
        _close_shared(entry)


@contextlib.contextmanager
def shared_ipr(ns: Netns) -> Iterator[IPRoute]:
    """A cached pyroute2 ``IPRoute`` in ``ns``, held exclusively for the ``with`` block
    (calls in one namespace are serialized; different namespaces run in parallel).
    Raises :class:`KumoDataplaneError` if the namespace is gone. Do not close it."""
    ino = _ino(ns.path)
    while True:
        with _shared_guard:
            entry = _shared.get(ns.path)
            if entry is not None and entry.ino != ino:
                _shared.pop(ns.path)
                stale, entry = entry, None
            else:
                stale = None
            if entry is not None:
                _shared.move_to_end(ns.path)
        if stale is not None:
            _close_shared(stale)
        if entry is None:
            fresh = _Shared(ino, ns.ipr())
            evicted = []
            with _shared_guard:
                entry = _shared.setdefault(ns.path, fresh)
                while len(_shared) > SHARED_MAX:
                    evicted.append(_shared.popitem(last=False)[1])
            for old in evicted + ([fresh] if entry is not fresh else []):
                _close_shared(old)
        with entry.lock:
            with _shared_guard:
                alive = _shared.get(ns.path) is entry
            if not alive:  # closed meanwhile (namespace deleted, evicted): again
                continue
            yield entry.ipr
            return


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise KumoDataplaneError(f"netns name {name!r}", "invalid namespace name")


# -- named namespaces -------------------------------------------------------------------

def ensure_netns(host: Host, name: str) -> Netns:
    """Create the named namespace ``name`` of ``host`` unless it exists; bring its
    loopback up. Returns its handle. Raises :class:`KumoDataplaneError`."""
    ns = host.ns(name)
    if not os.path.exists(ns.path):
        try:
            os.makedirs(os.path.dirname(ns.path), exist_ok=True)
            pr_netns.create(ns.path)
        except OSError as e:
            if e.errno != errno_mod.EEXIST:
                raise KumoDataplaneError(f"netns add {ns.path}", str(e), e.errno) from e
    from kumo.agent.dataplane import links  # noqa: PLC0415 (links imports us)

    links.set_up(ns, "lo")
    return ns


def delete_netns(host: Host, name: str) -> None:
    """Delete the named namespace ``name`` of ``host``; nothing if it does not exist.
    The kernel frees it (and the links inside) once no process or mount holds it."""
    delete_netns_path(host.ns(name).path)


def delete_netns_path(path: str) -> None:
    """Unmount and remove a namespace file; nothing if it does not exist."""
    drop_shared(path)
    if not os.path.lexists(path):
        return
    _libc.umount2(path.encode(), 2)  # MNT_DETACH; EINVAL if it was not mounted
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise KumoDataplaneError(f"netns delete {path}", str(e), e.errno) from e


def list_netns(host: Host) -> list[str]:
    """Names of the host's named namespaces, sorted."""
    try:
        return sorted(os.listdir(host.run_dir))
    except FileNotFoundError:
        return []


def remove_run_dir(host: Host) -> None:
    """Delete every namespace of ``host`` and its ``run_dir`` (unmounting the bind
    mount that namespace creation puts there). For simulated hosts; never use it on
    the machine's ``/run/netns``."""
    if os.path.realpath(host.run_dir) == os.path.realpath(DEFAULT_RUN_DIR):
        raise KumoDataplaneError(f"remove {host.run_dir}", "refusing the machine's run dir")
    for name in list_netns(host):
        delete_netns(host, name)
    if os.path.isdir(host.run_dir):
        while _libc.umount2(host.run_dir.encode(), 2) == 0:
            pass
        os.rmdir(host.run_dir)


# -- running inside a namespace ---------------------------------------------------------

def call(ns: Netns, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` inside ``ns`` and return its result (or raise its
    exception). Runs on a fresh thread that entered the namespace; the caller's thread
    stays where it is. Sockets, ``/proc/sys/net`` files and child processes the function
    opens belong to ``ns``."""
    if ns.path is None:
        return fn(*args, **kwargs)
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(ns.path, os.O_RDONLY)
        except OSError as e:
            out["error"] = KumoDataplaneError(f"netns {ns.path}", str(e), e.errno)
            return
        try:
            _setns(fd, ns.path)
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            out["error"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=target, name=f"netns:{ns.name}", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


@contextlib.contextmanager
def in_netns(ns: Netns | str) -> Iterator[Netns]:
    """Move the *current thread* into ``ns`` (a handle, a path, or a name under
    ``/run/netns``) for the ``with`` block, and back afterwards, even on error.
    Prefer :func:`call` where a callable fits."""
    if isinstance(ns, str):
        ns = Netns(ns if "/" in ns else os.path.join(DEFAULT_RUN_DIR, ns))
    if ns.path is None:
        yield ns
        return
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            fd = os.open(ns.path, os.O_RDONLY)
        except OSError as e:
            raise KumoDataplaneError(f"netns {ns.path}", str(e), e.errno) from e
        try:
            _setns(fd, ns.path)
        finally:
            os.close(fd)
        try:
            yield ns
        finally:
            _setns(saved, "back")
    finally:
        os.close(saved)


def run(ns: Netns, argv: Sequence[str], *, input: str | None = None,
        check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run command ``argv`` inside ``ns``; returns the completed process (text stdout,
    stderr). With ``check`` (default), a non-zero exit, a missing command or a timeout
    (seconds) raises :class:`KumoDataplaneError` carrying the command and its stderr."""
    op = " ".join(argv)

    def go() -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              timeout=timeout)

    try:
        proc = call(ns, go)
    except FileNotFoundError as e:
        raise KumoDataplaneError(op, f"command not found: {argv[0]}", e.errno) from e
    except subprocess.TimeoutExpired as e:
        raise KumoDataplaneError(op, f"timed out after {timeout}s") from e
    if check and proc.returncode != 0:
        raise KumoDataplaneError(
            f"{op} (in {ns})", (proc.stderr or proc.stdout).strip()
            or f"exit status {proc.returncode}")
    return proc
