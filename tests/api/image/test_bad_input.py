"""Bad input to the Image API (issue 12): ``min_disk``/``min_ram`` past Glance's
database range (0..2^31-1, ``_validate_db_int``) or not JSON integers, unparsable
``created_at``/``updated_at`` list filters and size filters past 64 bits are 400 in
Glance's fault format and change nothing; member ids are any string up to 255
characters, as in Glance (no project check)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.api.image.conftest import assert_fault

BIG = 2 ** 63
MAX_INT = 2 ** 31 - 1
BAD_INTS = [BIG, 1e308, MAX_INT + 1, 1.5, -1, "s", None]


def _names(glance, conn) -> set[str]:
    resp = glance.request(conn, "GET", "/v2/images", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    return {i["name"] for i in resp.json()["images"]}


@pytest.mark.parametrize("field", ["min_disk", "min_ram"])
@pytest.mark.parametrize("value", BAD_INTS)
def test_create_out_of_range(glance, demo, field, value):
    name = f"bad-{uuid.uuid4().hex[:8]}"
    resp = glance.request(demo, "POST", "/v2/images", json={"name": name, field: value})
    assert_fault(resp, 400, "Bad Request")
    assert name not in _names(glance, demo)


@pytest.mark.parametrize("field", ["min_disk", "min_ram"])
@pytest.mark.parametrize("value", BAD_INTS)
def test_patch_out_of_range(glance, demo, image, field, value):
    resp = glance.patch(demo, image["id"], [{"op": "replace", "path": f"/{field}",
                                             "value": value}])
    assert_fault(resp, 400, "Bad Request")
    after = glance.request(demo, "GET", f"/v2/images/{image['id']}").json()
    assert after[field] == image[field] == 0
    assert after["updated_at"] == image["updated_at"]


def test_largest_values_accepted(glance, demo):
    body = glance.create(demo, min_disk=MAX_INT, min_ram=MAX_INT)
    try:
        assert body["min_disk"] == MAX_INT and body["min_ram"] == MAX_INT
    finally:
        glance.request(demo, "DELETE", f"/v2/images/{body['id']}")


@pytest.mark.parametrize("query", [
    {"created_at": "gt:xx"}, {"updated_at": "gt:xx"}, {"created_at": "xx"},
    {"created_at": "gt:0001-01-01T00:00:00+01:00"},
    {"updated_at": "lte:9999-12-31T23:59:59-01:00"},
    {"created_at": "foo:2020-01-01T00:00:00Z"},
    {"size_min": "99999999999999999999"}, {"size_max": str(BIG)}, {"size_min": "s"},
    {"size_max": "-1"},
])
def test_bad_list_filters(glance, demo, query):
    resp = glance.request(demo, "GET", "/v2/images", params=query)
    assert_fault(resp, 400, "Bad Request")


def test_time_filters(glance, demo, image):
    created = dt.datetime.fromisoformat(image["created_at"].replace("Z", "+00:00"))
    before = (created - dt.timedelta(seconds=1)).isoformat()
    after = (created + dt.timedelta(seconds=1)).isoformat()

    def ids(**query):
        resp = glance.request(demo, "GET", "/v2/images", params={"limit": 1000, **query})
        assert resp.status_code == 200, resp.text
        return {i["id"] for i in resp.json()["images"]}
    assert image["id"] in ids(created_at=f"gt:{before}")
    assert image["id"] in ids(created_at=f"gte:{before}", updated_at=f"lt:{after}")
    assert image["id"] not in ids(created_at=f"lt:{before}")
    assert image["id"] not in ids(updated_at=f"gt:{after}")
    # a bare time (colons and all) is an eq filter, not an unknown operator
    ids(created_at=image["created_at"])
    assert image["id"] in ids(created_at=f"neq:{before}")


def test_member_ids(glance, demo, image):
    """Glance takes any member id up to 255 characters (it does not ask Keystone)."""
    resp = glance.patch(demo, image["id"], [{"op": "replace", "path": "/visibility",
                                             "value": "shared"}])
    assert resp.status_code == 200, resp.text
    for bad in ("x" * 256, 1, None, ["a"]):
        resp = glance.request(demo, "POST", f"/v2/images/{image['id']}/members",
                              json={"member": bad})
        assert_fault(resp, 400, "Bad Request")
    resp = glance.request(demo, "GET", f"/v2/images/{image['id']}/members")
    assert resp.json()["members"] == []
    resp = glance.request(demo, "POST", f"/v2/images/{image['id']}/members",
                          json={"member": "not-a-project"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["member_id"] == "not-a-project"
