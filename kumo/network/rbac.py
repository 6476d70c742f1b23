"""Network RBAC policies (Networking API v2.0: "RBAC Policies (rbac-policies)").

A policy grants ``action`` on a network to ``target_tenant`` (a project id or ``*``):

- ``access_as_shared``: the project sees the network and may attach ports to it
  (``*`` also sets the network's ``shared``);
- ``access_as_external``: the project sees the network as an external network. The first
  such policy makes the network ``router:external``; while a network has any
  ``access_as_external`` policies, only their targets see it as external (a network made
  external by its flag first gets an explicit ``*`` policy so it stays visible to all);
  deleting the last one makes it internal again.

Only the network's owner (or an admin) manages its policies; a policy whose target
project still has ports on the network that no other grant covers cannot be removed
(409 RbacPolicyInUse).
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common.context import RequestContext
from kumo.network import exceptions as nexc
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import core as models
from kumo.network.models import ports as pmodels

P = models.RBACPolicy
ACTIONS = {"network": ("access_as_shared", "access_as_external"),
           "security_group": ("access_as_shared",),
           "qos_policy": ("access_as_shared",)}


class Rbac:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(P, ctx)

    def get(self, session, ctx: RequestContext, policy_id: str) -> models.RBACPolicy:
        """The policy if the caller owns it (or is admin); 404 RbacPolicyNotFound."""
        row = session.scalar(sa.select(P).where(P.id == policy_id, self.visible(ctx)))
        if row is None:
            raise nexc.RbacPolicyNotFound(object_type="network", id=policy_id)
        return row

    def _network(self, session, ctx: RequestContext, network_id: str) -> models.Network:
        network = self.net.networks.get(session, ctx, network_id)
        if not ctx.is_admin and network.project_id != ctx.project_id:
            raise nexc.InvalidInput(error_message="Only admins can manipulate policies on "
                                                  "networks they do not own")
        return network

    def create(self, session, ctx: RequestContext, attrs: dict) -> models.RBACPolicy:
        """Create a policy. 400 for an unknown action, 404 NetworkNotFound for an
        invisible network, 409 DuplicateRbacPolicy, 409 OverQuota."""
        object_type = attrs["object_type"]
        action = attrs["action"]
        if action not in ACTIONS[object_type]:
            raise nexc.InvalidInput(error_message=f"Invalid action '{action}' for object "
                                                  f"type '{object_type}'. Valid actions: "
                                                  f"{list(ACTIONS[object_type])}")
        target = attrs["target_tenant"]
        project_id = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
        if object_type == "security_group":
            return self._share_group(session, ctx, attrs["object_id"], target, project_id)
        if object_type == "qos_policy":  # QoS policies: kumo.network.qos
            return self.net.qos.share(session, ctx, attrs, project_id)
        network = self._network(session, ctx, attrs["object_id"])
        if self._find(session, network.id, action, target) is not None:
            raise nexc.DuplicateRbacPolicy()
        self.net.check_quota(session, project_id, "rbac_policy", 1)
        if action == "access_as_external":
            if not session.scalar(sa.select(P.id).where(
                    P.object_id == network.id, P.action == action).limit(1)):
                if network.external and target != "*":
                    self._add(session, network.project_id, network.id, action, "*")
                network.external = True
        elif target == "*":
            network.shared = True
        row = self._add(session, project_id, network.id, action, target)
        touch(network)
        self.net.changed(session, "network", network.id)
        return row

    def wildcard(self, session, network: models.Network, action: str, on: bool) -> None:
        """What setting ``shared`` (``access_as_shared``) or ``router:external``
        (``access_as_external``) on a network does to its policies, as Neutron: turned
        on, a policy for ``*`` owned by the network's project (unless there is one);
        ``shared`` off removes the ``*`` policy, ``router:external`` off removes every
        ``access_as_external`` policy."""
        if on:
            if self._find(session, network.id, action, "*") is None:
                self._add(session, network.project_id, network.id, action, "*")
            return
        stmt = sa.delete(P).where(P.object_id == network.id, P.action == action)
        if action == "access_as_shared":
            stmt = stmt.where(P.target_tenant == "*")
        session.execute(stmt)

    def _share_group(self, session, ctx: RequestContext, group_id: str, target: str,
                     project_id: str) -> models.RBACPolicy:
        """``access_as_shared`` on a security group: the target project sees the group
        and its rules and may put its ports in it (Neutron's security group RBAC)."""
        group = self.net.security_groups.get(session, ctx, group_id)
        if not ctx.is_admin and group.project_id != ctx.project_id:
            raise nexc.InvalidInput(error_message="Only admins can manipulate policies on "
                                                  "security groups they do not own")
        if self._find(session, group.id, "access_as_shared", target) is not None:
            raise nexc.DuplicateRbacPolicy()
        self.net.check_quota(session, project_id, "rbac_policy", 1)
        row = self._add(session, project_id, group.id, "access_as_shared", target,
                        object_type="security_group")
        self.net.changed(session, "security_group", group.id)
        return row

    def shared_groups(self, ctx: RequestContext):
        """The ids of security groups shared with the caller's project (a subquery)."""
        return sa.select(P.object_id).where(
            P.object_type == "security_group", P.action == "access_as_shared",
            P.target_tenant.in_([ctx.project_id or "", "*"]))

    def _add(self, session, project_id, network_id, action, target,
             object_type: str = "network") -> models.RBACPolicy:
        row = P(project_id=project_id, object_type=object_type, object_id=network_id,
                action=action, target_tenant=target)
        stamp(row)
        session.add(row)
        session.flush()
        return row

    def _find(self, session, network_id, action, target):
        return session.scalar(sa.select(P).where(P.object_id == network_id,
                                                 P.action == action,
                                                 P.target_tenant == target))

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        """Change ``target_tenant`` (409 RbacPolicyInUse if the old target still uses the
        network, 409 DuplicateRbacPolicy if the new one already has a policy)."""
        target = attrs.get("target_tenant", row.target_tenant)
        if row.object_type == "qos_policy":
            return self.net.qos.reshare(session, ctx, row, target)
        if target != row.target_tenant:
            if self._find(session, row.object_id, row.action, target) is not None:
                raise nexc.DuplicateRbacPolicy()
            self._check_unused(session, row)
            network = (session.get(models.Network, row.object_id)
                       if row.object_type == "network" else None)
            if row.action == "access_as_shared" and network is not None:
                network.shared = target == "*" or (
                    network.shared and row.target_tenant != "*")
                touch(network)
            row.target_tenant = target
        touch(row)
        self.net.changed(session, row.object_type, row.object_id)

    def delete(self, session, ctx: RequestContext, row) -> None:
        """Delete (409 RbacPolicyInUse while the target project uses the network)."""
        if row.object_type == "qos_policy":
            return self.net.qos.unshare(session, ctx, row)
        self._check_unused(session, row)
        network = (session.get(models.Network, row.object_id)
                   if row.object_type == "network" else None)
        session.delete(row)
        session.flush()
        if network is not None:
            if row.action == "access_as_shared" and row.target_tenant == "*":
                network.shared = False
            if row.action == "access_as_external" and not session.scalar(
                    sa.select(P.id).where(P.object_id == network.id,
                                          P.action == "access_as_external").limit(1)):
                network.external = False
            touch(network)
        self.net.changed(session, row.object_type, row.object_id)

    def _check_unused(self, session, row) -> None:
        """409 if a project losing access by this policy's removal has ports on the
        network (or, for a security group, ports in the group)."""
        if row.object_type == "security_group":
            return self._check_group_unused(session, row)
        table = pmodels.Port.__table__
        network = session.get(models.Network, row.object_id)
        if network is None:
            return
        users = set(session.scalars(sa.select(table.c.project_id).distinct().where(
            table.c.network_id == network.id, table.c.project_id != network.project_id,
            table.c.project_id != "")))
        if not users:
            return
        others = session.execute(sa.select(P.target_tenant).where(
            P.object_id == network.id, P.action == row.action, P.id != row.id)).scalars()
        still = set(others)
        shared_flag = (row.action == "access_as_shared" and network.shared
                       and row.target_tenant != "*")
        for project in sorted(users):
            if row.target_tenant not in ("*", project):
                continue
            if shared_flag or "*" in still or project in still:
                continue
            raise nexc.RbacPolicyInUse(
                object_id=network.id,
                details=f"Project {project} has ports on network {network.id}.")

    def _check_group_unused(self, session, row) -> None:
        """409 if a project losing a shared security group has ports in it."""
        from kumo.network.models import security as smodels

        group = session.get(smodels.SecurityGroup, row.object_id)
        if group is None:
            return
        PSG, port = pmodels.PortSecurityGroup, pmodels.Port.__table__
        users = set(session.scalars(sa.select(port.c.project_id).distinct().where(
            port.c.id.in_(sa.select(PSG.port_id).where(PSG.security_group_id == group.id)),
            port.c.project_id != group.project_id)))
        still = set(session.scalars(sa.select(P.target_tenant).where(
            P.object_id == group.id, P.action == row.action, P.id != row.id)))
        for project in sorted(users):
            if row.target_tenant in ("*", project) and "*" not in still \
                    and project not in still:
                raise nexc.RbacPolicyInUse(
                    object_id=group.id,
                    details=f"Project {project} has ports in security group {group.id}.")
