"""IP address management of subnets (Networking API v2.0: "Subnets", "Ports" fixed_ips).

The internal API other areas (routers, floating IPs) use to hold addresses. Every call
runs inside :meth:`kumo.network.manager.Networking.write`, which serializes writers, and
the allocation table's primary key ``(subnet_id, ip_address)`` makes a double
allocation impossible even so.

- :func:`init_pools` fills a new subnet's free ranges from its ``allocation_pools``;
  :func:`rebuild` recomputes them after the pools change;
- :func:`allocate` gives a port one address of a subnet: the requested one (409
  :class:`IpAddressAlreadyAllocated` when held) or the lowest free one of the pools
  (``None`` when the pools are exhausted; callers raise 409
  :class:`IpAddressGenerationFailure`); SLAAC subnets give the EUI-64 address of the MAC;
- :func:`release` returns an address to its pool; :func:`release_port` every address
  of a port at once.

Free ranges are kept as rows ``(subnet_id, first, last)`` with addresses as 32-digit hex
strings (ordered like the addresses for IPv4 and IPv6), so an allocation is one indexed
read and one write whatever the number of ports, and a release one indexed read (both
neighbours) and one or two writes. The statements are built once and run on the
session's connection (:class:`kumo.db.Prepared`): callers flush pending ORM changes
first if they matter.
"""
from __future__ import annotations

import ipaddress
import json

import sqlalchemy as sa

from kumo.db import Prepared
from kumo.network import exceptions as nexc
from kumo.network.models import ports as models

SLAAC_MODES = ("slaac", "dhcpv6-stateless")
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface", "network:router_gateway",
                 "network:router_centralized_snat")


def hexip(ip: int | ipaddress._BaseAddress) -> str:
    return "%032x" % int(ip)


def ip_of(value: str | int, version: int) -> ipaddress._BaseAddress:
    """An address object of ``version`` from text or an integer."""
    if isinstance(value, str) and not value.isdigit():
        return ipaddress.ip_address(value)
    number = int(value)
    return ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number)


def is_slaac(subnet: models.Subnet) -> bool:
    return subnet.ip_version == 6 and subnet.ipv6_address_mode in SLAAC_MODES


def eui64(cidr: str, mac: str) -> str:
    """The EUI-64 address of ``mac`` in the /64 ``cidr`` (RFC 4291 appendix A)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + int.from_bytes(bytes(iid), "big"))


def usable(subnet_cidr: str, ip: ipaddress._BaseAddress) -> bool:
    """``ip`` is inside the subnet and (IPv4) not its network or broadcast address."""
    net = ipaddress.ip_network(subnet_cidr)
    if ip.version != net.version or ip not in net:
        return False
    if net.version == 4 and net.prefixlen < 31:
        return ip not in (net.network_address, net.broadcast_address)
    return True


def _pool_ranges(subnet: models.Subnet) -> list[tuple[int, int]]:
    return [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
            for p in subnet.allocation_pools or []]


def init_pools(session, subnet: models.Subnet, taken: set[int] = frozenset()) -> None:
    """(Re)create the free ranges of ``subnet``: its pools minus ``taken`` addresses."""
    session.execute(sa.delete(models.IPAvailability).where(
        models.IPAvailability.subnet_id == subnet.id))
    rows = []
    for low, high in sorted(_pool_ranges(subnet)):
        start = low
        for ip in sorted(i for i in taken if low <= i <= high):
            if ip > start:
                rows.append((start, ip - 1))
            start = ip + 1
        if start <= high:
            rows.append((start, high))
    if rows:
        session.execute(sa.insert(models.IPAvailability), [
            {"subnet_id": subnet.id, "first": hexip(a), "last": hexip(b)} for a, b in rows])


def rebuild(session, subnet: models.Subnet) -> None:
    """Recompute the free ranges after ``allocation_pools`` changed."""
    held = session.scalars(sa.select(models.IPAllocation.ip_address).where(
        models.IPAllocation.subnet_id == subnet.id))
    init_pools(session, subnet, {int(ipaddress.ip_address(i)) for i in held})


A = models.IPAvailability.__table__
IA = models.IPAllocation.__table__
S = models.Subnet.__table__
# Hot statements, built once and run on the DB-API cursor (see kumo.db.Prepared).
_FLOOR = (sa.select(A.c.first, A.c.last)
          .where(A.c.subnet_id == sa.bindparam("s"), A.c.first <= sa.bindparam("h"))
          .order_by(A.c.first.desc()).limit(1))
_LOWEST = Prepared(sa.select(A.c.first, A.c.last).where(A.c.subnet_id == sa.bindparam("s"))
                   .order_by(A.c.first).limit(1))
#: The free ranges either side of an address: the one starting at or below it
#: (``h``) and the one starting right after it (``n``); both by primary key.
_NEIGHBOURS = Prepared(sa.union_all(
    _FLOOR.subquery().select(),
    sa.select(A.c.first, A.c.last).where(A.c.subnet_id == sa.bindparam("s"),
                                         A.c.first == sa.bindparam("n"))))
_FLOOR = Prepared(_FLOOR)
_DROP_RANGE = Prepared(sa.delete(A).where(A.c.subnet_id == sa.bindparam("s"),
                                          A.c.first == sa.bindparam("f")))
_SET_FIRST = Prepared(sa.update(A).where(A.c.subnet_id == sa.bindparam("s"),
                                         A.c.first == sa.bindparam("f"))
                      .values(first=sa.bindparam("new_first")))
_SET_LAST = Prepared(sa.update(A).where(A.c.subnet_id == sa.bindparam("s"),
                                        A.c.first == sa.bindparam("f"))
                     .values(last=sa.bindparam("new_last")))
_ADD_RANGE = Prepared(sa.insert(A))
_HOLDER = Prepared(sa.select(IA.c.port_id).where(IA.c.subnet_id == sa.bindparam("s"),
                                                 IA.c.ip_address == sa.bindparam("ip")))
_ADD_ALLOCATION = Prepared(sa.insert(IA))
_DROP_ALLOCATION = Prepared(sa.delete(IA).where(IA.c.subnet_id == sa.bindparam("s"),
                                                IA.c.ip_address == sa.bindparam("ip")))
#: The pools come as JSON text (a CAST), so the statement needs no type processing.
_HELD_WITH_POOLS = Prepared(
    sa.select(IA.c.subnet_id, IA.c.ip_address, sa.cast(S.c.allocation_pools, sa.Text))
    .join(S, S.c.id == IA.c.subnet_id).where(IA.c.port_id == sa.bindparam("p")))
_DROP_PORT_ALLOCATIONS = Prepared(sa.delete(IA).where(IA.c.port_id == sa.bindparam("p")))


def _take_lowest(session, subnet: models.Subnet) -> str | None:
    row = _LOWEST.first(session, {"s": subnet.id})
    if row is None:
        return None
    first, last = row
    _shrink(session, subnet.id, first, last, int(first, 16))
    return str(ip_of(int(first, 16), subnet.ip_version))


def _shrink(session, subnet_id: str, first: str, last: str, ip: int) -> None:
    """Remove ``ip`` from the free range ``first..last`` (splitting it if needed)."""
    low, high = int(first, 16), int(last, 16)
    key = {"s": subnet_id, "f": first}
    if low == high:
        _DROP_RANGE.run(session, key)
    elif ip == low:
        _SET_FIRST.run(session, {**key, "new_first": hexip(ip + 1)})
    else:
        _SET_LAST.run(session, {**key, "new_last": hexip(ip - 1)})
        if ip < high:
            _ADD_RANGE.run(session, {"subnet_id": subnet_id, "first": hexip(ip + 1),
                                     "last": last})


def _take_specific(session, subnet: models.Subnet, ip: ipaddress._BaseAddress) -> None:
    h = hexip(ip)
    row = _FLOOR.first(session, {"s": subnet.id, "h": h})
    if row is not None and row[1] >= h:
        _shrink(session, subnet.id, row[0], row[1], int(ip))


def allocate(session, subnet: models.Subnet, port_id: str, ip_address: str | None = None,
             mac: str | None = None, device_owner: str = "") -> str | None:
    """Hold one address of ``subnet`` for ``port_id``; returns it, or None when no
    address is free. ``ip_address`` asks for that address: 400 InvalidIpForSubnet when
    it is not a usable address of the subnet, 409 IpAddressAlreadyAllocated when held
    (or the gateway, except for router ports). ``subnet`` may be an ORM row or a Core
    row with the subnet's columns."""
    if ip_address is not None:
        ip = ipaddress.ip_address(ip_address)
        if not usable(subnet.cidr, ip):
            raise nexc.InvalidIpForSubnet(ip_address=ip_address)
        text = str(ip)
        if text == subnet.gateway_ip and device_owner not in ROUTER_OWNERS:
            raise nexc.IpAddressAlreadyAllocated(ip=text, subnet_id=subnet.id)
        if _HOLDER.first(session, {"s": subnet.id, "ip": text}) is not None:
            raise nexc.IpAddressAlreadyAllocated(ip=text, subnet_id=subnet.id)
        _take_specific(session, subnet, ip)
    elif is_slaac(subnet) and mac:
        text = eui64(subnet.cidr, mac)
        if _HOLDER.first(session, {"s": subnet.id, "ip": text}) is not None:
            raise nexc.IpAddressAlreadyAllocated(ip=text, subnet_id=subnet.id)
        _take_specific(session, subnet, ipaddress.ip_address(text))
    else:
        text = _take_lowest(session, subnet)
        if text is None:
            return None
    _ADD_ALLOCATION.run(session, {"subnet_id": subnet.id, "ip_address": text,
                                  "port_id": port_id, "network_id": subnet.network_id})
    return text


def release(session, subnet: models.Subnet, ip_address: str) -> None:
    """Free ``ip_address`` of ``subnet``: drop the allocation and, when the address lies
    in a pool, give it back to the free ranges (merged with its neighbours)."""
    _DROP_ALLOCATION.run(session, {"s": subnet.id, "ip": ip_address})
    _give_back(session, subnet.id, subnet.allocation_pools, ip_address)


def release_port(session, port_id: str) -> list[dict]:
    """Free every address ``port_id`` holds (set-based: one read, one delete, then the
    free ranges); returns them as ``[{"subnet_id", "ip_address"}]``."""
    held = _HELD_WITH_POOLS.run(session, {"p": port_id})
    if not held:
        return []
    _DROP_PORT_ALLOCATIONS.run(session, {"p": port_id})
    for subnet_id, ip_address, pools in held:
        _give_back(session, subnet_id, json.loads(pools) if pools else [], ip_address)
    return [{"subnet_id": subnet_id, "ip_address": ip} for subnet_id, ip, _ in held]


def _give_back(session, subnet_id: str, pools: list[dict] | None, ip_address: str) -> None:
    """Put a freed address back into the free ranges when it lies in a pool: one
    indexed read of both neighbours, then one or two writes."""
    ip = int(ipaddress.ip_address(ip_address))
    if not any(int(ipaddress.ip_address(p["start"])) <= ip <= int(ipaddress.ip_address(
            p["end"])) for p in pools or []):
        return
    h, before, after = hexip(ip), hexip(ip - 1), hexip(ip + 1)
    left = right = None
    for first, last in _NEIGHBOURS.run(session, {"s": subnet_id, "h": h, "n": after}):
        if first == after:
            right = (first, last)
        elif last == before:
            left = (first, last)
        elif first <= h <= last:
            return  # already free (a pool change rebuilt the ranges)
    if left is not None and right is not None:
        _DROP_RANGE.run(session, {"s": subnet_id, "f": right[0]})
        _SET_LAST.run(session, {"s": subnet_id, "f": left[0], "new_last": right[1]})
    elif left is not None:
        _SET_LAST.run(session, {"s": subnet_id, "f": left[0], "new_last": h})
    elif right is not None:
        _SET_FIRST.run(session, {"s": subnet_id, "f": right[0], "new_first": h})
    else:
        _ADD_RANGE.run(session, {"subnet_id": subnet_id, "first": h, "last": h})


def held_by(session, port_ids: list[str]) -> dict[str, list[dict]]:
    """``fixed_ips`` of many ports: port id -> ``[{"subnet_id", "ip_address"}]`` in
    subnet creation order."""
    out: dict[str, list[dict]] = {p: [] for p in port_ids}
    IA, S = models.IPAllocation, models.Subnet
    for chunk in range(0, len(port_ids), 500):
        rows = session.execute(
            sa.select(IA.port_id, IA.subnet_id, IA.ip_address)
            .join(S, S.id == IA.subnet_id)
            .where(IA.port_id.in_(port_ids[chunk:chunk + 500]))
            .order_by(S.created_at, S.id))
        for r in rows:
            out[r.port_id].append({"subnet_id": r.subnet_id, "ip_address": r.ip_address})
    return out
