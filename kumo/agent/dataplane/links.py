"""Links, addresses, routes, sysctls, FDB and neighbour entries, over netlink (pyroute2).

Every function takes the :class:`~kumo.agent.dataplane.netns.Netns` it works in first.
``ensure_*`` create or adjust and are idempotent; ``delete_*`` ignore what is already
gone; anything else the kernel refuses raises
:class:`~kumo.agent.dataplane.errors.KumoDataplaneError` with the netlink error (``errno``
and the kernel's message). Addresses are strings (``"10.0.0.1"``, CIDRs
``"10.0.0.1/24"``), MACs ``"aa:bb:cc:dd:ee:ff"``, MTUs bytes.
"""
from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from dataclasses import dataclass
from typing import Iterator

from pyroute2.netlink.exceptions import NetlinkError

from kumo.agent.dataplane import netns as _netns
from kumo.agent.dataplane import rawnl
from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.dataplane.netns import Netns

ZERO_MAC = "00:00:00:00:00:00"
VXLAN_PORT = 4789
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
NTF_MASTER = 0x04


@contextlib.contextmanager
def _ipr(ns: Netns, op: str) -> Iterator:
    """The namespace's shared IPRoute (:func:`kumo.agent.dataplane.netns.shared_ipr`,
    held for the block); netlink errors inside become KumoDataplaneError(op)."""
    try:
        with _netns.shared_ipr(ns) as ipr:
            yield ipr
    except NetlinkError as e:
        raise KumoDataplaneError(f"{op} (in {ns})", str(e.args[-1]), e.code) from e
    except KumoDataplaneError:
        raise
    except Exception:
        _netns.drop_shared(ns.path)  # the socket may be in any state now: a new one
        raise


def _index(ipr, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _need(ipr, ns: Netns, name: str) -> int:
    idx = _index(ipr, name)
    if idx is None:
        raise KumoDataplaneError(f"link {name} (in {ns})", "No such device", errno.ENODEV)
    return idx


# -- links ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    """A link as the kernel reports it. ``kind`` is ``veth``/``bridge``/``vxlan``/...
    (``None`` for physical or loopback), ``master`` the bridge's ifindex or ``None``,
    ``vxlan`` the VXLAN attributes (``id``, ``local``, ``port``, ``learning``) if any."""

    name: str
    index: int
    kind: str | None
    mtu: int
    mac: str | None
    up: bool
    master: int | None
    vxlan: dict | None = None


def _link(msg) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info else None
    vx = None
    if kind == "vxlan":
        data = info.get_attr("IFLA_INFO_DATA")
        vx = {"id": data.get_attr("IFLA_VXLAN_ID"),
              "local": data.get_attr("IFLA_VXLAN_LOCAL"),
              "port": data.get_attr("IFLA_VXLAN_PORT"),
              "learning": bool(data.get_attr("IFLA_VXLAN_LEARNING"))}
    return Link(name=msg.get_attr("IFLA_IFNAME"), index=msg["index"], kind=kind,
                mtu=msg.get_attr("IFLA_MTU"), mac=msg.get_attr("IFLA_ADDRESS"),
                up=bool(msg["flags"] & 1), master=msg.get_attr("IFLA_MASTER"), vxlan=vx)


def get_link(ns: Netns, name: str) -> Link | None:
    """The link ``name`` in ``ns``, or ``None`` if there is none (one request by name:
    no dump of the namespace's links)."""
    with _ipr(ns, f"link get {name}") as ipr:
        try:
            return _link(ipr.link("get", ifname=name)[0])
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return None
            raise


def list_links(ns: Netns) -> list[Link]:
    """Every link in ``ns``, by index."""
    with _ipr(ns, "link dump") as ipr:
        return sorted((_link(m) for m in ipr.link("dump")), key=lambda x: x.index)


#: ``IFLA_STATS64`` fields :func:`link_stats` returns
STATS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets",
         "tx_errors", "tx_dropped")


def link_stats(ns: Netns, name: str) -> dict | None:
    """The kernel's counters of link ``name`` in ``ns`` (``IFLA_STATS64``: the
    :data:`STATS` keys, ints, as the link itself counts them: a veth's ``rx`` is what
    its peer sent), or ``None`` when there is no such link."""
    with _ipr(ns, f"link stats {name}") as ipr:
        try:
            msg = ipr.link("get", ifname=name)[0]
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return None
            raise
    st = msg.get_attr("IFLA_STATS64") or msg.get_attr("IFLA_STATS")
    if st is None:
        return None
    return {k: int(st[k]) for k in STATS}


def scan_links(ns: Netns) -> dict[str, Link]:
    """``{name: Link}`` of every link in ``ns`` without VXLAN attributes or MAC (``vxlan``
    and ``mac`` None), for reading thousands of taps at once: one dump on a raw socket,
    decoded with ``struct`` (:func:`kumo.agent.dataplane.rawnl.link_rows`; pyroute2
    takes about half a millisecond per link, so :func:`list_links` of 3,000 taps costs
    seconds; this, tens of milliseconds)."""
    return {name: Link(name=name, index=index, kind=kind, mtu=mtu, mac=None, up=up,
                       master=master)
            for name, index, kind, mtu, up, master in rawnl.link_rows(ns)}


def _adjust(ipr, idx: int, mtu: int | None, mac: str | None, up: bool | None) -> None:
    kw: dict = {}
    if mtu is not None:
        kw["mtu"] = mtu
    if mac is not None:
        kw["address"] = mac
    if kw:
        ipr.link("set", index=idx, **kw)
    if up is not None:
        ipr.link("set", index=idx, state="up" if up else "down")


def ensure_veth(ns: Netns, name: str, peer: str, peer_ns: Netns | None = None, *,
                mtu: int | None = None, up: bool = True,
                peer_mac: str | None = None) -> Link:
    """A veth pair ``name`` (in ``ns``) <-> ``peer`` (in ``peer_ns``, default ``ns``).
    If ``name`` exists as a veth whose peer is where it should be, only MTU and state
    are adjusted; a half-made or mismatched pair is recreated. Both ends are set to
    ``mtu`` and brought up (unless ``up=False``). ``peer_mac`` is set on ``peer``
    while it is down (made with it, or taken down to change it), so the kernel's IPv6
    link-local address, derived when the link comes up, is the EUI-64 of that MAC.
    Returns ``name``'s link."""
    peer_ns = peer_ns or ns
    cur = get_link(ns, name)
    if cur is not None and (cur.kind != "veth" or get_link(peer_ns, peer) is None):
        delete_link(ns, name)
        cur = None
    if cur is None:
        delete_link(peer_ns, peer)
        with _ipr(ns, f"link add {name} type veth peer {peer}") as ipr:
            spec: dict = {"ifname": peer}
            if peer_mac:
                spec["address"] = peer_mac
            fd = None
            if peer_ns.path != ns.path:
                if peer_ns.path is None:
                    raise KumoDataplaneError(f"link add {name}",
                                             "peer namespace must be named by path")
                fd = os.open(peer_ns.path, os.O_RDONLY)
                spec["net_ns_fd"] = fd
            try:
                ipr.link("add", ifname=name, kind="veth", peer=spec)
            finally:
                if fd is not None:
                    os.close(fd)
    with _ipr(peer_ns, f"link set {peer}") as ipr:
        pidx = _need(ipr, peer_ns, peer)
        mac = None
        if peer_mac:
            cur_peer = _link(ipr.link("get", index=pidx)[0])
            if (cur_peer.mac or "").lower() != peer_mac.lower():
                mac = peer_mac
                ipr.link("set", index=pidx, state="down")  # link-local follows the MAC
        _adjust(ipr, pidx, mtu, mac, up)
    with _ipr(ns, f"link set {name}") as ipr:
        idx = _need(ipr, ns, name)
        _adjust(ipr, idx, mtu, None, up)
        return _link(ipr.link("get", index=idx)[0])


def ensure_bridge(ns: Netns, name: str, *, mtu: int | None = None,
                  up: bool = True) -> Link:
    """A Linux bridge ``name`` (``brq<net[:11]>``), STP off, forward delay 0, up.
    An existing non-bridge link of that name raises KumoDataplaneError."""
    with _ipr(ns, f"link add {name} type bridge") as ipr:
        idx = _index(ipr, name)
        if idx is None:
            ipr.link("add", ifname=name, kind="bridge", br_stp_state=0,
                     br_forward_delay=0)
            idx = _need(ipr, ns, name)
        cur = _link(ipr.link("get", index=idx)[0])
        if cur.kind != "bridge":
            raise KumoDataplaneError(f"link add {name} type bridge (in {ns})",
                                     f"exists as {cur.kind}", errno.EEXIST)
        _adjust(ipr, idx, mtu, None, up)
        return _link(ipr.link("get", index=idx)[0])


def ensure_vxlan(ns: Netns, name: str, vni: int, local: str, *, dev: str | None = None,
                 dstport: int = VXLAN_PORT, learning: bool = False,
                 mtu: int | None = None, master: str | None = None,
                 up: bool = True) -> Link:
    """A VXLAN device ``name`` (``vxlan-<vni>``) with VNI ``vni``, underlay source
    address ``local``, UDP ``dstport`` (4789), learning off by default (L2 population
    fills the FDB), optional underlay ``dev``, ``mtu`` and bridge ``master``. A device
    with other VNI/local/port/learning is deleted and recreated (the kernel cannot
    change them in place)."""
    cur = get_link(ns, name)
    if cur is not None and (cur.kind != "vxlan" or cur.vxlan is None
                            or cur.vxlan["id"] != vni or cur.vxlan["local"] != local
                            or cur.vxlan["port"] != dstport
                            or cur.vxlan["learning"] != learning):
        delete_link(ns, name)
        cur = None
    with _ipr(ns, f"link add {name} type vxlan id {vni}") as ipr:
        if cur is None:
            kw: dict = {"vxlan_id": vni, "vxlan_local": local, "vxlan_port": dstport,
                        "vxlan_learning": int(learning)}
            if dev is not None:
                kw["vxlan_link"] = _need(ipr, ns, dev)
            ipr.link("add", ifname=name, kind="vxlan", **kw)
        idx = _need(ipr, ns, name)
        if master is not None:
            ipr.link("set", index=idx, master=_need(ipr, ns, master))
        _adjust(ipr, idx, mtu, None, up)
        return _link(ipr.link("get", index=idx)[0])


def delete_link(ns: Netns, name: str) -> bool:
    """Delete link ``name`` (a veth's peer goes with it). Returns whether it existed."""
    with _ipr(ns, f"link del {name}") as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return False
            raise
        return True


def set_master(ns: Netns, name: str, bridge: str | None) -> None:
    """Attach link ``name`` (tap, veth, vxlan) to ``bridge``; ``None`` detaches it."""
    with _ipr(ns, f"link set {name} master {bridge}") as ipr:
        idx = _need(ipr, ns, name)
        ipr.link("set", index=idx, master=_need(ipr, ns, bridge) if bridge else 0)


def set_link(ns: Netns, name: str, *, master: str | None = None, mtu: int | None = None,
             up: bool | None = None, index: int | None = None,
             master_index: int | None = None) -> None:
    """Set link ``name``'s bridge ``master``, ``mtu`` and state (``up``) in one netlink
    request (one link event instead of one per change); None leaves that one alone.
    ``index``/``master_index``: the ifindexes when the caller knows them (no lookup)."""
    with _ipr(ns, f"link set {name}") as ipr:
        kw: dict = {}
        if master_index is not None:
            kw["master"] = master_index
        elif master is not None:
            kw["master"] = _need(ipr, ns, master)
        if mtu is not None:
            kw["mtu"] = mtu
        if up is not None:
            kw["state"] = "up" if up else "down"
        if kw:
            ipr.link("set", index=index if index is not None else _need(ipr, ns, name),
                     **kw)


def set_up(ns: Netns, name: str) -> None:
    """Bring link ``name`` up."""
    with _ipr(ns, f"link set {name} up") as ipr:
        ipr.link("set", index=_need(ipr, ns, name), state="up")


def set_down(ns: Netns, name: str) -> None:
    """Bring link ``name`` down."""
    with _ipr(ns, f"link set {name} down") as ipr:
        ipr.link("set", index=_need(ipr, ns, name), state="down")


def set_mtu(ns: Netns, name: str, mtu: int) -> None:
    """Set link ``name``'s MTU (bytes)."""
    with _ipr(ns, f"link set {name} mtu {mtu}") as ipr:
        ipr.link("set", index=_need(ipr, ns, name), mtu=mtu)


def set_mac(ns: Netns, name: str, mac: str) -> None:
    """Set link ``name``'s MAC address."""
    with _ipr(ns, f"link set {name} address {mac}") as ipr:
        ipr.link("set", index=_need(ipr, ns, name), address=mac)


# -- addresses --------------------------------------------------------------------------

def _iface(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        return ipaddress.ip_interface(cidr)
    except ValueError as e:
        raise KumoDataplaneError(f"address {cidr}", str(e), errno.EINVAL) from e


def ensure_address(ns: Netns, dev: str, cidr: str) -> None:
    """Add address ``cidr`` (``"10.0.0.1/24"``, IPv4 with its broadcast) to ``dev``
    unless present."""
    ifc = _iface(cidr)
    with _ipr(ns, f"addr add {cidr} dev {dev}") as ipr:
        kw: dict = {"index": _need(ipr, ns, dev), "address": str(ifc.ip),
                    "prefixlen": ifc.network.prefixlen}
        if ifc.version == 4 and ifc.network.prefixlen < 31:
            kw["broadcast"] = str(ifc.network.broadcast_address)
        try:
            ipr.addr("add", **kw)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise


def delete_address(ns: Netns, dev: str, cidr: str) -> None:
    """Remove address ``cidr`` from ``dev``; nothing if absent (or ``dev`` is gone)."""
    ifc = _iface(cidr)
    with _ipr(ns, f"addr del {cidr} dev {dev}") as ipr:
        idx = _index(ipr, dev)
        if idx is None:
            return
        try:
            ipr.addr("del", index=idx, address=str(ifc.ip),
                     prefixlen=ifc.network.prefixlen)
        except NetlinkError as e:
            if e.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                raise


def list_addresses(ns: Netns, dev: str, family: int | None = None) -> list[str]:
    """Addresses on ``dev`` as CIDRs, IPv4 first; ``family`` 4 or 6 to filter.
    IPv6 link-local addresses are included."""
    with _ipr(ns, f"addr show dev {dev}") as ipr:
        idx = _need(ipr, ns, dev)
        out = [f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}"
               for m in ipr.addr("dump", index=idx)]
    out = [a for a in out if family is None or _iface(a).version == family]
    return sorted(out, key=lambda a: (_iface(a).version, a))


def flush_addresses(ns: Netns, dev: str, family: int | None = None) -> None:
    """Remove every address (of ``family`` 4/6 if given) from ``dev``."""
    for cidr in list_addresses(ns, dev, family):
        delete_address(ns, dev, cidr)


# -- routes -----------------------------------------------------------------------------

def _route_kw(ipr, ns: Netns, dst: str, gateway: str | None, dev: str | None,
              table: int | None, metric: int | None) -> dict:
    if dst == "default":
        version = ipaddress.ip_address(gateway).version if gateway else 4
        dst = "0.0.0.0/0" if version == 4 else "::/0"
    try:
        net = ipaddress.ip_network(dst, strict=False)
    except ValueError as e:
        raise KumoDataplaneError(f"route {dst}", str(e), errno.EINVAL) from e
    kw: dict = {"family": 2 if net.version == 4 else 10, "dst_len": net.prefixlen}
    if net.prefixlen:
        kw["dst"] = str(net.network_address)
    if gateway:
        kw["gateway"] = gateway
    if dev:
        kw["oif"] = _need(ipr, ns, dev)
    if table is not None:
        kw["table"] = table
    if metric is not None:
        kw["priority"] = metric
    return kw


def ensure_route(ns: Netns, dst: str, *, gateway: str | None = None,
                 dev: str | None = None, table: int | None = None,
                 metric: int | None = None) -> None:
    """Add or replace the route to ``dst`` (a CIDR or ``"default"``) via ``gateway``
    and/or out of ``dev``, in ``table`` (main by default)."""
    with _ipr(ns, f"route replace {dst} via {gateway} dev {dev}") as ipr:
        ipr.route("replace", **_route_kw(ipr, ns, dst, gateway, dev, table, metric))


def ensure_default_route(ns: Netns, gateway: str, dev: str | None = None,
                         table: int | None = None) -> None:
    """Add or replace the default route via ``gateway`` (IPv4 or IPv6)."""
    ensure_route(ns, "default", gateway=gateway, dev=dev, table=table)


def delete_route(ns: Netns, dst: str, *, gateway: str | None = None,
                 dev: str | None = None, table: int | None = None) -> None:
    """Delete the route to ``dst``; nothing if there is none."""
    with _ipr(ns, f"route del {dst}") as ipr:
        if dev is not None and _index(ipr, dev) is None:
            return
        try:
            ipr.route("del", **_route_kw(ipr, ns, dst, gateway, dev, table, None))
        except NetlinkError as e:
            if e.code not in (errno.ESRCH, errno.ENOENT):
                raise


def list_routes(ns: Netns, family: int = 4, table: int = 254) -> list[dict]:
    """Routes of ``table`` (254 = main): dicts ``{"dst", "gateway", "dev"}`` with
    ``dst`` a CIDR (``"0.0.0.0/0"`` for the default) and ``gateway``/``dev`` or None."""
    with _ipr(ns, "route show") as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.link("dump")}
        out = []
        for m in ipr.route("dump", family=2 if family == 4 else 10, table=table):
            if m.get_attr("RTA_TABLE") not in (None, table) or m["type"] != 1:
                continue
            dst = m.get_attr("RTA_DST") or ("0.0.0.0" if family == 4 else "::")
            out.append({"dst": f"{dst}/{m['dst_len']}",
                        "gateway": m.get_attr("RTA_GATEWAY"),
                        "dev": names.get(m.get_attr("RTA_OIF"))})
        return out


# -- sysctls ----------------------------------------------------------------------------

def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/") if "/" not in key else key


def set_sysctl(ns: Netns, key: str, value: str | int) -> None:
    """Write sysctl ``key`` (``"net.ipv4.ip_forward"`` or a /proc/sys path, needed
    when a part such as an interface name holds dots) inside ``ns``."""
    path = _sysctl_path(key)

    def write() -> None:
        with open(path, "w") as f:
            f.write(f"{value}\n")

    try:
        _netns.call(ns, write)
    except OSError as e:
        raise KumoDataplaneError(f"sysctl {key}={value} (in {ns})", str(e), e.errno) from e


def get_sysctl(ns: Netns, key: str) -> str:
    """Read sysctl ``key`` inside ``ns`` (stripped text)."""
    path = _sysctl_path(key)

    def read() -> str:
        with open(path) as f:
            return f.read().strip()

    try:
        return _netns.call(ns, read)
    except OSError as e:
        raise KumoDataplaneError(f"sysctl {key} (in {ns})", str(e), e.errno) from e


def set_ip_forward(ns: Netns, enabled: bool = True, *, ipv6: bool = False) -> None:
    """Turn IPv4 (and with ``ipv6``, IPv6 on all interfaces) forwarding on or off."""
    set_sysctl(ns, "net.ipv4.ip_forward", int(enabled))
    if ipv6:
        set_sysctl(ns, "net.ipv6.conf.all.forwarding", int(enabled))


def set_proxy_arp(ns: Netns, dev: str, enabled: bool = True) -> None:
    """Turn proxy ARP on ``dev`` on or off."""
    set_sysctl(ns, f"/proc/sys/net/ipv4/conf/{dev}/proxy_arp", int(enabled))


def set_accept_ra(ns: Netns, dev: str, value: int) -> None:
    """Set ``accept_ra`` on ``dev`` (0 never, 1 unless forwarding, 2 always)."""
    set_sysctl(ns, f"/proc/sys/net/ipv6/conf/{dev}/accept_ra", value)


# -- FDB and neighbours -----------------------------------------------------------------

def list_fdb(ns: Netns, dev: str) -> list[tuple[str, str | None]]:
    """Static FDB entries of ``dev``: ``(mac, dst)`` pairs, ``dst`` the remote VTEP
    address for VXLAN entries (else None). Dynamic and local entries are left out.
    The kernel is asked for ``dev``'s entries only (:func:`~kumo.agent.dataplane.rawnl.dump_fdb`), so the cost
    does not grow with the other ports on the host."""
    with _ipr(ns, f"bridge fdb show dev {dev}") as ipr:
        idx = _need(ipr, ns, dev)
    return [(m.get_attr("NDA_LLADDR"), m.get_attr("NDA_DST"))
            for m in rawnl.dump_fdb(ns, idx)
            if m["ifindex"] == idx and m["state"] & NUD_PERMANENT
            and m.get_attr("NDA_MASTER") is None]


def ensure_fdb_flood(ns: Netns, dev: str, remote: str) -> None:
    """``bridge fdb append 00:00:00:00:00:00 dev <vxlan> dst <remote>``: send
    broadcast/unknown frames to the VTEP ``remote`` (one entry per host with ports)."""
    if (ZERO_MAC, remote) in list_fdb(ns, dev):
        return
    with _ipr(ns, f"bridge fdb append {ZERO_MAC} dev {dev} dst {remote}") as ipr:
        try:
            ipr.fdb("append", ifindex=_need(ipr, ns, dev), lladdr=ZERO_MAC, dst=remote,
                    state=NUD_PERMANENT, flags=NTF_SELF)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise


def delete_fdb_flood(ns: Netns, dev: str, remote: str) -> None:
    """Remove the flood entry towards ``remote``; nothing if absent."""
    delete_fdb(ns, dev, ZERO_MAC, remote)


def ensure_fdb(ns: Netns, dev: str, mac: str, dst: str | None = None) -> None:
    """A static FDB entry: frames for ``mac`` go to VTEP ``dst`` (VXLAN ``dev``) or,
    without ``dst``, out of ``dev`` (``bridge fdb replace ... self permanent``)."""
    with _ipr(ns, f"bridge fdb replace {mac} dev {dev} dst {dst}") as ipr:
        kw = {"dst": dst} if dst else {}
        ipr.fdb("replace", ifindex=_need(ipr, ns, dev), lladdr=mac,
                state=NUD_PERMANENT, flags=NTF_SELF, **kw)


def delete_fdb(ns: Netns, dev: str, mac: str, dst: str | None = None) -> None:
    """Remove the FDB entry ``mac`` (towards ``dst``); nothing if absent."""
    with _ipr(ns, f"bridge fdb del {mac} dev {dev} dst {dst}") as ipr:
        idx = _index(ipr, dev)
        if idx is None:
            return
        kw = {"dst": dst} if dst else {}
        try:
            ipr.fdb("del", ifindex=idx, lladdr=mac, flags=NTF_SELF, **kw)
        except NetlinkError as e:
            if e.code not in (errno.ENOENT, errno.ENODEV):
                raise


def ensure_neigh(ns: Netns, dev: str, ip: str, mac: str) -> None:
    """A permanent neighbour (ARP/NDP) entry ``ip`` -> ``mac`` on ``dev`` (on a VXLAN
    device: L2 population's answer to ARP without flooding)."""
    with _ipr(ns, f"neigh replace {ip} lladdr {mac} dev {dev}") as ipr:
        fam = 2 if ipaddress.ip_address(ip).version == 4 else 10
        ipr.neigh("replace", ifindex=_need(ipr, ns, dev), dst=ip, lladdr=mac,
                  family=fam, state=NUD_PERMANENT)


def delete_neigh(ns: Netns, dev: str, ip: str) -> None:
    """Remove the neighbour entry for ``ip`` on ``dev``; nothing if absent."""
    with _ipr(ns, f"neigh del {ip} dev {dev}") as ipr:
        idx = _index(ipr, dev)
        if idx is None:
            return
        fam = 2 if ipaddress.ip_address(ip).version == 4 else 10
        try:
            ipr.neigh("del", ifindex=idx, dst=ip, family=fam)
        except NetlinkError as e:
            if e.code not in (errno.ENOENT, errno.ESRCH, errno.ENODEV):
                raise


def list_neigh(ns: Netns, dev: str) -> list[tuple[str, str | None]]:
    """Permanent neighbour entries on ``dev`` as ``(ip, mac)`` (IPv4 and IPv6; the
    kernel is asked for ``dev``'s entries only)."""
    import socket
    with _ipr(ns, f"neigh show dev {dev}") as ipr:
        idx = _need(ipr, ns, dev)
    return [(m.get_attr("NDA_DST"), m.get_attr("NDA_LLADDR"))
            for fam in (socket.AF_INET, socket.AF_INET6)
            for m in rawnl.dump_neigh(ns, idx, fam)
            if m["ifindex"] == idx and m["state"] & NUD_PERMANENT]


# -- events -----------------------------------------------------------------------------

def watch_links(ns: Netns, on_event, stop, poll_s: float = 0.5,
                details: bool = False) -> None:
    """Call ``on_event(name, appeared)`` for every link created/changed (``appeared``
    True) or deleted (False) in ``ns`` until the ``stop`` event is set (checked every
    ``poll_s`` seconds); with ``details``, ``on_event(name, appeared, link)`` with the
    :class:`Link` the event carries (None if it cannot be parsed). A socket that
    overflowed (events lost) raises ``OSError`` with ``ENOBUFS``. A raw ``NETLINK_ROUTE`` socket bound to the link multicast group
    in ``ns`` (opened there by :func:`kumo.agent.dataplane.netns.call`), parsed by
    pyroute2's marshal. Raises :class:`KumoDataplaneError` if the socket cannot be
    opened; ``on_event`` exceptions propagate."""
    import select
    import socket

    from pyroute2.netlink.rtnl import RTMGRP_LINK
    from pyroute2.netlink.rtnl.marshal import MarshalRtnl

    def open_socket():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, RTMGRP_LINK))
        return sock

    try:
        sock = _netns.call(ns, open_socket)
    except OSError as e:
        raise KumoDataplaneError(f"watch links (in {ns})", e.strerror or str(e),
                                 e.errno or 0) from e
    marshal = MarshalRtnl()
    try:
        while not stop.is_set():
            ready, _, _ = select.select([sock], [], [], poll_s)
            if not ready:
                continue
            data = sock.recv(1 << 16)
            for msg in marshal.parse(data):
                name = msg.get_attr("IFLA_IFNAME")
                event = msg.get("event")
                if name and event in ("RTM_NEWLINK", "RTM_DELLINK"):
                    if not details:
                        on_event(name, event == "RTM_NEWLINK")
                        continue
                    try:
                        link = _link(msg)
                    except Exception:  # noqa: BLE001 - the name is enough to requeue
                        link = None
                    on_event(name, event == "RTM_NEWLINK", link)
    finally:
        sock.close()
