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
- :func:`release` returns an address to its pool.

Free ranges are kept as rows ``(subnet_id, first, last)`` with addresses as 32-digit hex
strings (ordered like the addresses for IPv4 and IPv6), so an allocation is one indexed
read and one write whatever the number of ports.
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

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


def _take_lowest(session, subnet: models.Subnet) -> str | None:
    A = models.IPAvailability
    row = session.execute(sa.select(A.first, A.last).where(A.subnet_id == subnet.id)
                          .order_by(A.first).limit(1)).first()
    if row is None:
        return None
    _shrink(session, subnet.id, row.first, row.last, int(row.first, 16))
    return str(ip_of(int(row.first, 16), subnet.ip_version))


def _shrink(session, subnet_id: str, first: str, last: str, ip: int) -> None:
    """Remove ``ip`` from the free range ``first..last`` (splitting it if needed)."""
    A = models.IPAvailability
    session.execute(sa.delete(A).where(A.subnet_id == subnet_id, A.first == first))
    low, high = int(first, 16), int(last, 16)
    new = []
    if low < ip:
        new.append((low, ip - 1))
    if ip < high:
        new.append((ip + 1, high))
    if new:
        session.execute(sa.insert(A), [{"subnet_id": subnet_id, "first": hexip(a),
                                        "last": hexip(b)} for a, b in new])


def _take_specific(session, subnet: models.Subnet, ip: ipaddress._BaseAddress) -> None:
    A = models.IPAvailability
    h = hexip(ip)
    row = session.execute(sa.select(A.first, A.last).where(
        A.subnet_id == subnet.id, A.first <= h).order_by(A.first.desc()).limit(1)).first()
    if row is not None and row.last >= h:
        _shrink(session, subnet.id, row.first, row.last, int(ip))


def allocate(session, subnet: models.Subnet, port_id: str, ip_address: str | None = None,
             mac: str | None = None, device_owner: str = "") -> str | None:
    """Hold one address of ``subnet`` for ``port_id``; returns it, or None when no
    address is free. ``ip_address`` asks for that address: 400 InvalidIpForSubnet when
    it is not a usable address of the subnet, 409 IpAddressAlreadyAllocated when held
    (or the gateway, except for router ports)."""
    if ip_address is not None:
        ip = ipaddress.ip_address(ip_address)
        if not usable(subnet.cidr, ip):
            raise nexc.InvalidIpForSubnet(ip_address=ip_address)
        text = str(ip)
        if text == subnet.gateway_ip and device_owner not in ROUTER_OWNERS:
            raise nexc.IpAddressAlreadyAllocated(ip=text, subnet_id=subnet.id)
        if session.get(models.IPAllocation, (subnet.id, text)) is not None:
            raise nexc.IpAddressAlreadyAllocated(ip=text, subnet_id=subnet.id)
        _take_specific(session, subnet, ip)
    elif is_slaac(subnet) and mac:
        text = eui64(subnet.cidr, mac)
        if session.get(models.IPAllocation, (subnet.id, text)) is not None:
            raise nexc.IpAddressAlreadyAllocated(ip=text, subnet_id=subnet.id)
        _take_specific(session, subnet, ipaddress.ip_address(text))
    else:
        text = _take_lowest(session, subnet)
        if text is None:
            return None
    session.add(models.IPAllocation(subnet_id=subnet.id, ip_address=text, port_id=port_id,
                                    network_id=subnet.network_id))
    session.flush()
    return text


def release(session, subnet: models.Subnet, ip_address: str) -> None:
    """Free ``ip_address`` of ``subnet``: drop the allocation and, when the address lies
    in a pool, give it back to the free ranges (merged with its neighbours)."""
    A = models.IPAvailability
    session.execute(sa.delete(models.IPAllocation).where(
        models.IPAllocation.subnet_id == subnet.id,
        models.IPAllocation.ip_address == ip_address))
    ip = int(ipaddress.ip_address(ip_address))
    if not any(low <= ip <= high for low, high in _pool_ranges(subnet)):
        return
    first, last = ip, ip
    left = session.execute(sa.select(A.first).where(
        A.subnet_id == subnet.id, A.last == hexip(ip - 1))).scalar()
    if left is not None:
        first = int(left, 16)
        session.execute(sa.delete(A).where(A.subnet_id == subnet.id, A.first == left))
    right = session.execute(sa.select(A.last).where(
        A.subnet_id == subnet.id, A.first == hexip(ip + 1))).scalar()
    if right is not None:
        last = int(right, 16)
        session.execute(sa.delete(A).where(A.subnet_id == subnet.id,
                                           A.first == hexip(ip + 1)))
    session.execute(sa.insert(A).values(subnet_id=subnet.id, first=hexip(first),
                                        last=hexip(last)))


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
