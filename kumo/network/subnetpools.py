"""Subnet pools and address scopes (Networking API v2.0: "Subnet pools", "Address
scopes", "Default Subnetpools").

A subnet pool holds ``prefixes`` of one ``ip_version``; a subnet created with
``subnetpool_id`` gets the first free prefix of ``prefixlen`` (default
``default_prefixlen``, bounded by ``min_prefixlen``/``max_prefixlen``), or the ``cidr``
it asks for when that lies in the pool and is free. ``is_default`` marks the pool
``use_default_subnetpool`` uses (one per IP version). A pool may belong to an address
scope of the same IP version; prefixes within one scope never overlap.

Errors: 404 SubnetPoolNotFound / AddressScopeNotFound, 400 InvalidInput,
400 IllegalSubnetPoolPrefixUpdate (prefixes may only grow), 409 SubnetAllocationError
(no free prefix), 409 SubnetPoolInUse / AddressScopeInUse on delete.
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common.context import RequestContext
from kumo.network import exceptions as nexc
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import ports as models
from kumo.network.subnets import bad, parse_cidr


def _shared_visible(model, ctx: RequestContext):
    return visible_clause(model, ctx, model.shared)


class AddressScopes:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return _shared_visible(models.AddressScope, ctx)

    def get(self, session, ctx: RequestContext, scope_id: str) -> models.AddressScope:
        row = session.scalar(sa.select(models.AddressScope).where(
            models.AddressScope.id == scope_id, self.visible(ctx)))
        if row is None:
            raise nexc.AddressScopeNotFound(id=scope_id)
        return row

    def create(self, session, ctx: RequestContext, attrs: dict) -> models.AddressScope:
        if attrs.get("ip_version") not in (4, 6):
            raise bad("ip_version must be 4 or 6")
        row = models.AddressScope(
            project_id=attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id,
            name=attrs.get("name") or "", description=attrs.get("description") or "",
            ip_version=attrs["ip_version"], shared=attrs.get("shared", False))
        stamp(row)
        session.add(row)
        session.flush()
        self.net.changed(session, "address_scope", row.id)
        return row

    def update(self, session, ctx, row: models.AddressScope, attrs: dict) -> None:
        if attrs.get("shared") is False and row.shared:
            raise bad("Unsharing an address scope is not supported")
        for key in ("name", "description", "shared"):
            if key in attrs:
                setattr(row, key, attrs[key] if attrs[key] is not None else "")
        touch(row)
        self.net.changed(session, "address_scope", row.id)

    def delete(self, session, ctx, row: models.AddressScope) -> None:
        if session.scalar(sa.select(models.SubnetPool.id).where(
                models.SubnetPool.address_scope_id == row.id).limit(1)):
            raise nexc.AddressScopeInUse(id=row.id)
        self.net.delete_tags(session, row.id)
        session.delete(row)
        self.net.changed(session, "address_scope", row.id, "delete")


class SubnetPools:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return _shared_visible(models.SubnetPool, ctx)

    def get(self, session, ctx: RequestContext, pool_id: str) -> models.SubnetPool:
        row = session.scalar(sa.select(models.SubnetPool).where(
            models.SubnetPool.id == pool_id, self.visible(ctx)))
        if row is None:
            raise nexc.SubnetPoolNotFound(id=pool_id)
        return row

    def default_pool(self, session, ip_version: int) -> models.SubnetPool | None:
        return session.scalar(sa.select(models.SubnetPool).where(
            models.SubnetPool.is_default, models.SubnetPool.ip_version == ip_version))

    # -- create / update / delete --------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict) -> models.SubnetPool:
        prefixes = [parse_cidr(p) for p in attrs.get("prefixes") or []]
        if not prefixes:
            raise bad("prefixes must contain at least one prefix")
        version = prefixes[0].version
        if any(p.version != version for p in prefixes):
            raise bad("Cannot mix IPv4 and IPv6 prefixes in a subnet pool")
        if attrs.get("ip_version") not in (None, version):
            raise bad(f"ip_version {attrs['ip_version']} does not match the prefixes")
        row = models.SubnetPool(
            project_id=attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id,
            name=attrs.get("name") or "", description=attrs.get("description") or "",
            ip_version=version, prefixes=_collapse(prefixes),
            shared=attrs.get("shared", False), is_default=attrs.get("is_default", False),
            default_quota=attrs.get("default_quota"))
        self._set_lengths(row, attrs, prefixes)
        self._set_scope(session, ctx, row, attrs.get("address_scope_id"))
        if row.is_default:
            self._check_default(session, row)
        stamp(row)
        session.add(row)
        session.flush()
        self.net.changed(session, "subnetpool", row.id)
        return row

    @staticmethod
    def _set_lengths(row: models.SubnetPool, attrs: dict, prefixes: list) -> None:
        top = 32 if row.ip_version == 4 else 128
        shortest = min(p.prefixlen for p in prefixes)
        low = attrs.get("min_prefixlen", row.min_prefixlen)
        low = shortest if low is None else int(low)
        high = attrs.get("max_prefixlen", row.max_prefixlen)
        high = top if high is None else int(high)
        default = attrs.get("default_prefixlen", row.default_prefixlen)
        default = low if default is None else int(default)
        if not 0 <= low <= high <= top:
            raise bad(f"Illegal prefix bounds: min_prefixlen {low} max_prefixlen {high}")
        if not low <= default <= high:
            raise bad(f"Illegal prefix bounds: default_prefixlen {default} must be between "
                      f"min_prefixlen {low} and max_prefixlen {high}")
        if low < shortest:
            raise bad(f"Illegal prefix bounds: min_prefixlen {low} is shorter than the "
                      f"pool's prefixes (/{shortest})")
        row.min_prefixlen, row.max_prefixlen, row.default_prefixlen = low, high, default

    def _set_scope(self, session, ctx, row: models.SubnetPool, scope_id: str | None) -> None:
        if scope_id is None:
            row.address_scope_id = None
            return
        scope = self.net.address_scopes.get(session, ctx, scope_id)
        if scope.ip_version != row.ip_version:
            raise bad(f"Illegal subnetpool association: subnetpool of ip_version "
                      f"{row.ip_version} cannot be associated with address scope "
                      f"{scope_id} of ip_version {scope.ip_version}")
        mine = [ipaddress.ip_network(p) for p in row.prefixes]
        for other in session.scalars(sa.select(models.SubnetPool).where(
                models.SubnetPool.address_scope_id == scope_id,
                models.SubnetPool.id != (row.id or ""))):
            for p in other.prefixes:
                if any(ipaddress.ip_network(p).overlaps(m) for m in mine):
                    raise bad(f"Illegal subnetpool association: prefixes overlap with "
                              f"subnet pool {other.id} in address scope {scope_id}")
        row.address_scope_id = scope_id

    def _check_default(self, session, row: models.SubnetPool) -> None:
        other = self.default_pool(session, row.ip_version)
        if other is not None and other.id != row.id:
            raise bad("A default subnetpool for this IP family has already been set. Only "
                      "one default may exist per IP family")

    def update(self, session, ctx: RequestContext, row: models.SubnetPool,
               attrs: dict) -> None:
        if attrs.get("prefixes") is not None:
            new = [parse_cidr(p) for p in attrs["prefixes"]]
            if any(p.version != row.ip_version for p in new):
                raise nexc.IllegalSubnetPoolPrefixUpdate(msg="prefixes must match the "
                                                             "pool's ip_version")
            for old in row.prefixes:
                old_net = ipaddress.ip_network(old)
                if not any(old_net.subnet_of(n) for n in new):
                    raise nexc.IllegalSubnetPoolPrefixUpdate(
                        msg=f"Existing prefix {old} is not a subset of the new prefixes")
            row.prefixes = _collapse(new)
        if any(k in attrs for k in ("min_prefixlen", "max_prefixlen", "default_prefixlen")):
            self._set_lengths(row, attrs, [ipaddress.ip_network(p) for p in row.prefixes])
        if "address_scope_id" in attrs or attrs.get("prefixes") is not None:
            self._set_scope(session, ctx, row, attrs.get("address_scope_id",
                                                         row.address_scope_id))
        if attrs.get("is_default"):
            self._check_default(session, row)
        for key in ("name", "description", "is_default", "shared", "default_quota"):
            if key in attrs:
                value = attrs[key]
                setattr(row, key, "" if value is None and key in ("name", "description")
                        else value)
        touch(row)
        self.net.changed(session, "subnetpool", row.id)

    def delete(self, session, ctx, row: models.SubnetPool) -> None:
        if session.scalar(sa.select(models.Subnet.id).where(
                models.Subnet.subnetpool_id == row.id).limit(1)):
            raise nexc.SubnetPoolInUse(id=row.id, reason="Subnets are allocated from it")
        self.net.delete_tags(session, row.id)
        session.delete(row)
        self.net.changed(session, "subnetpool", row.id, "delete")

    # -- prefix allocation ---------------------------------------------------------
    def allocate_prefix(self, session, pool: models.SubnetPool, cidr: str | None,
                        prefixlen: int | None):
        """A free prefix of ``pool`` for a new subnet: ``cidr`` if given (400 unless in
        the pool, 409 SubnetAllocationError when taken), else the first free one of
        ``prefixlen`` (409 SubnetAllocationError when none is left)."""
        used = sorted(
            (int(n.network_address), int(n.broadcast_address)) for n in (
                ipaddress.ip_network(c) for c in session.scalars(
                    sa.select(models.Subnet.cidr).where(
                        models.Subnet.subnetpool_id == pool.id))))
        prefixes = [ipaddress.ip_network(p) for p in pool.prefixes]
        if cidr:
            net = parse_cidr(cidr)
            self._check_len(pool, net.prefixlen)
            if not any(net.version == p.version and net.subnet_of(p) for p in prefixes):
                raise bad(f"Cidr {net} is not within the prefixes of subnet pool {pool.id}")
            lo, hi = int(net.network_address), int(net.broadcast_address)
            if any(not (e < lo or s > hi) for s, e in used):
                raise nexc.SubnetAllocationError(reason=f"Cidr {net} overlaps with another "
                                                        "subnet of the pool")
            return net
        plen = pool.default_prefixlen if prefixlen is None else int(prefixlen)
        self._check_len(pool, plen)
        for prefix in prefixes:
            if prefix.prefixlen > plen:
                continue
            found = _first_free(prefix, used, plen)
            if found is not None:
                return found
        raise nexc.SubnetAllocationError(reason=f"Insufficient prefix space to allocate "
                                                f"subnet size /{plen}")

    @staticmethod
    def _check_len(pool: models.SubnetPool, plen: int) -> None:
        if not pool.min_prefixlen <= plen <= pool.max_prefixlen:
            raise bad(f"Unable to allocate subnet with prefix length {plen}, minimum "
                      f"allowed prefix is {pool.min_prefixlen}, maximum allowed prefix is "
                      f"{pool.max_prefixlen}")


def _collapse(prefixes: list) -> list[str]:
    return [str(p) for p in ipaddress.collapse_addresses(prefixes)]


def _first_free(prefix, used: list[tuple[int, int]], plen: int):
    """The first block of ``/plen`` in ``prefix`` overlapping none of ``used`` (sorted
    ``(first, last)`` integer ranges), or None."""
    size = 1 << (prefix.max_prefixlen - plen)
    cand, end = int(prefix.network_address), int(prefix.broadcast_address)
    for s, e in used:
        if e < cand:
            continue
        if s > cand + size - 1:
            break
        cand = ((e + 1 + size - 1) // size) * size
        if cand > end:
            return None
    if cand + size - 1 > end:
        return None
    return ipaddress.ip_network((cand, plen))
