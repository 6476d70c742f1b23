"""Networking tables of subnets, IPAM, ports, subnet pools and address scopes
(Networking API v2.0: "Subnets", "Ports", "Subnet pools", "Address scopes").

IPAM keeps two tables per subnet:

- ``network_ip_allocation``: one row per address held by a port, primary key
  ``(subnet_id, ip_address)``, so no two ports ever hold one address;
- ``network_ip_availability``: the free ranges of the subnet's allocation pools, as
  fixed-width hex strings (``first``/``last``, 32 hex digits, which sort like the
  addresses for IPv4 and IPv6 alike). Allocating takes the lowest range's first address
  (one indexed read), so create latency does not grow with the number of ports.

``network_port_security_group`` links ports to security group ids with no foreign key
(security groups live in another area's table).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID, StandardAttrs


class AddressScope(StandardAttrs, Base):
    __tablename__ = "network_address_scope"
    ip_version: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class SubnetPool(StandardAttrs, Base):
    """``prefixes`` is a JSON list of CIDR strings (compacted)."""

    __tablename__ = "network_subnetpool"
    ip_version: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    prefixes: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    default_prefixlen: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    min_prefixlen: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    max_prefixlen: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    is_default: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    default_quota: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    address_scope_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_address_scope.id"), nullable=True, index=True)


class Subnet(StandardAttrs, Base):
    """``allocation_pools`` is a JSON list of ``{"start", "end"}``; ``host_routes`` of
    ``{"destination", "nexthop"}``; ``dns_nameservers`` and ``service_types`` of
    strings."""

    __tablename__ = "network_subnet"
    network_id: orm.Mapped[str] = orm.mapped_column(UUID, sa.ForeignKey("network.id"),
                                                    index=True)
    ip_version: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    cidr: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    gateway_ip: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    enable_dhcp: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    ipv6_ra_mode: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    ipv6_address_mode: orm.Mapped[str | None] = orm.mapped_column(sa.String(32),
                                                                  nullable=True)
    subnetpool_id: orm.Mapped[str | None] = orm.mapped_column(
        UUID, sa.ForeignKey("network_subnetpool.id"), nullable=True, index=True)
    allocation_pools: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    dns_nameservers: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    host_routes: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    service_types: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)


class Port(StandardAttrs, Base):
    __tablename__ = "network_port"
    __table_args__ = (sa.UniqueConstraint("network_id", "mac_address",
                                          name="uniq_port_network_mac"),
                      # the hosts on a network (migration 0009_network_feed_scope)
                      sa.Index("ix_network_port_network_host", "network_id", "host_id"))
    network_id: orm.Mapped[str] = orm.mapped_column(UUID, sa.ForeignKey("network.id"),
                                                    index=True)
    mac_address: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), default="DOWN")
    device_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="", index=True)
    device_owner: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="",
                                                      index=True)
    port_security_enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    host_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="", index=True)
    vnic_type: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="normal")
    profile: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    allowed_address_pairs: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    extra_dhcp_opts: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    # dns-integration, dns-domain-ports (migration 0017_network_fwd_dns)
    dns_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="",
                                                  server_default=sa.text("''"))
    dns_domain: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="",
                                                    server_default=sa.text("''"))


class IPAllocation(Base):
    __tablename__ = "network_ip_allocation"
    subnet_id: orm.Mapped[str] = orm.mapped_column(UUID, sa.ForeignKey("network_subnet.id"),
                                                   primary_key=True)
    ip_address: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    port_id: orm.Mapped[str] = orm.mapped_column(UUID, sa.ForeignKey("network_port.id"),
                                                 index=True)
    network_id: orm.Mapped[str] = orm.mapped_column(UUID, index=True)


class IPAvailability(Base):
    """A free range ``first``..``last`` (inclusive, hex) of a subnet's pools."""

    __tablename__ = "network_ip_availability"
    subnet_id: orm.Mapped[str] = orm.mapped_column(UUID, sa.ForeignKey("network_subnet.id"),
                                                   primary_key=True)
    first: orm.Mapped[str] = orm.mapped_column(sa.String(32), primary_key=True)
    last: orm.Mapped[str] = orm.mapped_column(sa.String(32))


class PortSecurityGroup(Base):
    __tablename__ = "network_port_security_group"
    port_id: orm.Mapped[str] = orm.mapped_column(UUID, sa.ForeignKey("network_port.id"),
                                                 primary_key=True)
    security_group_id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True,
                                                           index=True)
