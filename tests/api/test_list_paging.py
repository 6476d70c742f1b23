"""Every list of every service pages alike (kumo/common/listing.py, one engine with a
dialect per API):

- a bad ``limit`` is a 400 in the service's own fault format on every list route, and
  an unknown or malformed ``marker`` that service's fault too (a 400, or Cinder's 404
  ``itemNotFound``, :data:`MARKER_STATUS`). The routes come from the route table (every
  ``GET`` without a path parameter), so a new list route is checked without touching
  this file; only routes that are not lists, or whose API has no pagination, are
  named here (and must then ignore ``limit``/``marker``);
- paging through N items with ``limit`` k returns every item exactly once, in order,
  for each dialect (Neutron, Nova, Glance, Cinder), following the ``next`` links;
- next links carry filters with special characters through (URL-encoded).
"""
from __future__ import annotations

import re
import uuid

import pytest

from kumo.app import services

SERVICES = {s.prefix: s for s in services()}
LIST_ROUTES = sorted((prefix, r.path) for prefix, s in SERVICES.items() for r in s.routes
                     if r.method == "GET" and "{" not in r.path)

#: GET routes that are not collections.
NOT_LISTS = {
    ("/identity", "/"), ("/identity", "/v3"), ("/identity", "/v3/auth/tokens"),
    ("/identity", "/v3/auth/catalog"), ("/identity", "/v3/auth/system"),
    ("/networking", "/"), ("/networking", "/v2.0"), ("/networking", "/kumo/v1/state"),
    ("/networking", "/kumo/v1/changes"),
    ("/image", "/"), ("/image", "/versions"), ("/image", "/v2"), ("/image", "/healthcheck"),
    ("/image", "/v2/info/import"), ("/image", "/v2/info/stores"),
    ("/compute", "/"), ("/compute", "/v2.1"), ("/compute", "/kumo/v1/state"),
    ("/compute", "/kumo/v1/changes"), ("/compute", "/v2.1/limits"),
    ("/compute", "/v2.1/os-hypervisors/statistics"),
    ("/metadata", "/"),
    ("/volume", "/"), ("/volume", "/v3"), ("/volume", "/v3/limits"),
    ("/volume", "/v3/types/default"), ("/identity", "/v3/limits/model"),
    ("/identity", "/v3/domains/config/default"),
    ("/compute", "/v2.1/os-instance_usage_audit_log"),
    ("/compute", "/v2"),  # the v2.0 version document (tempest branch)
    ("/volume", "/v3/group_types/default"),  # 404: no default group type
    ("/volume", "/v3/volumes/summary"),  # counts, not a list
}
#: Lists whose API reference has no pagination: ``limit``/``marker`` are ignored.
#: Keystone v3 pages nothing; Neutron's extensions, quotas and availability zones,
#: Nova's services and availability zones, Cinder's services, availability zones, hosts,
#: extensions and pools are whole lists.
UNPAGED = {
    ("/identity", p) for p in ("/v3/roles", "/v3/role_inferences", "/v3/role_assignments",
                               "/v3/auth/projects", "/v3/auth/domains", "/v3/regions",
                               "/v3/services", "/v3/endpoints", "/v3/domains",
                               "/v3/projects", "/v3/groups", "/v3/users")
} | {("/identity", p) for p in ("/v3/credentials", "/v3/OS-TRUST/trusts",
                                "/v3/OS-EP-FILTER/endpoint_groups",
                                "/v3/OS-OAUTH1/consumers", "/v3/policies", "/v3/limits",
                                "/v3/registered_limits")
} | {("/identity", "/v3/OS-FEDERATION/" + p) for p in (
    "identity_providers", "mappings", "service_providers", "projects", "domains")
} | {("/networking", "/v2.0/qos/rule-types"), ("/networking", "/v2.0/service-providers"),
     ("/networking", "/v2.0/log/loggable-resources"),
     ("/compute", "/v2.1/os-aggregates"), ("/image", "/v2/metadefs/resource_types")
} | {("/networking", "/v2.0/extensions"), ("/networking", "/v2.0/quotas"),
     ("/networking", "/v2.0/availability_zones"),
     ("/compute", "/v2.1/os-services"), ("/compute", "/v2.1/os-availability-zone"),
     ("/compute", "/v2.1/os-availability-zone/detail"),
     ("/compute", "/v2.1/extensions")  # Nova's fixed compatibility list
} | {("/volume", "/v3" + p) for p in ("/os-services", "/os-availability-zone", "/os-hosts",
                                      "/extensions", "/scheduler-stats/get_pools")
} | {("/volume", "/v3" + p) for p in (  # Cinder pages these; Kumo does not yet
    "/attachments", "/attachments/detail", "/os-volume-transfer",
    "/os-volume-transfer/detail", "/volume-transfers", "/volume-transfers/detail",
    "/qos-specs", "/types", "/groups", "/groups/detail", "/group_types")}
#: Paged by ``limit``/``offset`` (Nova's server groups): no marker.
NO_MARKER = {("/compute", "/v2.1/os-server-groups")}
#: Not yet checked here, and why (a known gap, listed in the issue notes): Nova's proxy
#: APIs (gone at 2.36) and os-hosts (gone at 2.43) need this test to ask for an older
#: microversion;
#: Glance answers an unknown metadef namespace marker with its 404 (as Glance does);
#: Cinder's manageable lists need a ``host`` (400 without) and are not paged yet.
DEFERRED = {("/image", "/v2/metadefs/namespaces")} | {
    ("/volume", "/v3/manageable_volumes"), ("/volume", "/v3/manageable_volumes/detail")
} | {
    ("/compute", "/v2.1" + p) for p in (
        "/images", "/images/detail", "/os-floating-ips", "/os-floating-ip-pools",
        "/os-networks", "/os-security-groups", "/os-tenant-networks", "/os-hosts",
        "/os-volumes", "/os-volumes/detail", "/os-snapshots", "/os-snapshots/detail")}
PAGED = [r for r in LIST_ROUTES
         if r not in NOT_LISTS and r not in UNPAGED and r not in DEFERRED]

#: An unknown marker's status where it is not 400: Cinder's MarkerNotFound is a 404.
MARKER_STATUS = {"/volume": 404}
BAD_LIMITS = ["x", "-1", "1.5", "1e3", " ", "0x10"]
BAD_MARKERS = [str(uuid.uuid4()), "nope", "x" * 300, "'; --"]
HEADERS = {"OpenStack-API-Version": "compute latest, volume latest"}


def get(conn, url: str, params=None):
    return conn.session.request(url, "GET", params=params, headers=HEADERS,
                                raise_exc=False)


def assert_service_fault(prefix: str, resp, status: int = 400) -> None:
    """A 400 (or ``status``) in the fault format of the service under ``prefix``."""
    assert resp.status_code == status, f"{prefix}: {resp.status_code} {resp.text[:300]}"
    body = resp.json()
    if status == 404 and prefix == "/volume":
        assert list(body) == ["itemNotFound"], body
        assert body["itemNotFound"]["code"] == 404
        assert body["itemNotFound"]["message"].startswith("Marker "), body
        return
    if prefix == "/networking":
        assert set(body) == {"NeutronError"}, body
        assert body["NeutronError"]["type"] and body["NeutronError"]["message"]
    elif prefix == "/compute":
        assert list(body) == ["badRequest"], body
        assert body["badRequest"]["code"] == 400 and body["badRequest"]["message"]
    elif prefix == "/image":
        assert body["code"] == "400 Bad Request" and body["message"], body
    elif prefix == "/identity":
        assert body["error"]["code"] == 400, body
    elif prefix == "/volume":
        assert list(body) == ["badRequest"], body
        assert body["badRequest"]["code"] == 400 and body["badRequest"]["message"]
    else:
        raise AssertionError(f"no fault format known for {prefix}")


def test_route_classes_are_current():
    """The exceptions named above still exist (a removed route must leave them)."""
    listed = set(LIST_ROUTES)
    assert NOT_LISTS <= listed, NOT_LISTS - listed
    assert UNPAGED <= listed, UNPAGED - listed
    assert DEFERRED <= listed, DEFERRED - listed
    assert PAGED, "no paged list route found"


@pytest.mark.parametrize("route", PAGED, ids=["".join(r) for r in PAGED])
def test_bad_limit_and_marker_are_400(cloud, admin, route):
    prefix, path = route
    url = cloud.url + prefix + path
    ok = get(admin, url)
    assert ok.status_code == 200, ok.text
    for limit in BAD_LIMITS:
        assert_service_fault(prefix, get(admin, url, {"limit": limit}))
    if route in NO_MARKER:
        return
    status = MARKER_STATUS.get(prefix, 400)
    for marker in BAD_MARKERS:
        assert_service_fault(prefix, get(admin, url, {"marker": marker}), status)
        assert_service_fault(prefix, get(admin, url, {"marker": marker, "limit": "1"}),
                             status)


@pytest.mark.parametrize("route", sorted(UNPAGED), ids=["".join(r) for r in sorted(UNPAGED)])
def test_unpaged_lists_ignore_limit_and_marker(cloud, admin, route):
    prefix, path = route
    url = cloud.url + prefix + path
    whole = get(admin, url)
    assert whole.status_code == 200, whole.text
    for params in ({"limit": "x"}, {"marker": "nope"}, {"limit": "1", "marker": "x"}):
        resp = get(admin, url, params)
        assert resp.status_code == 200, (params, resp.text)


# -- paging through: every item exactly once, in order -------------------------------------
def walk(conn, base: str, first: str, key: str, links: str | None, params: dict,
         limit: int, max_pages: int = 50) -> list[dict]:
    """Follow ``next`` links from ``first`` (with ``params``); returns every item. Each
    page holds at most ``limit`` items and every page but the last exactly ``limit``."""
    items, url, p = [], base + first, dict(params, limit=str(limit))
    for _ in range(max_pages):
        resp = get(conn, url, p)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        page = body[key]
        assert len(page) <= limit
        items.extend(page)
        if links is None:  # Glance: "next" is a path below the service
            nxt = body.get("next")
            href = None if nxt is None else base + nxt
        else:
            href = next((li["href"] for li in body.get(links, []) if li["rel"] == "next"),
                        None)
        if href is None:
            return items
        assert len(page) == limit, "a page before the last is not full"
        assert " " not in href and "#" not in href.split("?", 1)[1]
        url, p = href, None
    raise AssertionError("too many pages")


SPECIAL = "a&b=c #%+/?é"


def test_neutron_pages_every_item_once(cloud, demo, unique):
    tag = unique("pg")
    base = cloud.url + "/networking"
    names = [f"{tag}-{i:02d}" for i in range(7)]
    made = []
    try:
        for name in names:
            resp = demo.session.request(base + "/v2.0/networks", "POST", json={
                "network": {"name": name, "description": SPECIAL}}, raise_exc=False)
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["network"]["id"])
            demo.session.request(base + f"/v2.0/networks/{made[-1]}/tags/{tag}", "PUT",
                                 raise_exc=False)
        for limit in (1, 3, 7, 10):
            got = walk(demo, base, "/v2.0/networks", "networks", "networks_links",
                       {"tags": tag, "description": SPECIAL, "sort_key": "name",
                        "sort_dir": "desc"}, limit)
            assert [n["name"] for n in got] == names[::-1], limit
        # previous links walk back to the start
        resp = get(demo, base + "/v2.0/networks", {"tags": tag, "sort_key": "name",
                                                    "limit": 2, "marker": made[3]})
        prev = [li["href"] for li in resp.json()["networks_links"] if li["rel"] == "previous"]
        back = get(demo, prev[0]).json()["networks"]
        assert [n["name"] for n in back] == names[2:4]
    finally:
        for nid in made:
            demo.session.request(base + f"/v2.0/networks/{nid}", "DELETE", raise_exc=False)


def test_nova_pages_every_item_once(cloud, admin, unique):
    base = cloud.url + "/compute/v2.1"
    tag = unique("pgf")
    made = []
    try:
        for i in range(5):
            resp = admin.session.request(base + "/flavors", "POST", json={"flavor": {
                "name": f"{tag}-{i}", "ram": 64, "vcpus": 1, "disk": 1,
                "id": f"{tag}-{i}"}}, raise_exc=False)
            assert resp.status_code == 200, resp.text
            made.append(f"{tag}-{i}")
        whole = [f["id"] for f in get(admin, base + "/flavors").json()["flavors"]]
        for limit in (1, 2, 4):
            got = walk(admin, base, "/flavors", "flavors", "flavors_links", {}, limit)
            assert [f["id"] for f in got] == whole, limit
            got = walk(admin, base, "/flavors/detail", "flavors", "flavors_links",
                       {"sort_key": "name", "sort_dir": "desc"}, limit)
            assert [f["name"] for f in got] == sorted((f["name"] for f in got),
                                                      reverse=True)
            assert len(got) == len(whole)
    finally:
        for fid in made:
            admin.session.request(base + f"/flavors/{fid}", "DELETE", raise_exc=False)


def test_nova_servers_page_with_special_filter(cloud, admin, demo, unique):
    """Servers listed by a name regular expression full of URL specials: the next
    links keep it, and every server comes once, newest first."""
    base = cloud.url + "/compute/v2.1"
    image = next(iter(admin.image.images(name="cirros"))).id
    prefix = f"{unique('pgs')} {SPECIAL}"
    made = []
    try:
        for i in range(5):
            resp = demo.session.request(base + "/servers", "POST", json={"server": {
                "name": f"{prefix}-{i}", "imageRef": image, "flavorRef": "42",
                "networks": "none"}}, headers=HEADERS, raise_exc=False)
            assert resp.status_code == 202, resp.text
            made.append(resp.json()["server"]["id"])
        pattern = "^" + re.escape(prefix)
        whole = get(demo, base + "/servers", {"name": pattern}).json()["servers"]
        assert sorted(s["id"] for s in whole) == sorted(made)
        for limit in (1, 2, 5):
            for route in ("/servers", "/servers/detail"):
                got = walk(demo, base, route, "servers", "servers_links",
                           {"name": pattern}, limit)
                assert [s["id"] for s in got] == [s["id"] for s in whole], (route, limit)
        got = walk(demo, base, "/servers", "servers", "servers_links",
                   {"name": pattern, "sort_key": "display_name", "sort_dir": "asc"}, 2)
        assert [s["name"] for s in got] == [f"{prefix}-{i}" for i in range(5)]
        # usage pages by server from 2.40, with tenant_usage_links
        project = demo.current_project_id
        url, params, seen = base + f"/os-simple-tenant-usage/{project}", {
            "limit": "2", "start": "2000-01-01T00:00:00"}, []
        for _ in range(500):
            body = get(admin, url, params).json()
            seen += [u["instance_id"] for u in body["tenant_usage"].get("server_usages", [])]
            nxt = [li["href"] for li in body.get("tenant_usage_links", [])]
            if not nxt:
                break
            url, params = nxt[0], None
        assert len(seen) == len(set(seen)) and set(made) <= set(seen)
    finally:
        for sid in made:
            demo.session.request(base + f"/servers/{sid}", "DELETE", raise_exc=False)


def test_glance_pages_every_item_once(cloud, demo, unique):
    base = cloud.url + "/image"
    tag = unique("pgi")
    made = []
    try:
        for i in range(5):
            resp = demo.session.request(base + "/v2/images", "POST", json={
                "name": f"{tag}-{i}", "disk_format": "raw", "container_format": "bare",
                "tags": [tag], "kumo_special": SPECIAL}, raise_exc=False)
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["id"])
        for limit in (1, 2, 5):
            for params in ({"sort": "name:asc"}, {"sort_key": "name", "sort_dir": "asc"}):
                got = walk(demo, base, "/v2/images", "images", None,
                           {"tag": tag, "kumo_special": SPECIAL, **params}, limit)
                assert [i["name"] for i in got] == [f"{tag}-{i}" for i in range(5)]
        got = walk(demo, base, "/v2/images", "images", None, {"tag": tag}, 2)
        assert sorted(i["id"] for i in got) == sorted(made)  # default: created_at desc
    finally:
        for iid in made:
            demo.session.request(base + f"/v2/images/{iid}", "DELETE", raise_exc=False)


def test_cinder_pages_every_item_once(cloud, demo, unique):
    """Volumes (no data written: size 1 on the sparse default backend) paged by
    ``volumes_links``, by ``sort`` and by ``sort_key``/``sort_dir``, with a filter full
    of URL specials; ``offset`` applies to the first page only."""
    base = cloud.url + "/volume/v3"
    tag = unique("pgv")
    names = [f"{tag}-{i}" for i in range(5)]
    made = []
    try:
        for name in names:
            resp = demo.session.request(base + "/volumes", "POST", json={"volume": {
                "name": name, "size": 1, "metadata": {"kumo_special": SPECIAL}}},
                raise_exc=False)
            assert resp.status_code == 202, resp.text
            made.append(resp.json()["volume"]["id"])
        meta = '{"kumo_special": "%s"}' % SPECIAL
        for limit in (1, 2, 5):
            for params in ({"sort": "name:asc"}, {"sort_key": "name", "sort_dir": "asc"}):
                for route in ("/volumes", "/volumes/detail"):
                    got = walk(demo, base, route, "volumes", "volumes_links",
                               {"metadata": meta, **params}, limit)
                    assert [v["name"] for v in got] == names, (route, limit, params)
        got = walk(demo, base, "/volumes", "volumes", "volumes_links",
                   {"metadata": meta, "sort": "name:asc", "offset": "1"}, 2)
        assert [v["name"] for v in got] == names[1:]
        got = walk(demo, base, "/volumes", "volumes", "volumes_links",
                   {"metadata": meta}, 2)  # default: created_at desc, id
        assert sorted(v["id"] for v in got) == sorted(made)
        both = get(demo, base + "/volumes", {"sort": "name", "sort_key": "name"})
        assert_service_fault("/volume", both)
    finally:
        for vid in made:
            demo.session.request(base + f"/volumes/{vid}", "DELETE", raise_exc=False)


def test_keystone_filters_without_pagination(cloud, admin, unique):
    base = cloud.url + "/identity/v3"
    stem = unique("pgk")
    made = []
    try:
        for i in range(3):
            resp = admin.session.request(base + "/projects", "POST", json={"project": {
                "name": f"{stem}_{i}%", "domain_id": "default"}}, raise_exc=False)
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["project"]["id"])
        got = get(admin, base + "/projects", {"name__contains": f"{stem}_1%"})
        assert [p["id"] for p in got.json()["projects"]] == [made[1]]
        got = get(admin, base + "/projects", {"name__startswith": stem.upper()})
        assert got.json()["projects"] == []
        got = get(admin, base + "/projects", {"name__istartswith": stem.upper(),
                                              "limit": "1"})
        assert sorted(p["id"] for p in got.json()["projects"]) == sorted(made)
    finally:
        for pid in made:
            admin.session.request(base + f"/projects/{pid}", "DELETE", raise_exc=False)
