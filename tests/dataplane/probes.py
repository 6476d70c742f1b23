"""What data-plane tests do to and ask of namespaces: plug an instance by hand, does a
ping answer, does a TCP connect succeed, which processes mention a directory."""
from __future__ import annotations

import os
import socket

from kumo.agent.dataplane import links, names, netns


def plug(host: netns.Host, name: str, port, prefixlen: int) -> netns.Netns:
    """Nova's VIF plugging, by hand: an instance namespace ``name`` on ``host`` whose
    ``eth0`` (the port's MAC and first fixed IP, ``/prefixlen``) pairs with the port's
    ``tap<port[:11]>`` in the host's root namespace."""
    vm = netns.ensure_netns(host, name)
    links.ensure_veth(host.root, names.tap(port.id), "eth0", vm, up=False)
    links.set_mac(vm, "eth0", port.mac_address)
    links.set_up(vm, "eth0")
    links.ensure_address(vm, "eth0", f"{port.fixed_ips[0]['ip_address']}/{prefixlen}")
    return vm


def pings(ns: netns.Netns, addr: str, count: int = 2, source: str | None = None,
          interval: float | None = None) -> bool:
    """Whether ``ping -c count`` from ``ns`` to ``addr`` gets an answer (1 s per reply;
    ``source``: ``-I``; ``interval``: ``-i``)."""
    argv = ["ping", "-c", str(count), "-W", "1", addr]
    if interval is not None:
        argv[3:3] = ["-i", str(interval)]
    if source:
        argv[1:1] = ["-I", source]
    return netns.run(ns, argv, check=False, timeout=10).returncode == 0


def connects(ns: netns.Netns, addr: str, port: int, timeout: float = 2.0,
             expect: bytes | None = None) -> bool:
    """Whether a TCP connection from ``ns`` to ``addr:port`` succeeds (and, with
    ``expect``, the server's first bytes are those)."""
    def go() -> bool:
        try:
            with socket.create_connection((addr, port), timeout=timeout) as s:
                if expect is None:
                    return True
                s.settimeout(timeout)
                return s.recv(len(expect)) == expect
        except OSError:
            return False
    return netns.call(ns, go)


def procs_under(path: str) -> list[int]:
    """Pids of live processes whose command line mentions ``path``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw and path.encode() in raw:
            out.append(int(entry))
    return out
