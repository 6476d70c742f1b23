"""Floating IP port forwardings (Networking API v2.0 "Floating IPs port forwarding")
through openstacksdk, raw calls and the openstack CLI: create/list/show/update/delete,
ranges, the errors Neutron gives, the floating IP <-> port association exclusion, and
what the data plane's feed carries."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault


@pytest.fixture(scope="session")
def public(admin):
    return admin.network.find_network("public")


@pytest.fixture
def routed(demo, public, unique):
    """A demo network 10.41.0.0/24 routed to ``public``, two ports on it and a floating
    IP. Yields ``(subnet, router, port, port2, fip)``; all removed at the end."""
    network = demo.network.create_network(name=unique("pfnet"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.41.0.0/24")
    router = demo.network.create_router(name=unique("pfrouter"),
                                        external_gateway_info={"network_id": public.id})
    demo.network.add_interface_to_router(router, subnet=subnet.id)
    port = demo.network.create_port(network_id=network.id)
    port2 = demo.network.create_port(network_id=network.id)
    fip = demo.network.create_ip(floating_network_id=public.id)
    yield subnet, router, port, port2, fip
    demo.network.delete_ip(fip, ignore_missing=True)
    demo.network.remove_interface_from_router(router, subnet=subnet.id)
    demo.network.delete_router(router)
    for p in demo.network.ports(network_id=network.id):
        demo.network.delete_port(p, ignore_missing=True)
    demo.network.delete_network(network)


def _addr(port):
    return port.fixed_ips[0]["ip_address"]


def test_sdk_lifecycle(demo, routed, neutron):
    subnet, router, port, _, fip = routed
    pf = demo.network.create_port_forwarding(
        floatingip_id=fip.id, internal_port_id=port.id, internal_ip_address=_addr(port),
        internal_port=22, external_port=2222, protocol="tcp", description="ssh")
    assert (pf.internal_port, pf.external_port, pf.protocol) == (22, 2222, "tcp")
    assert pf.internal_ip_address == _addr(port) and pf.description == "ssh"
    shown = demo.network.get_port_forwarding(pf.id, fip.id)
    assert shown.internal_port_id == port.id
    raw = neutron.request(demo, "GET", f"/v2.0/floatingips/{fip.id}/port_forwardings/"
                          f"{pf.id}").json()["port_forwarding"]
    assert raw["external_port_range"] == "2222:2222" and "id" in raw
    got = demo.network.get_ip(fip.id)
    assert got.router_id == router.id and got.port_id is None
    assert got.port_forwardings == [{"protocol": "tcp", "internal_ip_address": _addr(port),
                                     "internal_port": 22, "external_port": 2222}]
    demo.network.update_port_forwarding(pf.id, fip.id, external_port=2200)
    assert [p.external_port for p in demo.network.port_forwardings(fip.id)] == [2200]
    assert [p.id for p in demo.network.port_forwardings(fip.id, external_port=2200)] \
        == [pf.id]
    assert list(demo.network.port_forwardings(fip.id, protocol="udp")) == []
    demo.network.delete_port_forwarding(pf.id, fip.id)
    with pytest.raises(sdk_exc.NotFoundException):
        demo.network.get_port_forwarding(pf.id, fip.id)
    assert demo.network.get_ip(fip.id).router_id is None


def test_ranges(demo, routed, neutron):
    _, _, port, _, fip = routed
    base = f"/v2.0/floatingips/{fip.id}/port_forwardings"
    resp = neutron.request(demo, "POST", base, json={"port_forwarding": {
        "internal_port_id": port.id, "internal_ip_address": _addr(port), "protocol": "udp",
        "internal_port_range": "5000:5009", "external_port_range": "6000:6009"}})
    assert resp.status_code == 201, resp.text
    pf = resp.json()["port_forwarding"]
    assert pf["external_port"] is None and pf["external_port_range"] == "6000:6009"
    # overlapping external ports on the same protocol: 400
    resp = neutron.request(demo, "POST", base, json={"port_forwarding": {
        "internal_port_id": port.id, "internal_ip_address": _addr(port), "protocol": "udp",
        "internal_port": 80, "external_port": 6005}})
    assert "duplicate" in assert_fault(resp, 400, "BadRequest")
    # sizes differ: 400
    resp = neutron.request(demo, "POST", base, json={"port_forwarding": {
        "internal_port_id": port.id, "internal_ip_address": _addr(port), "protocol": "tcp",
        "internal_port_range": "1:3", "external_port_range": "10:20"}})
    assert_fault(resp, 400, "BadRequest")
    for bad in ("0", "70000", "9:1", "a:b"):
        resp = neutron.request(demo, "POST", base, json={"port_forwarding": {
            "internal_port_id": port.id, "internal_ip_address": _addr(port),
            "protocol": "tcp", "internal_port": 22, "external_port_range": bad}})
        assert_fault(resp, 400, "HTTPBadRequest")


def test_errors(demo, admin, routed, neutron, public, other):
    _, _, port, port2, fip = routed
    base = f"/v2.0/floatingips/{fip.id}/port_forwardings"

    def body(**kw):
        b = {"internal_port_id": port.id, "internal_ip_address": _addr(port),
             "protocol": "tcp", "internal_port": 80, "external_port": 8080}
        b.update(kw)
        return {"port_forwarding": {k: v for k, v in b.items() if v is not None}}

    resp = neutron.request(demo, "POST", base, json=body(internal_ip_address="10.41.0.250"))
    assert "not suitable" in assert_fault(resp, 400, "BadRequest")
    resp = neutron.request(demo, "POST", base, json=body(protocol="icmp"))
    assert_fault(resp, 400, "HTTPBadRequest")
    resp = neutron.request(demo, "POST", base, json=body(protocol=None))
    assert_fault(resp, 400, "HTTPBadRequest")
    resp = neutron.request(demo, "POST", base, json=body(
        internal_port_id="00000000-0000-0000-0000-000000000000"))
    assert_fault(resp, 404, "PortNotFound")
    resp = neutron.request(demo, "POST", "/v2.0/floatingips/00000000-0000-0000-0000-"
                           "000000000000/port_forwardings", json=body())
    assert_fault(resp, 404, "FloatingIPNotFound")
    # another project sees no floating IP
    resp = neutron.request(other, "GET", base)
    assert_fault(resp, 404, "FloatingIPNotFound")
    resp = neutron.request(demo, "GET", base + "/00000000-0000-0000-0000-000000000000")
    assert_fault(resp, 404, "PortForwardingNotFound")
    # a port on a network no router connects to public: 404
    lonely = demo.network.create_network(name="pf-lonely")
    try:
        demo.network.create_subnet(network_id=lonely.id, ip_version=4, cidr="10.42.0.0/24")
        lp = demo.network.create_port(network_id=lonely.id)
        resp = neutron.request(demo, "POST", base, json=body(
            internal_port_id=lp.id, internal_ip_address=_addr(lp)))
        assert_fault(resp, 404, "ExternalGatewayForFloatingIPNotFound")
        demo.network.delete_port(lp)
    finally:
        demo.network.delete_network(lonely)
    assert neutron.request(demo, "POST", base, json=body()).status_code == 201
    # same external port and protocol again: 400; the same on udp is fine
    resp = neutron.request(demo, "POST", base, json=body(internal_port_id=port2.id,
                                                         internal_ip_address=_addr(port2)))
    assert "duplicate" in assert_fault(resp, 400, "BadRequest")
    assert neutron.request(demo, "POST", base, json=body(protocol="udp")).status_code == 201
    # a floating IP with forwardings cannot be associated with a port
    resp = neutron.request(demo, "PUT", f"/v2.0/floatingips/{fip.id}",
                           json={"floatingip": {"port_id": port2.id}})
    assert_fault(resp, 409, "FipInUseByPortForwarding")
    # and an associated floating IP gets no forwardings
    fip2 = demo.network.create_ip(floating_network_id=public.id, port_id=port2.id)
    try:
        resp = neutron.request(demo, "POST", f"/v2.0/floatingips/{fip2.id}/"
                               "port_forwardings", json=body(external_port=1))
        assert_fault(resp, 409, "PortForwardingConflict")
    finally:
        demo.network.delete_ip(fip2)
    # deleting the internal port deletes its forwardings
    demo.network.delete_port(port)
    assert list(demo.network.port_forwardings(fip.id)) == []
    assert demo.network.get_ip(fip.id).router_id is None


def test_feed_carries_forwardings(admin, demo, routed, neutron):
    _, router, port, _, fip = routed
    demo.network.create_port_forwarding(
        floatingip_id=fip.id, internal_port_id=port.id, internal_ip_address=_addr(port),
        internal_port=80, external_port=8080, protocol="tcp")
    state = neutron.request(admin, "GET", "/kumo/v1/state").json()
    item = next(f for f in state["floatingips"] if f["id"] == fip.id)
    assert item["router_id"] == router.id
    assert [(p["protocol"], p["internal_ip_address"], p["internal_port"],
             p["external_port"]) for p in item["port_forwardings"]] == [
        ("tcp", _addr(port), [80, 80], [8080, 8080])]


def test_cli(cloud, demo, routed):
    _, _, port, _, fip = routed
    made = cloud.cli("floating", "ip", "port", "forwarding", "create",
                     "--internal-ip-address", _addr(port), "--port", port.id,
                     "--internal-protocol-port", "80", "--external-protocol-port", "8080",
                     "--protocol", "tcp", "--description", "web", fip.id, cloud="kumo")
    assert made["external_port"] == 8080 and made["description"] == "web"
    listed = cloud.cli("floating", "ip", "port", "forwarding", "list", fip.id, cloud="kumo")
    assert [p["ID"] for p in listed] == [made["id"]]
    cloud.cli("floating", "ip", "port", "forwarding", "set", "--external-protocol-port",
              "8081", fip.id, made["id"], cloud="kumo", parse=False)
    shown = cloud.cli("floating", "ip", "port", "forwarding", "show", fip.id, made["id"],
                      cloud="kumo")
    assert shown["external_port"] == 8081
    cloud.cli("floating", "ip", "port", "forwarding", "delete", fip.id, made["id"],
              cloud="kumo", parse=False)
    assert cloud.cli("floating", "ip", "port", "forwarding", "list", fip.id,
                     cloud="kumo") == []
