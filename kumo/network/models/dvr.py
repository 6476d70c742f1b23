"""DVR's table (Neutron's ``dvr_host_macs``): the distributed MAC address of each host
whose L3 agent runs in ``dvr``/``dvr_snat`` mode. Owned by :mod:`kumo.network.dvr`."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from kumo.db import Base


class DvrHostMac(Base):
    """Host ``host`` sends the frames its distributed routers route with source MAC
    ``mac_address`` (unique across hosts)."""

    __tablename__ = "network_dvr_host_mac"
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    mac_address: orm.Mapped[str] = orm.mapped_column(sa.String(32), unique=True)
