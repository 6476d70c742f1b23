"""Network logging (Networking API v2.0 "Logging", extension ``logging``):
``/v2.0/log/logs`` and ``/v2.0/log/loggable-resources``. Admin-only (Neutron's
policy).

Kumo realizes logs of ``firewall_group`` resources only: the L3 agent adds nftables
``log group`` statements to the router's firewall chains (:mod:`kumo.agent.fwaas`)
and writes each packet to ``<agent state>/logs/<log id>.log``
(:mod:`kumo.agent.nflog`). ``security_group`` logging is not realized yet, so it is
not a loggable resource (400 InvalidLogResourceType), rather than accepted and
ignored.

A log names ``resource_type``, optionally ``resource_id`` (one firewall group; else
every group of the log's project) and ``target_id`` (one router port; it must be in
the group when both are given), ``event`` (``ACCEPT``, ``DROP``, ``ALL``, default
``ALL``) and ``enabled``. Only ``name``, ``description`` and ``enabled`` change.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import fwaas as models

LOG = models.Log
GPORT, GROUP = models.FirewallGroupPort, models.FirewallGroup
LOGGABLE = ("firewall_group",)
EVENTS = ("ACCEPT", "DROP", "ALL")


class LogResourceNotFound(exc.NotFound):
    message = "Log resource %(log_id)s could not be found."


class InvalidLogResourceType(exc.BadRequest):
    message = "Invalid resource type %(resource_type)s."


class ResourceNotFound(exc.NotFound):
    message = "Resource %(resource_id)s could not be found."


class TargetResourceNotFound(exc.NotFound):
    message = "Target resource %(target_id)s could not be found."


class InvalidResourceConstraint(exc.BadRequest):
    message = ("Invalid resource constraint between resource (%(resource)s %(resource_id)s) "
               "and target resource (%(target_resource)s %(target_id)s).")


class Logs:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(LOG, ctx)

    def get(self, session, ctx: RequestContext, log_id: str):
        row = session.scalar(sa.select(LOG).where(LOG.id == log_id, self.visible(ctx)))
        if row is None:
            raise LogResourceNotFound(log_id=log_id)
        return row

    def create(self, session, ctx: RequestContext, attrs: dict):
        kind = attrs["resource_type"]
        if kind not in LOGGABLE:
            raise InvalidLogResourceType(resource_type=kind)
        event = (attrs.get("event") or "ALL").upper()
        if event not in EVENTS:
            raise exc.BadRequest(f"Invalid input for event. Reason: '{attrs['event']}' is "
                                 f"not in {list(EVENTS)}.")
        resource_id, target_id = attrs.get("resource_id"), attrs.get("target_id")
        if resource_id:
            try:
                self.net.firewall_groups.get(session, ctx, resource_id)
            except exc.NotFound:
                raise ResourceNotFound(resource_id=resource_id) from None
        if target_id:
            try:
                self.net.ports.get(session, ctx, target_id)
            except exc.NotFound:
                raise TargetResourceNotFound(target_id=target_id) from None
            group = session.scalar(sa.select(GPORT.firewall_group_id).where(
                GPORT.port_id == target_id))
            if group is None or (resource_id and group != resource_id):
                raise InvalidResourceConstraint(resource=kind,
                                                resource_id=resource_id or "",
                                                target_resource="port",
                                                target_id=target_id)
        row = LOG(project_id=attrs.get("project_id") or attrs.get("tenant_id")
                  or ctx.project_id or "", name=attrs.get("name") or "",
                  description=attrs.get("description") or "", resource_type=kind,
                  resource_id=resource_id or None, target_id=target_id or None,
                  event=event, enabled=attrs.get("enabled", True) is not False)
        stamp(row)
        session.add(row)
        session.flush()
        self.announce(session, row)
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        if "enabled" in attrs and attrs["enabled"] is not None \
                and bool(attrs["enabled"]) != row.enabled:
            row.enabled = bool(attrs["enabled"])
            self.announce(session, row)
        touch(row)

    def delete(self, session, ctx: RequestContext, row) -> None:
        self.announce(session, row)
        session.delete(row)

    def announce(self, session, row) -> None:
        """A feed change for the routers whose firewall the log concerns."""
        if row.resource_id:
            groups = [row.resource_id]
        elif row.target_id:
            groups = list(session.scalars(sa.select(GPORT.firewall_group_id).where(
                GPORT.port_id == row.target_id)))
        else:
            groups = list(session.scalars(sa.select(GROUP.id).where(
                GROUP.project_id == row.project_id)))
        self.net.firewall_groups._announce_groups(session, groups)

    # -- data plane ------------------------------------------------------------------
    def for_firewall(self, session, entries: list[tuple[str, str, str]]) -> dict:
        """``(port id, group id, group project)`` -> ``[{"id", "event"}]`` of the
        enabled logs applying to that port's firewall."""
        out: dict = {e: [] for e in entries}
        if not entries:
            return out
        projects = sorted({e[2] for e in entries})
        logs = list(session.scalars(sa.select(LOG).where(
            LOG.enabled.is_(True), LOG.resource_type == "firewall_group",
            LOG.project_id.in_(projects)).order_by(LOG.id)))
        for e in entries:
            port_id, group_id, project = e
            out[e] = [{"id": lg.id, "event": lg.event} for lg in logs
                      if lg.project_id == project
                      and lg.resource_id in (None, group_id)
                      and lg.target_id in (None, port_id)]
        return out
