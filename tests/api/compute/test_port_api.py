"""Compute reaches ports through networking's port API (kumo.network.port_api), inside
one transaction with the instance rows, and networking's own callbacks still run when
compute removes a port."""
from __future__ import annotations

from tests.api.compute.conftest import assert_fault, wait_status


def _server_ports(conn, network_id: str) -> list:
    return [p for p in conn.network.ports(network_id=network_id)
            if p.device_owner == "compute:nova"]


def test_a_port_failing_after_another_was_made_leaves_nothing(demo, nova, image_id, net,
                                                              unique):
    """The first port is made, the second one's address is not on the network: the
    create fails and neither the server nor the first port exists."""
    name = unique("half")
    resp = nova.request(demo, "POST", "/servers", json={"server": {
        "name": name, "imageRef": image_id, "flavorRef": "42",
        "networks": [{"uuid": net[0].id}, {"uuid": net[0].id, "fixed_ip": "10.99.0.5"}]}})
    assert_fault(resp, 400, "badRequest")
    assert not [s for s in demo.compute.servers() if s.name == name]
    assert _server_ports(demo, net[0].id) == []


def test_deleting_a_server_disassociates_its_floating_ip(demo, nova, net, boot, unique):
    """The server's port goes through the port API; the PORT PRECOMMIT_DELETE
    subscription of floating IPs lets the address go, as a DELETE /ports would."""
    network, subnet = net
    public = demo.network.find_network("public")
    router = demo.network.create_router(name=unique("r"),
                                        external_gateway_info={"network_id": public.id})
    demo.network.add_interface_to_router(router, subnet_id=subnet.id)
    fip = None
    try:
        made = boot(unique("fip"))
        wait_status(nova, demo, made["id"], "ACTIVE")
        (port,) = demo.network.ports(device_id=made["id"])
        fip = demo.network.create_ip(floating_network_id=public.id, port_id=port.id)
        body = nova.request(demo, "GET", f"/servers/{made['id']}").json()["server"]
        kinds = {a["OS-EXT-IPS:type"] for a in body["addresses"][network.name]}
        assert kinds == {"fixed", "floating"}
        assert nova.request(demo, "DELETE", f"/servers/{made['id']}").status_code == 204
        fip = demo.network.get_ip(fip.id)
        assert fip.port_id is None and fip.fixed_ip_address is None
        assert demo.network.find_port(port.id) is None
    finally:
        if fip is not None:
            demo.network.delete_ip(fip, ignore_missing=True)
        demo.network.remove_interface_from_router(router, subnet_id=subnet.id)
        demo.network.delete_router(router, ignore_missing=True)
