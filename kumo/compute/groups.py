"""Server groups (Compute API "Server groups (os-server-groups)"): a named policy
(``affinity``, ``anti-affinity``, ``soft-affinity``, ``soft-anti-affinity``) the
scheduler applies to servers booted with the ``group`` scheduler hint."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute.models import ServerGroup

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


class ServerGroupNotFound(exc.NotFound):
    message = "Instance group %(id)s could not be found."


class ServerGroups:
    def __init__(self, compute):
        self.compute = compute

    def create(self, ctx, name: str, policy: str, rules: dict) -> ServerGroup:
        if rules and policy != "anti-affinity":
            raise exc.BadRequest("Only anti-affinity policy supports rules.")
        row = ServerGroup(id=str(uuid.uuid4()), name=name, project_id=ctx.project_id or "",
                          user_id=ctx.user_id or "", policy=policy, rules=rules or {},
                          members=[], created_at=utcnow())
        with self.compute.db.session() as s:
            count = s.scalar(sa.select(sa.func.count()).select_from(ServerGroup).where(
                ServerGroup.project_id == row.project_id)) or 0
            limit = self.compute.quotas.limit(s, row.project_id, "server_groups")
            if 0 <= limit <= count:
                raise exc.Forbidden("Quota exceeded, too many server groups.")
            s.add(row)
        return row

    def get(self, ctx, group_id: str, session=None) -> ServerGroup:
        with self.compute.db.session(readonly=session is None) as s:
            row = s.get(ServerGroup, group_id)
            if row is None or (not ctx.is_admin and row.project_id != ctx.project_id):
                raise ServerGroupNotFound(id=group_id)
            return row

    def list(self, ctx, all_projects: bool, limit: int | None,
             offset: int | None) -> list[ServerGroup]:
        stmt = sa.select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
        if not (all_projects and ctx.is_admin):
            stmt = stmt.where(ServerGroup.project_id == (ctx.project_id or ""))
        if offset:
            stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.compute.read() as s:
            return list(s.scalars(stmt))

    def delete(self, ctx, group_id: str) -> None:
        with self.compute.db.session() as s:
            s.delete(self.get(ctx, group_id, s))
