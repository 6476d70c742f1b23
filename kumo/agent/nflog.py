"""Network log files (Neutron's logging extension) from nftables ``log group``
statements, read in-process over NFLOG (``nfnetlink_log``) sockets.

Why NFLOG and a reader of our own: ``log prefix`` alone goes to the kernel ring buffer,
which network namespaces do not reach by default (``nf_log_all_netns`` is 0), and
``ulogd2`` would be one more daemon per router namespace to run, watch and clean up.
An NFLOG socket opened inside a router's namespace receives exactly that namespace's
packets for the group; pyroute2 has no NFLOG support, so the protocol (a config
message binding the group with packet copy mode, then ``NFULNL_MSG_PACKET``
messages) is decoded here with :mod:`struct`.

Each logged packet carries the prefix ``kumo <log id> <ACCEPT|DROP>`` (set by
:mod:`kumo.agent.fwaas`); :class:`LogWriter` appends one line per packet to
``<logs_dir>/<log id>.log`` (mode 0600, directory 0700)::

    2026-12-06T02:30:00.123456Z action=DROP log_id=<id> router_id=<id> in=qr-... \
out=qg-... proto=icmp src=10.0.0.5 dst=172.24.4.1 icmp_type=8

One thread serves every router's socket (``select`` with a 0.5 s timeout, so
:meth:`LogWriter.stop` returns within a second). When packets come faster than the
thread writes, the kernel drops what does not fit in the socket buffer (the socket
reports ``ENOBUFS``, counted in :attr:`LogWriter.overruns`), so logging never slows
forwarding.
"""
from __future__ import annotations

import datetime as dt
import errno
import ipaddress
import logging
import os
import select
import socket
import struct
import threading

from kumo.agent.dataplane import netns
from kumo.agent.dataplane.netns import Netns

LOG = logging.getLogger(__name__)

GROUP = 17  #: the NFLOG group Kumo's router tables log to (per namespace)
NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
MSG_PACKET = NFNL_SUBSYS_ULOG << 8 | 0
MSG_CONFIG = NFNL_SUBSYS_ULOG << 8 | 1
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
CFG_CMD, CFG_MODE = 1, 2
CMD_BIND = 1
COPY_PACKET = 2
COPY_RANGE = 128
A_INDEV, A_OUTDEV, A_PHYSINDEV, A_PHYSOUTDEV, A_PAYLOAD, A_PREFIX = 4, 5, 6, 7, 9, 10
PREFIX = "kumo"
_DEVS = {A_INDEV: "in", A_OUTDEV: "out", A_PHYSINDEV: "physin", A_PHYSOUTDEV: "physout"}
_PROTOS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def config_message(group: int = GROUP, seq: int = 1) -> bytes:
    """The netlink request binding ``group`` with packet copy mode."""
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(group))
    body += _attr(CFG_CMD, struct.pack("=B", CMD_BIND))
    body += _attr(CFG_MODE, struct.pack("!IBB", COPY_RANGE, COPY_PACKET, 0))
    return struct.pack("=IHHII", 16 + len(body), MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK,
                       seq, 0) + body


def parse(data: bytes) -> list[dict]:
    """The packets of a netlink datagram: ``{"prefix", "in", "out", "physin",
    "physout", "payload"}`` (interface indexes, ``phys*`` the bridge ports of a bridged
    packet, 0 when absent; ``payload`` the network header on)."""
    out, off = [], 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if kind == MSG_PACKET:
            pkt: dict = {"prefix": "", "in": 0, "out": 0, "physin": 0, "physout": 0,
                         "payload": b""}
            a = off + 20
            while a + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                value = data[a + 4:a + alen]
                atype &= 0x3FFF
                if atype == A_PREFIX:
                    pkt["prefix"] = value.split(b"\0", 1)[0].decode(errors="replace")
                elif atype in _DEVS and len(value) >= 4:
                    pkt[_DEVS[atype]] = struct.unpack("!I", value[:4])[0]
                elif atype == A_PAYLOAD:
                    pkt["payload"] = value
                a += (alen + 3) & ~3
            out.append(pkt)
        off += (length + 3) & ~3
    return out


def describe(payload: bytes) -> dict:
    """``proto``, ``src``, ``dst`` and ports or ICMP type of an IP packet's headers."""
    if not payload:
        return {}
    version = payload[0] >> 4
    if version == 4 and len(payload) >= 20:
        ihl = (payload[0] & 0x0F) * 4
        proto, l4 = payload[9], payload[ihl:]
        src, dst = ipaddress.IPv4Address(payload[12:16]), ipaddress.IPv4Address(payload[16:20])
    elif version == 6 and len(payload) >= 40:
        proto, l4 = payload[6], payload[40:]
        src, dst = ipaddress.IPv6Address(payload[8:24]), ipaddress.IPv6Address(payload[24:40])
    else:
        return {}
    info = {"proto": _PROTOS.get(proto, str(proto)), "src": str(src), "dst": str(dst)}
    if proto in (6, 17) and len(l4) >= 4:
        info["sport"], info["dport"] = struct.unpack("!HH", l4[:4])
    elif proto in (1, 58) and l4:
        info["icmp_type"] = l4[0]
    return info


class LogWriter:
    """NFLOG sockets per router namespace and the thread writing their packets to the
    per-log files under ``logs_dir`` (see the module doc). ``group``: the NFLOG group
    bound; ``label``: the field naming a socket's key in each line (``router_id``;
    the security-group firewall uses ``host``, one socket in the host's namespace, and
    a bridged packet's ``in``/``out`` are then its bridge ports, the instances' taps)."""

    def __init__(self, logs_dir: str, group: int = GROUP, label: str = "router_id"):
        self.logs_dir = logs_dir
        self.group, self.label = group, label
        self._socks: dict[str, tuple[socket.socket, Netns]] = {}  # router id -> socket
        self._names: dict[tuple[str, int], str] = {}
        self._inodes: dict[str, int] = {}  # router id -> its namespace file's inode
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.overruns = 0

    def ensure(self, ns: Netns, router_id: str) -> None:
        """Listen to ``router_id``'s namespace (once; again after :meth:`remove`, or
        when the namespace was made anew: its file's inode changed)."""
        try:
            inode = os.stat(ns.path).st_ino if ns.path else 0
        except OSError:
            return  # the namespace is gone: nothing to listen to
        with self._guard:
            entry = self._socks.get(router_id)
            if entry is not None and self._inodes.get(router_id) == inode:
                return
        if entry is not None:
            self.remove(router_id)

        def open_():
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            try:
                s.bind((0, 0))
                s.settimeout(5)
                s.send(config_message(self.group))
                reply = s.recv(4096)
                length, kind = struct.unpack_from("=IH", reply)
                if kind == NLMSG_ERROR:
                    code = struct.unpack_from("=i", reply, 16)[0]
                    if code:
                        raise OSError(-code, os.strerror(-code))
                s.setblocking(False)
                return s
            except BaseException:
                s.close()
                raise
        sock = netns.call(ns, open_)
        with self._guard:
            if router_id in self._socks or self._stop.is_set():
                sock.close()
                return
            self._socks[router_id] = (sock, ns)
            self._inodes[router_id] = inode
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kumo-nflog",
                                                daemon=True)
                self._thread.start()

    def remove(self, router_id: str) -> None:
        with self._guard:
            entry = self._socks.pop(router_id, None)
            self._inodes.pop(router_id, None)
            for key in [k for k in self._names if k[0] == router_id]:
                del self._names[key]
        if entry is not None:
            entry[0].close()

    def serving(self) -> set[str]:
        with self._guard:
            return set(self._socks)

    def stop(self) -> None:
        self._stop.set()
        with self._guard:
            socks, self._socks = list(self._socks.values()), {}
            thread = self._thread
        if thread is not None:
            thread.join(2)
        for sock, _ in socks:
            sock.close()

    # -- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._guard:
                by_fd = {s.fileno(): (rid, s, ns) for rid, (s, ns) in self._socks.items()
                         if s.fileno() >= 0}
            if not by_fd:
                self._stop.wait(0.5)
                continue
            try:
                ready, _, _ = select.select(list(by_fd), [], [], 0.5)
            except (OSError, ValueError):  # a socket closed meanwhile
                continue
            for fd in ready:
                router_id, sock, ns = by_fd[fd]
                for _ in range(64):  # bounded per wake, then the others' turn
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        break
                    except OSError as e:
                        if e.errno == errno.ENOBUFS:
                            self.overruns += 1
                            continue
                        break
                    try:
                        self._write(router_id, ns, parse(data))
                    except Exception:  # noqa: BLE001 - one bad packet never stops logging
                        LOG.exception("network log: writing a packet of router %s",
                                      router_id)

    def _ifname(self, router_id: str, ns: Netns, index: int) -> str:
        if not index:
            return ""
        key = (router_id, index)
        name = self._names.get(key)
        if name is None:
            try:
                name = netns.call(ns, socket.if_indextoname, index)
            except OSError:
                name = str(index)
            self._names[key] = name
        return name

    def _write(self, router_id: str, ns: Netns, packets: list[dict]) -> None:
        lines: dict[str, list[str]] = {}
        for pkt in packets:
            parts = pkt["prefix"].split()
            if len(parts) != 3 or parts[0] != PREFIX:
                continue
            _, log_id, action = parts
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            fields = [now, f"action={action}", f"log_id={log_id}", f"{self.label}={router_id}",
                      f"in={self._ifname(router_id, ns, pkt['physin'] or pkt['in'])}",
                      f"out={self._ifname(router_id, ns, pkt['physout'] or pkt['out'])}"]
            fields += [f"{k}={v}" for k, v in describe(pkt["payload"]).items()]
            lines.setdefault(log_id, []).append(" ".join(fields) + "\n")
        if not lines:
            return
        os.makedirs(self.logs_dir, mode=0o700, exist_ok=True)
        for log_id, text in lines.items():
            if not all(c in "0123456789abcdef-" for c in log_id):
                continue  # only our ids name files
            fd = os.open(os.path.join(self.logs_dir, f"{log_id}.log"),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, "".join(text).encode())
            finally:
                os.close(fd)
