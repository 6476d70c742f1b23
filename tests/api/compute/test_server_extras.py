"""Per-server sub-resources: metadata, tags, ips, port interfaces (os-interface),
floating IPs through Neutron (``openstack server add floating ip``)."""
from __future__ import annotations

from tests.api.compute.conftest import assert_fault, wait_for, wait_status


def test_server_metadata_routes(demo, nova, boot):
    sid = boot("meta", metadata={"a": "1"})["id"]
    base = f"/servers/{sid}/metadata"
    assert nova.request(demo, "GET", base).json() == {"metadata": {"a": "1"}}
    resp = nova.request(demo, "POST", base, json={"metadata": {"b": "2"}})
    assert resp.json() == {"metadata": {"a": "1", "b": "2"}}
    resp = nova.request(demo, "PUT", base, json={"metadata": {"c": "3"}})
    assert resp.json() == {"metadata": {"c": "3"}}
    assert nova.request(demo, "PUT", base + "/d", json={"meta": {"d": "4"}}).json() == \
        {"meta": {"d": "4"}}
    assert_fault(nova.request(demo, "PUT", base + "/d", json={"meta": {"e": "4"}}), 400,
                 "badRequest")
    assert nova.request(demo, "GET", base + "/d").json() == {"meta": {"d": "4"}}
    assert nova.request(demo, "DELETE", base + "/d").status_code == 204
    assert_fault(nova.request(demo, "GET", base + "/d"), 404, "itemNotFound")
    too_many = {f"k{i}": "v" for i in range(129)}
    assert_fault(nova.request(demo, "PUT", base, json={"metadata": too_many}), 403,
                 "forbidden")


def test_server_tags_routes(demo, nova, boot):
    sid = boot("tags")["id"]
    base = f"/servers/{sid}/tags"
    v = "2.26"
    assert nova.request(demo, "PUT", base + "/x", version=v).status_code == 201
    assert nova.request(demo, "PUT", base + "/x", version=v).status_code == 204
    assert nova.request(demo, "GET", base + "/x", version=v).status_code == 204
    assert nova.request(demo, "PUT", base, json={"tags": ["p", "q"]}, version=v).json() \
        == {"tags": ["p", "q"]}
    assert nova.request(demo, "GET", base, version=v).json() == {"tags": ["p", "q"]}
    assert_fault(nova.request(demo, "GET", base + "/x", version=v), 404, "itemNotFound")
    assert nova.request(demo, "DELETE", base + "/p", version=v).status_code == 204
    assert nova.request(demo, "DELETE", base, version=v).status_code == 204
    assert nova.request(demo, "GET", base, version=v).json() == {"tags": []}
    assert_fault(nova.request(demo, "GET", base), 404, "itemNotFound")


def test_interfaces_attach_detach(cloud, demo, nova, boot, net):
    sid = boot("ifaces")["id"]
    wait_status(nova, demo, sid, "ACTIVE")
    listed = nova.request(demo, "GET", f"/servers/{sid}/os-interface").json()
    (first,) = listed["interfaceAttachments"]
    assert first["net_id"] == net[0].id
    spare = demo.network.create_port(network_id=net[0].id)
    resp = nova.request(demo, "POST", f"/servers/{sid}/os-interface",
                        json={"interfaceAttachment": {"port_id": spare.id}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["interfaceAttachment"]["port_id"] == spare.id
    assert demo.network.get_port(spare.id).device_id == sid
    resp = nova.request(demo, "POST", f"/servers/{sid}/os-interface",
                        json={"interfaceAttachment": {"net_id": net[0].id}})
    made = resp.json()["interfaceAttachment"]["port_id"]
    rows = cloud.cli("port", "list", "--server", sid, cloud="kumo")
    assert {r["ID"] for r in rows} == {first["port_id"], spare.id, made}
    assert nova.request(demo, "DELETE",
                        f"/servers/{sid}/os-interface/{spare.id}").status_code == 202
    assert demo.network.get_port(spare.id).device_id == ""
    assert nova.request(demo, "DELETE",
                        f"/servers/{sid}/os-interface/{made}").status_code == 202
    assert demo.network.find_port(made) is None
    assert_fault(nova.request(demo, "DELETE", f"/servers/{sid}/os-interface/{made}"), 404,
                 "itemNotFound")
    demo.network.delete_port(spare)


def test_floating_ip_shows_in_addresses(cloud, demo, nova, boot, net, unique):
    public = next(iter(demo.network.networks(name="public")))
    router = demo.network.create_router(name=unique("r"),
                                        external_gateway_info={"network_id": public.id})
    demo.network.add_interface_to_router(router, subnet=net[1].id)
    fip = demo.network.create_ip(floating_network_id=public.id)
    sid = boot("fip")["id"]
    try:
        wait_status(nova, demo, sid, "ACTIVE")
        cloud.cli("server", "add", "floating", "ip", sid, fip.floating_ip_address,
                  cloud="kumo", parse=False)
        addrs = nova.request(demo, "GET", f"/servers/{sid}").json()["server"][
            "addresses"]
        kinds = {a["addr"]: a["OS-EXT-IPS:type"] for a in addrs[net[0].name]}
        assert kinds[fip.floating_ip_address] == "floating"
        ips = nova.request(demo, "GET", f"/servers/{sid}/ips").json()["addresses"]
        assert {"version": 4, "addr": fip.floating_ip_address} in ips[net[0].name]
        found = nova.request(demo, "GET", "/servers/detail", params={
            "ip": fip.floating_ip_address.replace(".", r"\.")}).json()["servers"]
        assert [s["id"] for s in found] == [sid]
        nova.request(demo, "DELETE", f"/servers/{sid}")
        assert wait_for(lambda: demo.network.get_ip(fip.id).port_id is None)
    finally:
        nova.request(demo, "DELETE", f"/servers/{sid}")
        demo.network.delete_ip(fip)
        demo.network.remove_interface_from_router(router, subnet=net[1].id)
        demo.network.delete_router(router)
