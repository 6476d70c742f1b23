"""FWaaS v2's errors (Neutron's exception names, so faults carry its ``type``) and the
checks of one firewall rule: protocol, ports, addresses, action (used by
:mod:`kumo.network.fwaas`)."""
from __future__ import annotations

import ipaddress

from kumo.common import exceptions as exc

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58}
ACTIONS = ("allow", "deny", "reject")


class FirewallRuleNotFound(exc.NotFound):
    message = "Firewall rule %(firewall_rule_id)s could not be found."


class FirewallPolicyNotFound(exc.NotFound):
    message = "Firewall policy %(firewall_policy_id)s could not be found."


class FirewallGroupNotFound(exc.NotFound):
    message = "Firewall group %(firewall_group_id)s could not be found."


class FirewallRuleInUse(exc.Conflict):
    message = "Firewall rule %(firewall_rule_id)s is being used."


class FirewallPolicyInUse(exc.Conflict):
    message = "Firewall policy %(firewall_policy_id)s is being used."


class FirewallGroupInUse(exc.Conflict):
    message = "Firewall group %(firewall_group_id)s is still active."


class FirewallGroupPortInUse(exc.Conflict):
    message = "Port(s) %(port_ids)s provided already associated with other firewall group."


class FirewallGroupPortInvalid(exc.Conflict):
    message = "Port %(port_id)s of firewall group is invalid."


class FirewallGroupPortInvalidProject(exc.Conflict):
    message = ("Operation cannot be performed as port %(port_id)s is in an invalid "
               "project %(project_id)s.")


class FirewallRuleSharingConflict(exc.Conflict):
    message = ("Operation cannot be performed since firewall policy "
               "%(firewall_policy_id)s could not be associated with firewall rule "
               "%(firewall_rule_id)s because firewall rule is not shared.")


class FirewallPolicySharingConflict(exc.Conflict):
    message = ("Operation cannot be performed since firewall group "
               "%(firewall_group_id)s could not be associated with firewall policy "
               "%(firewall_policy_id)s because firewall policy is not shared.")


class FirewallRuleAlreadyInPolicy(exc.BadRequest):
    message = ("Firewall rule %(firewall_rule_id)s already associated with firewall "
               "policy %(firewall_policy_id)s.")


class FirewallRuleNotAssociatedWithPolicy(exc.BadRequest):
    message = ("Firewall rule %(firewall_rule_id)s is not associated with firewall "
               "policy %(firewall_policy_id)s.")


class FirewallRuleInfoMissing(exc.BadRequest):
    message = "Missing rule info argument for insert/remove rule operation."


class FirewallRuleWithPortWithoutProtocolInvalid(exc.BadRequest):
    message = "Source/destination port requires a protocol."


class FirewallRuleInvalidICMPParameter(exc.BadRequest):
    message = "%(param)s are not allowed when protocol is set to ICMP."


class FirewallIpAddressConflict(exc.BadRequest):
    message = "Invalid - IP addresses do not agree with IP Version."


class FirewallRuleInvalidAction(exc.BadRequest):
    message = "Action %(action)s is not supported. Only action values allow, deny and " \
              "reject are supported."


class FirewallRuleInvalidProtocol(exc.BadRequest):
    message = ("Firewall rule protocol %(protocol)s is not supported. Only protocol "
               "values icmp, tcp, udp, ipv6-icmp, an integer 0-255 and None are "
               "supported.")


class FirewallRuleInvalidPortValue(exc.BadRequest):
    message = "Invalid value for port %(port)s."


class FirewallRuleConflict(exc.Conflict):
    message = ("Operation cannot be performed since firewall rule %(firewall_rule_id)s "
               "is not owned by project %(project_id)s.")


# -- rule validation ---------------------------------------------------------------------
def normalize_protocol(value):
    """``"tcp"``..., a number 0-255 (int or string) kept as text, ``None``/``any``."""
    if value is None or value == "any":
        return None
    text = str(value).lower()
    if text in PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return str(int(text))
    raise FirewallRuleInvalidProtocol(protocol=value)


def normalize_port(value):
    """``"80"``, ``"80:90"`` (1-65535, first <= last), ints too; ``None``."""
    if value is None or value == "":
        return None
    parts = str(value).split(":")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise FirewallRuleInvalidPortValue(port=value) from None
    if len(nums) not in (1, 2) or not all(1 <= n <= 65535 for n in nums) \
            or (len(nums) == 2 and nums[0] > nums[1]):
        raise FirewallRuleInvalidPortValue(port=value)
    return ":".join(str(n) for n in nums) if len(nums) == 2 and nums[0] != nums[1] \
        else str(nums[0])


def _address(value):
    if value is None or value == "":
        return None
    try:
        net = ipaddress.ip_network(value, strict=False)
    except (ValueError, TypeError):
        raise exc.BadRequest(f"Invalid input for firewall rule address. Reason: '{value}'"
                             " is not a valid IP address or subnet.") from None
    return str(net.network_address) if net.num_addresses == 1 and "/" not in str(value) \
        else str(net)


def check_rule(r: dict) -> None:
    """Cross-attribute checks of a rule's full attribute dict (400s)."""
    proto = r.get("protocol")
    if (r.get("source_port") or r.get("destination_port")) and proto not in ("tcp", "udp"):
        if proto in ("icmp", "ipv6-icmp"):
            raise FirewallRuleInvalidICMPParameter(param="Source, destination port")
        raise FirewallRuleWithPortWithoutProtocolInvalid()
    if r.get("action") not in ACTIONS:
        raise FirewallRuleInvalidAction(action=r.get("action"))
    for key in ("source_ip_address", "destination_ip_address"):
        if r.get(key) and ipaddress.ip_network(r[key], strict=False).version \
                != r.get("ip_version", 4):
            raise FirewallIpAddressConflict()


def rule_item(r) -> dict:
    """The data plane's view of one rule."""
    return {"id": r.id, "protocol": r.protocol, "ip_version": r.ip_version,
            "source_ip_address": r.source_ip_address,
            "destination_ip_address": r.destination_ip_address,
            "source_port": r.source_port, "destination_port": r.destination_port,
            "action": r.action}
