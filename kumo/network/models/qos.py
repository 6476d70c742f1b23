"""Tables of QoS (Networking API v2.0 "QoS" extensions; Neutron's ``qos_policies``,
its rule tables and the ``qos_*_policy_bindings``).

- :class:`QosPolicy`: a policy (standard attributes, ``shared``, ``is_default``).
- :class:`QosRule`: every rule type in one table (``type``: ``bandwidth_limit``,
  ``dscp_marking``, ``minimum_bandwidth``, ``packet_rate_limit``; the columns a type does not use stay null),
  deleted with its policy.
- Bindings of a policy to a network, port, floating IP or router gateway, one per
  resource, deleted with the resource; a bound policy cannot be deleted (no cascade on
  the policy side: :class:`kumo.network.qos.Qos` answers 409 QosPolicyInUse first).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base
from kumo.network.models.core import UUID, StandardAttrs


class QosPolicy(StandardAttrs, Base):
    __tablename__ = "network_qos_policy"
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    is_default: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class QosRule(Base):
    __tablename__ = "network_qos_rule"
    id: orm.Mapped[str] = orm.mapped_column(UUID, primary_key=True)
    qos_policy_id: orm.Mapped[str] = orm.mapped_column(
        UUID, sa.ForeignKey("network_qos_policy.id", ondelete="CASCADE"), index=True)
    type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    direction: orm.Mapped[str | None] = orm.mapped_column(sa.String(8), nullable=True)
    max_kbps: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    max_burst_kbps: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger,
                                                               nullable=True)
    dscp_mark: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    min_kbps: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    #: ``packet_rate_limit`` (migration ``0027_network_sg_more``)
    max_kpps: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger, nullable=True)
    max_burst_kpps: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger,
                                                               nullable=True)


def _binding(name: str, table: str, column: str, target: str):
    attrs = {
        "__tablename__": table,
        column: orm.mapped_column(UUID, sa.ForeignKey(f"{target}.id", ondelete="CASCADE"),
                                  primary_key=True),
        "policy_id": orm.mapped_column(UUID, sa.ForeignKey("network_qos_policy.id"),
                                       index=True),
        "__annotations__": {column: orm.Mapped[str], "policy_id": orm.Mapped[str]},
    }
    return type(name, (Base,), attrs)


QosNetworkBinding = _binding("QosNetworkBinding", "network_qos_network_binding",
                             "network_id", "network")
QosPortBinding = _binding("QosPortBinding", "network_qos_port_binding", "port_id",
                          "network_port")
QosFloatingIPBinding = _binding("QosFloatingIPBinding", "network_qos_fip_binding",
                                "fip_id", "network_floatingip")
QosRouterBinding = _binding("QosRouterBinding", "network_qos_router_gw_binding",
                            "router_id", "network_router")

#: resource type -> (binding model, its key column name)
BINDINGS = {"network": (QosNetworkBinding, "network_id"),
            "port": (QosPortBinding, "port_id"),
            "floatingip": (QosFloatingIPBinding, "fip_id"),
            "router": (QosRouterBinding, "router_id")}
