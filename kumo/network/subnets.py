"""Subnets (Networking API v2.0: "Subnets", "Subnet service types", "Subnet
allocation").

A subnet is an IPv4 or IPv6 ``cidr`` on a network (given, or allocated from a subnet
pool by ``prefixlen``), with a ``gateway_ip`` (default: the first address; null: no
gateway), ``allocation_pools`` (default: the whole range minus the gateway),
``dns_nameservers``, ``host_routes``, ``enable_dhcp``, ``ipv6_ra_mode`` /
``ipv6_address_mode`` and ``service_types``. Addresses are handed out by
:mod:`kumo.network.ipam`.

Errors: 400 InvalidInput (bad cidr, ip_version mismatch, overlapping cidr on the
network, bad IPv6 modes), 400 InvalidAllocationPool / OutOfBoundsAllocationPool /
OverlappingAllocationPools, 409 GatewayConflictWithAllocationPools, 409 SubnetInUse on
delete while non-DHCP ports hold addresses from it, 404 SubnetNotFound.
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common.context import RequestContext
from kumo.network import exceptions as nexc
from kumo.network import ipam, scope
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import core
from kumo.network.models import ports as models

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
MAX_DNS = 5
MAX_ROUTES = 20
DHCP_OWNER = "network:dhcp"


#: Neutron's ``subnetpool_id`` asking for IPv6 prefix delegation (a 400 here).
PD_POOL_ID = "prefix_delegation"


def bad(message: str):
    return nexc.InvalidInput(error_message=message)


def parse_cidr(cidr: str) -> ipaddress._BaseNetwork:
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise bad(f"'{cidr}' is not a valid IP subnet") from None


def parse_ip(value: str, what: str = "IP address") -> ipaddress._BaseAddress:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise bad(f"'{value}' is not a valid {what}") from None


class Subnets:
    def __init__(self, networking):
        self.net = networking

    # -- visibility ----------------------------------------------------------------
    def visible(self, ctx: RequestContext):
        """Own subnets plus those on networks shared with the caller."""
        shared = models.Subnet.network_id.in_(
            sa.select(core.Network.id).where(self.net.networks.shared_clause(ctx)))
        return visible_clause(models.Subnet, ctx, shared)

    def get(self, session, ctx: RequestContext, subnet_id: str) -> models.Subnet:
        """The subnet if visible; 404 SubnetNotFound otherwise."""
        row = session.scalar(sa.select(models.Subnet).where(
            models.Subnet.id == subnet_id, self.visible(ctx)))
        if row is None:
            raise nexc.SubnetNotFound(id=subnet_id)
        return row

    def ids_by_network(self, session, network_ids: list[str]) -> dict[str, list[str]]:
        """``{network_id: [subnet ids in creation order]}``."""
        out: dict[str, list[str]] = {}
        for chunk in range(0, len(network_ids), 500):
            for r in session.execute(
                    sa.select(models.Subnet.network_id, models.Subnet.id)
                    .where(models.Subnet.network_id.in_(network_ids[chunk:chunk + 500]))
                    .order_by(models.Subnet.created_at, models.Subnet.id)):
                out.setdefault(r.network_id, []).append(r.id)
        return out

    def address_scopes_by_network(self, session, network_ids: list[str]
                                  ) -> dict[str, dict[int, str]]:
        """``{network_id: {ip_version: address scope id}}`` from the subnet pools of
        the networks' subnets (Neutron's ``ipv4_address_scope``/``ipv6_address_scope``;
        one pool per network and version, see :meth:`_check_pool_affinity`)."""
        out: dict[str, dict[int, str]] = {}
        pool = models.SubnetPool
        for chunk in range(0, len(network_ids), 500):
            for r in session.execute(
                    sa.select(models.Subnet.network_id, models.Subnet.ip_version,
                              pool.address_scope_id)
                    .join(pool, pool.id == models.Subnet.subnetpool_id)
                    .where(models.Subnet.network_id.in_(network_ids[chunk:chunk + 500]),
                           pool.address_scope_id.is_not(None))):
                out.setdefault(r.network_id, {})[r.ip_version] = r.address_scope_id
        return out

    def _check_pool_affinity(self, session, network_id: str, version: int,
                             pool_id: str | None) -> None:
        """400 when the network already has subnets of ``version`` from another subnet
        pool (or none): Neutron's ``NetworkSubnetPoolAffinityError``."""
        others = set(session.scalars(sa.select(models.Subnet.subnetpool_id).where(
            models.Subnet.network_id == network_id, models.Subnet.ip_version == version)))
        if others and others != {pool_id}:
            raise bad("Subnets hosted on the same network must be allocated from the "
                      "same subnet pool.")

    def on_network(self, session, network_id: str) -> list[models.Subnet]:
        return list(session.scalars(sa.select(models.Subnet).where(
            models.Subnet.network_id == network_id).order_by(
            models.Subnet.created_at, models.Subnet.id)))

    def snapshot(self, session, host: str | None, keys: dict | None = None) -> dict:
        """The feed's subnets: those of ``host``'s networks (DHCP and routing need
        them; all when ``host`` is None); ``keys``: only those ids."""
        stmt = sa.select(models.Subnet).order_by(models.Subnet.id)
        stmt = scope.keyed(stmt, keys, "subnets", models.Subnet.id)
        if stmt is None:
            return {}
        if host is not None:
            stmt = stmt.where(models.Subnet.network_id.in_(scope.networks_of(host)))
        return {"subnets": [
            {"id": r.id, "network_id": r.network_id, "project_id": r.project_id,
             "ip_version": r.ip_version, "cidr": r.cidr, "gateway_ip": r.gateway_ip,
             "enable_dhcp": r.enable_dhcp, "allocation_pools": r.allocation_pools,
             "dns_nameservers": r.dns_nameservers, "host_routes": r.host_routes,
             "ipv6_ra_mode": r.ipv6_ra_mode, "ipv6_address_mode": r.ipv6_address_mode,
             "revision_number": r.revision_number}
            for r in session.scalars(stmt)]}

    # -- create --------------------------------------------------------------------
    def create(self, session, ctx: RequestContext, network: core.Network,
               attrs: dict) -> models.Subnet:
        """Create a subnet on ``network`` from API attributes (policy already checked)."""
        version = attrs.get("ip_version")
        if version not in (4, 6):
            raise bad("ip_version must be 4 or 6")
        pool_id = attrs.get("subnetpool_id")
        if pool_id == PD_POOL_ID:  # Neutron's IPv6 prefix delegation pool: not built
            raise bad("IPv6 prefix delegation is not supported: give the subnet a cidr "
                      "or a subnet pool")
        if pool_id is None and attrs.get("use_default_subnetpool"):
            pool = self.net.subnetpools.default_pool(session, version)
            if pool is None:
                raise bad(f"No default subnetpool found for IPv{version}")
            pool_id = pool.id
        project_id = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
        if pool_id is not None:
            pool = self.net.subnetpools.get(session, ctx, pool_id)
            if pool.ip_version != version:
                raise bad(f"Cannot allocate IPv{version} subnet from IPv{pool.ip_version} "
                          "subnet pool")
            cidr = self.net.subnetpools.allocate_prefix(
                session, pool, attrs.get("cidr"), attrs.get("prefixlen"))
        else:
            if not attrs.get("cidr"):
                raise bad("A cidr must be specified in the absence of a subnet pool")
            cidr = parse_cidr(attrs["cidr"])
        if cidr.version != version:
            raise bad(f"Cidr {cidr} does not match ip_version {version}")
        self._check_pool_affinity(session, network.id, version, pool_id)
        self._check_overlap(session, network.id, cidr)
        ra, mode = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
        self._check_ipv6(version, cidr, ra, mode)
        if "gateway_ip" in attrs:
            gateway = attrs["gateway_ip"]
            if gateway is not None:
                gateway = str(self._check_gateway(cidr, gateway))
        else:
            gateway = str(cidr.network_address + 1) if cidr.num_addresses > 2 else None
        if attrs.get("allocation_pools"):
            pools = self._check_pools(cidr, attrs["allocation_pools"], gateway)
        else:
            pools = default_pools(cidr, gateway)
        row = models.Subnet(
            project_id=project_id, name=attrs.get("name") or "",
            description=attrs.get("description") or "", network_id=network.id,
            ip_version=version, cidr=str(cidr), gateway_ip=gateway,
            enable_dhcp=attrs.get("enable_dhcp", True), ipv6_ra_mode=ra,
            ipv6_address_mode=mode, subnetpool_id=pool_id, allocation_pools=pools,
            dns_nameservers=self._check_dns(attrs.get("dns_nameservers") or [], version),
            host_routes=self._check_routes(attrs.get("host_routes") or [], version),
            service_types=self._check_service_types(attrs.get("service_types") or []))
        stamp(row)
        session.add(row)
        session.flush()
        ipam.init_pools(session, row)
        self.net.changed(session, "subnet", row.id)
        return row

    def _check_overlap(self, session, network_id: str, cidr) -> None:
        for other in session.scalars(sa.select(models.Subnet.cidr).where(
                models.Subnet.network_id == network_id)):
            if ipaddress.ip_network(other).overlaps(cidr):
                raise bad(f"Requested subnet with cidr: {cidr} for network: {network_id} "
                          f"overlaps with another subnet")

    @staticmethod
    def _check_ipv6(version: int, cidr, ra: str | None, mode: str | None) -> None:
        for name, value in (("ipv6_ra_mode", ra), ("ipv6_address_mode", mode)):
            if value is None:
                continue
            if value not in IPV6_MODES:
                raise bad(f"{name} '{value}' is not in {list(IPV6_MODES)}")
            if version != 6:
                raise bad(f"{name} set to '{value}' with ip_version {version}, but "
                          "{name} is only valid for IPv6")
        if ra and mode and ra != mode:
            raise bad(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                      f"'{mode}' is not valid. If both attributes are set, they must be "
                      "the same value")
        if mode in ipam.SLAAC_MODES and cidr.prefixlen != 64:
            raise bad("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 "
                      "address format, which requires the prefix to be /64" % cidr)

    @staticmethod
    def _check_gateway(cidr, gateway: str):
        ip = parse_ip(gateway, "IP address for gateway_ip")
        if not ipam.usable(str(cidr), ip):
            raise bad(f"Gateway is not valid on subnet {cidr}")
        return ip

    @staticmethod
    def _check_pools(cidr, pools: list[dict], gateway: str | None) -> list[dict]:
        ranges = []
        for pool in pools:
            try:
                start = ipaddress.ip_address(pool["start"])
                end = ipaddress.ip_address(pool["end"])
            except (KeyError, ValueError, TypeError):
                raise nexc.InvalidAllocationPool(pool=pool) from None
            if start.version != cidr.version or end.version != cidr.version or start > end:
                raise nexc.InvalidAllocationPool(pool=pool)
            if not (ipam.usable(str(cidr), start) and ipam.usable(str(cidr), end)):
                raise nexc.OutOfBoundsAllocationPool(pool=pool, subnet_cidr=cidr)
            ranges.append((start, end))
        ranges.sort()
        for (s1, e1), (s2, e2) in zip(ranges, ranges[1:]):
            if s2 <= e1:
                raise nexc.OverlappingAllocationPools(pool_1=f"{s1}-{e1}", pool_2=f"{s2}-{e2}",
                                                      subnet_cidr=cidr)
        if gateway is not None:
            gw = ipaddress.ip_address(gateway)
            for s, e in ranges:
                if s <= gw <= e:
                    raise nexc.GatewayConflictWithAllocationPools(ip_address=gateway,
                                                                  pool=f"{s}-{e}")
        return [{"start": str(s), "end": str(e)} for s, e in ranges]

    @staticmethod
    def _check_dns(servers: list[str], version: int) -> list[str]:
        if len(servers) > MAX_DNS:
            raise bad(f"Number of DNS nameservers exceeds the limit {MAX_DNS}")
        if len(set(servers)) != len(servers):
            raise bad(f"Duplicate nameserver in {servers}")
        for s in servers:
            parse_ip(s, "nameserver")
        return list(servers)

    @staticmethod
    def _check_routes(routes: list[dict], version: int) -> list[dict]:
        if len(routes) > MAX_ROUTES:
            raise bad(f"Number of host routes exceeds the limit {MAX_ROUTES}")
        out = []
        for route in routes:
            dest = parse_cidr(str(route.get("destination")))
            hop = parse_ip(str(route.get("nexthop")), "nexthop")
            if dest.version != version or hop.version != version:
                raise bad(f"Host route {route} does not match ip_version {version}")
            item = {"destination": str(dest), "nexthop": str(hop)}
            if item in out:
                raise bad(f"Duplicate hostroute '{route}'")
            out.append(item)
        return out

    @staticmethod
    def _check_service_types(types: list[str]) -> list[str]:
        for t in types:
            if not (t.startswith("network:") or t.startswith("compute:")):
                raise bad(f"Invalid service type '{t}': it must start with 'network:' or "
                          "'compute:'")
        return list(dict.fromkeys(types))

    # -- update / delete -----------------------------------------------------------
    def update(self, session, ctx: RequestContext, row: models.Subnet, attrs: dict) -> None:
        """Apply updatable attributes (cidr, ip_version, network and pool are fixed)."""
        cidr = ipaddress.ip_network(row.cidr)
        gateway = row.gateway_ip
        if "gateway_ip" in attrs and attrs["gateway_ip"] != row.gateway_ip:
            gateway = attrs["gateway_ip"]
            if gateway is not None:
                gateway = str(self._check_gateway(cidr, gateway))
                holder = session.scalar(sa.select(models.IPAllocation.port_id).where(
                    models.IPAllocation.subnet_id == row.id,
                    models.IPAllocation.ip_address == gateway))
                if holder is not None:
                    raise nexc.GatewayIpInUse(ip_address=gateway, port_id=holder)
            if row.gateway_ip is not None:
                holder = session.scalar(sa.select(models.IPAllocation.port_id).where(
                    models.IPAllocation.subnet_id == row.id,
                    models.IPAllocation.ip_address == row.gateway_ip))
                if holder is not None:
                    raise nexc.GatewayIpInUse(ip_address=row.gateway_ip, port_id=holder)
        pools = row.allocation_pools
        if attrs.get("allocation_pools") is not None:
            pools = self._check_pools(cidr, attrs["allocation_pools"], gateway)
        elif gateway != row.gateway_ip:
            pools = self._check_pools(cidr, pools, gateway)
        rebuild = pools != row.allocation_pools
        row.gateway_ip = gateway
        row.allocation_pools = pools
        if "dns_nameservers" in attrs:
            row.dns_nameservers = self._check_dns(attrs["dns_nameservers"] or [],
                                                  row.ip_version)
        if "host_routes" in attrs:
            row.host_routes = self._check_routes(attrs["host_routes"] or [], row.ip_version)
        if "service_types" in attrs:
            row.service_types = self._check_service_types(attrs["service_types"] or [])
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        if "enable_dhcp" in attrs:
            row.enable_dhcp = attrs["enable_dhcp"]
        session.flush()
        if rebuild:
            ipam.rebuild(session, row)
        touch(row)
        self.net.changed(session, "subnet", row.id)

    def delete(self, session, ctx: RequestContext, row: models.Subnet) -> None:
        """Delete; 409 SubnetInUse while ports other than DHCP ports hold addresses
        from it. DHCP ports lose their address on it; so do all but router ports on an
        IPv6 auto-address subnet (SLAAC, DHCPv6-stateless), whose addresses Neutron
        removes from the ports (ML2's ``delete_subnet``)."""
        P, IA = models.Port, models.IPAllocation
        holders = session.execute(
            sa.select(IA.port_id, IA.ip_address, P.device_owner)
            .join(P, P.id == IA.port_id).where(IA.subnet_id == row.id)).all()
        auto = ipam.is_slaac(row)
        if any(h.device_owner != DHCP_OWNER
               and (not auto or h.device_owner in ipam.ROUTER_OWNERS) for h in holders):
            raise nexc.SubnetInUse(id=row.id)
        for h in holders:
            ipam.release(session, row, h.ip_address)
            port = session.get(P, h.port_id)
            touch(port)
            self.net.changed(session, "port", port.id, host=port.host_id or None)
        self._drop(session, row)

    def _drop(self, session, row: models.Subnet) -> None:
        session.execute(sa.delete(models.IPAvailability).where(
            models.IPAvailability.subnet_id == row.id))
        session.execute(sa.delete(models.IPAllocation).where(
            models.IPAllocation.subnet_id == row.id))
        self.net.delete_tags(session, row.id)
        hosts = scope.network_hosts(session, [row.network_id])
        session.delete(row)
        session.flush()
        self.net.changed(session, "subnet", row.id, "delete", hosts=hosts)

    def drop_network_subnets(self, resource, event, trigger, payload) -> None:
        """``NETWORK`` ``PRECOMMIT_DELETE`` (subscribed in :mod:`kumo.network.manager`):
        the network's subnets go, with the addresses held on them (the ports' in-use
        check has passed: only DHCP ports remain)."""
        for row in self.on_network(payload.session, payload.resource_id):
            self._drop(payload.session, row)


def default_pools(cidr, gateway: str | None) -> list[dict]:
    """The whole usable range of ``cidr`` minus ``gateway``, as ``[{"start", "end"}]``."""
    if cidr.version == 4:
        if cidr.prefixlen >= 31:
            first, last = int(cidr.network_address), int(cidr.broadcast_address)
        else:
            first, last = int(cidr.network_address) + 1, int(cidr.broadcast_address) - 1
    else:
        first, last = int(cidr.network_address) + 1, int(cidr.broadcast_address)
    ranges = [(first, last)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        ranges = [r for lo, hi in ranges
                  for r in ((lo, gw - 1), (gw + 1, hi)) if r[0] <= r[1]] \
            if first <= gw <= last else ranges
    make = ipaddress.IPv4Address if cidr.version == 4 else ipaddress.IPv6Address
    return [{"start": str(make(lo)), "end": str(make(hi))} for lo, hi in ranges]
