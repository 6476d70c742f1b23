"""Feature probes run for real in a scratch namespace that is always removed."""
from __future__ import annotations

from kumo.agent.dataplane import features, netns


def test_probe_reports_every_feature_and_cleans_up(hosts):
    host = hosts("p")
    found = features.probe(host)
    assert set(found) == set(features.PROBES)
    # what the data plane cannot do without
    for name in ("veth", "bridge", "vxlan_nolearning", "nft_inet_ct", "nft_nat"):
        assert found[name].ok, (name, found[name].reason)
    for f in found.values():
        assert f.reason and "\n" not in f.reason
    assert netns.list_netns(host) == []
    text = features.format_features(found)
    assert len(text.splitlines()) == len(found) and "vxlan_nolearning" in text
