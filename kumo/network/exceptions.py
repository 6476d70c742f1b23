"""Networking errors, named as Neutron names them (the ``type`` of its fault body)."""
from __future__ import annotations

from kumo.common import exceptions as exc


class NetworkNotFound(exc.NotFound):
    message = "Network %(id)s could not be found."


class SubnetNotFound(exc.NotFound):
    message = "Subnet %(id)s could not be found."


class PortNotFound(exc.NotFound):
    message = "Port %(id)s could not be found."


class RouterNotFound(exc.NotFound):
    message = "Router %(id)s could not be found."


class FloatingIPNotFound(exc.NotFound):
    message = "Floating IP %(id)s could not be found"


class SecurityGroupNotFound(exc.NotFound):
    message = "Security group %(id)s does not exist"


class SecurityGroupRuleNotFound(exc.NotFound):
    message = "Security group rule %(id)s does not exist"


class NetworkInUse(exc.Conflict):
    message = ("Unable to complete operation on network %(id)s. There are one or more "
               "ports still in use on the network.")


class SubnetInUse(exc.Conflict):
    message = ("Unable to complete operation on subnet %(id)s: One or more ports have an "
               "IP allocation from this subnet.")


class PortInUse(exc.Conflict):
    message = ("Unable to complete operation on port %(id)s for network %(net_id)s. "
               "Port already has an attached device %(device_id)s.")


class RouterInUse(exc.Conflict):
    message = "Router %(id)s %(reason)s"


class SecurityGroupInUse(exc.Conflict):
    message = "Security Group %(id)s in use."


class IpAddressAlreadyAllocated(exc.Conflict):
    message = ("IP address %(ip)s already allocated in subnet %(subnet_id)s")


class IpAddressGenerationFailure(exc.Conflict):
    message = "No more IP addresses available on network %(net_id)s."


class MacAddressInUse(exc.Conflict):
    message = ("Unable to complete operation for network %(net_id)s. The mac address "
               "%(mac)s is in use.")


class NoNetworkAvailable(exc.ServiceUnavailable):
    message = ("Unable to create the network. No tenant network is available for "
               "allocation.")


class OverQuota(exc.Conflict):
    message = "Quota exceeded for resources: %(overs)s."


class InvalidInput(exc.BadRequest):
    message = "Invalid input for operation: %(error_message)s."


class RevisionNumberConstraintFailed(exc.PreconditionFailed):
    message = ("Constrained to %(expected)s, but current revision is %(current)s")


# -- security groups, RBAC, quotas, agents ----------------------------------------------
class SecurityGroupRuleExists(exc.Conflict):
    message = "Security group rule already exists. Rule id is %(rule_id)s."


class SecurityGroupCannotRemoveDefault(exc.Conflict):
    message = "Removing default security group not allowed."


class SecurityGroupCannotUpdateDefault(exc.Conflict):
    message = "Updating default security group not allowed."


class SecurityGroupDefaultAlreadyExists(exc.Conflict):
    message = "Default security group already exists."


class SecurityGroupRuleInvalidProtocol(exc.BadRequest):
    message = ("Security group rule protocol %(protocol)s not supported. Only protocol "
               "values %(values)s and integer representations [0 to 255] are supported.")


class SecurityGroupRuleInvalidEtherType(exc.BadRequest):
    message = ("Security group rule for ethertype '%(ethertype)s' not supported. Allowed "
               "values are %(values)s.")


class SecurityGroupInvalidPortRange(exc.BadRequest):
    message = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupInvalidPortValue(exc.BadRequest):
    message = "Invalid value for port %(port)s"


class SecurityGroupInvalidIcmpValue(exc.BadRequest):
    message = ("Invalid value for ICMP %(field)s (%(attr)s) %(value)s. It must be 0 to "
               "255.")


class SecurityGroupMissingIcmpType(exc.BadRequest):
    message = ("ICMP code (port-range-max) %(value)s is provided but ICMP type "
               "(port-range-min) is missing.")


class SecurityGroupProtocolRequiredWithPorts(exc.BadRequest):
    message = "Must also specify protocol if port range is given."


class SecurityGroupInvalidProtocolForPort(exc.BadRequest):
    message = ("Invalid protocol %(protocol)s for port range, only supported for TCP, "
               "UDP, UDPLITE, SCTP and DCCP.")


class SecurityGroupMultipleRemoteEntites(exc.BadRequest):
    """Neutron's name (neutron/extensions/securitygroup.py, spelling included): a rule
    gives more than one of its three remotes."""
    message = ("Only one of remote_ip_prefix or remote_group_id or "
               "remote_address_group_id may be provided.")


class SecurityGroupRuleParameterConflict(exc.BadRequest):
    message = "Conflicting value ethertype %(ethertype)s for CIDR %(cidr)s"


class SecurityGroupEthertypeConflictWithProtocol(exc.BadRequest):
    message = "Invalid ethertype %(ethertype)s for protocol %(protocol)s."


class SecurityGroupNotSingleGroupRules(exc.BadRequest):
    message = "Only allowed to update rules for one security profile at a time"


class RbacPolicyNotFound(exc.NotFound):
    message = "RBAC policy with type %(object_type)s and id %(id)s not found"


class RbacPolicyInUse(exc.Conflict):
    message = ("RBAC policy on object %(object_id)s cannot be removed because other "
               "objects depend on it.\nDetails: %(details)s")


class DuplicateRbacPolicy(exc.Conflict):
    message = "An RBAC policy already exists with those values."


class InvalidQuotaValue(exc.Conflict):
    message = ("Change would make usage less than 0 for the following resources: "
               "%(unders)s.")


class QuotaResourceUnknown(exc.NotFound):
    message = "Unknown quota resources %(unknown)s."


class AgentNotFound(exc.NotFound):
    message = "Agent %(id)s could not be found."


# -- subnets, IPAM, ports, subnet pools, address scopes -------------------------------
class SubnetPoolNotFound(exc.NotFound):
    message = "Subnet pool %(id)s could not be found."


class AddressScopeNotFound(exc.NotFound):
    message = "Address scope %(id)s could not be found."


class InvalidIpForSubnet(exc.BadRequest):
    message = "IP address %(ip_address)s is not a valid IP for the specified subnet."


class InvalidIpForNetwork(exc.BadRequest):
    message = ("IP address %(ip_address)s is not a valid IP for any of the subnets on the "
               "specified network.")


class InvalidAllocationPool(exc.BadRequest):
    message = "The allocation pool %(pool)s is not valid."


class OutOfBoundsAllocationPool(exc.BadRequest):
    message = ("The allocation pool %(pool)s spans beyond the subnet cidr "
               "%(subnet_cidr)s.")


class OverlappingAllocationPools(exc.BadRequest):
    message = ("Found overlapping allocation pools: %(pool_1)s %(pool_2)s for subnet "
               "%(subnet_cidr)s.")


class GatewayConflictWithAllocationPools(exc.Conflict):
    message = "Gateway ip %(ip_address)s conflicts with allocation pool %(pool)s."


class GatewayIpInUse(exc.Conflict):
    message = ("Current gateway ip %(ip_address)s already in use by port %(port_id)s. "
               "Unable to update.")


class SubnetPoolInUse(exc.Conflict):
    message = "Subnet pool %(id)s in use: %(reason)s."


class AddressScopeInUse(exc.Conflict):
    message = ("Unable to complete operation on address scope %(id)s. There are one or "
               "more subnet pools in use on the address scope.")


class SubnetAllocationError(exc.Conflict):
    message = "Failed to allocate subnet: %(reason)s."


class IllegalSubnetPoolPrefixUpdate(exc.BadRequest):
    message = "Illegal update to prefixes: %(msg)s."


class PortSecurityAndIPRequiredForSecurityGroups(exc.BadRequest):
    message = ("Port security must be enabled and port must have an IP address in order "
               "to use security groups.")


class PortSecurityPortHasSecurityGroup(exc.Conflict):
    message = ("Port has security group associated. Cannot disable port security or IP "
               "address until security group is removed.")


class AddressPairAndPortSecurityRequired(exc.Conflict):
    message = ("Port Security must be enabled in order to have allowed address pairs on "
               "a port.")


class DuplicateAddressPairInRequest(exc.BadRequest):
    message = ("Request contains duplicate address pair: mac_address %(mac_address)s "
               "ip_address %(ip_address)s.")


class MacAddressGenerationFailure(exc.ServiceUnavailable):
    message = "Unable to generate unique mac on network %(net_id)s."


class PortBound(exc.Conflict):
    message = ("Unable to complete operation on port %(id)s, port is already bound to "
               "host %(host)s.")


# -- routers and floating IPs --------------------------------------------------------
class BadRequest(exc.BadRequest):
    message = "Bad %(resource)s request: %(msg)s."


class InvalidRoutes(exc.BadRequest):
    message = "Invalid format for routes: %(routes)s, %(reason)s"


class RouterInterfaceNotFound(exc.NotFound):
    message = "Router %(router_id)s does not have an interface with id %(port_id)s"


class RouterInterfaceNotFoundForSubnet(exc.NotFound):
    message = "Router %(router_id)s has no interface on subnet %(subnet_id)s"


class RouterInterfaceInUseByRoute(exc.Conflict):
    message = ("Router interface for subnet %(subnet_id)s on router %(router_id)s cannot "
               "be deleted, as it is required by one or more routes.")


class RouterInterfaceInUseByFloatingIP(exc.Conflict):
    message = ("Router interface for subnet %(subnet_id)s on router %(router_id)s cannot "
               "be deleted, as it is required by one or more floating IPs.")


class RouterExternalGatewayInUseByFloatingIp(exc.Conflict):
    message = ("Gateway cannot be updated for router %(router_id)s, since a gateway to "
               "external network %(net_id)s is required by one or more floating IPs.")


class SubnetMismatchForPort(exc.BadRequest):
    message = "Subnet on port %(port_id)s does not match the requested subnet %(subnet_id)s"


class ServicePortInUse(exc.Conflict):
    message = "Port %(port_id)s cannot be deleted directly via the port API: %(reason)s."


class ExternalGatewayForFloatingIPNotFound(exc.NotFound):
    message = ("External network %(external_network_id)s is not reachable from subnet "
               "%(subnet_id)s.  Therefore, cannot associate Port %(port_id)s with a "
               "Floating IP.")


class FloatingIPPortAlreadyAssociated(exc.Conflict):
    message = ("Cannot associate floating IP %(floating_ip_address)s (%(fip_id)s) with "
               "port %(port_id)s using fixed IP %(fixed_ip)s, as that fixed IP already has "
               "a floating IP on external network %(net_id)s.")


class ExternalIpAddressExhausted(exc.BadRequest):
    message = "Unable to find any IP address on external network %(net_id)s."
