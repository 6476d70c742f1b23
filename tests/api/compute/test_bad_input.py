"""Bad input to the Compute API (issue 12, found by fuzzing ``kumo up``): values past
the reference's ranges and of the wrong type are 400 ``badRequest`` and change nothing.

Ranges are Nova's: flavor ``ram``/``vcpus`` 1..2^31-1, ``disk``/``ephemeral``/``swap``
0..2^31-1 (``parameter_types.flavor_param_*``, checked for strings too as
``flavors.create`` does), ``rxtx_factor`` a float in (0, 3.40282e+38]; quota limits
-1..2^31-1 (``quota_sets._common_quota``)."""
from __future__ import annotations

import pytest

from tests.api.compute.conftest import assert_fault, wait_status

BIG = 2 ** 63
MAX_INT = 2 ** 31 - 1


def _flavor_names(nova, conn) -> list[str]:
    resp = nova.request(conn, "GET", "/flavors/detail", params={"is_public": "None"})
    assert resp.status_code == 200, resp.text
    return sorted(f["name"] for f in resp.json()["flavors"])


@pytest.mark.parametrize("field,value", [
    *[(f, v) for f in ("ram", "vcpus", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral")
      for v in (BIG, 1e308, MAX_INT + 1, "99999999999999999999", "1e3", 1.5, None)],
    ("ram", 0), ("vcpus", 0), ("ram", -1), ("disk", -1), ("swap", -1),
    ("OS-FLV-EXT-DATA:ephemeral", -1),
    ("rxtx_factor", "s"), ("rxtx_factor", None), ("rxtx_factor", 0), ("rxtx_factor", -1),
    ("rxtx_factor", 1e308), ("rxtx_factor", "9" * 50 + ".0"), ("rxtx_factor", "NaN"),
    ("rxtx_factor", "1e3"), ("id", ""), ("id", "x" * 256),
])
def test_flavor_create_out_of_range(admin, nova, unique, field, value):
    before = _flavor_names(nova, admin)
    name = unique("bad-flavor")
    body = {"name": name, "ram": 64, "vcpus": 1, "disk": 0, field: value}
    resp = nova.request(admin, "POST", "/flavors", json={"flavor": body})
    assert_fault(resp, 400, "badRequest")
    assert _flavor_names(nova, admin) == before


def test_flavor_limits_are_accepted(admin, nova, unique):
    """The largest values the reference allows work (so the checks are not too tight),
    integers given as strings included."""
    body = {"name": unique("max-flavor"), "ram": str(MAX_INT), "vcpus": MAX_INT,
            "disk": 0, "swap": MAX_INT, "OS-FLV-EXT-DATA:ephemeral": "0",
            "rxtx_factor": "3.0"}
    resp = nova.request(admin, "POST", "/flavors", json={"flavor": body})
    assert resp.status_code == 200, resp.text
    made = resp.json()["flavor"]
    try:
        assert made["ram"] == MAX_INT and made["vcpus"] == MAX_INT
        assert made["swap"] == MAX_INT and made["rxtx_factor"] == 3.0
    finally:
        nova.request(admin, "DELETE", f"/flavors/{made['id']}")


def test_flavor_description_length(admin, nova, unique):
    """A flavor's description is up to 65535 characters (flavor_manage)."""
    before = _flavor_names(nova, admin)
    body = {"name": unique("desc-flavor"), "ram": 64, "vcpus": 1, "disk": 0,
            "description": "d" * 65536}
    resp = nova.request(admin, "POST", "/flavors", json={"flavor": body}, version="2.55")
    assert_fault(resp, 400, "badRequest")
    assert _flavor_names(nova, admin) == before


@pytest.mark.parametrize("value", [BIG, 1e308, MAX_INT + 1, "99999999999999999999",
                                   -2, "-2", 1.5, "s", None])
def test_quota_update_out_of_range(admin, nova, member, value):
    pid = member.project_id_
    before = nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"]
    resp = nova.request(admin, "PUT", f"/os-quota-sets/{pid}",
                        json={"quota_set": {"instances": value, "cores": 3}})
    assert_fault(resp, 400, "badRequest")
    after = nova.request(admin, "GET", f"/os-quota-sets/{pid}").json()["quota_set"]
    assert after == before


def test_quota_limits_are_accepted(admin, nova, member):
    pid = member.project_id_
    resp = nova.request(admin, "PUT", f"/os-quota-sets/{pid}",
                        json={"quota_set": {"instances": MAX_INT, "cores": "-1"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["quota_set"]["instances"] == MAX_INT
    assert resp.json()["quota_set"]["cores"] == -1


def _act(nova, conn, sid, body, version="2.96"):
    return nova.request(conn, "POST", f"/servers/{sid}/action", json=body, version=version)


BAD_ACTIONS = [
    {"reboot": "s"}, {"reboot": 1}, {"reboot": None}, {"reboot": {}},
    {"reboot": {"type": 1}}, {"reboot": {"type": "WARM"}},
    {"reboot": {"type": "HARD", "x": 1}},
    {"resize": 1}, {"resize": "s"}, {"resize": None}, {"resize": {}},
    {"resize": {"flavorRef": {}}}, {"resize": {"flavorRef": ""}},
    {"os-getConsoleOutput": "s"}, {"os-getConsoleOutput": 1},
    {"os-getConsoleOutput": {"length": "s"}}, {"os-getConsoleOutput": {"length": -2}},
    {"os-getConsoleOutput": {"length": "-2"}}, {"os-getConsoleOutput": {"length": 1.5}},
    {"createImage": "s"}, {"createImage": {"name": "x", "metadata": "s"}},
    {"createImage": {"name": "x", "metadata": [1]}},
    {"createImage": {"name": "x", "metadata": {"k": 1}}},
    {"createImage": {"name": 1}}, {"createImage": {"name": "x" * 256}},
    {"lock": "s"}, {"lock": {"locked_reason": 1}}, {"lock": {"locked_reason": ""}},
    {"lock": {"locked_reason": "r" * 256}},
    {"rebuild": "s"}, {"rebuild": {"imageRef": 1}},
    {"rebuild": {"imageRef": "IMAGE", "name": 1}},
    {"rebuild": {"imageRef": "IMAGE", "metadata": "s"}},
    {"rebuild": {"imageRef": "IMAGE", "accessIPv4": "300.1.1.1"}},
]


def test_bad_action_bodies(demo, admin, nova, boot, image_id):
    made = boot("bad-actions")
    sid = made["id"]
    before = wait_status(nova, demo, sid, "ACTIVE", version="2.96")
    images = sorted(i.id for i in admin.image.images())
    for body in BAD_ACTIONS:
        if "rebuild" in body and isinstance(body["rebuild"], dict) \
                and body["rebuild"].get("imageRef") == "IMAGE":
            body = {"rebuild": {**body["rebuild"], "imageRef": image_id}}
        resp = _act(nova, demo, sid, body)
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
        assert_fault(resp, 400, "badRequest")
    after = nova.request(demo, "GET", f"/servers/{sid}", version="2.96").json()["server"]
    assert after["status"] == "ACTIVE" and after["OS-EXT-STS:task_state"] is None
    for key in ("name", "locked", "flavor", "image", "metadata", "updated"):
        assert after[key] == before[key], key
    assert sorted(i.id for i in admin.image.images()) == images
    # the same actions with good bodies still work
    resp = _act(nova, demo, sid, {"os-getConsoleOutput": {"length": "-1"}})
    assert resp.status_code == 200, resp.text
    resp = _act(nova, demo, sid, {"reboot": {"type": "soft"}})
    assert resp.status_code == 202, resp.text
    wait_status(nova, demo, sid, "ACTIVE")


@pytest.mark.parametrize("field,value", [
    ("accessIPv4", "300.1.1.1"), ("accessIPv4", "x"), ("accessIPv4", "::1"),
    ("accessIPv6", "zz"), ("accessIPv6", "10.0.0.1"), ("accessIPv4", 1),
])
def test_access_ip_formats(demo, nova, boot, field, value):
    made = boot("bad-access-ip")
    sid = made["id"]
    before = wait_status(nova, demo, sid, "ACTIVE")
    resp = nova.request(demo, "PUT", f"/servers/{sid}", json={"server": {field: value}})
    assert_fault(resp, 400, "badRequest")
    after = nova.request(demo, "GET", f"/servers/{sid}").json()["server"]
    assert after[field] == before[field] and after["status"] == "ACTIVE"
    # a create with the bad address makes no server
    names = [s["name"] for s in nova.request(demo, "GET", "/servers").json()["servers"]]
    boot("bad-access-ip-create", expect=400, **{field: value})
    assert [s["name"] for s in
            nova.request(demo, "GET", "/servers").json()["servers"]] == names
    resp = nova.request(demo, "PUT", f"/servers/{sid}", json={"server": {
        "accessIPv4": "192.0.2.7", "accessIPv6": "2001:db8::7"}})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("query", [
    {"changes-since": "gt:xx"}, {"changes-since": "xx"},
    {"changes-since": "0001-01-01T00:00:00+01:00"},
    {"changes-since": "9999-12-31T23:59:59-01:00"},
    {"changes-before": "xx"}, {"changes-before": "0001-01-01T00:00:00+05:00"},
    {"changes-since": "2020-01-01T00:00:00Z", "changes-before": "2010-01-01T00:00:00Z"},
])
def test_changes_since_before(demo, nova, query):
    for path in ("/servers", "/servers/detail"):
        resp = nova.request(demo, "GET", path, params=query, version="2.66")
        assert_fault(resp, 400, "badRequest")


def test_changes_since_good(demo, nova):
    resp = nova.request(demo, "GET", "/servers/detail", version="2.66", params={
        "changes-since": "2010-01-01T00:00:00+01:00",
        "changes-before": "2999-01-01T00:00:00Z"})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("key", ["minRam", "minDisk"])
def test_flavor_min_filters_past_any_column(demo, nova, key):
    for path in ("/flavors", "/flavors/detail"):
        resp = nova.request(demo, "GET", path, params={key: "99999999999999999999"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["flavors"] == []
        resp = nova.request(demo, "GET", path, params={key: "-5"})
        assert resp.status_code == 200 and resp.json()["flavors"], resp.text
        assert_fault(nova.request(demo, "GET", path, params={key: "s"}), 400,
                     "badRequest")


def test_server_group_paging(demo, nova):
    for params in ({"limit": "99999999999999999999"}, {"offset": "99999999999999999999"},
                   {"limit": "5", "offset": str(BIG)}):
        resp = nova.request(demo, "GET", "/os-server-groups", params=params)
        assert resp.status_code == 200, resp.text
    for params in ({"limit": "-1"}, {"offset": "-1"}, {"limit": "s"}):
        assert_fault(nova.request(demo, "GET", "/os-server-groups", params=params), 400,
                     "badRequest")


def test_usage_period_out_of_range(admin, nova):
    for start in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "xx"):
        resp = nova.request(admin, "GET", "/os-simple-tenant-usage",
                            params={"start": start})
        assert_fault(resp, 400, "badRequest")


@pytest.mark.parametrize("method,path", [("DELETE", "/os-security-groups/"),
                                         ("DELETE", "/servers/"), ("PUT", "/flavors/"),
                                         ("DELETE", "/os-keypairs/")])
def test_empty_id_is_404(demo, nova, method, path):
    """A trailing slash names an empty id: Nova answers 404 whatever the method
    (Tempest's test_delete_security_group_without_passing_id), not 405."""
    assert_fault(nova.request(demo, method, path, json={} if method == "PUT" else None),
                 404, "itemNotFound")


def test_wrong_method_on_a_collection_stays_405(demo, nova):
    resp = nova.request(demo, "DELETE", "/servers")
    assert resp.status_code == 405
