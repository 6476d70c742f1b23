"""QoS policies, their rules and where they apply (Networking API v2.0: "QoS policies",
"QoS bandwidth limit rules", "QoS DSCP marking rules", "QoS minimum bandwidth rules",
"QoS rule types", "QoS default policy"; neutron's ``qos`` service plugin).

- A policy is visible to its project, to every project when ``shared``, and to the
  projects an RBAC policy (``object_type: qos_policy``, ``access_as_shared``) names.
- ``is_default``: at most one per project (409 QoSPolicyDefaultAlreadyExists); a new
  network of the project created without ``qos_policy_id`` gets it (not external ones).
- Rules: one ``bandwidth_limit``, one ``packet_rate_limit`` and one
  ``minimum_bandwidth`` per direction, one
  ``dscp_marking`` per policy (409 QoSRulesConflict); ``dscp_mark`` in Neutron's
  :data:`VALID_DSCP_MARKS`.
- ``qos_policy_id`` binds a policy to a network, port, floating IP or router gateway
  (``external_gateway_info.qos_policy_id``). A port's effective policy is its own,
  else its network's for ports not owned by the network service (``device_owner``
  not ``network:*``), as Neutron's agents apply them. A bound policy cannot be
  deleted (409 QosPolicyInUse).
- The data plane: the feed's ports carry ``qos_rules`` (their effective policy's
  rules, :meth:`Qos.annotate`); a change of a policy or its rules is a change of every
  port it applies to. The agent enforces ``bandwidth_limit``, ``packet_rate_limit``
  and ``dscp_marking`` (:mod:`kumo.agent.qos`); ``minimum_bandwidth`` is accepted and shown, as Neutron's
  Linux bridge/OVS agents, for placement only (nothing on the data plane).
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.manager import new_id, stamp, touch, visible_clause
from kumo.network.models import core, ports as pmodels
from kumo.network.models import qos as models

QP, QR = models.QosPolicy, models.QosRule
RBAC = core.RBACPolicy

#: neutron_lib.constants.VALID_DSCP_MARKS
VALID_DSCP_MARKS = (0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38,
                    40, 46, 48, 56)
#: rule type -> its attributes besides id and direction
RULE_TYPES = {"bandwidth_limit": ("max_kbps", "max_burst_kbps", "direction"),
              "dscp_marking": ("dscp_mark",),
              "minimum_bandwidth": ("min_kbps", "direction"),
              "packet_rate_limit": ("max_kpps", "max_burst_kpps", "direction")}
#: What ``GET /v2.0/qos/rule-types/{type}`` says of the driver (qos-rule-type-details).
DRIVER = "kumo"
RULE_TYPE_DETAILS = {
    "bandwidth_limit": [
        {"parameter_name": "max_kbps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": 2 ** 31 - 1}},
        {"parameter_name": "max_burst_kbps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": 2 ** 31 - 1}},
        {"parameter_name": "direction", "parameter_type": "choices",
         "parameter_values": ["ingress", "egress"]}],
    "dscp_marking": [
        {"parameter_name": "dscp_mark", "parameter_type": "choices",
         "parameter_values": list(VALID_DSCP_MARKS)}],
    "minimum_bandwidth": [
        {"parameter_name": "min_kbps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": 2 ** 31 - 1}},
        {"parameter_name": "direction", "parameter_type": "choices",
         "parameter_values": ["ingress", "egress"]}],
    "packet_rate_limit": [
        {"parameter_name": "max_kpps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": 2 ** 31 - 1}},
        {"parameter_name": "max_burst_kpps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": 2 ** 31 - 1}},
        {"parameter_name": "direction", "parameter_type": "choices",
         "parameter_values": ["ingress", "egress"]}],
}


class QosPolicyNotFound(exc.NotFound):
    message = "QoS policy %(policy_id)s could not be found."


class QosRuleNotFound(exc.NotFound):
    message = "QoS rule %(rule_id)s for policy %(policy_id)s could not be found."


class QosPolicyInUse(exc.Conflict):
    message = ("QoS Policy %(policy_id)s is used by %(object_type)s %(object_id)s.")


class QoSPolicyDefaultAlreadyExists(exc.Conflict):
    message = "A default QoS policy exists for project %(project_id)s."


class QoSRulesConflict(exc.Conflict):
    message = ("Rule %(new_rule_type)s conflicts with rule %(rule_id)s which already "
               "exists in QoS Policy %(policy_id)s.")


class QosRuleTypeNotFound(exc.NotFound):
    message = "QoS rule type %(rule_type)s could not be found."


class InvalidDscpMark(exc.BadRequest):
    message = ("Invalid input for dscp_mark. Reason: %(mark)s is not in valid list "
               f"{list(VALID_DSCP_MARKS)}.")


class Qos:
    """The ``qos`` part (see the module doc)."""

    def __init__(self, networking):
        self.net = networking

    # -- policies ---------------------------------------------------------------------
    def shared_clause(self, ctx: RequestContext):
        granted = sa.select(RBAC.object_id).where(
            RBAC.object_type == "qos_policy", RBAC.action == "access_as_shared",
            RBAC.target_tenant.in_(["*", ctx.project_id or ""]))
        return sa.or_(QP.shared.is_(True), QP.id.in_(granted))

    def visible(self, ctx: RequestContext):
        return visible_clause(QP, ctx, self.shared_clause(ctx))

    def get(self, session, ctx: RequestContext, policy_id: str) -> models.QosPolicy:
        row = session.scalar(sa.select(QP).where(QP.id == policy_id, self.visible(ctx)))
        if row is None:
            raise QosPolicyNotFound(policy_id=policy_id)
        return row

    def _check_default(self, session, project_id: str, exclude: str | None = None):
        stmt = sa.select(QP.id).where(QP.project_id == project_id, QP.is_default.is_(True))
        if exclude:
            stmt = stmt.where(QP.id != exclude)
        if session.scalar(stmt.limit(1)):
            raise QoSPolicyDefaultAlreadyExists(project_id=project_id)

    def create(self, session, ctx: RequestContext, attrs: dict) -> models.QosPolicy:
        """A policy; 409 QoSPolicyDefaultAlreadyExists for a second default."""
        project_id = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
        if attrs.get("is_default"):
            self._check_default(session, project_id)
        row = QP(project_id=project_id, name=attrs.get("name") or "",
                 description=attrs.get("description") or "",
                 shared=bool(attrs.get("shared")), is_default=bool(attrs.get("is_default")))
        stamp(row)
        session.add(row)
        session.flush()
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        if attrs.get("is_default") and not row.is_default:
            self._check_default(session, row.project_id, exclude=row.id)
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        for key in ("shared", "is_default"):
            if key in attrs:
                setattr(row, key, bool(attrs[key]))
        touch(row)

    def delete(self, session, ctx: RequestContext, row) -> None:
        """Delete; 409 QosPolicyInUse while a network, port, floating IP or router
        gateway uses it."""
        for rtype, (model, column) in models.BINDINGS.items():
            used = session.scalar(sa.select(getattr(model, column)).where(
                model.policy_id == row.id).limit(1))
            if used is not None:
                raise QosPolicyInUse(policy_id=row.id, object_type=rtype, object_id=used)
        session.execute(sa.delete(RBAC).where(RBAC.object_type == "qos_policy",
                                              RBAC.object_id == row.id))
        self.net.delete_tags(session, row.id)
        session.delete(row)
        session.flush()

    def extras(self, session, rows: list) -> dict:
        """``{"tags", "rules"}`` of policies, each id -> value."""
        ids = [r.id for r in rows]
        rules: dict[str, list] = {i: [] for i in ids}
        if ids:
            for rule in session.scalars(sa.select(QR).where(QR.qos_policy_id.in_(ids))
                                        .order_by(QR.type, QR.direction, QR.id)):
                rules[rule.qos_policy_id].append(rule)
        return {"tags": self.net.tags_of(session, ids), "rules": rules}

    # -- rules ------------------------------------------------------------------------
    def rule_get(self, session, ctx: RequestContext, policy_id: str, rule_type: str,
                 rule_id: str) -> models.QosRule:
        self.get(session, ctx, policy_id)
        row = session.scalar(sa.select(QR).where(QR.id == rule_id,
                                                 QR.qos_policy_id == policy_id,
                                                 QR.type == rule_type))
        if row is None:
            raise QosRuleNotFound(rule_id=rule_id, policy_id=policy_id)
        return row

    def rules_visible(self, ctx: RequestContext, policy_id: str, rule_type: str):
        return sa.and_(QR.qos_policy_id == policy_id, QR.type == rule_type)

    def _check_rule(self, session, policy_id: str, rule_type: str, values: dict,
                    exclude: str | None = None) -> None:
        if "dscp_mark" in values and values["dscp_mark"] not in VALID_DSCP_MARKS:
            raise InvalidDscpMark(mark=values["dscp_mark"])
        stmt = sa.select(QR.id).where(QR.qos_policy_id == policy_id, QR.type == rule_type)
        if rule_type != "dscp_marking":
            stmt = stmt.where(QR.direction == values.get("direction", "egress"))
        if exclude:
            stmt = stmt.where(QR.id != exclude)
        other = session.scalar(stmt.limit(1))
        if other is not None:
            raise QoSRulesConflict(new_rule_type=rule_type, rule_id=other,
                                   policy_id=policy_id)

    def rule_create(self, session, ctx: RequestContext, policy, rule_type: str,
                    attrs: dict) -> models.QosRule:
        values = {k: attrs[k] for k in RULE_TYPES[rule_type] if k in attrs}
        if rule_type != "dscp_marking":
            values.setdefault("direction", "egress")
        if rule_type == "bandwidth_limit":
            values.setdefault("max_burst_kbps", 0)
        if rule_type == "packet_rate_limit":
            values.setdefault("max_burst_kpps", 0)
        self._check_rule(session, policy.id, rule_type, values)
        row = QR(id=new_id(), qos_policy_id=policy.id, type=rule_type, **values)
        session.add(row)
        session.flush()
        self.policy_changed(session, policy)
        return row

    def rule_update(self, session, ctx: RequestContext, policy, row, attrs: dict) -> None:
        values = {k: attrs[k] for k in RULE_TYPES[row.type] if k in attrs}
        merged = {"direction": row.direction, **values}
        self._check_rule(session, policy.id, row.type, merged, exclude=row.id)
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
        self.policy_changed(session, policy)

    def rule_delete(self, session, ctx: RequestContext, policy, row) -> None:
        session.delete(row)
        session.flush()
        self.policy_changed(session, policy)

    def policy_changed(self, session, policy) -> None:
        """A policy's rules changed: its revision, and every port, floating IP and
        router gateway it applies to."""
        touch(policy)
        for port_id in self.ports_of(session, policy.id):
            self.net.changed(session, "port", port_id)
        for rtype, kind in (("floatingip", "floatingip"), ("router", "router")):
            model, column = models.BINDINGS[rtype]
            for rid in session.scalars(sa.select(getattr(model, column)).where(
                    model.policy_id == policy.id)):
                self.net.changed(session, kind, rid)

    def rules_of_bound(self, session, rtype: str, ids: list[str]) -> dict[str, list]:
        """``{id: [rule dicts]}`` of the ``rtype`` resources (``floatingip``,
        ``router``) among ``ids`` bound to a policy (for the L3 agent's feed)."""
        bound = self.bound(session, rtype, ids) if ids else {}
        if not bound:
            return {}
        rules: dict[str, list] = {p: [] for p in set(bound.values())}
        for r in session.scalars(sa.select(QR).where(QR.qos_policy_id.in_(sorted(rules)))
                                 .order_by(QR.id)):
            rules[r.qos_policy_id].append(rule_dict(r))
        return {rid: rules[pid] for rid, pid in bound.items()}

    def ports_of(self, session, policy_id: str) -> list[str]:
        """Ports whose effective policy is ``policy_id``."""
        PB, NB, P = models.QosPortBinding, models.QosNetworkBinding, pmodels.Port
        own = set(session.scalars(sa.select(PB.port_id).where(PB.policy_id == policy_id)))
        via = set(session.scalars(sa.select(P.id).join(NB, NB.network_id == P.network_id)
                                  .where(NB.policy_id == policy_id,
                                         ~P.device_owner.startswith("network:"),
                                         ~P.id.in_(sa.select(PB.port_id)))))
        return sorted(own | via)

    # -- bindings ---------------------------------------------------------------------
    def bound(self, session, rtype: str, ids: list[str]) -> dict[str, str]:
        """id -> policy id of the ``rtype`` resources among ``ids`` having one."""
        model, column = models.BINDINGS[rtype]
        key = getattr(model, column)
        out = {}
        for chunk in range(0, len(ids), 500):
            for rid, pid in session.execute(sa.select(key, model.policy_id).where(
                    key.in_(ids[chunk:chunk + 500]))):
                out[rid] = pid
        return out

    def bind(self, session, ctx: RequestContext, rtype: str, row, attrs: dict, *,
             created: bool = False) -> None:
        """Apply ``attrs["qos_policy_id"]`` (when present) to ``row``: 404
        QosPolicyNotFound for a policy the caller cannot see. A network created
        without one gets its project's default policy (not an external network)."""
        if "qos_policy_id" not in attrs:
            if not (created and rtype == "network") or row.external:
                return
            policy_id = session.scalar(sa.select(QP.id).where(
                QP.project_id == row.project_id, QP.is_default.is_(True)).limit(1))
            if policy_id is None:
                return
        else:
            policy_id = attrs["qos_policy_id"]
        model, column = models.BINDINGS[rtype]
        current = session.get(model, row.id)
        if policy_id is not None:
            self.get(session, ctx, policy_id)
        if current is not None and current.policy_id == policy_id:
            return
        if current is not None:
            session.delete(current)
            session.flush()
        if policy_id is not None:
            session.add(model(**{column: row.id, "policy_id": policy_id}))
            session.flush()
        if rtype == "network":
            P = pmodels.Port
            for port_id in session.scalars(sa.select(P.id).where(
                    P.network_id == row.id, ~P.device_owner.startswith("network:"))):
                self.net.changed(session, "port", port_id)
        elif rtype == "port":
            self.net.changed(session, "port", row.id)

    def bind_gateway(self, session, ctx: RequestContext, router, attrs: dict) -> None:
        """``external_gateway_info.qos_policy_id`` of a router create/update (a
        gateway removed takes its policy with it)."""
        if "external_gateway_info" not in attrs:
            return
        info = attrs["external_gateway_info"]
        if not info:
            self.bind(session, ctx, "router", router, {"qos_policy_id": None})
        elif "qos_policy_id" in info:
            self.bind(session, ctx, "router", router,
                      {"qos_policy_id": info["qos_policy_id"]})

    def port_extras(self, session, rows: list) -> dict:
        """Ports' ``qos_policy_id`` and ``qos_network_policy_id`` extras."""
        ids = [r.id for r in rows]
        nets = list({r.network_id for r in rows})
        by_net = self.bound(session, "network", nets) if nets else {}
        return {"qos_policy_id": self.bound(session, "port", ids) if ids else {},
                "qos_network_policy_id": {r.id: by_net[r.network_id] for r in rows
                                          if r.network_id in by_net}}

    def annotate(self, session, ports: list[dict]) -> None:
        """Add ``qos_rules`` (the effective policy's rules, plain dicts) to the feed's
        rendered ports."""
        wanted = {}
        for port in ports:
            pid = port.get("qos_policy_id")
            if pid is None and not (port.get("device_owner") or "").startswith("network:"):
                pid = port.get("qos_network_policy_id")
            wanted[port["id"]] = pid
        policies = sorted({p for p in wanted.values() if p})
        rules: dict[str, list] = {p: [] for p in policies}
        if policies:
            for r in session.scalars(sa.select(QR).where(QR.qos_policy_id.in_(policies))
                                     .order_by(QR.id)):
                rules[r.qos_policy_id].append(rule_dict(r))
        for port in ports:
            port["qos_rules"] = rules.get(wanted[port["id"]], []) if wanted[port["id"]] \
                else []

    # -- RBAC (object_type qos_policy; kumo.network.rbac hands these over) -----------
    def share(self, session, ctx: RequestContext, attrs: dict, project_id: str):
        """An RBAC entry sharing a policy (``object_type: qos_policy``, only
        ``access_as_shared``): only the policy's owner or an admin; 404
        QosPolicyNotFound, 409 DuplicateRbacPolicy."""
        from kumo.network import exceptions as nexc

        policy = self.get(session, ctx, attrs["object_id"])
        if not ctx.is_admin and policy.project_id != ctx.project_id:
            raise QosPolicyNotFound(policy_id=policy.id)
        if session.scalar(sa.select(RBAC.id).where(
                RBAC.object_type == "qos_policy", RBAC.object_id == policy.id,
                RBAC.action == attrs["action"],
                RBAC.target_tenant == attrs["target_tenant"])):
            raise nexc.DuplicateRbacPolicy()
        self.net.check_quota(session, project_id, "rbac_policy", 1)
        row = RBAC(project_id=project_id, object_type="qos_policy", object_id=policy.id,
                   action=attrs["action"], target_tenant=attrs["target_tenant"])
        stamp(row)
        session.add(row)
        session.flush()
        return row


    def reshare(self, session, ctx: RequestContext, row, target: str) -> None:
        from kumo.network import exceptions as nexc

        if target != row.target_tenant:
            if session.scalar(sa.select(RBAC.id).where(
                    RBAC.object_type == "qos_policy", RBAC.object_id == row.object_id,
                    RBAC.action == row.action, RBAC.target_tenant == target)):
                raise nexc.DuplicateRbacPolicy()
            _rbac_in_use(session, row)
            row.target_tenant = target
        touch(row)


    def unshare(self, session, ctx: RequestContext, row) -> None:
        _rbac_in_use(session, row)
        session.delete(row)
        session.flush()


def rule_dict(r) -> dict:
    """A rule as the API (and the feed) shows it."""
    out = {"id": r.id, "qos_policy_id": r.qos_policy_id, "type": r.type}
    for key in RULE_TYPES[r.type]:
        out[key] = getattr(r, key)
    return out


def _rbac_in_use(session, row) -> None:
    """409 RbacPolicyInUse while a project losing access by ``row`` (a qos_policy
    RBAC entry) has a network or port using the policy, as Neutron checks."""
    from kumo.network import exceptions as nexc
    from kumo.network.models import core as cmodels

    policy = session.get(QP, row.object_id)
    if policy is None:
        return
    others = set(session.scalars(sa.select(RBAC.target_tenant).where(
        RBAC.object_type == "qos_policy", RBAC.object_id == row.object_id,
        RBAC.id != row.id)))
    if policy.shared or "*" in others:
        return
    users = set()
    for model, owner, key in (
            (models.QosNetworkBinding, cmodels.Network, "network_id"),
            (models.QosPortBinding, pmodels.Port, "port_id")):
        users |= set(session.scalars(sa.select(owner.project_id).join(
            model, getattr(model, key) == owner.id).where(model.policy_id == policy.id)))
    users.discard(policy.project_id)
    for project in sorted(users - others):
        if row.target_tenant in ("*", project):
            raise nexc.RbacPolicyInUse(
                object_id=policy.id,
                details=f"Project {project} uses QoS policy {policy.id}.")

