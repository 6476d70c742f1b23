"""First-start bootstrap (what ``keystone-manage bootstrap`` and DevStack do).

Idempotent: creates what is missing and leaves what exists, except catalog URLs, which
follow the server's current public URL, the implied-role chain, and the agent user's
password, which follows the ``agent_password`` setting (or its generated file).
Creates the ``default`` domain; the roles of Keystone's bootstrap (2024.1): ``admin`` >
``manager`` > ``member`` > ``reader`` (each implying the next; an older cloud's
``admin`` > ``member`` implication is removed, as Keystone's bootstrap does) and
``service``, which implies nothing; projects ``admin``, ``demo`` and ``service``
(DevStack's service project); users ``admin`` (admin on project admin and on the
system), ``demo`` (member on project demo) and the agents' service user
(``agent_username``, default ``kumo-agent``: the ``service`` role on project
``service`` and nothing else, exempt from lockout and password expiry:
:data:`SERVICE_USER_OPTIONS`); region ``RegionOne`` and the catalog entry of every
service.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.identity import models
from kumo.identity.manager import Identity
from kumo.identity.resource import DEFAULT_DOMAIN_ID

#: Keystone's bootstrap roles.
ROLES = ("reader", "member", "manager", "admin", "service")
#: (prior, implied) pairs of Keystone's bootstrap; ``service`` implies nothing.
IMPLIED = (("member", "reader"), ("manager", "member"), ("admin", "manager"))
#: Implications older bootstraps made that Keystone's now removes.
NOT_IMPLIED = (("admin", "member"),)
#: User options of the agents' service user: the security compliance rules
#: (kumo/identity/compliance.py) never lock it out nor expire its password, as Keystone's
#: guide advises for service accounts (an agent cannot change a password).
SERVICE_USER_OPTIONS = {"ignore_lockout_failure_attempts": True,
                        "ignore_password_expiry": True,
                        "ignore_change_password_upon_first_use": True}

#: (service type, service name, path below the public URL) of every Kumo service.
CATALOG = [("identity", "keystone", "/identity"), ("network", "neutron", "/networking"),
           ("image", "glance", "/image"), ("compute", "nova", "/compute/v2.1"),
           ("block-storage", "cinder", "/volume/v3"), ("volumev3", "cinderv3", "/volume/v3")]


def _find(identity: Identity, model, **where):
    with identity.read() as s:
        return s.scalar(sa.select(model).filter_by(**where))


def bootstrap(identity: Identity) -> None:
    settings = identity.settings
    resources, users, assignments, catalog = (identity.resources, identity.users,
                                              identity.assignments, identity.catalog)
    if _find(identity, models.Domain, id=DEFAULT_DOMAIN_ID) is None:
        resources.create_domain("Default", "The default domain", domain_id=DEFAULT_DOMAIN_ID)
    roles = {}
    for name in ROLES:
        role = _find(identity, models.Role, name=name, domain_id=models.NULL_DOMAIN_ID)
        roles[name] = role or assignments.create_role(name)
    for prior, implied in IMPLIED:
        if _find(identity, models.ImpliedRole, prior_role_id=roles[prior].id,
                 implied_role_id=roles[implied].id) is None:
            assignments.create_implied_role(roles[prior].id, roles[implied].id)
    for prior, implied in NOT_IMPLIED:
        if _find(identity, models.ImpliedRole, prior_role_id=roles[prior].id,
                 implied_role_id=roles[implied].id) is not None:
            assignments.delete_implied_role(roles[prior].id, roles[implied].id)
    people = {"admin": ("admin", settings.admin_password, "admin"),
              "demo": ("demo", settings.demo_password, "member"),
              settings.agent_username: (settings.agent_project_name,
                                        settings.agent_secret(), "service")}
    for user_name, (project_name, password, role_name) in people.items():
        project = _find(identity, models.Project, name=project_name,
                        domain_id=DEFAULT_DOMAIN_ID)
        if project is None:
            project = resources.create_project(project_name, DEFAULT_DOMAIN_ID,
                                                description=f"Bootstrap project {project_name}")
        user = _find(identity, models.User, name=user_name, domain_id=DEFAULT_DOMAIN_ID)
        service = role_name == "service"
        if user is None:
            attrs = {"name": user_name, "domain_id": DEFAULT_DOMAIN_ID,
                     "password": password}
            if service:
                attrs["options"] = dict(SERVICE_USER_OPTIONS)
            user = users.create_user(attrs, by_admin=False)
        elif service and not identity.check_secret(password, user.password_hash):
            # The agents log in with the current setting (or generated file): follow it.
            user = users.update_user(user.id, {"password": password}, by_admin=False)
        if service and not SERVICE_USER_OPTIONS.items() <= (user.options or {}).items():
            user = users.update_user(user.id, {"options": {
                **(user.options or {}), **SERVICE_USER_OPTIONS}}, by_admin=False)
        assignments.grant(("user", user.id), ("project", project.id), roles[role_name].id)
        if user_name == "admin":
            assignments.grant(("user", user.id), ("system", "all"), roles["admin"].id)
    if _find(identity, models.Region, id=settings.region) is None:
        catalog.create_region(settings.region)
    ensure_catalog(identity)


def ensure_catalog(identity: Identity) -> None:
    """Register every service in :data:`CATALOG` with public, internal and admin
    endpoints at the current public URL."""
    settings = identity.settings
    for service_type, name, path in CATALOG:
        service = _find(identity, models.Service, type=service_type)
        if service is None:
            service = identity.catalog.create_service(service_type, name)
        url = settings.base_url + path
        with identity.read() as s:
            endpoints = list(s.scalars(sa.select(models.Endpoint).where(
                models.Endpoint.service_id == service.id)))
        for interface in ("public", "internal", "admin"):
            mine = [e for e in endpoints if e.interface == interface]
            if not mine:
                identity.catalog.create_endpoint(service.id, interface, url, settings.region)
            elif mine[0].url != url:
                identity.catalog.update_endpoint(mine[0].id, {"url": url})
