"""Security groups and rules (Networking API v2.0: "Security groups (security-groups)",
"Security group rules (security-group-rules)", "Stateful security groups").

Every project gets a ``default`` group on first use (first list or show of security
groups by that project, or a port created without ``security_groups``): egress IPv4 and
IPv6 to anywhere, ingress IPv4 and IPv6 from members of the group itself. A new
non-default group gets the two egress rules. Rules change their group: every rule change
is recorded in the change feed as a ``security_group`` change.

Parts used by other areas (``networking.security_groups``):

- :meth:`SecurityGroups.default_group_id` ``(session, project_id) -> str``,
- :meth:`SecurityGroups.check_visible` ``(session, ctx, ids)`` (404 SecurityGroupNotFound).
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common.context import RequestContext
from kumo.db import Prepared
from kumo.network import exceptions as nexc
from kumo.network import peers, scope
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import core, misc, ports as pmodels
from kumo.network.models import security as models

SG = models.SecurityGroup
RULE = models.SecurityGroupRule

#: Protocol names the API accepts, with their IP protocol numbers.
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1,
             "icmpv6": 58, "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44,
             "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43,
             "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17,
             "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}
ICMP_PROTOCOLS = {1, 58}
IPV6_ONLY = {58, 43, 44, 59, 60}
ETHERTYPES = ("IPv4", "IPv6")
ANY_PREFIX = {"IPv4": "0.0.0.0/0", "IPv6": "::/0"}

DEFAULT_NAME = "default"


def normalized_cidr(prefix: str | None) -> str | None:
    """A rule's ``remote_ip_prefix`` as its network (host bits cleared): the
    ``normalized_cidr`` attribute (extension ``security-groups-normalized-cidr``), and
    what duplicate rules are compared by."""
    return str(ipaddress.ip_network(prefix, strict=False)) if prefix else prefix


_DEFAULT_OF = Prepared(sa.select(
    models.DefaultSecurityGroup.__table__.c.security_group_id).where(
    models.DefaultSecurityGroup.__table__.c.project_id == sa.bindparam("p")))


def protocol_number(protocol: str | None) -> int | None:
    """The IP protocol number of a rule's protocol (a name or a number); None is any."""
    if protocol is None:
        return None
    if protocol in PROTOCOLS:
        return PROTOCOLS[protocol]
    return int(protocol)


class SecurityGroups:
    def __init__(self, networking):
        self.net = networking

    # -- visibility ------------------------------------------------------------------
    def visible(self, ctx: RequestContext):
        """Own groups, and groups shared with the caller's project (RBAC)."""
        return visible_clause(SG, ctx, SG.id.in_(self.net.rbac.shared_groups(ctx)))

    def rules_visible(self, ctx: RequestContext):
        """Rules the caller owns or whose group the caller owns or is shared with."""
        own_groups = sa.select(SG.id).where(SG.project_id == (ctx.project_id or ""))
        return visible_clause(RULE, ctx, sa.or_(
            RULE.security_group_id.in_(own_groups),
            RULE.security_group_id.in_(self.net.rbac.shared_groups(ctx))))

    def get(self, session, ctx: RequestContext, group_id: str) -> models.SecurityGroup:
        """The group if visible to the caller; 404 SecurityGroupNotFound otherwise."""
        row = session.scalar(sa.select(SG).where(SG.id == group_id, self.visible(ctx)))
        if row is None:
            raise nexc.SecurityGroupNotFound(id=group_id)
        return row

    def check_visible(self, session, ctx: RequestContext, ids: list[str]) -> None:
        """404 SecurityGroupNotFound unless every group in ``ids`` is visible."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return
        found = set(session.scalars(sa.select(SG.id).where(SG.id.in_(ids),
                                                          self.visible(ctx))))
        for group_id in ids:
            if group_id not in found:
                raise nexc.SecurityGroupNotFound(id=group_id)

    def get_rule(self, session, ctx: RequestContext, rule_id: str):
        row = session.scalar(sa.select(RULE).where(RULE.id == rule_id,
                                                   self.rules_visible(ctx)))
        if row is None:
            raise nexc.SecurityGroupRuleNotFound(id=rule_id)
        return row

    def rules_of(self, session, group_ids: list[str]) -> dict[str, list]:
        out: dict[str, list] = {i: [] for i in group_ids}
        for chunk in range(0, len(group_ids), 500):
            for rule in session.scalars(sa.select(RULE).where(
                    RULE.security_group_id.in_(group_ids[chunk:chunk + 500]))
                    .order_by(RULE.created_at, RULE.id)):
                out[rule.security_group_id].append(rule)
        return out

    def default_ids(self, session, group_ids: list[str]) -> set[str]:
        """Which of ``group_ids`` are a project's default group."""
        if not group_ids:
            return set()
        return set(session.scalars(sa.select(models.DefaultSecurityGroup.security_group_id)
                                   .where(models.DefaultSecurityGroup.security_group_id
                                          .in_(group_ids))))

    # -- the default group -----------------------------------------------------------
    def default_group_id(self, session, project_id: str) -> str:
        """The id of ``project_id``'s default group, created (with the reference's four
        rules) if missing. Call inside ``networking.write()``."""
        found = _DEFAULT_OF.scalar(session, {"p": project_id})
        if found is not None:
            return found
        group = SG(project_id=project_id, name=DEFAULT_NAME,
                   description="Default security group", stateful=True)
        stamp(group)
        session.add(group)
        session.flush()
        session.add(models.DefaultSecurityGroup(project_id=project_id,
                                                security_group_id=group.id))
        for ethertype in ETHERTYPES:
            self._add_rule(session, group, direction="egress", ethertype=ethertype)
            self._add_rule(session, group, direction="ingress", ethertype=ethertype,
                           remote_group_id=group.id)
        session.flush()
        self.net.changed(session, "security_group", group.id)
        return group.id

    def ensure_default(self, project_id: str | None) -> None:
        """Create ``project_id``'s default group in its own transaction if missing (for
        reads, which run in read-only sessions)."""
        if not project_id:
            return
        with self.net.read() as s:
            if s.get(models.DefaultSecurityGroup, project_id) is not None:
                return
        with self.net.write() as s:
            self.default_group_id(s, project_id)

    # -- groups ----------------------------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict) -> models.SecurityGroup:
        """A new group with the two egress rules; 409 SecurityGroupDefaultAlreadyExists
        for the name ``default``, 409 OverQuota."""
        project_id = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
        if attrs.get("name") == DEFAULT_NAME:
            raise nexc.SecurityGroupDefaultAlreadyExists()
        self.default_group_id(session, project_id)
        self.net.check_quota(session, project_id, "security_group", 1)
        group = SG(project_id=project_id, name=attrs.get("name") or "",
                   description=attrs.get("description") or "",
                   stateful=attrs.get("stateful", True))
        stamp(group)
        session.add(group)
        session.flush()
        for ethertype in ETHERTYPES:
            self._add_rule(session, group, direction="egress", ethertype=ethertype)
        session.flush()
        self.net.changed(session, "security_group", group.id)
        return group

    def update(self, session, ctx: RequestContext, group, attrs: dict) -> None:
        """Update name, description, stateful; the default group keeps its name (409)
        and a group in use by ports keeps its statefulness (409 SecurityGroupInUse)."""
        if ("name" in attrs and attrs["name"] != group.name
                and group.id in self.default_ids(session, [group.id])):
            raise nexc.SecurityGroupCannotUpdateDefault()
        if attrs.get("name") == DEFAULT_NAME and group.name != DEFAULT_NAME:
            raise nexc.SecurityGroupDefaultAlreadyExists()
        if "stateful" in attrs and attrs["stateful"] != group.stateful and self.in_use(
                session, group.id):
            raise nexc.SecurityGroupInUse(id=group.id)
        for key in ("name", "description", "stateful"):
            if key in attrs:
                setattr(group, key, attrs[key] if attrs[key] is not None else "")
        touch(group)
        self.net.changed(session, "security_group", group.id)

    def in_use(self, session, group_id: str) -> bool:
        """True if a port uses the group."""
        table = pmodels.PortSecurityGroup.__table__
        return session.execute(sa.select(table.c.port_id).where(
            table.c.security_group_id == group_id).limit(1)).first() is not None

    def delete(self, session, ctx: RequestContext, group) -> None:
        """Delete a group and its rules, and the rules of other groups naming it as
        remote group. 409 SecurityGroupCannotRemoveDefault for a non-admin deleting a
        default group; 409 SecurityGroupInUse while a port uses it."""
        is_default = group.id in self.default_ids(session, [group.id])
        if is_default and not ctx.is_admin:
            raise nexc.SecurityGroupCannotRemoveDefault()
        if self.in_use(session, group.id):
            raise nexc.SecurityGroupInUse(id=group.id)
        others = set(session.scalars(sa.select(RULE.security_group_id).where(
            RULE.remote_group_id == group.id, RULE.security_group_id != group.id)))
        # before its rules go: the hosts holding it as a remote group drop it
        self.net.changed(session, "security_group", group.id, "delete",
                         hosts=scope.group_hosts(session, [group.id]))
        session.execute(sa.delete(RULE).where(sa.or_(RULE.security_group_id == group.id,
                                                     RULE.remote_group_id == group.id)))
        session.execute(sa.delete(models.DefaultSecurityGroup).where(
            models.DefaultSecurityGroup.security_group_id == group.id))
        self.net.delete_tags(session, group.id)
        session.execute(sa.delete(core.RBACPolicy).where(  # its sharing goes with it
            core.RBACPolicy.object_id == group.id))
        session.delete(group)
        for other in others:
            row = session.get(SG, other)
            if row is not None:
                touch(row)
            self.net.changed(session, "security_group", other)

    # -- rules -----------------------------------------------------------------------
    def create_rule(self, session, ctx: RequestContext, attrs: dict):
        """Validate and add a rule to a visible group. 400 for invalid combinations
        (see the SecurityGroup* errors), 404 for an unknown group or remote group, 409
        SecurityGroupRuleExists for a duplicate, 409 OverQuota."""
        group = self.get(session, ctx, attrs["security_group_id"])
        spec = self._validate(session, ctx, attrs)
        self._check_duplicate(session, group.id, spec)
        self.net.check_quota(session, group.project_id, "security_group_rule", 1)
        rule = self._add_rule(session, group, description=attrs.get("description") or "",
                              **spec)
        touch(group)
        session.flush()
        self.net.changed(session, "security_group", group.id)
        self._remote_changed(session, rule)
        return rule

    def delete_rule(self, session, ctx: RequestContext, rule) -> None:
        group = session.get(SG, rule.security_group_id)
        session.delete(rule)
        if group is not None:
            touch(group)
        self.net.changed(session, "security_group", rule.security_group_id)
        self._remote_changed(session, rule)

    def _remote_changed(self, session, rule) -> None:
        """A rule naming a remote group came or went: the hosts using the rule's group
        gain or lose that group (and its members) in their snapshot."""
        if rule.remote_group_id and rule.remote_group_id != rule.security_group_id:
            hosts = scope.group_users(session, [rule.security_group_id])
            if hosts:
                self.net.changed(session, "security_group", rule.remote_group_id,
                                 hosts=hosts)

    def _add_rule(self, session, group, **spec):
        rule = RULE(project_id=group.project_id, security_group_id=group.id,
                    direction=spec["direction"], ethertype=spec["ethertype"],
                    protocol=spec.get("protocol"), port_range_min=spec.get("port_range_min"),
                    port_range_max=spec.get("port_range_max"),
                    remote_ip_prefix=spec.get("remote_ip_prefix"),
                    remote_group_id=spec.get("remote_group_id"),
                    remote_address_group_id=spec.get("remote_address_group_id"),
                    description=spec.get("description", ""), name="")
        stamp(rule)
        session.add(rule)
        return rule

    def _validate(self, session, ctx: RequestContext, attrs: dict) -> dict:
        ethertype = attrs.get("ethertype") or "IPv4"
        if ethertype not in ETHERTYPES:
            raise nexc.SecurityGroupRuleInvalidEtherType(ethertype=ethertype,
                                                         values=list(ETHERTYPES))
        protocol = attrs.get("protocol")
        if isinstance(protocol, int):
            protocol = str(protocol)
        if protocol in ("", "any"):
            protocol = None
        if protocol is not None:
            protocol = protocol.lower()
            if protocol not in PROTOCOLS and not (
                    protocol.isdigit() and 0 <= int(protocol) <= 255):
                raise nexc.SecurityGroupRuleInvalidProtocol(
                    protocol=protocol, values=sorted(PROTOCOLS) + [None])
        number = protocol_number(protocol)
        if number in IPV6_ONLY and ethertype == "IPv4":
            raise nexc.SecurityGroupEthertypeConflictWithProtocol(ethertype=ethertype,
                                                                  protocol=protocol)
        low, high = attrs.get("port_range_min"), attrs.get("port_range_max")
        self._validate_ports(number, protocol, low, high)
        prefix = attrs.get("remote_ip_prefix")
        remote_group = attrs.get("remote_group_id")
        address_group = attrs.get("remote_address_group_id")
        if sum(x is not None for x in (prefix, remote_group, address_group)) > 1:
            raise nexc.SecurityGroupMultipleRemoteEntites()
        if prefix is not None:
            try:
                net = ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise nexc.InvalidInput(error_message=f"'{prefix}' is not a valid IP "
                                                      "prefix") from None
            if f"IPv{net.version}" != ethertype:
                raise nexc.SecurityGroupRuleParameterConflict(ethertype=ethertype,
                                                              cidr=prefix)
            # as given, with its mask (10.2.3.4 -> 10.2.3.4/32; host bits kept, as
            # Neutron's netaddr does); normalized_cidr shows the network
            prefix = str(ipaddress.ip_interface(prefix))
        if remote_group is not None:
            self.check_visible(session, ctx, [remote_group])
        if address_group is not None:  # 404 AddressGroupNotFound unless visible
            self.net.address_groups.get(session, ctx, address_group)
        return {"direction": attrs["direction"], "ethertype": ethertype,
                "protocol": protocol, "port_range_min": low, "port_range_max": high,
                "remote_ip_prefix": prefix, "remote_group_id": remote_group,
                "remote_address_group_id": address_group}

    @staticmethod
    def _validate_ports(number, protocol, low, high) -> None:
        if low is None and high is None:
            return
        if protocol is None:
            raise nexc.SecurityGroupProtocolRequiredWithPorts()
        if number in PORT_PROTOCOLS:
            for port in (low, high):
                if port is not None and not 1 <= port <= 65535:
                    raise nexc.SecurityGroupInvalidPortValue(port=port)
            if low is None or high is None or low > high:
                raise nexc.SecurityGroupInvalidPortRange()
        elif number in ICMP_PROTOCOLS:
            for attr, field, value in (("port_range_min", "type", low),
                                       ("port_range_max", "code", high)):
                if value is not None and not 0 <= value <= 255:
                    raise nexc.SecurityGroupInvalidIcmpValue(field=field, attr=attr,
                                                             value=value)
            if low is None and high is not None:
                raise nexc.SecurityGroupMissingIcmpType(value=high)
        else:
            raise nexc.SecurityGroupInvalidProtocolForPort(protocol=protocol)

    def _check_duplicate(self, session, group_id: str, spec: dict) -> None:
        def key(d):
            prefix = normalized_cidr(d["remote_ip_prefix"])
            if prefix == ANY_PREFIX.get(d["ethertype"]):
                prefix = None
            return (d["direction"], d["ethertype"], protocol_number(d["protocol"]),
                    d["port_range_min"], d["port_range_max"], prefix, d["remote_group_id"],
                    d.get("remote_address_group_id"))
        wanted = key(spec)
        for rule in session.scalars(sa.select(RULE).where(
                RULE.security_group_id == group_id, RULE.direction == spec["direction"],
                RULE.ethertype == spec["ethertype"])):
            if key({c: getattr(rule, c) for c in spec}) == wanted:
                raise nexc.SecurityGroupRuleExists(rule_id=rule.id)

    # -- data plane ------------------------------------------------------------------
    def snapshot(self, session, host: str | None, keys: dict | None = None) -> dict:
        """The groups ``host``'s bound ports use and the groups their rules name as
        remote group (every group when ``host`` is None), with rules and ``members``
        (the addresses of its ports, :func:`kumo.network.peers.group_members`),
        computed only for groups that are such a remote group (``[]`` for the others);
        ``keys``: only those ids."""
        stmt = sa.select(SG).order_by(SG.id)
        stmt = scope.keyed(stmt, keys, "security_groups", SG.id)
        if stmt is None:
            return {}
        remote = None
        if host is not None:
            remote = set(session.scalars(scope.remote_of(host)))
            stmt = stmt.where(sa.or_(SG.id.in_(scope.groups_of(host)), SG.id.in_(remote)))
        groups = list(session.scalars(stmt))
        if not groups:
            return {"security_groups": []}
        rules = self.rules_of(session, [g.id for g in groups])
        ag_ids = {r.remote_address_group_id for rs in rules.values() for r in rs
                  if r.remote_address_group_id}
        addresses = address_groups(session, ag_ids)
        logs = self.net.logs.for_security_groups(session, [(g.id, g.project_id)
                                                           for g in groups])
        wanted = [g.id for g in groups if remote is None or g.id in remote]
        members = (peers.group_members(session, wanted if keys is not None or remote
                                       is not None else None) if wanted else {})
        return {"security_groups": [
            {"id": g.id, "project_id": g.project_id, "stateful": g.stateful,
             "revision_number": g.revision_number, "members": members.get(g.id, []),
             "logs": logs[g.id],
             "rules": [{"id": r.id, "direction": r.direction, "ethertype": r.ethertype,
                        "protocol": r.protocol, "port_range_min": r.port_range_min,
                        "port_range_max": r.port_range_max,
                        "remote_ip_prefix": r.remote_ip_prefix,
                        "remote_group_id": r.remote_group_id,
                        "remote_address_group_id": r.remote_address_group_id}
                       for r in rules[g.id]],
             "address_groups": {a: addresses.get(a, []) for a in sorted(
                 {r.remote_address_group_id for r in rules[g.id]
                  if r.remote_address_group_id})}}
            for g in groups]}


def address_groups(session, ids) -> dict[str, list[str]]:
    """``{address_group_id: [cidr, ...]}`` of the address groups ``ids``."""
    if not ids:
        return {}
    AG = misc.AddressGroup
    return {row.id: list(row.addresses or []) for row in session.execute(
        sa.select(AG.id, AG.addresses).where(AG.id.in_(sorted(ids))))}


def address_group_users(session, address_group_id: str) -> list[str]:
    """Ids of the security groups with a rule naming ``address_group_id``."""
    return sorted(set(session.scalars(sa.select(RULE.security_group_id).where(
        RULE.remote_address_group_id == address_group_id))))
