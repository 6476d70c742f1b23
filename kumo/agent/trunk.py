"""Trunks on the data plane: the driver (registry name ``trunk``) that plays the part of
Neutron's Linux bridge trunk driver.

For a parent port bound to its host, from the feed's ``trunk_details``
(:mod:`kumo.network.trunks`), each sub-port becomes an 802.1Q device on the parent's
tap, named as the sub-port's own tap (``tap<subport[:11]>``, the sub-port's MAC, the
segmentation id as VLAN id). The sub-ports are bound to the same host, so the L2
driver plugs those devices into their networks' bridges and reports them ``ACTIVE``
like any tap: frames the instance sends tagged on the parent's NIC come out untagged on
the sub-port's network, and back. Devices of sub-ports removed go.

Whether this kernel can do it is probed once (:func:`kumo.agent.dataplane.vlan.probe`;
``vlan=False`` forces it off, for tests) and reported in the heartbeat as
``configurations["trunk"] = {"vlan": bool, "reason": str}``: where it cannot, the
driver does nothing and the API shows trunks with sub-ports here ``DEGRADED`` (their
sub-ports stay ``DOWN``), with the reason in ``openstack network agent show``.
"""
from __future__ import annotations

import logging

from kumo.agent.dataplane import links, names, vlan
from kumo.agent.dataplane.features import Feature
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)


@register_driver("trunk")
class TrunkDriver(Driver):
    name = "trunk"
    agent_type = "Linux bridge agent"
    binary = "neutron-linuxbridge-agent"
    kinds = ("ports",)

    def __init__(self, host: str, settings=None, *, where: Host | None = None,
                 vlan: bool | None = None, **_):
        self.host = host
        self.where = where or Host()
        self.ns = self.where.root
        self._vlan: Feature | None = (None if vlan is None else Feature(
            vlan, "802.1Q VLAN devices" if vlan else "VLAN devices turned off"))

    @property
    def vlan(self) -> Feature:
        if self._vlan is None:
            self._vlan = vlan.probe(self.where)
            if not self._vlan.ok:
                LOG.warning("%s: trunks are DEGRADED here: %s", self.host,
                            self._vlan.reason)
        return self._vlan

    def configurations(self) -> dict:
        return {"trunk": {"vlan": self.vlan.ok, "reason": self.vlan.reason}}

    def reconcile(self, desired: dict, revision: int):
        port = desired["object"]
        if not self.vlan.ok:
            return None
        parent = names.tap(desired["id"])
        mine = port is not None and port.get("binding:host_id") == self.host
        details = (port or {}).get("trunk_details") if mine else None
        want = {names.tap(s["port_id"]): (s["segmentation_id"], s.get("mac_address"))
                for s in (details or {}).get("sub_ports", [])
                if s.get("segmentation_type") == "vlan"}
        if links.get_link(self.ns, parent) is None:
            return None
        for name in set(vlan.children(self.ns, parent)) - set(want):
            LOG.info("%s: removing sub-port device %s", self.host, name)
            links.delete_link(self.ns, name)
        for name, (vid, mac) in sorted(want.items()):
            vlan.ensure(self.ns, parent, name, vid, mac)
        return None

    def cleanup_orphans(self, desired: dict) -> None:
        if not self.vlan.ok:
            return
        wanted = set()
        for p in desired.get("ports", []):
            if p.get("binding:host_id") == self.host and p.get("trunk_details"):
                wanted |= {names.tap(s["port_id"]) for s in p["trunk_details"]["sub_ports"]}
        for lk in links.scan_links(self.ns).values():
            if lk.kind == "vlan" and lk.name.startswith(names.TAP) and lk.name not in wanted:
                LOG.info("%s: removing orphan sub-port device %s", self.host, lk.name)
                links.delete_link(self.ns, lk.name)
