"""What this kernel and its tools can do, found by trying (ARCHITECTURE.md, Style 5).

:func:`probe` creates a scratch namespace ``kumo-probe-<hex>``, tries each feature in it
(creating a device, loading a ruleset, adding a qdisc) and always removes the namespace.
Nothing is created in the host's own namespace; the only lasting effect can be the kernel
loading a module on demand (e.g. ``br_netfilter`` via ``modprobe``), as Neutron's probes
do. The agent reports the result with :func:`format_features`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from typing import Callable

from kumo.agent.dataplane import links, nft
from kumo.agent.dataplane import netns as _netns
from kumo.agent.dataplane.errors import KumoDataplaneError
from kumo.agent.dataplane.netns import Host, Netns


@dataclass(frozen=True)
class Feature:
    """One probe's result: ``ok`` and, in words, ``reason`` (the error when not ok)."""

    ok: bool
    reason: str


def _ip(ns: Netns, *args: str) -> None:
    _netns.run(ns, ["ip", *args], timeout=10)


def _tc(ns: Netns, *args: str) -> None:
    _netns.run(ns, ["tc", *args], timeout=10)


def _veth(ns: Netns) -> str:
    links.ensure_veth(ns, "kp0", "kp1")
    return "veth pair created"


def _bridge(ns: Netns) -> str:
    links.ensure_bridge(ns, "kpbr0")
    links.set_master(ns, "kp1", "kpbr0")
    return "bridge created, port attached"


def _vxlan(ns: Netns) -> str:
    links.ensure_address(ns, "kp0", "198.18.0.1/24")
    links.ensure_vxlan(ns, "kpvx0", 4242, "198.18.0.1", dev="kp0", master="kpbr0")
    links.ensure_fdb_flood(ns, "kpvx0", "198.18.0.2")
    links.ensure_fdb(ns, "kpvx0", "fa:16:3e:00:00:01", "198.18.0.2")
    links.ensure_neigh(ns, "kpvx0", "198.18.1.2", "fa:16:3e:00:00:01")
    if links.get_link(ns, "kpvx0").vxlan["learning"]:
        raise KumoDataplaneError("vxlan nolearning", "learning stayed on")
    return "VXLAN (nolearning, port 4789) with static FDB and neighbour entries"


def _nft_inet_ct(ns: Netns) -> str:
    nft.replace_table(ns, "inet", "kumo_probe", chains=[
        nft.Chain("input", type="filter", hook="input", policy="accept")],
        sets=[nft.Set("s", "ipv4_addr", flags=["interval"])],
        rules=[nft.Rule("input", [nft.ct_state("established", "related"),
                                  nft.accept()]),
               nft.Rule("input", [nft.saddr("@s"), nft.counter(), nft.drop()])])
    nft.add_elements(ns, "inet", "kumo_probe", "s", [nft.addr("10.0.0.0/8")])
    return "inet table with ct state and an interval set"


def _nft_nat(ns: Netns) -> str:
    nft.replace_table(ns, "inet", "kumo_probe_nat", chains=[
        nft.Chain("post", type="nat", hook="postrouting", prio=100),
        nft.Chain("pre", type="nat", hook="prerouting", prio=-100)],
        rules=[nft.Rule("post", [nft.saddr("10.0.0.0/24"), nft.snat("198.18.0.1")]),
               nft.Rule("post", [nft.saddr("10.1.0.0/24"), nft.masquerade()]),
               nft.Rule("pre", [nft.daddr("198.18.0.5"), nft.dnat("10.0.0.5")])])
    return "snat, dnat and masquerade in an inet nat table"


def _bridge_table(ns: Netns, expr: list) -> None:
    nft.replace_table(ns, "bridge", "kumo_probe_br", chains=[
        nft.Chain("fwd", type="filter", hook="forward", policy="accept")],
        rules=[nft.Rule("fwd", expr)])


def _nft_bridge(ns: Netns) -> str:
    _bridge_table(ns, [nft.iifname("kp1"), nft.counter(),
                       {"mangle": {"key": nft.meta("mark"), "value": 1}}])
    return "bridge family table marking packets per port"


def _nft_bridge_ct(ns: Netns) -> str:
    _bridge_table(ns, [nft.ct_state("established", "related"), nft.accept()])
    return "ct state in the bridge family"


def _nft_netdev(ns: Netns) -> str:
    nft.replace_table(ns, "netdev", "kumo_probe_nd", chains=[])
    nft.apply(ns, [{"add": {"chain": {
        "family": "netdev", "table": "kumo_probe_nd", "name": "ingress", "type": "filter",
        "hook": "ingress", "dev": "kp0", "prio": 0, "policy": "accept"}}}])
    return "netdev family ingress chain"


def _br_netfilter(ns: Netns) -> str:
    key = "net.bridge.bridge-nf-call-iptables"
    try:
        links.get_sysctl(ns, key)
    except KumoDataplaneError:
        if not shutil.which("modprobe"):
            raise
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, timeout=10)
    links.set_sysctl(ns, key, 1)
    return "br_netfilter present (bridge-nf-call-iptables settable per namespace)"


def _ct_zones(ns: Netns) -> str:
    nft.replace_table(ns, "inet", "kumo_probe_raw", chains=[
        nft.Chain("pre", type="filter", hook="prerouting", prio=-300)],
        rules=[nft.Rule("pre", [nft.iifname("kp0"),
                                {"mangle": {"key": {"ct": {"key": "zone"}}, "value": 1}}])])
    return "ct zone set in a raw prerouting chain"


def _tc_htb(ns: Netns) -> str:
    _tc(ns, "qdisc", "add", "dev", "kp0", "root", "handle", "1:", "htb", "default", "10")
    _tc(ns, "class", "add", "dev", "kp0", "parent", "1:", "classid", "1:10", "htb",
        "rate", "10mbit", "ceil", "20mbit")
    return "htb qdisc and class"


def _tc_police(ns: Netns) -> str:
    _tc(ns, "qdisc", "add", "dev", "kp1", "ingress")
    _tc(ns, "filter", "add", "dev", "kp1", "parent", "ffff:", "protocol", "all", "u32",
        "match", "u32", "0", "0", "action", "police", "rate", "1mbit", "burst", "10k",
        "drop")
    return "police action on ingress (u32 filter)"


def _tc_mirred(ns: Netns) -> str:
    _tc(ns, "qdisc", "replace", "dev", "kp0", "ingress")
    _tc(ns, "filter", "add", "dev", "kp0", "parent", "ffff:", "protocol", "all", "u32",
        "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev",
        "kpifb0")
    return "u32 filter redirecting ingress to an ifb device (mirred)"


def _ifb(ns: Netns) -> str:
    _ip(ns, "link", "add", "kpifb0", "type", "ifb")
    return "ifb device"


def _kind(kind: str, *args: str) -> Callable[[Netns], str]:
    def probe(ns: Netns) -> str:
        _ip(ns, "link", "add", *args)
        return f"{kind} device"
    return probe


PROBES: dict[str, Callable[[Netns], str]] = {
    "veth": _veth,
    "bridge": _bridge,
    "vxlan_nolearning": _vxlan,
    "nft_inet_ct": _nft_inet_ct,
    "nft_nat": _nft_nat,
    "nft_bridge": _nft_bridge,
    "nft_bridge_ct": _nft_bridge_ct,
    "nft_netdev": _nft_netdev,
    "br_netfilter": _br_netfilter,
    "conntrack_zones": _ct_zones,
    "tc_htb": _tc_htb,
    "tc_police": _tc_police,
    "ifb": _ifb,
    "tc_mirred_ifb": _tc_mirred,
    "vlan": _kind("8021q VLAN", "link", "kp0", "name", "kpvl0", "type", "vlan", "id", "10"),
    "gre": _kind("GRE tap", "kpgre0", "type", "gretap", "local", "198.18.0.1",
                 "remote", "198.18.0.2"),
    "geneve": _kind("GENEVE", "kpgnv0", "type", "geneve", "id", "10", "remote",
                    "198.18.0.2"),
}
"""Feature name -> probe. Probes run in this order in one namespace; later ones use
the devices earlier ones made (``kp0``/``kp1`` veth, ``kpbr0`` bridge)."""


def probe(host: Host | None = None) -> dict[str, Feature]:
    """Try every feature in :data:`PROBES` inside a scratch namespace of ``host``
    (default: the machine), removed afterwards whatever happens. Returns
    ``{feature: Feature(ok, reason)}``; a probe's failure is a result, not an error.
    Raises :class:`KumoDataplaneError` only if the scratch namespace cannot be made."""
    host = host or Host()
    name = f"kumo-probe-{uuid.uuid4().hex[:8]}"
    out: dict[str, Feature] = {}
    try:
        ns = _netns.ensure_netns(host, name)
        for feature, fn in PROBES.items():
            try:
                out[feature] = Feature(True, fn(ns))
            except (KumoDataplaneError, OSError) as e:
                out[feature] = Feature(False, "; ".join(str(e).splitlines()))
    finally:
        _netns.delete_netns(host, name)
    return out


def format_features(features: dict[str, Feature]) -> str:
    """One line per feature: ``name  yes|NO  reason`` (for logs and ``kumo agent``)."""
    width = max((len(k) for k in features), default=0)
    return "\n".join(f"{k:<{width}}  {'yes' if f.ok else 'NO ':<3}  {f.reason}"
                     for k, f in features.items())


if __name__ == "__main__":  # python -m kumo.agent.dataplane.features
    if os.geteuid() != 0:
        raise SystemExit("probing needs root")
    print(format_features(probe()))
