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
