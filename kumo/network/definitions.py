"""The Networking API's resources as data: one :class:`~kumo.common.resource.Resource`
per resource (Networking API v2.0), from which the API modules take their request
schemas, list filters and sort keys, ``fields=``, renderers and policy defaults.

Adding an attribute: add an :class:`~kumo.common.resource.Attr` here (and its column to
the model and a migration); the logic part handles its meaning. See
docs/architecture.md, "How to add a resource (or an attribute)".

Computed attributes read *extras*, per-row data the API module loads through a
manager before rendering: ``tags`` (every taggable resource), ``subnets`` (networks),
``fixed_ips``/``security_groups`` (ports), ``rules``/``default_groups`` (security
groups and their rules), ``gateway_ips`` (routers), ``ports`` (floating IPs: the
associated port's row), ``alive`` (agents).
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.policy import RuleDefault
from kumo.common.resource import (BOOLEAN, EXACT, INTEGER, STRING, Attr, Resource,
                                  const, copy, extra, standard, to_int)
from kumo.network import dns, rbac
from kumo.network import definitions_qos
from kumo.network.definitions_qos import POLICY_ID, qos_policy_id
from kumo.network.security import normalized_cidr
from kumo.network.manager import tag_filter
from kumo.network.models import core, l3, ports as pmodels, security

#: Policy check strings shared by the definitions.
MEMBER = "rule:admin or rule:project_member"
ADMIN = "rule:admin"
ANY = "@"  # visibility is enforced by the query
#: Ports: the service role (agents) may do what Neutron's ``service_api`` rules allow.
PORT_MEMBER = "rule:admin_or_service or rule:project_member"
PORT_ADMIN = "rule:admin_or_service"
NETWORK_OWNER = "rule:admin_or_service or project_id:%(network_owner)s"

BOOL = {"type": "boolean"}
NULLABLE_STRING = {"type": ["string", "null"]}
STRINGS = {"type": "array", "items": {"type": "string"}}
ID = {"type": "string", "maxLength": 36}
IP_VERSION = {"type": "integer", "enum": [4, 6]}


def _ip(name: str):
    """A converter that 400s on a value that is not an IP address (``None`` passes)."""
    def check(value):
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise exc.BadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                     "a valid IP address.") from None
        return value
    return check


def _mtu(value):
    """``mtu`` as Neutron's ``convert_to_int``: ``"1400"`` is 1400; below 68 is a 400."""
    value = to_int("mtu")(value)
    if value is not None and value < 68:
        raise exc.BadRequest(f"Invalid input for mtu. Reason: '{value}' is too small - "
                             "must be at least '68'.")
    return value


# -- networks -------------------------------------------------------------------------
N = core.Network
NETWORK = Resource(
    "network", "networks", N, tags=tag_filter(N),
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER},
    # a network's project cannot change; the rules stay for policy files naming them
    extra_rules=[RuleDefault(f"update_network:{k}", ADMIN)
                 for k in ("project_id", "tenant_id")],
    attrs=standard() + [
        Attr("admin_state_up", BOOL, create=True, update=True, default=True,
             column="admin_state_up", filter=BOOLEAN, sort=True),
        Attr("status", column="status", filter=EXACT, sort=True),
        Attr("subnets", render=extra("subnets")),
        Attr("shared", BOOL, create=ADMIN, update=ADMIN, default=False, column="shared",
             filter=BOOLEAN, sort=True),
        Attr("router:external", BOOL, create=ADMIN, update=ADMIN, default=False,
             column="external", filter=BOOLEAN),
        Attr("mtu", {"type": ["integer", "string", "null"]}, create=True,
             update=True, column="mtu", filter=INTEGER, sort=True, convert=_mtu),
        Attr("port_security_enabled", BOOL, create=True, update=True, default=True,
             column="port_security_enabled", filter=BOOLEAN),
        Attr("availability_zone_hints", STRINGS, create=True,
             render=copy("availability_zone_hints")),
        Attr("availability_zones", render=const(lambda: ["nova"])),
        Attr("dns_domain", STRING, create=True, update=True, column="dns_domain",
             convert=dns.check_domain),
        Attr("ipv4_address_scope",
             render=lambda r, x: x.get("address_scopes", {}).get(r.id, {}).get(4)),
        Attr("ipv6_address_scope",
             render=lambda r, x: x.get("address_scopes", {}).get(r.id, {}).get(6)),
        Attr("is_default", BOOL, create=ADMIN, update=ADMIN, default=False,
             column="is_default", filter=BOOLEAN),
        Attr("l2_adjacency", render=const(True)),
        qos_policy_id(),
        Attr("provider:network_type", NULLABLE_STRING, create=ADMIN, update=ADMIN,
             read=ADMIN, column="network_type", filter=EXACT),
        Attr("provider:physical_network", NULLABLE_STRING, create=ADMIN, update=ADMIN,
             read=ADMIN, column="physical_network", filter=EXACT),
        Attr("provider:segmentation_id", {"type": ["integer", "string", "null"]},
             create=ADMIN, update=ADMIN, read=ADMIN, column="segmentation_id",
             filter=INTEGER, convert=to_int("provider:segmentation_id")),
    ])

# -- subnets, subnet pools, address scopes ------------------------------------------
S, SP, AS = pmodels.Subnet, pmodels.SubnetPool, pmodels.AddressScope
POOL = {"type": "object", "properties": {"start": {"type": "string"},
                                         "end": {"type": "string"}},
        "required": ["start", "end"], "additionalProperties": False}
ROUTE = {"type": "object", "properties": {"destination": {"type": "string"},
                                          "nexthop": {"type": "string"}},
         "required": ["destination", "nexthop"], "additionalProperties": False}
IPV6_MODE = {"type": ["string", "null"],
             "enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None]}
SUBNET = Resource(
    "subnet", "subnets", S, tags=tag_filter(S),
    actions={"create": "rule:admin or (rule:project_member and "
                       "project_id:%(network_owner)s)",
             "get": ANY, "update": MEMBER, "delete": MEMBER},
    attrs=standard()[:3] + [
        Attr("network_id", {"type": "string"}, create=True, required=True,
             column="network_id", filter=EXACT, sort=True),
        Attr("ip_version", IP_VERSION, create=True, required=True, column="ip_version",
             filter=INTEGER, sort=True),
        Attr("cidr", NULLABLE_STRING, create=True, column="cidr", filter=EXACT,
             sort=True),
        Attr("gateway_ip", NULLABLE_STRING, create=True, update=True,
             column="gateway_ip", filter=EXACT, sort=True),
        Attr("enable_dhcp", BOOL, create=True, update=True, default=True,
             column="enable_dhcp", filter=BOOLEAN, sort=True),
        Attr("allocation_pools", {"type": ["array", "null"], "items": POOL}, create=True,
             update=True, render=copy("allocation_pools")),
        Attr("dns_nameservers", {"type": ["array", "null"], "items": {"type": "string"}},
             create=True, update=True, render=copy("dns_nameservers")),
        Attr("host_routes", {"type": ["array", "null"], "items": ROUTE}, create=True,
             update=True, render=copy("host_routes")),
        Attr("service_types", {"type": ["array", "null"], "items": {"type": "string"}},
             create=True, update=True, render=copy("service_types")),
        Attr("ipv6_ra_mode", IPV6_MODE, create=True, column="ipv6_ra_mode",
             filter=EXACT),
        Attr("ipv6_address_mode", IPV6_MODE, create=True, column="ipv6_address_mode",
             filter=EXACT),
        Attr("subnetpool_id", NULLABLE_STRING, create=True, column="subnetpool_id",
             filter=EXACT),
        Attr("prefixlen", {"type": ["integer", "string"]}, create=True, read=False,
             convert=to_int("prefixlen")),
        Attr("use_default_subnetpool", BOOL, create=True, read=False),
        Attr("segment_id", {"type": "null"}, create=True, render=const(None)),
        Attr("router:external", render=extra("router:external", bool)),
    ] + standard()[3:])

PREFIXLEN = {"type": ["integer", "string", "null"]}
#: Neutron's ``type:non_negative`` in an integer column (32 bits).
QUOTA = {"type": ["integer", "null"], "minimum": 0, "maximum": 2 ** 31 - 1}
SUBNETPOOL = Resource(
    "subnetpool", "subnetpools", SP, tags=tag_filter(SP),
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER},
    attrs=standard() + [
        Attr("ip_version", IP_VERSION, create=True, column="ip_version", filter=INTEGER,
             sort=True),
        Attr("prefixes", STRINGS, create=True, update=True, required=True,
             render=copy("prefixes")),
        Attr("default_prefixlen", PREFIXLEN, create=True, update=True,
             column="default_prefixlen", filter=INTEGER, sort=True,
             convert=to_int("default_prefixlen")),
        Attr("min_prefixlen", PREFIXLEN, create=True, update=True,
             column="min_prefixlen", filter=INTEGER, convert=to_int("min_prefixlen")),
        Attr("max_prefixlen", PREFIXLEN, create=True, update=True,
             column="max_prefixlen", filter=INTEGER, convert=to_int("max_prefixlen")),
        Attr("shared", BOOL, create=ADMIN, update=ADMIN, default=False, column="shared",
             filter=BOOLEAN),
        Attr("is_default", BOOL, create=ADMIN, update=ADMIN, default=False,
             column="is_default", filter=BOOLEAN),
        Attr("address_scope_id", NULLABLE_STRING, create=True, update=True,
             column="address_scope_id", filter=EXACT),
        Attr("default_quota", QUOTA, create=True, update=True, column="default_quota"),
    ])

ADDRESS_SCOPE = Resource(
    "address_scope", "address_scopes", AS, tags=tag_filter(AS),
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER},
    attrs=standard() + [
        Attr("ip_version", IP_VERSION, create=True, required=True, column="ip_version",
             filter=INTEGER, sort=True),
        Attr("shared", BOOL, create=ADMIN, update=ADMIN, default=False, column="shared",
             filter=BOOLEAN),
    ])

# -- ports ----------------------------------------------------------------------------
P, IA = pmodels.Port, pmodels.IPAllocation


def _fixed_ips_filter(stmt, values: list[str]):
    """``fixed_ips=ip_address=X`` / ``fixed_ips=subnet_id=Y`` (repeated values of one
    key are OR, different keys must hold for the same address)."""
    wanted: dict[str, list[str]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or key not in ("ip_address", "subnet_id"):
            raise exc.BadRequest(f"Invalid input for fixed_ips. Reason: '{value}' is not "
                                 "ip_address=<ip> or subnet_id=<id>.")
        wanted.setdefault(key, []).append(val)
    sub = sa.select(IA.port_id)
    for key, vals in wanted.items():
        sub = sub.where(getattr(IA, key).in_(vals))
    return stmt.where(P.id.in_(sub))


def _groups_filter(stmt, values: list[str]):
    PSG = pmodels.PortSecurityGroup
    return stmt.where(P.id.in_(sa.select(PSG.port_id).where(
        PSG.security_group_id.in_(values))))


FIXED_IP = {"type": "object", "properties": {"subnet_id": {"type": "string"},
                                             "ip_address": {"type": "string"}},
            "additionalProperties": False}
PAIR = {"type": "object", "properties": {"ip_address": {"type": "string"},
                                         "mac_address": {"type": ["string", "null"]}},
        "required": ["ip_address"], "additionalProperties": False}
DHCP_OPT = {"type": "object", "properties": {
    "opt_name": {"type": "string"}, "opt_value": {"type": ["string", "null"]},
    "ip_version": {"type": ["integer", "string", "null"]}},
    "required": ["opt_name"], "additionalProperties": False}
_std = {a.name: a for a in standard(project_rule=PORT_ADMIN)}
PORT = Resource(
    "port", "ports", P, tags=tag_filter(P),
    actions={"create": PORT_MEMBER, "get": ANY,
             "update": PORT_MEMBER + " or (role:member and project_id:%(network_owner)s)",
             "delete": PORT_MEMBER + " or (role:member and project_id:%(network_owner)s)"},
    attrs=[
        _std["id"], _std["name"],
        Attr("network_id", {"type": "string"}, create=True, required=True,
             column="network_id", filter=EXACT, sort=True),
        _std["project_id"], _std["tenant_id"],
        Attr("mac_address", {"type": "string"}, create=NETWORK_OWNER, update=PORT_ADMIN,
             column="mac_address", filter=EXACT, sort=True),
        Attr("admin_state_up", BOOL, create=True, update=True, default=True,
             column="admin_state_up", filter=BOOLEAN, sort=True),
        Attr("status", column="status", filter=EXACT, sort=True),
        Attr("device_id", STRING, create=True, update=True, column="device_id",
             filter=EXACT, sort=True),
        Attr("device_owner", STRING, create=True, update=True, column="device_owner",
             filter=EXACT, sort=True),
        Attr("fixed_ips", {"type": ["array", "null"], "items": FIXED_IP}, create=True,
             update=True, create_sub={"ip_address": NETWORK_OWNER},
             update_sub={"ip_address": NETWORK_OWNER}, filter=_fixed_ips_filter,
             render=extra("fixed_ips")),
        Attr("allowed_address_pairs", {"type": ["array", "null"], "items": PAIR},
             create=True, update=True, render=copy("allowed_address_pairs")),
        Attr("extra_dhcp_opts", {"type": ["array", "null"], "items": DHCP_OPT},
             create=True, update=True, render=copy("extra_dhcp_opts")),
        Attr("security_groups", {"type": ["array", "null"], "items": {"type": "string"}},
             create=True, update=True, filter=_groups_filter,
             render=extra("security_groups")),
        Attr("port_security_enabled", {"type": ["boolean", "null"]}, create=True,
             update=True, column="port_security_enabled", filter=BOOLEAN),
        Attr("binding:vnic_type", NULLABLE_STRING, create=True, update=True,
             default="normal", column="vnic_type", filter=EXACT),
        # dns-integration, dns-domain-ports (kumo.network.dns)
        Attr("dns_name", STRING, create=True, update=True, column="dns_name",
             filter=EXACT, convert=dns.check_name),
        Attr("dns_domain", STRING, create=True, update=True, column="dns_domain",
             convert=dns.check_domain),
        Attr("dns_assignment", render=lambda r, x: dns.assignment(
            r.dns_name or "", x["fixed_ips"].get(r.id, []),
            x.get("dns_domains", {}).get(r.network_id))),
        _std["description"], _std["created_at"], _std["updated_at"],
        _std["revision_number"], _std["tags"],
        qos_policy_id(),
        Attr("qos_network_policy_id",
             render=lambda r, x: x.get("qos_network_policy_id", {}).get(r.id)),
        # trunk-details: only on a trunk's parent port (kumo.network.trunks), as Neutron
        Attr("trunk_details", render=lambda r, x: x.get("trunk_details", {}).get(r.id),
             omit_none=True),
        Attr("binding:host_id", STRING, create=PORT_ADMIN, update=PORT_ADMIN,
             read=PORT_ADMIN, column="host_id", filter=EXACT),
        Attr("binding:vif_type", read=PORT_ADMIN,
             render=lambda r, x: "bridge" if r.host_id else "unbound"),
        Attr("binding:vif_details", read=PORT_ADMIN,
             render=lambda r, x: ({"connectivity": "l2", "port_filter": True}
                                  if r.host_id else {})),
        Attr("binding:profile", {"type": ["object", "null"]}, create=PORT_ADMIN,
             update=PORT_ADMIN, read=PORT_ADMIN, render=copy("profile", dict)),
    ])

# -- security groups and rules ------------------------------------------------------
SG, RULE = security.SecurityGroup, security.SecurityGroupRule
PORT_RANGE = {"type": ["integer", "string", "null"]}
SECURITY_GROUP_RULE = Resource(
    "security_group_rule", "security_group_rules", RULE,
    actions={"create": MEMBER, "get": ANY, "delete": MEMBER},
    attrs=[
        Attr("id", column="id", filter=EXACT, sort=True),
        *standard(name=False, description=False, tags=False)[1:3],
        Attr("security_group_id", {"type": "string"}, create=True, required=True,
             column="security_group_id", filter=EXACT, sort=True),
        Attr("direction", {"enum": ["ingress", "egress"]}, create=True, required=True,
             column="direction", filter=EXACT, sort=True),
        Attr("ethertype", NULLABLE_STRING, create=True, default="IPv4",
             column="ethertype", filter=EXACT, sort=True),
        Attr("protocol", {"type": ["string", "integer", "null"]}, create=True,
             column="protocol", filter=EXACT, sort=True),
        Attr("port_range_min", PORT_RANGE, create=True, column="port_range_min",
             filter=INTEGER, sort=True, convert=to_int("port_range_min")),
        Attr("port_range_max", PORT_RANGE, create=True, column="port_range_max",
             filter=INTEGER, sort=True, convert=to_int("port_range_max")),
        Attr("remote_ip_prefix", NULLABLE_STRING, create=True, column="remote_ip_prefix",
             filter=EXACT, sort=True),
        Attr("normalized_cidr", column="remote_ip_prefix",  # the network of the prefix
             render=lambda r, x: normalized_cidr(r.remote_ip_prefix)),
        Attr("remote_group_id", NULLABLE_STRING, create=True, column="remote_group_id",
             filter=EXACT, sort=True),
        Attr("remote_address_group_id", NULLABLE_STRING, create=True,
             column="remote_address_group_id", filter=EXACT, sort=True),
        Attr("belongs_to_default_sg",
             render=lambda r, x: r.security_group_id in x["default_groups"]),
        Attr("description", STRING, create=True, column="description", filter=EXACT),
        *standard(name=False, description=False, tags=False)[3:],
    ])


def _rules_of(group, extras: dict) -> list[dict]:
    return SECURITY_GROUP_RULE.render(extras["rules"].get(group.id, []), extras)


SECURITY_GROUP = Resource(
    "security_group", "security_groups", SG, tags=tag_filter(SG),
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER},
    attrs=standard(revision_sort=True) + [
        Attr("stateful", BOOL, create=True, update=True, default=True, column="stateful",
             filter=BOOLEAN, sort=True),
        Attr("security_group_rules", render=_rules_of),
    ])

# -- routers and floating IPs -------------------------------------------------------
RT, F = l3.Router, l3.FloatingIP
_GW_FIXED_IP = {"type": "object", "additionalProperties": False,
                "properties": {"subnet_id": ID, "ip_address": {"type": "string"}}}
GATEWAY = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "network_id": ID, "enable_snat": BOOL, "qos_policy_id": POLICY_ID,
    "external_fixed_ips": {"type": "array", "items": _GW_FIXED_IP}}}
ROUTES = {"type": ["array", "null"], "items": ROUTE}


def _gateway_ips(info):
    for spec in (info or {}).get("external_fixed_ips") or []:
        _ip("external_fixed_ips")(spec.get("ip_address"))
    return info


def _gateway_info(r, extras: dict):
    if not r.gw_port_id:
        return None
    return {"network_id": r.gw_network_id, "enable_snat": r.enable_snat,
            "qos_policy_id": extras.get("qos_policy_id", {}).get(r.id),
            "external_fixed_ips": [{"subnet_id": i["subnet_id"],
                                    "ip_address": i["ip_address"]}
                                   for i in extras["gateway_ips"].get(r.gw_port_id, [])]}


ROUTER = Resource(
    "router", "routers", RT, tags=tag_filter(RT),
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER,
             "add_router_interface": MEMBER, "remove_router_interface": MEMBER},
    attrs=standard() + [
        Attr("admin_state_up", BOOL, create=True, update=True, default=True,
             column="admin_state_up", filter=BOOLEAN, sort=True),
        Attr("status", column="status", filter=EXACT, sort=True),
        Attr("external_gateway_info", GATEWAY, create=True, update=True,
             create_sub={"enable_snat": ADMIN, "external_fixed_ips": ADMIN},
             update_sub={"enable_snat": ADMIN, "external_fixed_ips": ADMIN},
             render=_gateway_info, convert=_gateway_ips),
        Attr("routes", ROUTES, update=True, render=copy("routes")),
        Attr("availability_zone_hints", STRINGS, create=True,
             render=copy("availability_zone_hints")),
        # the zones of the L3 agents hosting it (kumo.network.zones.router_zones)
        Attr("availability_zones",
             render=lambda r, x: x.get("availability_zones", {}).get(r.id, [])),
        Attr("flavor_id", {"type": "null"}, create=True, update=True, render=const(None)),
        Attr("distributed", BOOL, create=ADMIN, update=ADMIN, read=ADMIN, default=False,
             column="distributed", filter=BOOLEAN),
        Attr("ha", BOOL, create=ADMIN, update=ADMIN, read=ADMIN, default=False,
             column="ha", filter=BOOLEAN),
    ])


def _port_detail(value):
    """A floating IP attribute shown only while its port exists."""
    def render(r, extras):
        return value(r) if r.fixed_port_id in extras["ports"] else None
    return render


def _port_forwardings(row, extras) -> list[dict]:
    """expose-port-forwarding-in-fip: the floating IP's forwardings, briefly."""
    out = []
    for pf in extras.get("port_forwardings", {}).get(row.id, []):
        item = {"protocol": pf.protocol, "internal_ip_address": pf.internal_ip_address}
        for side in ("internal", "external"):
            first, last = (getattr(pf, f"{side}_port_start"),
                           getattr(pf, f"{side}_port_end"))
            if first == last:
                item[f"{side}_port"] = first
            else:
                item[f"{side}_port_range"] = f"{first}:{last}"
        out.append(item)
    return out


def _port_details(r, extras: dict):
    port = extras["ports"].get(r.fixed_port_id)
    if port is None:
        return None
    return {"name": port.name, "network_id": port.network_id,
            "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
            "status": port.status, "device_id": port.device_id,
            "device_owner": port.device_owner}


FLOATINGIP = Resource(
    "floatingip", "floatingips", F, tags=tag_filter(F),
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER},
    attrs=[a for a in standard() if a.name != "name"] + [
        Attr("floating_ip_address", {"type": "string"}, create=ADMIN,
             column="floating_ip_address", filter=EXACT, sort=True,
             convert=_ip("floating_ip_address")),
        Attr("floating_network_id", ID, create=True, required=True,
             column="floating_network_id", filter=EXACT, sort=True),
        Attr("subnet_id", ID, create=True, read=False),
        Attr("router_id", column="router_id", filter=EXACT, sort=True,
             render=lambda r, x: (r.router_id if r.fixed_port_id in x["ports"]
                                  or x.get("port_forwardings", {}).get(r.id) else None)),
        Attr("port_id", {"type": ["string", "null"]}, create=True, update=True,
             column="fixed_port_id", filter=EXACT, sort=True),
        Attr("fixed_ip_address", {"type": ["string", "null"]}, create=True, update=True,
             column="fixed_ip_address", filter=EXACT, sort=True,
             render=_port_detail(lambda r: r.fixed_ip_address),
             convert=_ip("fixed_ip_address")),
        Attr("status", column="status", filter=EXACT, sort=True),
        Attr("port_details", render=_port_details),
        Attr("port_forwardings", render=_port_forwardings),
        Attr("dns_name", STRING, create=True, column="dns_name", filter=EXACT,
             convert=dns.check_name),
        Attr("dns_domain", STRING, create=True, column="dns_domain", filter=EXACT,
             convert=dns.check_domain),
        qos_policy_id(),
    ])

# -- RBAC policies and agents -------------------------------------------------------
RB = core.RBACPolicy
TARGET_TENANT = {"type": "string", "minLength": 1, "maxLength": 255}
RBAC_POLICY = Resource(
    "rbac_policy", "rbac_policies", RB,
    actions={"create": MEMBER, "get": ANY, "update": MEMBER, "delete": MEMBER},
    # sharing with every project ("*"), or for another project, is the admin's: the
    # handler enforces these only then
    extra_rules=[RuleDefault("create_rbac_policy:target_tenant", ADMIN),
                 RuleDefault("update_rbac_policy:target_tenant", ADMIN)],
    attrs=[
        Attr("id", column="id", filter=EXACT, sort=True),
        Attr("object_type", {"enum": list(rbac.ACTIONS)}, create=True, required=True,
             column="object_type",
             filter=EXACT, sort=True),
        Attr("object_id", {"type": "string"}, create=True, required=True,
             column="object_id", filter=EXACT, sort=True),
        Attr("action", {"type": "string"}, create=True, required=True, column="action",
             filter=EXACT, sort=True),
        Attr("target_tenant", TARGET_TENANT, create=True, update=True, required=True,
             column="target_tenant", filter=EXACT, sort=True),
        Attr("project_id", {"type": "string"}, create=True, column="project_id",
             filter=EXACT, sort=True),
        Attr("tenant_id", {"type": "string"}, create=True, column="project_id",
             filter=EXACT, sort=True),
    ])


def _agent_time(column: str):
    def render(r, extras):
        value = getattr(r, column)
        return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None
    return render


AG = security.Agent
AGENT = Resource(
    "agent", "agents", AG,
    actions={"get": ADMIN, "update": ADMIN, "delete": ADMIN},
    attrs=[
        Attr("id", column="id", filter=EXACT, sort=True),
        Attr("agent_type", column="agent_type", filter=EXACT, sort=True),
        Attr("binary", column="binary", filter=EXACT, sort=True),
        Attr("topic", column="topic", filter=EXACT, sort=True),
        Attr("host", column="host", filter=EXACT, sort=True),
        Attr("admin_state_up", BOOL, update=True, column="admin_state_up",
             filter=BOOLEAN, sort=True),
        Attr("availability_zone", column="availability_zone", filter=EXACT, sort=True),
        Attr("description", STRING, update=True, column="description", filter=EXACT),
        Attr("configurations", render=lambda r, x: r.configurations or {}),
        # ``alive=`` is a filter too, on the heartbeat's age (the agents part's
        # ``where(alive=...)``): it depends on the setting agent_down_time_s
        Attr("alive", render=extra("alive", bool)),
        Attr("created_at", render=_agent_time("created_at")),
        Attr("started_at", render=_agent_time("started_at")),
        Attr("heartbeat_timestamp", render=_agent_time("heartbeat_timestamp")),
        Attr("resources_synced", column="resources_synced"),
        Attr("ha_state", render=const(None)),
    ])

#: Every networking resource with a definition, by collection name.
ALL: dict[str, Resource] = {r.collection: r for r in (
    NETWORK, SUBNET, SUBNETPOOL, ADDRESS_SCOPE, PORT, SECURITY_GROUP,
    SECURITY_GROUP_RULE, ROUTER, FLOATINGIP, RBAC_POLICY, AGENT)}
ALL.update(definitions_qos.ALL)
