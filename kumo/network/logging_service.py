"""Network logging (Networking API v2.0 "Logging", extension ``logging``):
``/v2.0/log/logs`` and ``/v2.0/log/loggable-resources``. Admin-only (Neutron's
policy).

Kumo realizes logs of two resource types, each with nftables ``log group``
statements whose packets the agent writes to ``<agent state>/logs/<log id>.log``
(:mod:`kumo.agent.nflog`):

- ``firewall_group``: the L3 agent's router firewall chains (:mod:`kumo.agent.fwaas`);
  ``resource_id`` one firewall group (else every group of the log's project),
  ``target_id`` one router port in a group (in that group when both are given).
- ``security_group``: the security-group firewall of the hosts' ports
  (:mod:`kumo.agent.sgmodel`); ``resource_id`` one security group, ``target_id`` one
  port (using the group when both are given: else 400 InvalidResourceConstraint),
  neither: every port of the log's project's security groups. The feed carries the
  logs in each security group's snapshot item (:meth:`Logs.for_security_groups`).

A log names ``resource_type``, ``event`` (``ACCEPT``: a new connection accepted,
``DROP``: a packet the port's chain drops, ``ALL``; default ``ALL``) and ``enabled``.
An unknown group or port is a 404 (ResourceNotFound / TargetResourceNotFound); a
firewall group that is not ``ACTIVE`` takes no log (400 FWGIsNotReadyForLogging). Only
``name``, ``description`` and ``enabled`` change.

The standard CLI is python-neutronclient's OSC plugin: ``openstack network log
create/list/show/set/delete`` and ``openstack network loggable resources list``.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.fwaas import ROUTER_PORT_OWNERS
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import fwaas as models
from kumo.network.models import ports as pmodels
from kumo.network.models import security as smodels

LOG = models.Log
GPORT, GROUP = models.FirewallGroupPort, models.FirewallGroup
PSG = pmodels.PortSecurityGroup
SG = smodels.SecurityGroup
LOGGABLE = ("firewall_group", "security_group")
EVENTS = ("ACCEPT", "DROP", "ALL")


class LogResourceNotFound(exc.NotFound):
    message = "Log resource %(log_id)s could not be found."


class InvalidLogResourceType(exc.BadRequest):
    message = "Invalid log resource_type: %(resource_type)s."


class LoggingTypeNotSupported(exc.Conflict):
    message = "Logging type %(log_type)s is not supported on port %(port_id)s."


class TargetResourceNotAssociated(exc.BadRequest):
    """neutron-fwaas's: a firewall group log's target port is in no group."""
    message = "Target resource %(target_id)s is not associated with any firewall group."


class FWGIsNotReadyForLogging(exc.BadRequest):
    """neutron-fwaas's: a firewall group log needs its group ``ACTIVE``."""
    message = ("Firewall group %(fwg_id)s is not ready for logging because of "
               "%(fwg_status)s status.")


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
        if kind == "security_group":
            self._check_security_group(session, ctx, resource_id, target_id)
        else:
            self._check_firewall_group(session, ctx, resource_id, target_id)
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

    def _check_firewall_group(self, session, ctx: RequestContext, resource_id,
                              target_id) -> None:
        """As neutron-fwaas's log validator: 404 for an unknown group or port; a
        target port that is no router interface is a 409 LoggingTypeNotSupported
        (Kumo's groups take router ports only), one in no group a 400
        TargetResourceNotAssociated, one outside the named group a 400
        InvalidResourceConstraint; the named group, or the target port's, must be
        ``ACTIVE`` (a group without ports is ``INACTIVE``, one set down ``DOWN``):
        else a 400 FWGIsNotReadyForLogging. neutron-fwaas also wants the target port
        ``ACTIVE`` (PortIsNotReadyForLogging); Kumo does not ask that, as a router
        port's status follows its agent's report and a log made while the agent is
        catching up would fail for a moment's timing."""
        if resource_id:
            try:
                group = self.net.firewall_groups.get(session, ctx, resource_id)
            except exc.NotFound:
                raise ResourceNotFound(resource_id=resource_id) from None
            if not target_id:
                self._check_ready(group)
        if not target_id:
            return
        try:
            port = self.net.ports.get(session, ctx, target_id)
        except exc.NotFound:
            raise TargetResourceNotFound(target_id=target_id) from None
        group = session.scalar(sa.select(GPORT.firewall_group_id).where(
            GPORT.port_id == target_id))
        if resource_id and group != resource_id:
            raise InvalidResourceConstraint(resource="firewall_group",
                                            resource_id=resource_id,
                                            target_resource="port", target_id=target_id)
        if (port.device_owner or "") not in ROUTER_PORT_OWNERS:
            raise LoggingTypeNotSupported(log_type="firewall_group", port_id=target_id)
        if group is None:
            raise TargetResourceNotAssociated(target_id=target_id)
        self._check_ready(session.get(GROUP, group))

    @staticmethod
    def _check_ready(group) -> None:
        if group.status != "ACTIVE":
            raise FWGIsNotReadyForLogging(fwg_id=group.id, fwg_status=group.status)

    def _check_security_group(self, session, ctx: RequestContext, resource_id,
                              target_id) -> None:
        """404 for an unknown group or port, 400 for a port not using the group."""
        if resource_id:
            try:
                self.net.security_groups.get(session, ctx, resource_id)
            except exc.NotFound:
                raise ResourceNotFound(resource_id=resource_id) from None
        if target_id:
            try:
                self.net.ports.get(session, ctx, target_id)
            except exc.NotFound:
                raise TargetResourceNotFound(target_id=target_id) from None
            if resource_id and session.scalar(sa.select(PSG.port_id).where(
                    PSG.port_id == target_id,
                    PSG.security_group_id == resource_id)) is None:
                raise InvalidResourceConstraint(resource="security_group",
                                                resource_id=resource_id,
                                                target_resource="port",
                                                target_id=target_id)

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
        """A feed change for the routers whose firewall the log concerns (or the
        security groups whose ports it covers)."""
        if row.resource_type == "security_group":
            for gid in self._security_groups_of(session, row):
                self.net.changed(session, "security_group", gid)
            return
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

    @staticmethod
    def _security_groups_of(session, row) -> list[str]:
        """The security groups whose snapshot item carries security group log ``row``."""
        if row.resource_id:
            return [row.resource_id]
        if row.target_id:
            return sorted(session.scalars(sa.select(PSG.security_group_id).where(
                PSG.port_id == row.target_id)))
        return sorted(session.scalars(sa.select(SG.id).where(
            SG.project_id == row.project_id)))

    def for_security_groups(self, session, groups: list[tuple[str, str]]) -> dict:
        """``{group id: [{"id", "event", "target_id"}]}`` for ``(group id, project)``
        pairs: the enabled security group logs naming the group, or one of its ports
        (``target_id``: the agent applies it to that port only), or neither (the
        group's project's logs)."""
        out: dict = {g: [] for g, _ in groups}
        if not groups:
            return out
        projects = sorted({p for _, p in groups})
        ids = sorted(out)
        logs = list(session.scalars(sa.select(LOG).where(
            LOG.enabled.is_(True), LOG.resource_type == "security_group",
            sa.or_(LOG.resource_id.in_(ids), sa.and_(
                LOG.resource_id.is_(None), LOG.project_id.in_(projects)))).order_by(LOG.id)))
        targets = sorted({lg.target_id for lg in logs
                          if lg.target_id and not lg.resource_id})
        uses: dict[str, set] = {}
        if targets:
            for port_id, gid in session.execute(sa.select(
                    PSG.port_id, PSG.security_group_id).where(PSG.port_id.in_(targets))):
                uses.setdefault(port_id, set()).add(gid)
        for gid, project in groups:
            for lg in logs:
                if lg.resource_id:
                    hit = lg.resource_id == gid
                elif lg.target_id:
                    hit = gid in uses.get(lg.target_id, ())
                else:
                    hit = lg.project_id == project
                if hit:
                    out[gid].append({"id": lg.id, "event": lg.event,
                                     "target_id": lg.target_id})
        return out
