"""Kernel object names derived from ids, exactly as Neutron names them.

Linux limits interface names to 15 characters, hence the 11-character id prefixes
(``tap`` + 11 = 14). Cleanup of orphans deletes only objects for which :func:`is_ours`
is true, never anything else and never by process name.
"""
from __future__ import annotations

ID_LEN = 11
IFNAME_MAX = 15

ROUTER_NS = "qrouter-"
DHCP_NS = "qdhcp-"
TAP = "tap"
ROUTER_INTERFACE = "qr-"
ROUTER_GATEWAY = "qg-"
BRIDGE = "brq"
VXLAN = "vxlan-"
HA = "ha-"
# DVR (kumo.agent.dvr): namespaces and legs, as Neutron names them
FIP_NS = "fip-"
SNAT_NS = "snat-"
FIP_GATEWAY = "fg-"
SNAT_LEG = "sg-"
ROUTER_TO_FIP = "rfp-"
FIP_TO_ROUTER = "fpr-"

QOS = "qos"
#: Tap-as-a-Service: the VXLAN device carrying a tap service's mirrored traffic
#: between hosts (kumo.agent.taas)
TAAS_TUNNEL = "tsv"

NETNS_PREFIXES = (ROUTER_NS, DHCP_NS, FIP_NS, SNAT_NS)
LINK_PREFIXES = (TAP, ROUTER_INTERFACE, ROUTER_GATEWAY, BRIDGE, VXLAN, HA, FIP_GATEWAY,
                 SNAT_LEG, ROUTER_TO_FIP, FIP_TO_ROUTER, QOS, TAAS_TUNNEL)


def router_ns(router_id: str) -> str:
    """``qrouter-<router_id>``: the router's namespace."""
    return ROUTER_NS + router_id


def dhcp_ns(network_id: str) -> str:
    """``qdhcp-<network_id>``: the network's DHCP namespace."""
    return DHCP_NS + network_id


def tap(port_id: str) -> str:
    """``tap<port_id[:11]>``: an instance's (or DHCP port's) device."""
    return TAP + port_id[:ID_LEN]


def router_interface(port_id: str) -> str:
    """``qr-<port_id[:11]>``: a router leg on an internal subnet."""
    return ROUTER_INTERFACE + port_id[:ID_LEN]


def router_gateway(port_id: str) -> str:
    """``qg-<port_id[:11]>``: a router's leg on the external network."""
    return ROUTER_GATEWAY + port_id[:ID_LEN]


def bridge(network_id: str) -> str:
    """``brq<network_id[:11]>``: the network's bridge on a host."""
    return BRIDGE + network_id[:ID_LEN]


def vxlan(vni: int) -> str:
    """``vxlan-<vni>``: the VXLAN device of segmentation id ``vni`` (1..16777215)."""
    if not 0 < int(vni) < 1 << 24:
        raise ValueError(f"VNI out of range: {vni}")
    return f"{VXLAN}{int(vni)}"


def ha(port_id: str) -> str:
    """``ha-<port_id[:11]>``: an HA router's keepalived leg."""
    return HA + port_id[:ID_LEN]


def qos_ifb(port_id: str) -> str:
    """``qos<port_id[:11]>``: the ifb device shaping what a port's instance sends
    (:mod:`kumo.agent.qos`)."""
    return QOS + port_id[:ID_LEN]


def taas_tunnel(vni: int) -> str:
    """``tsv<vni>``: the VXLAN device of a tap service's mirrored traffic."""
    return f"{TAAS_TUNNEL}{vni}"


def is_ours(name: str) -> bool:
    """Whether a namespace or link name carries one of our prefixes (and, for links,
    fits an interface name). Orphan cleanup deletes only such objects."""
    if name.startswith(NETNS_PREFIXES):
        return len(name) > len(next(p for p in NETNS_PREFIXES if name.startswith(p)))
    if len(name) > IFNAME_MAX:
        return False
    for prefix in LINK_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = name[len(prefix):]
            return rest.isdigit() if prefix == VXLAN else True
    return False


#: nftables tables Kumo makes in a host's namespace: ``kumo_sg`` (security groups),
#: ``kumo-uplink-guard`` (``kumo up``), ``kumo_probe*`` (feature probes).
TABLE_PREFIXES = ("kumo_", "kumo-")


def is_our_table(name: str) -> bool:
    """Whether an nftables table in a host's namespace is one of ours (by name)."""
    return name.startswith(TABLE_PREFIXES) and len(name) > len("kumo_")
