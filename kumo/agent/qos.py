"""QoS on the data plane: the driver (registry name ``qos``) that plays the part of
Neutron's Linux bridge agent QoS extension (``[agent] extensions = qos``).

For every port bound to its host, from the feed's ``qos_rules`` (the port's effective
policy: its own, else its network's; :meth:`kumo.network.qos.Qos.annotate`):

- ``bandwidth_limit`` ``ingress`` (to the instance): HTB on the tap's egress;
  ``egress`` (from the instance): the tap's ingress redirected to an ifb device
  ``qos<port[:11]>`` shaped by HTB (:mod:`kumo.agent.dataplane.tc`; this kernel has no
  tc ``police``). ``max_burst_kbps`` 0 means 80% of the rate, as Neutron's default;
- ``dscp_marking``: the nftables table ``bridge kumo_qos`` (chain ``dscp``, hook
  prerouting) sets ``ip dscp``/``ip6 dscp`` on what enters the bridge from the tap;
  the table holds one pair of rules per marked port and is rewritten atomically,
  deleted when no port is marked;
- ``minimum_bandwidth``: nothing (as Neutron's Linux bridge and OVS agents: a
  placement-only guarantee).

A port losing its policy (or its rules, or its binding here, or deleted) loses all of
it: the HTB root, the ingress redirect, the ifb device and its DSCP rules. A port whose
tap does not exist yet is left alone (the L2 driver's link watch requeues it when the
tap appears). :meth:`QosDriver.cleanup_orphans` removes ifb devices ``qos*`` and DSCP
rules of ports no longer desired here.
"""
from __future__ import annotations

import logging
import threading

from kumo.agent.dataplane import links, names, netns, tc
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)
TABLE = "kumo_qos"


def limits(rules: list[dict]) -> dict:
    """What a port's rules ask of the kernel: ``{"ingress": (kbps, burst_bytes) |
    None, "egress": ..., "dscp": mark | None}``."""
    out = {"ingress": None, "egress": None, "dscp": None}
    for rule in rules or []:
        if rule.get("type") == "bandwidth_limit" and rule.get("max_kbps"):
            direction = rule.get("direction") or "egress"
            out[direction] = (int(rule["max_kbps"]),
                              tc.burst_bytes(int(rule["max_kbps"]),
                                             rule.get("max_burst_kbps")))
        elif rule.get("type") == "dscp_marking" and rule.get("dscp_mark") is not None:
            out["dscp"] = int(rule["dscp_mark"])
    return out


@register_driver("qos")
class QosDriver(Driver):
    name = "qos"
    agent_type = "Linux bridge agent"
    binary = "neutron-linuxbridge-agent"
    kinds = ("ports",)

    def __init__(self, host: str, settings=None, *, where: Host | None = None, **_):
        self.host = host
        self.where = where or Host()
        self.ns = self.where.root
        self._lock = threading.Lock()
        #: tap -> DSCP mark of the rules in our table (as last written)
        self._dscp: dict[str, int] = {}
        self._dscp_read = False

    def configurations(self) -> dict:
        return {"extensions": ["qos"],
                "qos_rule_types": ["bandwidth_limit", "dscp_marking"]}

    # -- the contract --------------------------------------------------------------
    def reconcile(self, desired: dict, revision: int):
        port_id = desired["id"]
        port = desired["object"]
        mine = port is not None and port.get("binding:host_id") == self.host
        want = limits(port.get("qos_rules") if mine else [])
        tap = names.tap(port_id)
        ifb = names.qos_ifb(port_id)
        if links.get_link(self.ns, tap) is None:
            if want["egress"] is None and links.get_link(self.ns, ifb) is not None:
                links.delete_link(self.ns, ifb)
            self._set_dscp({tap: None})
            return None
        self._bandwidth(tap, ifb, want)
        self._set_dscp({tap: want["dscp"]})
        return None

    def cleanup_orphans(self, desired: dict) -> None:
        wanted = {names.tap(p["id"]): p for p in desired.get("ports", [])
                  if p.get("binding:host_id") == self.host and p.get("qos_rules")}
        for lk in links.scan_links(self.ns).values():
            if lk.name.startswith(names.QOS) and names.is_ours(lk.name):
                tap = names.TAP + lk.name[len(names.QOS):]
                if tap not in wanted or limits(wanted[tap]["qos_rules"])["egress"] is None:
                    LOG.info("%s: removing orphan %s", self.host, lk.name)
                    links.delete_link(self.ns, lk.name)
        self._read_dscp()
        with self._lock:
            stale = {t: None for t in self._dscp if t not in wanted}
        if stale:
            self._set_dscp(stale)

    # -- bandwidth -----------------------------------------------------------------
    def _bandwidth(self, tap: str, ifb: str, want: dict) -> None:
        if want["ingress"] is None and want["egress"] is None:
            # the common case (no limit): one netlink request, no process
            held = tc.qdiscs(self.ns, tap)
            if "htb" in held:
                tc.unshape(self.ns, tap)
            if "ingress" in held or links.get_link(self.ns, ifb) is not None:
                tc.unredirect(self.ns, tap, ifb)
            return
        ingress = want["ingress"]  # to the instance: the tap's egress
        if ingress is None:
            tc.unshape(self.ns, tap)
        elif tc.shaped(self.ns, tap) != ingress:
            tc.shape(self.ns, tap, *ingress)
        egress = want["egress"]  # from the instance: the tap's ingress, via the ifb
        if egress is None:
            tc.unredirect(self.ns, tap, ifb)
            return
        if not tc.redirected(self.ns, tap, ifb):
            tc.redirect(self.ns, tap, ifb)
        if tc.shaped(self.ns, ifb) != egress:
            tc.shape(self.ns, ifb, *egress)

    # -- DSCP ----------------------------------------------------------------------
    def _read_dscp(self) -> None:
        """Learn the marks in our table (at first use and every resync)."""
        proc = netns.run(self.ns, ["nft", "list", "table", "bridge", TABLE], check=False)
        found: dict[str, int] = {}
        if proc.returncode == 0:
            import re
            for m in re.finditer(r'iifname "(\S+)" ip dscp set (\S+)', proc.stdout):
                found[m.group(1)] = _dscp_value(m.group(2))
        with self._lock:
            self._dscp = found
            self._dscp_read = True

    def _set_dscp(self, changes: dict[str, int | None]) -> None:
        if not self._dscp_read:
            self._read_dscp()
        with self._lock:
            new = dict(self._dscp)
            for tap, mark in changes.items():
                if mark is None:
                    new.pop(tap, None)
                else:
                    new[tap] = mark
            if new == self._dscp:
                return
            if new:
                rules = "".join(
                    f'    iifname "{t}" ether type ip ip dscp set {m}\n'
                    f'    iifname "{t}" ether type ip6 ip6 dscp set {m}\n'
                    for t, m in sorted(new.items()))
                text = (f"table bridge {TABLE} {{}}\ndelete table bridge {TABLE}\n"
                        f"table bridge {TABLE} {{\n  chain dscp {{\n"
                        "    type filter hook prerouting priority -300; policy accept;\n"
                        f"{rules}  }}\n}}\n")
            else:
                text = f"table bridge {TABLE} {{}}\ndelete table bridge {TABLE}\n"
            netns.run(self.ns, ["nft", "-f", "-"], input=text)
            self._dscp = new


#: nft prints well-known DSCP values by name.
_DSCP_NAMES = {"cs0": 0, "cs1": 8, "af11": 10, "af12": 12, "af13": 14, "cs2": 16,
               "af21": 18, "af22": 20, "af23": 22, "cs3": 24, "af31": 26, "af32": 28,
               "af33": 30, "cs4": 32, "af41": 34, "af42": 36, "af43": 38, "cs5": 40,
               "ef": 46, "cs6": 48, "cs7": 56}


def _dscp_value(text: str) -> int:
    if text in _DSCP_NAMES:
        return _DSCP_NAMES[text]
    return int(text, 0)
