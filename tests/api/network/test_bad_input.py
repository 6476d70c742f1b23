"""Bad input to the Networking API (issue 12): quota limits and subnet pool quotas and
prefix lengths past their ranges are 400 ``NeutronError`` and change nothing; integer
list filters past 64 bits match nothing (no 500)."""
from __future__ import annotations

import pytest

from tests.api.network.conftest import assert_fault

BIG = 2 ** 63
MAX_INT = 2 ** 31 - 1


@pytest.mark.parametrize("value", [BIG, 1e308, MAX_INT + 1, "99999999999999999999",
                                   -2, 1.5, "s", None])
def test_quota_out_of_range(admin, neutron, member, value):
    pid = member().project_id_
    before = neutron.request(admin, "GET", f"/v2.0/quotas/{pid}").json()
    resp = neutron.request(admin, "PUT", f"/v2.0/quotas/{pid}",
                           json={"quota": {"port": 7, "network": value}})
    assert_fault(resp, 400, "HTTPBadRequest")
    assert neutron.request(admin, "GET", f"/v2.0/quotas/{pid}").json() == before


def _pool_names(neutron, conn) -> set[str]:
    resp = neutron.request(conn, "GET", "/v2.0/subnetpools")
    assert resp.status_code == 200, resp.text
    return {p["name"] for p in resp.json()["subnetpools"]}


@pytest.mark.parametrize("field,value", [
    ("default_quota", BIG), ("default_quota", 1e308), ("default_quota", MAX_INT + 1),
    ("default_quota", -5), ("default_quota", "s"),
    ("min_prefixlen", BIG), ("max_prefixlen", 1e308), ("default_prefixlen", BIG),
    ("default_prefixlen", "99999999999999999999"), ("default_prefixlen", 33),
    ("min_prefixlen", -1), ("max_prefixlen", "s"),
])
def test_subnetpool_out_of_range(demo, neutron, unique, field, value):
    name = unique("bad-pool")
    resp = neutron.request(demo, "POST", "/v2.0/subnetpools", json={"subnetpool": {
        "name": name, "prefixes": ["10.213.0.0/16"], field: value}})
    assert resp.status_code == 400, resp.text
    assert "NeutronError" in resp.json()
    assert name not in _pool_names(neutron, demo)


def test_subnetpool_update_quota(demo, neutron, unique):
    resp = neutron.request(demo, "POST", "/v2.0/subnetpools", json={"subnetpool": {
        "name": unique("pool"), "prefixes": ["10.214.0.0/16"], "default_quota": 4}})
    assert resp.status_code == 201, resp.text
    pool = resp.json()["subnetpool"]
    try:
        for value in (BIG, MAX_INT + 1, -1, 1e308):
            resp = neutron.request(demo, "PUT", f"/v2.0/subnetpools/{pool['id']}",
                                   json={"subnetpool": {"default_quota": value}})
            assert_fault(resp, 400, "HTTPBadRequest")
        now = neutron.request(demo, "GET", f"/v2.0/subnetpools/{pool['id']}").json()
        assert now["subnetpool"]["default_quota"] == 4
        resp = neutron.request(demo, "PUT", f"/v2.0/subnetpools/{pool['id']}",
                               json={"subnetpool": {"default_quota": MAX_INT}})
        assert resp.status_code == 200, resp.text
    finally:
        neutron.request(demo, "DELETE", f"/v2.0/subnetpools/{pool['id']}")


@pytest.mark.parametrize("query", [{"mtu": "99999999999999999999"},
                                   {"revision_number": str(BIG)},
                                   {"mtu": str(-BIG - 1)}])
def test_huge_integer_filters(demo, neutron, net, query):
    resp = neutron.request(demo, "GET", "/v2.0/networks", params=query)
    assert resp.status_code == 200, resp.text
    assert resp.json()["networks"] == []
    resp = neutron.request(demo, "GET", "/v2.0/networks",
                           params={"mtu": [query.get("mtu", "1"), str(net[0].mtu)]})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("path,key", [("/v2.0/networks", "networks"),
                                      ("/v2.0/ports", "ports"),
                                      ("/v2.0/security-groups", "security_groups")])
def test_timestamp_filters(demo, neutron, net, path, key):
    """``created_at``/``updated_at`` filters take the time as rendered (400 otherwise,
    also on PostgreSQL, which cannot compare a timestamp with arbitrary text)."""
    network = neutron.request(demo, "GET", f"/v2.0/networks/{net[0].id}").json()["network"]
    for field in ("created_at", "updated_at"):
        resp = neutron.request(demo, "GET", path, params={field: "not-a-time"})
        assert_fault(resp, 400, "HTTPBadRequest")
        resp = neutron.request(demo, "GET", path, params={field: "3000-01-01T00:00:00Z"})
        assert resp.status_code == 200, resp.text
        assert resp.json()[key] == []
    resp = neutron.request(demo, "GET", "/v2.0/networks",
                           params={"created_at": network["created_at"]})
    assert resp.status_code == 200, resp.text
    assert net[0].id in [n["id"] for n in resp.json()["networks"]]
