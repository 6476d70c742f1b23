"""First-start networking, as DevStack creates it: the external network ``public``
(flat on physical network ``public``, ``router:external``) with subnet 172.24.4.0/24,
and in project demo a network ``private`` with a subnet and a router ``router1`` whose
gateway is on ``public``. Idempotent: what exists by name is left alone.

"Get me a network" works on a fresh cloud, as on DevStack (its
``create_neutron_initial_network`` with the auto-allocated-topology extension and
``USE_SUBNETPOOL``): ``public`` is the default external network (``is_default``) and
the shared default IPv4 subnet pool :data:`DEFAULT_POOL_V4` (10.0.0.0/22, /26 subnets)
exists; demo's ``private-subnet`` (10.0.0.0/26, gateway 10.0.0.1) is allocated from it,
so the pool never hands out a prefix overlapping it. Kumo makes no IPv6 private subnet,
so there is no IPv6 default pool.

Both defaults are made only together with ``public``, on the start that creates it (as
DevStack's script runs once): on later starts an operator's choice stands, so a
``public`` set ``is_default=False`` stays so and a deleted or renamed pool is not made
again (and a state directory from before the defaults existed gets none: ``openstack
network set --default public`` and ``openstack subnet pool create --share --default
--pool-prefix ... NAME`` add them).

Areas add their steps with :func:`step`; they run in registration order.
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common.context import RequestContext
from kumo.identity import models as identity_models
from kumo.network.models import core as models

STEPS: list = []


def step(func):
    STEPS.append(func)
    return func


def admin_context(cloud, project_name: str = "admin") -> RequestContext:
    """A context acting as ``admin`` in ``project_name`` (for bootstrap work)."""
    with cloud.db.session(readonly=True) as s:
        project = s.scalar(sa.select(identity_models.Project).where(
            identity_models.Project.name == project_name,
            identity_models.Project.domain_id == "default"))
        user = s.scalar(sa.select(identity_models.User).where(
            identity_models.User.name == "admin", identity_models.User.domain_id == "default"))
    return RequestContext(user_id=user.id, project_id=project.id, project_name=project_name,
                          project_domain_id="default", roles=["admin", "member", "reader"],
                          policy=cloud.policy)


def find(session, model, **where):
    return session.scalar(sa.select(model).filter_by(**where))


#: DevStack's shared default IPv4 subnet pool (``SUBNETPOOL_NAME_V4``, prefix
#: ``IPV4_ADDRS_SAFE_TO_USE``, ``SUBNETPOOL_SIZE_V4``): what auto-allocated
#: topologies (and ``use_default_subnetpool``) take their subnets from.
DEFAULT_POOL_V4 = {"name": "shared-default-subnetpool-v4", "prefixes": ["10.0.0.0/22"],
                   "default_prefixlen": 26, "shared": True, "is_default": True}


@step
def public_network(cloud, networking) -> None:
    """``public`` and, made with it only, the defaults "get me a network" needs:
    ``public`` is the default external network unless another one already is, and
    :data:`DEFAULT_POOL_V4` is made unless a pool of that name or another default IPv4
    pool exists."""
    from kumo.network.models import ports as port_models

    ctx = admin_context(cloud)
    with networking.write() as s:
        if find(s, models.Network, name="public", external=True) is not None:
            return
        other_default = s.scalar(sa.select(models.Network.id).where(
            models.Network.external.is_(True), models.Network.is_default.is_(True)))
        networking.networks.create(s, ctx, {
            "name": "public", "router:external": True, "is_default": other_default is None,
            "provider:network_type": "flat", "provider:physical_network": "public"})
        if find(s, port_models.SubnetPool, name=DEFAULT_POOL_V4["name"]) is None and \
                networking.subnetpools.default_pool(s, 4) is None:
            networking.subnetpools.create(s, ctx, dict(DEFAULT_POOL_V4))


def bootstrap(cloud) -> None:
    for func in STEPS:
        func(cloud, cloud.networking)


# -- subnets: public-subnet and demo's private network (as DevStack) ----------------------
@step
def public_subnet(cloud, networking) -> None:
    from kumo.network.models import ports as port_models

    ctx = admin_context(cloud)
    with networking.write() as s:
        public = find(s, models.Network, name="public", external=True)
        if public is None or find(s, port_models.Subnet, network_id=public.id,
                                  name="public-subnet") is not None:
            return
        networking.subnets.create(s, ctx, public, {
            "name": "public-subnet", "ip_version": 4, "cidr": "172.24.4.0/24",
            "gateway_ip": "172.24.4.1", "enable_dhcp": False,
            "allocation_pools": [{"start": "172.24.4.2", "end": "172.24.4.254"}]})


PRIVATE_CIDR = ipaddress.ip_network("10.0.0.0/26")


@step
def private_network(cloud, networking) -> None:
    from kumo.network.models import ports as port_models

    ctx = admin_context(cloud)
    demo = admin_context(cloud, "demo")
    with networking.write() as s:
        private = find(s, models.Network, name="private", project_id=demo.project_id)
        if private is None:
            private = networking.networks.create(s, demo, {"name": "private",
                                                           "project_id": demo.project_id})
        if find(s, port_models.Subnet, network_id=private.id,
                name="private-subnet") is None:
            # from DevStack's default pool when it is there (its prefix reserved there)
            pool = find(s, port_models.SubnetPool, name=DEFAULT_POOL_V4["name"],
                        ip_version=4)
            inside = pool is not None and any(
                PRIVATE_CIDR.subnet_of(ipaddress.ip_network(p)) for p in pool.prefixes)
            networking.subnets.create(s, ctx, private, {
                "name": "private-subnet", "ip_version": 4, "cidr": str(PRIVATE_CIDR),
                "gateway_ip": "10.0.0.1", "project_id": demo.project_id,
                **({"subnetpool_id": pool.id} if inside else {})})


# -- routers: demo's router1, gateway on public, interface on private-subnet -------------
@step
def demo_router(cloud, networking) -> None:
    """``router1`` in project demo with its gateway on ``public`` and interfaces on
    demo's ``private-subnet`` and ``ipv6-private-subnet`` (when they exist), as DevStack
    does."""
    routers = networking.routers
    from kumo.network.models import l3 as l3_models
    from kumo.network.models import ports as port_models

    demo = admin_context(cloud, "demo")
    with networking.write() as s:
        router = find(s, l3_models.Router, name="router1", project_id=demo.project_id)
        if router is None:
            router = routers.create(s, demo, {"name": "router1",
                                              "project_id": demo.project_id})
        public = find(s, models.Network, name="public", external=True)
        if router.gw_port_id is None and public is not None and find(
                s, port_models.Subnet, network_id=public.id) is not None:
            routers.set_gateway(s, demo, router, {"network_id": public.id})
        private = find(s, models.Network, name="private", project_id=demo.project_id)
        if private is None:
            return
        for name in ("private-subnet", "ipv6-private-subnet"):
            subnet = find(s, port_models.Subnet, network_id=private.id, name=name)
            if subnet is None or not subnet.gateway_ip or s.scalar(
                    sa.select(port_models.IPAllocation.port_id)
                    .join(port_models.Port,
                          port_models.Port.id == port_models.IPAllocation.port_id)
                    .where(port_models.IPAllocation.subnet_id == subnet.id,
                           port_models.Port.device_id == router.id)):
                continue
            routers.add_interface(s, demo, router, {"subnet_id": subnet.id})
