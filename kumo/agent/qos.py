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
- ``packet_rate_limit`` (``max_kpps``; ``max_burst_kpps`` 0: a tenth of a second's
  packets, at least :data:`MIN_BURST_PACKETS`): in the same table, ``iifname <tap>
  limit rate over <N>/second burst <B> packets drop`` in chain ``pps_out`` (hook
  prerouting: ``egress``, from the instance) and ``oifname <tap> ...`` in chain
  ``pps_in`` (hook forward: ``ingress``, to the instance); each rule is its own token
  bucket. The table holds the rules of every marked or limited port and is rewritten
  atomically, deleted when no port needs it;
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
import re
import threading

from kumo.agent.dataplane import links, names, netns, tc
from kumo.agent.dataplane.netns import Host
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)
TABLE = "kumo_qos"
#: The smallest ``packet_rate_limit`` burst (packets) when ``max_burst_kpps`` is 0.
MIN_BURST_PACKETS = 10


def pps(max_kpps: int, max_burst_kpps: int | None) -> tuple[int, int]:
    """``(packets/second, burst packets)`` of a ``packet_rate_limit`` rule."""
    rate = int(max_kpps) * 1000
    burst = int(max_burst_kpps or 0) * 1000 or max(MIN_BURST_PACKETS, rate // 10)
    return rate, burst


def limits(rules: list[dict]) -> dict:
    """What a port's rules ask of the kernel: ``{"ingress": (kbps, burst_bytes) |
    None, "egress": ..., "dscp": mark | None, "pps_ingress": (packets/s, burst) |
    None, "pps_egress": ...}``."""
    out = {"ingress": None, "egress": None, "dscp": None, "pps_ingress": None,
           "pps_egress": None}
    for rule in rules or []:
        if rule.get("type") == "bandwidth_limit" and rule.get("max_kbps"):
            direction = rule.get("direction") or "egress"
            out[direction] = (int(rule["max_kbps"]),
                              tc.burst_bytes(int(rule["max_kbps"]),
                                             rule.get("max_burst_kbps")))
        elif rule.get("type") == "dscp_marking" and rule.get("dscp_mark") is not None:
            out["dscp"] = int(rule["dscp_mark"])
        elif rule.get("type") == "packet_rate_limit" and rule.get("max_kpps"):
            direction = rule.get("direction") or "egress"
            out[f"pps_{direction}"] = pps(rule["max_kpps"], rule.get("max_burst_kpps"))
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
        #: tap -> what our table holds for it (as last written): ``(DSCP mark | None,
        #: egress (rate, burst) | None, ingress (rate, burst) | None)``
        self._dscp: dict[str, tuple] = {}
        self._dscp_read = False

    def configurations(self) -> dict:
        return {"extensions": ["qos"],
                "qos_rule_types": ["bandwidth_limit", "dscp_marking", "packet_rate_limit"]}

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
        self._set_dscp({tap: _nft_want(want)})
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

    # -- DSCP and packet rates (the nftables table) ------------------------------------
    def _read_dscp(self) -> None:
        """Learn what our table holds (at first use and every resync)."""
        proc = netns.run(self.ns, ["nft", "list", "table", "bridge", TABLE], check=False)
        found: dict[str, list] = {}
        if proc.returncode == 0:
            for m in re.finditer(r'iifname "(\S+)" ip dscp set (\S+)', proc.stdout):
                found.setdefault(m.group(1), [None, None, None])[0] = _dscp_value(
                    m.group(2))
            for m in re.finditer(r'([io])ifname "(\S+)" limit rate over (\d+)/second '
                                 r'burst (\d+) packets drop', proc.stdout):
                slot = 1 if m.group(1) == "i" else 2
                found.setdefault(m.group(2), [None, None, None])[slot] = (
                    int(m.group(3)), int(m.group(4)))
        with self._lock:
            self._dscp = {t: tuple(v) for t, v in found.items()}
            self._dscp_read = True

    def _set_dscp(self, changes: dict[str, tuple | None]) -> None:
        """``changes``: tap -> ``(mark, egress pps, ingress pps)`` (see
        :func:`_nft_want`), None for nothing."""
        if not self._dscp_read:
            self._read_dscp()
        with self._lock:
            new = dict(self._dscp)
            for tap, want in changes.items():
                if want is None or want == (None, None, None):
                    new.pop(tap, None)
                else:
                    new[tap] = want
            if new == self._dscp:
                return
            netns.run(self.ns, ["nft", "-f", "-"], input=table_text(new))
            self._dscp = new


def _nft_want(want: dict) -> tuple | None:
    got = (want["dscp"], want["pps_egress"], want["pps_ingress"])
    return None if got == (None, None, None) else got


def table_text(ports: dict[str, tuple]) -> str:
    """The ``nft -f`` text replacing ``bridge kumo_qos`` with ``ports``' rules (tap ->
    ``(mark, egress (rate, burst), ingress (rate, burst))``), or deleting it when
    empty; one transaction either way."""
    text = f"table bridge {TABLE} {{}}\ndelete table bridge {TABLE}\n"
    if not ports:
        return text
    dscp = out = inn = ""
    for t, (mark, egress, ingress) in sorted(ports.items()):
        if mark is not None:
            dscp += (f'    iifname "{t}" ether type ip ip dscp set {mark}\n'
                     f'    iifname "{t}" ether type ip6 ip6 dscp set {mark}\n')
        if egress is not None:
            out += (f'    iifname "{t}" limit rate over {egress[0]}/second burst '
                    f'{egress[1]} packets drop\n')
        if ingress is not None:
            inn += (f'    oifname "{t}" limit rate over {ingress[0]}/second burst '
                    f'{ingress[1]} packets drop\n')
    return text + (
        f"table bridge {TABLE} {{\n"
        "  chain pps_out {\n    type filter hook prerouting priority -310; "
        f"policy accept;\n{out}  }}\n"
        "  chain dscp {\n    type filter hook prerouting priority -300; "
        f"policy accept;\n{dscp}  }}\n"
        "  chain pps_in {\n    type filter hook forward priority -300; "
        f"policy accept;\n{inn}  }}\n}}\n")


# -- floating IPs and router gateways (qos-fip, qos-gateway-ip) ------------------------

def address_limits(fips: list[dict], gateway: dict | None) -> dict[str, dict]:
    """What a router's floating IPs and gateway ask of its ``qg-`` device:
    ``{"egress": {address: (kbps, burst)}, "ingress": {...}}`` from their
    ``bandwidth_limit`` rules (``egress``: leaving the cloud from that address, after
    SNAT; ``ingress``: arriving for it, before DNAT). IPv4 only."""
    out: dict[str, dict] = {"egress": {}, "ingress": {}}
    items = [(f.get("floating_ip_address"), f.get("qos_rules")) for f in fips]
    if gateway:
        items += [(ip.get("ip_address"), gateway.get("qos_rules"))
                  for ip in gateway.get("fixed_ips") or []]
    for address, rules in items:
        if not address or ":" in address or not rules:
            continue
        want = limits(rules)
        for direction in ("egress", "ingress"):
            if want[direction] is not None:
                out[direction][address] = want[direction]
    return out


class GatewayQos:
    """Shapes a router's ``qg-`` device per address (the L3 driver calls :meth:`sync`
    for each router it realizes): an HTB class per limited floating IP or gateway
    address on ``qg-``'s egress (matched by source address), and for ``ingress`` the
    device's ingress redirected to an ifb ``qos<gateway port[:11]>`` in the router's
    namespace shaped the same way (matched by destination address; this kernel has no
    tc ``police``). Remembers what it applied per namespace and device (by interface
    index, so a ``qg-`` made again is shaped again), so an unchanged router costs one
    netlink lookup; after a restart, the first sync rebuilds what it finds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._applied: dict[tuple[str, str, int], dict] = {}

    def sync(self, ns: netns.Netns, qg: str, gw_port_id: str, fips: list[dict],
             gateway: dict | None) -> None:
        want = address_limits(fips, gateway)
        link = links.get_link(ns, qg)
        if link is None:
            return  # the L3 driver makes the leg first; the next sync shapes it
        key = (ns.path, qg, link.index)  # a leg made again starts unshaped
        with self._lock:
            if self._applied.get(key) == want:
                return
            known = key in self._applied
        ifb = names.qos_ifb(gw_port_id)
        if not want["egress"] and not want["ingress"] and not known:
            held = tc.qdiscs(ns, qg)  # after a restart: undo what an earlier run left
            if not held and links.get_link(ns, ifb) is None:
                with self._lock:
                    self._applied[key] = want
                return
        tc.shape_addresses(ns, qg, want["egress"], "src")
        if want["ingress"]:
            if not tc.redirected(ns, qg, ifb):
                tc.redirect(ns, qg, ifb)
            tc.shape_addresses(ns, ifb, want["ingress"], "dst")
        else:
            tc.unredirect(ns, qg, ifb)
        with self._lock:
            self._applied[key] = want

    def forget(self, ns_path: str) -> None:
        """A router namespace is gone (with its devices)."""
        with self._lock:
            for key in [k for k in self._applied if k[0] == ns_path]:
                del self._applied[key]


#: nft prints well-known DSCP values by name.
_DSCP_NAMES = {"cs0": 0, "cs1": 8, "af11": 10, "af12": 12, "af13": 14, "cs2": 16,
               "af21": 18, "af22": 20, "af23": 22, "cs3": 24, "af31": 26, "af32": 28,
               "af33": 30, "cs4": 32, "af41": 34, "af42": 36, "af43": 38, "cs5": 40,
               "ef": 46, "cs6": 48, "cs7": 56}


def _dscp_value(text: str) -> int:
    if text in _DSCP_NAMES:
        return _DSCP_NAMES[text]
    return int(text, 0)
