"""The first start's defaults for "get me a network" (kumo/network/bootstrap.py): a fresh
cloud's ``public`` is the default external network and the shared default IPv4 pool
exists with demo's ``private-subnet`` allocated from it; later starts (bootstrap runs
on every start) leave an operator's choices alone: a ``public`` set
``is_default=False`` stays so and a deleted pool is not made again."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kumo.network import bootstrap as netboot
from kumo.network.models import core
from kumo.network.models import ports as port_models

POOL = netboot.DEFAULT_POOL_V4["name"]


@pytest.fixture
def cloud(prepared_cloud):
    return prepared_cloud


def _state(cloud):
    with cloud.networking.read() as s:
        public = s.scalar(sa.select(core.Network).where(core.Network.name == "public"))
        pools = s.scalars(sa.select(port_models.SubnetPool)).all()
        subnet = s.scalar(sa.select(port_models.Subnet).where(
            port_models.Subnet.name == "private-subnet"))
        return {"public_default": public.is_default,
                "pools": [(p.name, p.prefixes, p.default_prefixlen, p.shared, p.is_default)
                          for p in pools],
                "private": (subnet.cidr, subnet.gateway_ip, subnet.subnetpool_id),
                "pool_id": pools[0].id if pools else None}


def test_a_fresh_cloud_has_devstacks_defaults(cloud):
    state = _state(cloud)
    assert state["public_default"] is True
    assert state["pools"] == [(POOL, ["10.0.0.0/22"], 26, True, True)]
    assert state["private"] == ("10.0.0.0/26", "10.0.0.1", state["pool_id"])
    netboot.bootstrap(cloud)  # every start runs it again: nothing changes
    assert _state(cloud) == state


def test_later_starts_leave_the_operators_choice(cloud):
    with cloud.networking.write() as s:
        s.scalar(sa.select(core.Network).where(core.Network.name == "public")) \
            .is_default = False
        s.execute(sa.update(port_models.Subnet).values(subnetpool_id=None))
        s.execute(sa.delete(port_models.SubnetPool))
    netboot.bootstrap(cloud)
    netboot.bootstrap(cloud)
    state = _state(cloud)
    assert state["public_default"] is False and state["pools"] == []
    assert state["private"] == ("10.0.0.0/26", "10.0.0.1", None)

