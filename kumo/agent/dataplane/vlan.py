"""802.1Q VLAN devices for trunks (:mod:`kumo.agent.trunk`): the probe, and the
sub-interfaces on a parent port's tap.

This kernel may be built without 802.1Q (no ``8021q``, no ``vlan`` link kind, no tc
``vlan`` action, no bridge VLAN filtering); :func:`probe` finds out by trying, in a
scratch namespace removed afterwards, as :mod:`kumo.agent.dataplane.features` does.
"""
from __future__ import annotations

import uuid

from kumo.agent.dataplane import links, netns
from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.dataplane.features import Feature
from kumo.agent.dataplane.netns import Host, Netns


def probe(host: Host | None = None) -> Feature:
    """Whether a VLAN device can be made here: ``Feature(ok, reason)``."""
    host = host or Host()
    name = f"kumo-probe-{uuid.uuid4().hex[:8]}"
    try:
        ns = netns.ensure_netns(host, name)
        links.ensure_veth(ns, "kp0", "kp1")
        netns.run(ns, ["ip", "link", "add", "link", "kp0", "name", "kp0.10", "type",
                       "vlan", "id", "10"], timeout=10)
        return Feature(True, "802.1Q VLAN devices")
    except (KumoDataplaneError, OSError) as e:
        return Feature(False, "this kernel cannot make 802.1Q VLAN devices: "
                       + "; ".join(str(e).splitlines()))
    finally:
        netns.delete_netns(host, name)


def children(ns: Netns, parent: str) -> dict[str, int]:
    """The VLAN devices on ``parent``: ``{name: vlan id}`` (empty if it is absent)."""
    out: dict[str, int] = {}
    with netns.shared_ipr(ns) as ipr:
        found = ipr.link_lookup(ifname=parent)
        if not found:
            return out
        for msg in ipr.get_links():
            info = msg.get_attr("IFLA_LINKINFO")
            if not info or info.get_attr("IFLA_INFO_KIND") != "vlan":
                continue
            if msg.get_attr("IFLA_LINK") != found[0]:
                continue
            data = info.get_attr("IFLA_INFO_DATA")
            out[msg.get_attr("IFLA_IFNAME")] = data.get_attr("IFLA_VLAN_ID") if data else 0
    return out


def ensure(ns: Netns, parent: str, name: str, vid: int, mac: str | None) -> None:
    """A VLAN device ``name`` with id ``vid`` on ``parent`` (re-made when its id
    differs), with ``mac``, up."""
    held = children(ns, parent)
    if held.get(name) == vid:
        return
    if links.get_link(ns, name) is not None:
        links.delete_link(ns, name)
    argv = ["ip", "link", "add", "link", parent, "name", name]
    if mac:
        argv += ["address", mac]
    netns.run(ns, argv + ["type", "vlan", "id", str(vid)], timeout=10)
    links.set_up(ns, name)
