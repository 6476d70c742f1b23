"""Typed wrappers over the host's kernel: namespaces, links, addresses, routes, FDB and
neighbour entries (netlink through pyroute2), nftables rulesets (nft's JSON interface)
and feature probes.

The one way the agent touches the host (ARCHITECTURE.md, Style 4): every call names the
network namespace it works in (a :class:`~kumo.agent.dataplane.netns.Netns`, usually
obtained from a :class:`~kumo.agent.dataplane.netns.Host`) and raises
:class:`KumoDataplaneError` on failure. ``ensure_*`` functions create or adjust and are
idempotent; ``delete_*`` functions ignore objects that are already gone.
"""
from kumo.agent.dataplane.errors import KumoDataplaneError

__all__ = ["KumoDataplaneError"]
