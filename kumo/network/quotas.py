"""Networking quotas (Networking API v2.0: "Quotas extension (quotas)", "Quotas details
extension (quota_details)").

A project's limit per resource is its ``network_quota`` row, else the configured default
(``Settings.quota_<resource>``); -1 is unlimited. Usage counts the rows the project owns
in the resource's table, looked up by name when needed, so resources whose areas arrive
later are counted as soon as their tables exist.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.db import Prepared
from kumo.network import exceptions as nexc
from kumo.network.models import core, l3, ports
from kumo.network.models import security as models

#: Quota resource -> candidate table names (the first that exists is counted).
#: resource -> the table of its rows (every one has ``project_id``).
RESOURCES = {
    "network": core.Network.__table__,
    "subnet": ports.Subnet.__table__,
    "subnetpool": ports.SubnetPool.__table__,
    "port": ports.Port.__table__,
    "router": l3.Router.__table__,
    "floatingip": l3.FloatingIP.__table__,
    "security_group": models.SecurityGroup.__table__,
    "security_group_rule": models.SecurityGroupRule.__table__,
    "rbac_policy": core.RBACPolicy.__table__,
}

_Q = models.Quota.__table__
_LIMIT = Prepared(sa.select(_Q.c.limit).where(_Q.c.project_id == sa.bindparam("p"),
                                              _Q.c.resource == sa.bindparam("r")))
#: Usage counts by table name, built on first use (on the indexed ``project_id``).
_COUNTS: dict[str, Prepared] = {}


class Quotas:
    def __init__(self, networking):
        self.net = networking

    def defaults(self) -> dict[str, int]:
        """``{resource: default limit}`` from the settings."""
        return {r: int(getattr(self.net.settings, f"quota_{r}")) for r in RESOURCES}

    def limits(self, session, project_id: str) -> dict[str, int]:
        """``{resource: limit}`` for ``project_id`` (its overrides over the defaults)."""
        out = self.defaults()
        for row in session.scalars(sa.select(models.Quota).where(
                models.Quota.project_id == project_id)):
            if row.resource in out:
                out[row.resource] = row.limit
        return out

    def used(self, session, project_id: str, resource: str) -> int:
        """How many ``resource`` rows ``project_id`` owns."""
        stmt = _COUNTS.get(resource)
        if stmt is None:
            table = RESOURCES[resource]
            stmt = _COUNTS[resource] = Prepared(sa.select(sa.func.count()).select_from(
                table).where(table.c.project_id == sa.bindparam("p")))
        return stmt.scalar(session, {"p": project_id}) or 0

    def details(self, session, project_id: str) -> dict[str, dict]:
        """``{resource: {"limit", "used", "reserved"}}``."""
        limits = self.limits(session, project_id)
        return {r: {"limit": limits[r], "used": self.used(session, project_id, r),
                    "reserved": 0} for r in RESOURCES}

    def check(self, session, project_id: str, resource: str, delta: int = 1) -> None:
        """409 OverQuota if ``project_id`` may not own ``delta`` more ``resource``s."""
        if resource not in RESOURCES or delta <= 0:
            return
        limit = _LIMIT.scalar(session, {"p": project_id, "r": resource})
        if limit is None:
            limit = int(getattr(self.net.settings, f"quota_{resource}"))
        if limit < 0:
            return
        if self.used(session, project_id, resource) + delta > limit:
            raise nexc.OverQuota(overs=str([resource]))

    def check_limits(self, session, project_id: str, values: dict[str, int]) -> None:
        """400 if a new limit is below the project's current usage (``check_limit``)."""
        for resource, limit in values.items():
            used = self.used(session, project_id, resource)
            if 0 <= limit < used:
                raise exc.BadRequest(f"Quota limit {limit} for {resource} must be greater "
                                     f"than or equal to already used and reserved {used}.")

    def update(self, session, project_id: str, values: dict[str, int]) -> dict[str, int]:
        """Set limits (known resources, integers >= -1, checked by the API schema)."""
        for resource, limit in values.items():
            row = session.get(models.Quota, (project_id, resource))
            if row is None:
                session.add(models.Quota(project_id=project_id, resource=resource,
                                         limit=limit))
            else:
                row.limit = limit
        session.flush()
        return self.limits(session, project_id)

    def reset(self, session, project_id: str) -> None:
        """Back to the defaults."""
        session.execute(sa.delete(models.Quota).where(models.Quota.project_id == project_id))

    def projects(self, session) -> list[str]:
        """Projects with at least one override."""
        return list(session.scalars(sa.select(models.Quota.project_id).distinct()
                                    .order_by(models.Quota.project_id)))
