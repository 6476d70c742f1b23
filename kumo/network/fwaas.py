"""Firewall-as-a-Service v2 (Networking API v2.0 "FWaaS v2.0", extension ``fwaas_v2``):
firewall rules, policies (ordered rules, ``audited``) and groups (an ingress and an
egress policy on router ports).

- Rules: ``protocol`` tcp/udp/icmp/a number 0-255 or null (any; the CLI's ``any``),
  ``ip_version`` 4/6, source/destination address (address or CIDR of that version) and
  port (``N`` or ``N:M``, only with tcp/udp), ``action`` allow/deny/reject, ``enabled``.
- Policies list rules in order (``firewall_rules``); ``insert_rule``/``remove_rule``
  move one; any change of the rule list (or of a rule in it) clears ``audited`` unless
  the same update sets it. A shared policy holds only shared rules.
- Groups (``admin_state_up`` false blocks all traffic of their ports): ``ports`` are
  router interface ports (``network:router_interface*``) of the
  group's project, each in at most one group (409 FirewallGroupPortInUse). The status is
  ``INACTIVE`` without ports, ``DOWN`` with ``admin_state_up`` false, else ``ACTIVE``
  (the agent applies the tables within a second of the change; Kumo has no
  ``PENDING_*`` window because the API does not wait for the agent).
- Visibility: own project, or ``shared``; other projects' are 404.
- In use: a rule in a policy (409 FirewallRuleInUse), a policy in a group (409
  FirewallPolicyInUse), an ``ACTIVE`` group with ports (409 FirewallGroupInUse).

Neutron's FWaaS also makes a ``default`` group per project for VM ports (its L2 agent
extension); Kumo filters VM ports with security groups and applies firewall groups
only to router ports, so no default group is made.

The data plane's view (:meth:`Fwaas.decorate`): each router item of the feed gets
``firewall``: per router port in an enabled group, its enabled ``ingress``/``egress``
rules in policy order (realized by :mod:`kumo.agent.fwaas`).
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.fwaas_checks import (
    FirewallGroupInUse, FirewallGroupNotFound, FirewallGroupPortInUse,
    FirewallGroupPortInvalid, FirewallGroupPortInvalidProject, FirewallPolicyInUse,
    FirewallPolicyNotFound, FirewallPolicySharingConflict, FirewallRuleAlreadyInPolicy,
    FirewallRuleConflict, FirewallRuleInUse, FirewallRuleInfoMissing,
    FirewallRuleNotAssociatedWithPolicy, FirewallRuleNotFound,
    FirewallRuleSharingConflict, _address, check_rule, normalize_port,
    normalize_protocol, rule_item)
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import fwaas as models
from kumo.network.models import ports as pmodels

RULE, POL, POLRULE = models.FirewallRule, models.FirewallPolicy, models.FirewallPolicyRule
GROUP, GPORT = models.FirewallGroup, models.FirewallGroupPort
P = pmodels.Port
ROUTER_PORT_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                      "network:ha_router_replicated_interface")


_RULE_KEYS = ("protocol", "ip_version", "source_ip_address", "destination_ip_address",
              "source_port", "destination_port", "action", "enabled")


class _Part:
    model: type
    not_found: type
    key: str

    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(self.model, ctx, self.model.shared.is_(True))

    def get(self, session, ctx: RequestContext, obj_id: str):
        row = session.scalar(sa.select(self.model).where(self.model.id == obj_id,
                                                         self.visible(ctx)))
        if row is None:
            raise self.not_found(**{self.key: obj_id})
        return row

    def _project(self, ctx: RequestContext, attrs: dict) -> str:
        return attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id or ""

    # -- what changes reach the data plane -----------------------------------------
    def _announce_groups(self, session, group_ids) -> None:
        """A feed change for each router with a port in one of ``group_ids``."""
        group_ids = list(group_ids)
        if not group_ids:
            return
        routers = session.scalars(sa.select(P.device_id).join(
            GPORT, GPORT.port_id == P.id).where(
            GPORT.firewall_group_id.in_(group_ids)).distinct())
        for router_id in sorted(set(routers)):
            self.net.changed(session, "router", router_id)

    def _groups_of_policies(self, session, policy_ids) -> list[str]:
        policy_ids = list(policy_ids)
        if not policy_ids:
            return []
        return list(session.scalars(sa.select(GROUP.id).where(sa.or_(
            GROUP.ingress_firewall_policy_id.in_(policy_ids),
            GROUP.egress_firewall_policy_id.in_(policy_ids)))))


class FirewallRules(_Part):
    model, not_found, key = RULE, FirewallRuleNotFound, "firewall_rule_id"

    def extras(self, session, rows: list) -> dict:
        """``policies``: rule id -> ids of the policies holding it."""
        out: dict[str, list[str]] = {r.id: [] for r in rows}
        if rows:
            for pr in session.execute(sa.select(POLRULE.rule_id, POLRULE.policy_id).where(
                    POLRULE.rule_id.in_(list(out))).order_by(POLRULE.policy_id)):
                out[pr.rule_id].append(pr.policy_id)
        return {"policies": out}

    def create(self, session, ctx: RequestContext, attrs: dict):
        r = {"protocol": normalize_protocol(attrs.get("protocol")),
             "ip_version": attrs.get("ip_version") or 4,
             "source_ip_address": _address(attrs.get("source_ip_address")),
             "destination_ip_address": _address(attrs.get("destination_ip_address")),
             "source_port": normalize_port(attrs.get("source_port")),
             "destination_port": normalize_port(attrs.get("destination_port")),
             "action": attrs.get("action") or "deny",
             "enabled": attrs.get("enabled", True) is not False}
        check_rule(r)
        row = RULE(project_id=self._project(ctx, attrs), name=attrs.get("name") or "",
                   description=attrs.get("description") or "",
                   shared=bool(attrs.get("shared")), **r)
        stamp(row)
        session.add(row)
        session.flush()
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        merged = {k: getattr(row, k) for k in _RULE_KEYS}
        for key, conv in (("protocol", normalize_protocol), ("source_port", normalize_port),
                          ("destination_port", normalize_port),
                          ("source_ip_address", _address),
                          ("destination_ip_address", _address)):
            if key in attrs:
                merged[key] = conv(attrs[key])
        for key in ("ip_version", "action", "enabled"):
            if key in attrs and attrs[key] is not None:
                merged[key] = attrs[key]
        check_rule(merged)
        policies = list(session.scalars(sa.select(POLRULE.policy_id).where(
            POLRULE.rule_id == row.id)))
        if attrs.get("shared") is False and row.shared:
            for pol in session.scalars(sa.select(POL).where(POL.id.in_(policies))):
                if pol.shared or pol.project_id != row.project_id:
                    raise FirewallRuleSharingConflict(firewall_policy_id=pol.id,
                                                      firewall_rule_id=row.id)
        for key, value in merged.items():
            setattr(row, key, value)
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        if "shared" in attrs:
            row.shared = bool(attrs["shared"])
        touch(row)
        if any(k in attrs for k in _RULE_KEYS):
            for pol in session.scalars(sa.select(POL).where(POL.id.in_(policies))):
                pol.audited = False
                touch(pol)
            self._announce_groups(session, self._groups_of_policies(session, policies))

    def delete(self, session, ctx: RequestContext, row) -> None:
        if session.scalar(sa.select(POLRULE.policy_id).where(POLRULE.rule_id == row.id)
                          .limit(1)) is not None:
            raise FirewallRuleInUse(firewall_rule_id=row.id)
        session.delete(row)


class FirewallPolicies(_Part):
    model, not_found, key = POL, FirewallPolicyNotFound, "firewall_policy_id"

    def extras(self, session, rows: list) -> dict:
        """``rules``: policy id -> its rule ids in order."""
        return {"rules": self.rule_ids(session, [r.id for r in rows])}

    def rule_ids(self, session, policy_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {p: [] for p in policy_ids}
        if policy_ids:
            for pr in session.execute(sa.select(POLRULE.policy_id, POLRULE.rule_id).where(
                    POLRULE.policy_id.in_(policy_ids)).order_by(POLRULE.policy_id,
                                                                 POLRULE.position)):
                out[pr.policy_id].append(pr.rule_id)
        return out

    def _rules(self, session, ctx, row, rule_ids: list[str]) -> list:
        """The visible rules ``rule_ids`` (404 otherwise; 400 for a duplicate); a shared
        policy takes only shared rules (409)."""
        if len(set(rule_ids)) != len(rule_ids):
            raise exc.BadRequest("Invalid input for firewall_rules. Reason: Duplicate "
                                 "items in the list.")
        rules = [self.net.firewall_rules.get(session, ctx, i) for i in rule_ids]
        for r in rules:
            if row.shared and not r.shared:
                raise FirewallRuleSharingConflict(firewall_policy_id=row.id,
                                                  firewall_rule_id=r.id)
            if not r.shared and r.project_id != row.project_id:
                raise FirewallRuleConflict(firewall_rule_id=r.id,
                                           project_id=row.project_id)
        return rules

    def _set_rules(self, session, row, rule_ids: list[str]) -> None:
        session.execute(sa.delete(POLRULE).where(POLRULE.policy_id == row.id))
        session.flush()
        session.add_all([POLRULE(policy_id=row.id, rule_id=rid, position=i)
                         for i, rid in enumerate(rule_ids)])
        session.flush()

    def create(self, session, ctx: RequestContext, attrs: dict):
        row = POL(project_id=self._project(ctx, attrs), name=attrs.get("name") or "",
                  description=attrs.get("description") or "",
                  shared=bool(attrs.get("shared")), audited=bool(attrs.get("audited")))
        stamp(row)
        ids = list(attrs.get("firewall_rules") or [])
        self._rules(session, ctx, row, ids)
        session.add(row)
        session.flush()
        self._set_rules(session, row, ids)
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        if "shared" in attrs:
            shared = bool(attrs["shared"])
            if not shared and row.shared:
                for g in session.scalars(sa.select(GROUP).where(
                        GROUP.id.in_(self._groups_of_policies(session, [row.id])))):
                    if g.project_id != row.project_id or g.shared:
                        raise FirewallPolicySharingConflict(firewall_group_id=g.id,
                                                            firewall_policy_id=row.id)
            row.shared = shared
        ids = attrs.get("firewall_rules")
        if ids is None and row.shared:
            ids_now = self.rule_ids(session, [row.id])[row.id]
            self._rules(session, ctx, row, ids_now)
        if ids is not None:
            self._rules(session, ctx, row, list(ids))
            self._set_rules(session, row, list(ids))
            row.audited = False
            self._announce_groups(session, self._groups_of_policies(session, [row.id]))
        if attrs.get("audited") is not None:
            row.audited = bool(attrs["audited"])
        touch(row)

    def delete(self, session, ctx: RequestContext, row) -> None:
        if self._groups_of_policies(session, [row.id]):
            raise FirewallPolicyInUse(firewall_policy_id=row.id)
        session.delete(row)

    def insert_rule(self, session, ctx: RequestContext, row, body: dict) -> None:
        """``insert_rule``: before ``insert_before``, else after ``insert_after``, else
        at the top; 400 when the rule is there already or a reference is not."""
        rule_id = body.get("firewall_rule_id")
        if not rule_id:
            raise FirewallRuleInfoMissing()
        ids = self.rule_ids(session, [row.id])[row.id]
        if rule_id in ids:
            raise FirewallRuleAlreadyInPolicy(firewall_rule_id=rule_id,
                                              firewall_policy_id=row.id)
        self._rules(session, ctx, row, [rule_id])
        position = 0
        for ref, offset in ((body.get("insert_before"), 0), (body.get("insert_after"), 1)):
            if ref:
                if ref not in ids:
                    raise FirewallRuleNotAssociatedWithPolicy(firewall_rule_id=ref,
                                                              firewall_policy_id=row.id)
                position = ids.index(ref) + offset
                break
        ids.insert(position, rule_id)
        self._set_rules(session, row, ids)
        row.audited = False
        touch(row)
        self._announce_groups(session, self._groups_of_policies(session, [row.id]))

    def remove_rule(self, session, ctx: RequestContext, row, body: dict) -> None:
        rule_id = body.get("firewall_rule_id")
        if not rule_id:
            raise FirewallRuleInfoMissing()
        self.net.firewall_rules.get(session, ctx, rule_id)
        ids = self.rule_ids(session, [row.id])[row.id]
        if rule_id not in ids:
            raise FirewallRuleNotAssociatedWithPolicy(firewall_rule_id=rule_id,
                                                      firewall_policy_id=row.id)
        ids.remove(rule_id)
        self._set_rules(session, row, ids)
        row.audited = False
        touch(row)
        self._announce_groups(session, self._groups_of_policies(session, [row.id]))


class FirewallGroups(_Part):
    model, not_found, key = GROUP, FirewallGroupNotFound, "firewall_group_id"

    def extras(self, session, rows: list) -> dict:
        """``ports``: group id -> its port ids."""
        out: dict[str, list[str]] = {r.id: [] for r in rows}
        if rows:
            for gp in session.execute(sa.select(GPORT.firewall_group_id, GPORT.port_id)
                                      .where(GPORT.firewall_group_id.in_(list(out)))
                                      .order_by(GPORT.port_id)):
                out[gp.firewall_group_id].append(gp.port_id)
        return {"ports": out}

    def _policy(self, session, ctx, row, policy_id):
        if not policy_id:
            return None
        pol = self.net.firewall_policies.get(session, ctx, policy_id)
        if (row.shared or pol.project_id != row.project_id) and not pol.shared:
            raise FirewallPolicySharingConflict(firewall_group_id=row.id,
                                                firewall_policy_id=pol.id)
        return pol.id

    def _ports(self, session, ctx, row, port_ids: list[str]) -> list[str]:
        port_ids = list(dict.fromkeys(port_ids))
        for port_id in port_ids:
            port = self.net.ports.get(session, ctx, port_id)
            if port.device_owner not in ROUTER_PORT_OWNERS:
                raise FirewallGroupPortInvalid(port_id=port_id)
            if port.project_id != row.project_id:
                raise FirewallGroupPortInvalidProject(port_id=port_id,
                                                      project_id=port.project_id)
        if port_ids:
            taken = list(session.scalars(sa.select(GPORT.port_id).where(
                GPORT.port_id.in_(port_ids), GPORT.firewall_group_id != row.id)))
            if taken:
                raise FirewallGroupPortInUse(port_ids=sorted(taken))
        return port_ids

    def _set_ports(self, session, row, port_ids: list[str]) -> None:
        before = self.extras(session, [row])["ports"][row.id]
        session.execute(sa.delete(GPORT).where(GPORT.firewall_group_id == row.id))
        session.flush()
        session.add_all([GPORT(port_id=p, firewall_group_id=row.id) for p in port_ids])
        session.flush()
        # routers losing a port hear of it too
        for router_id in sorted(set(session.scalars(sa.select(P.device_id).where(
                P.id.in_(before))))):
            self.net.changed(session, "router", router_id)

    @staticmethod
    def _status(row, has_ports: bool) -> str:
        if not has_ports:
            return "INACTIVE"
        return "ACTIVE" if row.admin_state_up else "DOWN"

    def create(self, session, ctx: RequestContext, attrs: dict):
        row = GROUP(project_id=self._project(ctx, attrs), name=attrs.get("name") or "",
                    description=attrs.get("description") or "",
                    shared=bool(attrs.get("shared")),
                    admin_state_up=attrs.get("admin_state_up", True) is not False)
        stamp(row)
        row.ingress_firewall_policy_id = self._policy(
            session, ctx, row, attrs.get("ingress_firewall_policy_id"))
        row.egress_firewall_policy_id = self._policy(
            session, ctx, row, attrs.get("egress_firewall_policy_id"))
        ports = self._ports(session, ctx, row, attrs.get("ports") or [])
        row.status = self._status(row, bool(ports))
        session.add(row)
        session.flush()
        self._set_ports(session, row, ports)
        self._announce_groups(session, [row.id])
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        if "shared" in attrs:
            row.shared = bool(attrs["shared"])
        if "admin_state_up" in attrs and attrs["admin_state_up"] is not None:
            row.admin_state_up = bool(attrs["admin_state_up"])
        for key in ("ingress_firewall_policy_id", "egress_firewall_policy_id"):
            if key in attrs:
                setattr(row, key, self._policy(session, ctx, row, attrs[key]))
            elif row.shared and getattr(row, key):
                self._policy(session, ctx, row, getattr(row, key))
        ports = self.extras(session, [row])["ports"][row.id]
        if "ports" in attrs:
            ports = self._ports(session, ctx, row, attrs["ports"] or [])
            self._set_ports(session, row, ports)
        row.status = self._status(row, bool(ports))
        touch(row)
        self._announce_groups(session, [row.id])

    def delete(self, session, ctx: RequestContext, row) -> None:
        ports = self.extras(session, [row])["ports"][row.id]
        if ports and row.status == "ACTIVE":
            raise FirewallGroupInUse(firewall_group_id=row.id)
        self._set_ports(session, row, [])
        session.delete(row)

    # -- callbacks (subscribed in kumo.network.manager) -------------------------------
    def release_port(self, resource, event, trigger, payload) -> None:
        """``PORT`` ``PRECOMMIT_DELETE``: the port leaves its firewall group (a group
        left without ports turns ``INACTIVE``)."""
        session, port = payload.session, payload.latest_state
        group_id = session.scalar(sa.select(GPORT.firewall_group_id).where(
            GPORT.port_id == port.id))
        if group_id is None:
            return
        session.execute(sa.delete(GPORT).where(GPORT.port_id == port.id))
        session.flush()
        row = session.get(GROUP, group_id)
        if row is not None:
            row.status = self._status(row, bool(self.extras(session, [row])["ports"][row.id]))
            touch(row)

    # -- data plane ------------------------------------------------------------------
    def decorate(self, session, routers: list[dict]) -> None:
        """Add ``firewall`` to each router item of the feed: ``[{"port_id",
        "firewall_group_id", "ingress": [rule...], "egress": [rule...]}]`` for its
        interface ports in a group (``admin_state_up`` false: the agent blocks all
        of the port's traffic, as the API reference says); rules are the enabled
        ones in policy order (:func:`rule_item`); a direction without a policy is
        ``None`` (everything dropped that way); ``logs``: ``[{"id", "event"}]`` of the
        network logs covering the port (:mod:`kumo.network.logging_service`)."""
        port_ids = [p["port_id"] for r in routers for p in r.get("interfaces", [])]
        found: dict[str, list[dict]] = {r["id"]: [] for r in routers}
        if port_ids:
            rows = session.execute(sa.select(GPORT.port_id, GROUP).join(
                GROUP, GROUP.id == GPORT.firewall_group_id).where(
                GPORT.port_id.in_(port_ids))).all()
            policies = {pid for _, g in rows for pid in (g.ingress_firewall_policy_id,
                                                          g.egress_firewall_policy_id) if pid}
            ordered = self.net.firewall_policies.rule_ids(session, sorted(policies))
            wanted = {rid for ids in ordered.values() for rid in ids}
            rules = {r.id: r for r in session.scalars(sa.select(RULE).where(
                RULE.id.in_(wanted), RULE.enabled.is_(True)))} if wanted else {}

            def chain(pid):
                if not pid:
                    return None
                return [rule_item(rules[i]) for i in ordered.get(pid, []) if i in rules]
            by_port = {port_id: g for port_id, g in rows}
            logs = self.net.logs.for_firewall(
                session, [(port_id, g.id, g.project_id) for port_id, g in rows])
            for r in routers:
                for p in r.get("interfaces", []):
                    g = by_port.get(p["port_id"])
                    if g is not None:
                        found[r["id"]].append({
                            "port_id": p["port_id"], "firewall_group_id": g.id,
                            "ingress": chain(g.ingress_firewall_policy_id),
                            "egress": chain(g.egress_firewall_policy_id),
                            "admin_state_up": g.admin_state_up,
                            "logs": logs[(p["port_id"], g.id, g.project_id)]})
        for r in routers:
            r["firewall"] = found[r["id"]]
