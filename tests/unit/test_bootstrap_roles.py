"""Bootstrap brings an existing cloud to Keystone's bootstrap roles: a cloud made before
the ``manager`` and ``service`` roles (``admin`` implying ``member`` directly, no agent
user) gets them, the chain ``admin`` > ``manager`` > ``member`` > ``reader`` and the
``kumo-agent`` user on the next start; the agent user's password follows the setting."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kumo.identity import models
from kumo.identity.bootstrap import bootstrap


@pytest.fixture
def cloud(prepared_cloud):
    return prepared_cloud


def _chain(identity) -> set[tuple[str, str]]:
    names = {r.id: r.name for r in identity.assignments.roles_by_id().values()}
    return {(names[p], names[i]) for p, implied in identity.assignments.implications().items()
            for i in implied}


def _role(identity, name):
    return next(r for r in identity.assignments.roles_by_id().values() if r.name == name)


def test_an_old_cloud_gets_keystones_roles(cloud):
    identity = cloud.identity
    assert _chain(identity) == {("admin", "manager"), ("manager", "member"),
                                ("member", "reader")}
    # Make it look like a cloud bootstrapped before: admin > member > reader only.
    agent = identity.users.find_user({"name": "kumo-agent",
                                      "domain": {"id": "default"}})
    identity.users.delete_user(agent.id)
    admin, member = _role(identity, "admin"), _role(identity, "member")
    identity.assignments.delete_implied_role(admin.id, _role(identity, "manager").id)
    identity.assignments.delete_role(_role(identity, "manager").id)
    identity.assignments.delete_role(_role(identity, "service").id)
    identity.assignments.create_implied_role(admin.id, member.id)
    assert _chain(identity) == {("admin", "member"), ("member", "reader")}

    bootstrap(identity)
    bootstrap(identity)  # and again: nothing changes
    assert _chain(identity) == {("admin", "manager"), ("manager", "member"),
                                ("member", "reader")}
    names = {r.name for r in identity.assignments.roles_by_id().values()}
    assert {"admin", "manager", "member", "reader", "service"} <= names
    with identity.read() as s:
        user = s.scalar(sa.select(models.User).where(models.User.name == "kumo-agent"))
        project = s.scalar(sa.select(models.Project).where(models.Project.name == "service"))
    roles = identity.assignments.effective_role_ids(user.id, ("project", project.id))
    assert roles == [_role(identity, "service").id]  # service implies nothing


def test_agent_password_follows_the_setting(cloud):
    identity = cloud.identity
    settings = identity.settings
    first = settings.agent_secret()
    assert len(first) == 64

    def hash_of():
        with identity.read() as s:
            return s.scalar(sa.select(models.User.password_hash).where(
                models.User.name == "kumo-agent"))

    assert identity.check_secret(first, hash_of())
    before = hash_of()
    bootstrap(identity)
    assert hash_of() == before  # unchanged password: no new hash
    settings.agent_password = "a-new-agent-password"
    bootstrap(identity)
    assert identity.check_secret("a-new-agent-password", hash_of())
