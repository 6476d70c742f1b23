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
