"""The pre-2.36 proxy APIs: /images (+ metadata), /os-security-groups and rules,
/os-floating-ips (+ pools), /os-networks, /os-tenant-networks; 404 from 2.36."""
from __future__ import annotations

import httpx

from tests.api.compute.conftest import assert_fault


def test_images_proxy(admin, demo, nova, image_id):
    body = nova.request(demo, "GET", "/images").json()
    assert image_id in [i["id"] for i in body["images"]]
    entry = [i for i in body["images"] if i["id"] == image_id][0]
    assert set(entry) == {"id", "name", "links"}
    assert [link["rel"] for link in entry["links"]] == ["self", "bookmark", "alternate"]
    detail = nova.request(demo, "GET", "/images/detail", params={"name": "cirros"}).json()
    assert [i["id"] for i in detail["images"]] == [image_id]
    image = detail["images"][0]
    assert image["status"] == "ACTIVE" and image["progress"] == 100
    assert image["minRam"] == admin.image.get_image(image_id).min_ram
    assert image["OS-EXT-IMG-SIZE:size"] > 0
    assert nova.request(demo, "GET", "/images/detail", params={
        "minRam": "999999"}).json()["images"] == []
    assert nova.request(demo, "GET", f"/images/{image_id}").json()["image"]["id"] == \
        image_id
    assert_fault(nova.request(demo, "GET", "/images/nope"), 404, "itemNotFound")
    assert_fault(nova.request(demo, "GET", "/images", version="2.36"), 404,
                 "itemNotFound")
    assert_fault(nova.request(demo, "GET", f"/images/{image_id}", version="2.36"), 404,
                 "itemNotFound")


def test_image_metadata_proxy(demo, nova):
    made = demo.image.create_image(name="proxy-img", disk_format="raw",
                                   container_format="bare")
    iid = made.id
    sdk = {k: v for k, v in made.properties.items() if k.startswith("owner_specified")}
    try:
        base = f"/images/{iid}/metadata"
        resp = nova.request(demo, "POST", base, json={"metadata": {"a": "1", "b": "2"}})
        assert resp.status_code == 200
        assert resp.json()["metadata"] == {**sdk, "a": "1", "b": "2"}
        resp = nova.request(demo, "PUT", base, json={"metadata": {"c": "3"}})
        assert resp.json()["metadata"] == {"c": "3"}
        assert nova.request(demo, "GET", base).json() == {"metadata": {"c": "3"}}
        assert nova.request(demo, "GET", f"{base}/c").json() == {"meta": {"c": "3"}}
        assert_fault(nova.request(demo, "GET", f"{base}/x"), 404, "itemNotFound")
        resp = nova.request(demo, "PUT", f"{base}/d", json={"meta": {"d": "4"}})
        assert resp.json() == {"meta": {"d": "4"}}
        assert_fault(nova.request(demo, "PUT", f"{base}/d", json={"meta": {"e": "4"}}),
                     400, "badRequest")
        assert nova.request(demo, "DELETE", f"{base}/d").status_code == 204
        assert_fault(nova.request(demo, "DELETE", f"{base}/d"), 404, "itemNotFound")
        assert demo.image.get_image(iid).properties.get("c") == "3"
        detail = nova.request(demo, "GET", f"/images/{iid}").json()["image"]
        assert detail["status"] == "SAVING" and detail["progress"] == 25
        assert detail["metadata"] == {"c": "3"}
        assert nova.request(demo, "DELETE", f"/images/{iid}").status_code == 204
        assert_fault(nova.request(demo, "GET", f"/images/{iid}"), 404, "itemNotFound")
    finally:
        demo.image.delete_image(iid, ignore_missing=True)


def test_security_groups_proxy(demo, nova, unique):
    name = unique("psg")
    resp = nova.request(demo, "POST", "/os-security-groups", json={"security_group": {
        "name": name, "description": "d"}})
    assert resp.status_code == 200, resp.text
    sg = resp.json()["security_group"]
    gid = sg["id"]
    try:
        assert sg["name"] == name and sg["tenant_id"] == demo.current_project_id
        assert sg["rules"] == []  # Neutron's default egress rules are not shown
        assert_fault(nova.request(demo, "POST", "/os-security-groups", json={
            "security_group": {"name": " ", "description": "d"}}), 400, "badRequest")
        listed = nova.request(demo, "GET", "/os-security-groups").json()[
            "security_groups"]
        assert gid in [g["id"] for g in listed]
        resp = nova.request(demo, "POST", "/os-security-group-rules", json={
            "security_group_rule": {"parent_group_id": gid, "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22,
                                    "cidr": "10.0.0.0/8"}})
        assert resp.status_code == 200, resp.text
        rule = resp.json()["security_group_rule"]
        assert rule["ip_range"] == {"cidr": "10.0.0.0/8"} and rule["from_port"] == 22
        assert rule["parent_group_id"] == gid and rule["group"] == {}
        assert_fault(nova.request(demo, "POST", "/os-security-group-rules", json={
            "security_group_rule": {"parent_group_id": gid, "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22,
                                    "cidr": "10.0.0.0/8"}}), 400, "badRequest")
        assert_fault(nova.request(demo, "POST", "/os-security-group-rules", json={
            "security_group_rule": {"parent_group_id": gid, "ip_protocol": "tcp",
                                    "from_port": 30, "to_port": 20}}), 400, "badRequest")
        resp = nova.request(demo, "POST", "/os-security-group-rules", json={
            "security_group_rule": {"parent_group_id": gid, "ip_protocol": "icmp",
                                    "from_port": -1, "to_port": -1, "group_id": gid}})
        icmp = resp.json()["security_group_rule"]
        assert icmp["group"] == {"name": name, "tenant_id": demo.current_project_id}
        assert icmp["from_port"] == -1 and icmp["ip_range"] == {}
        shown = nova.request(demo, "GET", f"/os-security-groups/{gid}").json()[
            "security_group"]
        assert {r["id"] for r in shown["rules"]} == {rule["id"], icmp["id"]}
        resp = nova.request(demo, "PUT", f"/os-security-groups/{gid}", json={
            "security_group": {"name": name + "-2", "description": "e"}})
        assert resp.json()["security_group"]["description"] == "e"
        assert nova.request(demo, "DELETE",
                            f"/os-security-group-rules/{rule['id']}").status_code == 202
        assert_fault(nova.request(demo, "DELETE", f"/os-security-group-rules/{rule['id']}"),
                     404, "itemNotFound")
        assert_fault(nova.request(demo, "GET", "/os-security-groups/nope"), 400,
                     "badRequest")  # Nova's validate_id: not a UUID
        assert_fault(nova.request(demo, "GET", "/os-security-groups/"
                                  "6d0cbdab-0a43-4cb5-bd0b-3ab3b0f9a0b9"), 404,
                     "itemNotFound")
        assert_fault(nova.request(demo, "GET", "/os-security-groups", version="2.36"),
                     404, "itemNotFound")
    finally:
        assert nova.request(demo, "DELETE", f"/os-security-groups/{gid}").status_code \
            == 202
    assert_fault(nova.request(demo, "GET", f"/os-security-groups/{gid}"), 404,
                 "itemNotFound")


def test_floating_ips_and_networks_proxy(cloud, admin, demo, nova, net, unique):
    ext = admin.network.create_network(name=unique("pool"), is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, ip_version=4, cidr="10.79.0.0/29",
                                name=unique("poolsub"))
    try:
        pools = nova.request(demo, "GET", "/os-floating-ip-pools").json()[
            "floating_ip_pools"]
        assert {"name": ext.name} in pools
        resp = nova.request(demo, "POST", "/os-floating-ips", json={"pool": ext.name})
        assert resp.status_code == 200, resp.text
        fip = resp.json()["floating_ip"]
        assert fip["pool"] == ext.name and fip["instance_id"] is None
        assert fip["ip"].startswith("10.79.0.")
        listed = nova.request(demo, "GET", "/os-floating-ips").json()["floating_ips"]
        assert fip["id"] in [f["id"] for f in listed]
        assert nova.request(demo, "GET", f"/os-floating-ips/{fip['id']}").json()[
            "floating_ip"]["ip"] == fip["ip"]
        assert_fault(nova.request(demo, "POST", "/os-floating-ips", json={
            "pool": "no-such-pool"}), 404, "itemNotFound")
        assert nova.request(demo, "DELETE",
                            f"/os-floating-ips/{fip['id']}").status_code == 202
        assert_fault(nova.request(demo, "GET", f"/os-floating-ips/{fip['id']}"), 404,
                     "itemNotFound")
        assert_fault(nova.request(demo, "GET", "/os-floating-ips", version="2.36"), 404,
                     "itemNotFound")
    finally:
        admin.network.delete_network(ext, ignore_missing=True)
    # networks (httpx, the raw wire)
    headers = {"X-Auth-Token": demo.session.get_token()}
    with httpx.Client(timeout=30) as client:
        body = client.get(nova.base + "/os-networks", headers=headers).json()
        mine = [n for n in body["networks"] if n["id"] == net[0].id]
        assert mine and mine[0]["label"] == net[0].name and mine[0]["cidr"] is None
        body = client.get(nova.base + "/os-tenant-networks", headers=headers).json()
        assert {"id": net[0].id, "cidr": "None", "label": net[0].name} in body["networks"]
        resp = client.get(nova.base + f"/os-tenant-networks/{net[0].id}", headers=headers)
        assert resp.json()["network"]["label"] == net[0].name
        resp = client.post(nova.base + "/os-tenant-networks", headers=headers, json={
            "network": {"label": "x"}})
        assert resp.status_code == 410
        resp = client.get(nova.base + "/os-tenant-networks", headers={
            **headers, "OpenStack-API-Version": "compute 2.36"})
        assert resp.status_code == 404 and "itemNotFound" in resp.json()
        resp = client.get(nova.base + "/os-networks/nope", headers=headers)
        assert resp.status_code == 404
