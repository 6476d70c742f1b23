"""Traffic shaping with ``tc`` (iproute2) for QoS bandwidth limits (:mod:`kumo.agent.qos`).

The kernel here has no ``police`` action (see :mod:`kumo.agent.dataplane.features`),
so both directions are shaped with an HTB class:

- **to the instance** (Neutron ``ingress``): an HTB root qdisc ``1:`` on the host leg
  (``tap...``), whose egress is what the instance receives, with one class ``1:1``
  (rate = ceil = ``max_kbps``, burst and cburst from ``max_burst_kbps``);
- **from the instance** (Neutron ``egress``): what the instance sends arrives at the
  tap's ingress, where only policing exists; so an ``ingress`` qdisc with a u32
  match-all filter redirects it (``mirred egress redirect``) to an ``ifb`` device
  ``qos<port[:11]>`` whose root qdisc is the same HTB shaper; the ifb hands the packets
  back to the tap's receive path, so bridging and the firewall see them as before.

Every function reads nothing back: :func:`shaped` says what a device holds (our HTB
``1:`` root and its class rate), so the driver compares and changes only what differs.
"""
from __future__ import annotations

import re

from kumo.agent.dataplane import links, netns
from kumo.agent.dataplane.netns import Netns

#: Neutron's default burst for TCP when ``max_burst_kbps`` is 0: 80% of the rate.
DEFAULT_BURST = 0.8
#: HTB's smallest useful burst (bytes): at least an MTU-sized packet, a few of them.
MIN_BURST_BYTES = 16 * 1514


def _tc(ns: Netns, *args: str, check: bool = True):
    return netns.run(ns, ["tc", *args], check=check, timeout=10)


def qdiscs(ns: Netns, dev: str) -> set[str]:
    """The kinds of ``dev``'s qdiscs that are ours to undo (``"htb"`` for an HTB root
    with handle ``1:``, ``"ingress"``), by netlink (no process): cheap enough to ask for
    every port on every reconcile. Empty when the device does not exist."""
    out: set[str] = set()
    with netns.shared_ipr(ns) as ipr:
        found = ipr.link_lookup(ifname=dev)
        if not found:
            return out
        for msg in ipr.get_qdiscs(index=found[0]):
            kind = msg.get_attr("TCA_KIND")
            if kind == "ingress":
                out.add("ingress")
            elif kind == "htb" and msg["handle"] == 0x10000:
                out.add("htb")
    return out


def burst_bytes(max_kbps: int, max_burst_kbps: int | None) -> int:
    """The HTB burst in bytes of a rule (``max_burst_kbps`` is kilobits; 0: 80% of the
    rate's kilobits)."""
    kbits = max_burst_kbps or int(max_kbps * DEFAULT_BURST)
    return max(MIN_BURST_BYTES, kbits * 1000 // 8)


def shaped(ns: Netns, dev: str) -> tuple[int, int] | None:
    """``(rate_kbit, burst_bytes)`` of our HTB class ``1:1`` on ``dev``, None when the
    device has no such class (or does not exist)."""
    proc = _tc(ns, "-d", "class", "show", "dev", dev, check=False)
    if proc.returncode != 0:
        return None
    m = re.search(r"class htb 1:1 .*?rate (\S+) ceil \S+ .*?burst (\S+)", proc.stdout,
                  re.S)
    if not m:
        return None
    return _bits(m.group(1)) // 1000, _bytes(m.group(2))


def _bits(text: str) -> int:
    m = re.match(r"([\d.]+)([KMG]?)bit", text)
    if not m:
        return 0
    return int(float(m.group(1)) * {"": 1, "K": 10 ** 3, "M": 10 ** 6,
                                     "G": 10 ** 9}[m.group(2)])


def _bytes(text: str) -> int:
    m = re.match(r"([\d.]+)([KMG]?)b", text)
    if not m:
        return 0
    return int(float(m.group(1)) * {"": 1, "K": 1024, "M": 1024 ** 2,
                                     "G": 1024 ** 3}[m.group(2)])


def shape(ns: Netns, dev: str, kbps: int, burst: int) -> None:
    """Make ``dev``'s egress an HTB shaper at ``kbps`` kilobits/s with ``burst`` bytes
    (HTB cannot change a qdisc in place: the root is made once, the class changed)."""
    if "htb" not in qdiscs(ns, dev):
        _tc(ns, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default",
            "1")
    _tc(ns, "class", "replace", "dev", dev, "parent", "1:", "classid", "1:1", "htb",
        "rate", f"{kbps}kbit", "ceil", f"{kbps}kbit", "burst", str(burst),
        "cburst", str(burst))


def unshape(ns: Netns, dev: str) -> None:
    """Remove ``dev``'s root qdisc if it is our HTB ``1:`` (nothing if absent)."""
    proc = _tc(ns, "qdisc", "show", "dev", dev, "root", check=False)
    if proc.returncode == 0 and "htb 1:" in proc.stdout:
        _tc(ns, "qdisc", "del", "dev", dev, "root", check=False)


def redirected(ns: Netns, dev: str, ifb: str) -> bool:
    """Whether ``dev``'s ingress is redirected to ``ifb``."""
    proc = _tc(ns, "filter", "show", "dev", dev, "parent", "ffff:", check=False)
    return proc.returncode == 0 and f"redirect to device {ifb})" in proc.stdout


def redirect(ns: Netns, dev: str, ifb: str) -> None:
    """``ifb`` (made and up if missing) receives what arrives at ``dev``."""
    if links.get_link(ns, ifb) is None:
        netns.run(ns, ["ip", "link", "add", ifb, "type", "ifb"], timeout=10)
    links.set_up(ns, ifb)
    _tc(ns, "qdisc", "replace", "dev", dev, "handle", "ffff:", "ingress")
    _tc(ns, "filter", "replace", "dev", dev, "parent", "ffff:", "protocol", "all",
        "prio", "1", "handle", "800::800", "u32", "match", "u32", "0", "0",
        "action", "mirred", "egress", "redirect", "dev", ifb)


def unredirect(ns: Netns, dev: str, ifb: str) -> None:
    """Undo :func:`redirect` (the tap's ingress qdisc and the ifb device go)."""
    proc = _tc(ns, "qdisc", "show", "dev", dev, "ingress", check=False)
    if proc.returncode == 0 and "ingress ffff:" in proc.stdout:
        _tc(ns, "qdisc", "del", "dev", dev, "ingress", check=False)
    if links.get_link(ns, ifb) is not None:
        links.delete_link(ns, ifb)


def shape_addresses(ns: Netns, dev: str, limits: dict[str, tuple[int, int]],
                    match: str) -> None:
    """Make ``dev``'s egress an HTB ``1:`` whose classes ``1:<n>`` (rate = ceil =
    ``kbps``, ``burst`` bytes) each take the IPv4 packets whose ``match`` (``src`` or
    ``dst``) is one address of ``limits`` (``{address: (kbps, burst)}``); other packets
    are not classified and pass unshaped (HTB without ``default``). Rebuilt whole (the
    root replaced), one ``tc -batch``; an empty ``limits`` removes our root."""
    lines = []
    if "htb" in qdiscs(ns, dev):
        lines.append(f"qdisc del dev {dev} root")
    if limits:
        lines.append(f"qdisc add dev {dev} root handle 1: htb")
        for n, (address, (kbps, burst)) in enumerate(sorted(limits.items()), start=1):
            lines.append(f"class add dev {dev} parent 1: classid 1:{n:x} htb rate "
                         f"{kbps}kbit ceil {kbps}kbit burst {burst} cburst {burst}")
            lines.append(f"filter add dev {dev} parent 1: protocol ip prio 1 u32 match "
                         f"ip {match} {address}/32 flowid 1:{n:x}")
    if lines:
        netns.run(ns, ["tc", "-batch", "-"], input="\n".join(lines) + "\n", timeout=10)
