"""The machine's own data plane for ``kumo up`` (DevStack's single-node layout).

``kumo up`` runs one agent in-process for the machine. Which drivers it gets depends on
the ``dataplane`` setting:

- ``auto`` (default): the real drivers when running as root with ``ip``, ``nft`` and
  ``dnsmasq`` present, else none (``kumo up`` prints :func:`api_only_message`);
- ``real``: the real drivers (``linuxbridge``, ``firewall``, ``dhcp``, ``l3``, ``qos``,
  ``metadata``; compute driver ``netns``), failing when they cannot run;
- ``fake``: the ``fake`` network driver and the ``fake`` compute driver (ports and
  servers go ACTIVE, nothing touches the kernel);
- ``off``: no agent (the API only; ports stay DOWN, servers stay BUILD).

With the real drivers, :func:`prepare_host` readies the machine as DevStack does: the
bridge ``br-ex`` (the flat ``public`` network's mapping) holding the public subnet's
gateway address (``172.24.4.1/24`` by default), so the host reaches floating IPs and
routers' gateways. The machine never routes that traffic out of its uplink: an
nftables table ``inet kumo-uplink-guard`` drops anything forwarded from ``br-ex`` to
another device unless the operator sets ``external_uplink_forwarding`` (and then
masquerading is theirs to add).
"""
from __future__ import annotations

import logging
import os
import shutil

from kumo.agent.dataplane import links, nft
from kumo.agent.dataplane.netns import ROOT

LOG = logging.getLogger(__name__)
REAL_DRIVERS = ["linuxbridge", "firewall", "dhcp", "l3", "metadata", "qos", "taas", "trunk"]
GUARD_TABLE = "kumo-uplink-guard"


def choose(settings) -> tuple[list[str], str]:
    """``(network drivers, compute driver)`` for the machine's in-process agent from
    the ``dataplane`` setting (see the module doc); ``([], "")`` means no agent.
    Raises ``RuntimeError`` when ``dataplane`` is ``real`` and the machine cannot."""
    mode = (getattr(settings, "dataplane", "auto") or "auto").lower()
    if mode == "off":
        return [], ""
    if mode == "fake":
        return ["fake"], "fake"
    problem = unavailable()
    if problem:
        if mode == "real":
            raise RuntimeError(f"the data plane cannot run here: {problem}")
        return [], ""  # kumo up says what works without it (api_only_message)
    from kumo.agent import drivers as registry

    names = [n for n in REAL_DRIVERS if n in registry.available()]
    lacking = sorted(set(REAL_DRIVERS) - set(names))
    if lacking:
        LOG.warning("data-plane drivers not available: %s", ", ".join(lacking))
    return names, "netns"


def unavailable() -> str | None:
    """Why the real data plane cannot run on this machine (``"not running as root"``,
    missing tools), or None when it can."""
    if os.geteuid() != 0:
        return "not running as root"
    missing = [tool for tool in ("ip", "nft", "dnsmasq", "unshare") if not shutil.which(tool)]
    if missing:
        return f"{', '.join(missing)} not installed"
    return None


def api_only_message(problem: str, fake_compute_hosts: int = 0) -> str:
    """What ``kumo up`` prints when ``dataplane: auto`` found no data plane
    (``problem`` from :func:`unavailable`): what works, what does not, how to get the
    rest."""
    if fake_compute_hosts:
        servers = (f"servers go ACTIVE on the {fake_compute_hosts} fake compute host(s) "
                   "with nothing running in them")
    else:
        servers = ("no compute host runs, so a server create ends in ERROR at once "
                   "(\"No valid host was found\"); --fake-compute-hosts N gives servers "
                   "that go ACTIVE with nothing running")
    if problem == "not running as root":
        fix = "run kumo up as root (sudo make up, or sudo .venv/bin/kumo up)"
    else:
        fix = ("install them (as root: bash scripts/install-system-deps.sh; make up does) "
               "and start again")
    return "\n".join([
        f"kumo: {problem}: no data plane on this machine, the API only (dataplane: off)",
        "kumo:   works: every API (identity, networks, subnets, routers, security groups, "
        "floating IPs, images, flavors, key pairs, quotas) through openstack and "
        "openstacksdk",
        "kumo:   does not: the data plane (ports stay DOWN: no bridges, DHCP, routers, "
        f"floating IPs, metadata) and real servers: {servers}",
        f"kumo:   to get the rest: {fix}"])


def prepare_host(settings, gateway_cidr: str = "172.24.4.1/24") -> None:
    """Ready the machine for the real drivers: ``br-ex`` (each bridge named in
    ``agent_bridge_mappings``) up with ``gateway_cidr`` on the one mapped for
    ``public``, and the uplink guard (module doc). Idempotent."""
    mappings = dict(getattr(settings, "agent_bridge_mappings", None) or {})
    for physnet, bridge in mappings.items():
        links.ensure_bridge(ROOT, bridge)
        if physnet == "public" and gateway_cidr:
            links.ensure_address(ROOT, bridge, gateway_cidr)
    if not getattr(settings, "external_uplink_forwarding", False) and mappings:
        guard(sorted(set(mappings.values())))


def unprepare_host(settings, ns=ROOT) -> list[str]:
    """Undo :func:`prepare_host` in ``ns`` (the machine by default): delete the bridges
    named in ``agent_bridge_mappings`` (``br-ex``) and the uplink guard table.
    Idempotent; returns what it removed."""
    removed = []
    for bridge in sorted(set((getattr(settings, "agent_bridge_mappings", None) or {})
                             .values())):
        if links.delete_link(ns, bridge):
            removed.append(bridge)
    if nft.table_exists(ns, "inet", GUARD_TABLE):
        nft.delete_table(ns, "inet", GUARD_TABLE)
        removed.append(f"inet {GUARD_TABLE}")
    return removed


def guard(bridges: list[str]) -> None:
    """Replace the table ``inet kumo-uplink-guard``: packets arriving on one of
    ``bridges`` may be forwarded only out of that same bridge (bridged traffic seen
    through br_netfilter), so nothing from the external bridges leaves by the uplink."""
    nft.replace_table(
        ROOT, "inet", GUARD_TABLE,
        chains=[nft.Chain("forward", type="filter", hook="forward", prio=0,
                          policy="accept")],
        rules=[nft.Rule("forward", [nft.iifname(br), nft.oifname(br, op="!="),
                                    nft.counter(), nft.drop()],
                        comment=f"kumo: nothing from {br} leaves by another device")
               for br in bridges])
