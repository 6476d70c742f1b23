"""nftables rules of floating IP port forwardings (Neutron's floatingip-port-forwarding
extension) in a router's NAT table (:mod:`kumo.agent.l3`).

For a floating IP ``F`` forwarding ``proto`` ports ``E1..E2`` to ``I:P1..P2`` (the
internal port range the same size, or a single port):

- ``prerouting`` and ``output``: ``ip daddr F <proto> dport E1-E2 dnat to I:P1-P2``
  (a range maps port by port: nft's ``dnat to I:P1-P2`` with the same offset is the
  kernel's own mapping only for single ports, so a range gets one rule per port when
  small and a mapped range otherwise);
- ``postrouting``: ``oifname qg-... ip saddr I <proto> sport P1..P2 snat to F`` so
  replies and traffic the instance starts from those ports leave as ``F``.

Only IPv4. The rules carry the comment ``portfwd <id>``.
"""
from __future__ import annotations

from kumo.agent.dataplane import nft

#: A range longer than this is DNATed as a whole (kernel port-range mapping).
PER_PORT_LIMIT = 64


def rules(fip: dict, qg: str) -> list[nft.Rule]:
    """The rules of every forwarding of the floating IP snapshot item ``fip`` (its
    ``floating_ip_address`` and ``port_forwardings``) on the gateway leg ``qg``."""
    out: list[nft.Rule] = []
    address = fip["floating_ip_address"]
    for pf in fip.get("port_forwardings") or []:
        proto, inside = pf["protocol"], pf["internal_ip_address"]
        e1, e2 = pf["external_port"]
        i1, i2 = pf["internal_port"]
        comment = f"portfwd {pf['id']}"
        if e1 == e2 or i1 == i2 or e2 - e1 >= PER_PORT_LIMIT:
            pairs = [((e1, e2), (i1, i2) if i1 != i2 else i1)]
        else:  # same-size ranges: port by port, so E1+k reaches P1+k
            pairs = [(e1 + k, i1 + k) for k in range(e2 - e1 + 1)]
        for ext, internal in pairs:
            for chain in ("prerouting", "output"):
                out.append(nft.Rule(chain, [
                    nft.daddr(address), nft.l4proto(proto), nft.dport(proto, ext),
                    nft.dnat(inside, internal)], comment=comment))
        out.append(nft.Rule("postrouting", [
            nft.oifname(qg), nft.saddr(inside), nft.l4proto(proto),
            nft.sport(proto, (i1, i2)), nft.snat(address)], comment=comment))
    return out
