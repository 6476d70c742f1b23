"""First-start networking, as DevStack creates it: the external network ``public``
(flat on physical network ``public``, ``router:external``) with subnet 172.24.4.0/24,
and in project demo a network ``private`` with a subnet and a router ``router1`` whose
gateway is on ``public``. Idempotent: what exists by name is left alone.

Areas add their steps with :func:`step`; they run in registration order.
"""
from __future__ import annotations

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


@step
def public_network(cloud, networking) -> None:
    ctx = admin_context(cloud)
    with networking.write() as s:
        if find(s, models.Network, name="public", external=True) is None:
            networking.networks.create(s, ctx, {
                "name": "public", "router:external": True,
                "provider:network_type": "flat", "provider:physical_network": "public"})


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
            networking.subnets.create(s, ctx, private, {
                "name": "private-subnet", "ip_version": 4, "cidr": "10.0.0.0/26",
                "gateway_ip": "10.0.0.1", "project_id": demo.project_id})


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
