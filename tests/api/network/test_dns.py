"""DNS integration (dns-integration, dns-domain-ports) through openstacksdk, raw calls
and the CLI: ``dns_name`` validated as Neutron validates it, ``dns_assignment`` from
the port's name and the network's ``dns_domain``, ``dns_domain`` on ports and floating
IPs, and a server's port named after the server's hostname."""
from __future__ import annotations

import pytest

from tests.api.network.conftest import assert_fault


def test_port_dns_name_and_assignment(demo, net, neutron):
    network, subnet = net
    port = demo.network.create_port(network_id=network.id, dns_name="web-1")
    ip = port.fixed_ips[0]["ip_address"]
    assert port.dns_name == "web-1"
    assert port.dns_assignment == [{"hostname": "web-1", "ip_address": ip,
                                    "fqdn": "web-1.openstacklocal."}]
    demo.network.update_network(network, dns_domain="example.org.")
    shown = demo.network.get_port(port.id)
    assert shown.dns_assignment[0]["fqdn"] == "web-1.example.org."
    listed = [p for p in demo.network.ports(dns_name="web-1")]
    assert [p.id for p in listed] == [port.id]
    assert listed[0].dns_assignment[0]["fqdn"] == "web-1.example.org."
    demo.network.update_port(port, dns_name="")
    shown = demo.network.get_port(port.id)
    host = "host-" + ip.replace(".", "-")
    assert shown.dns_name == "" and shown.dns_assignment == [
        {"hostname": host, "ip_address": ip, "fqdn": f"{host}.example.org."}]
    demo.network.update_port(port, dns_domain="port.example.net.")
    assert demo.network.get_port(port.id).dns_domain == "port.example.net."


@pytest.mark.parametrize("bad", ["-web", "web-", "a" * 64, "web_1", "web.123", "wé b"])
def test_bad_dns_names(demo, net, neutron, bad):
    network, _ = net
    resp = neutron.request(demo, "POST", "/v2.0/ports", json={"port": {
        "network_id": network.id, "dns_name": bad}})
    assert "dns_name" in assert_fault(resp, 400, "HTTPBadRequest")
    assert list(demo.network.ports(network_id=network.id)) == []


def test_bad_dns_domains(demo, net, neutron):
    network, _ = net
    resp = neutron.request(demo, "PUT", f"/v2.0/networks/{network.id}",
                           json={"network": {"dns_domain": "bad_domain..org"}})
    assert_fault(resp, 400, "HTTPBadRequest")
    resp = neutron.request(demo, "POST", "/v2.0/ports", json={"port": {
        "network_id": network.id, "dns_domain": "-x.org."}})
    assert_fault(resp, 400, "HTTPBadRequest")


def test_extensions_listed(demo):
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"dns-integration", "dns-domain-ports"} <= aliases


def test_cli_port_dns_name(cloud, net):
    network, _ = net
    made = cloud.cli("port", "create", "--network", network.id, "--dns-name", "db-0",
                     "--dns-domain", "x.example.", "p-dns", cloud="kumo")
    assert made["dns_name"] == "db-0" and made["dns_domain"] == "x.example."
    assert made["dns_assignment"][0]["hostname"] == "db-0"
    cloud.cli("port", "set", "--dns-name", "db-1", made["id"], cloud="kumo", parse=False)
    shown = cloud.cli("port", "show", made["id"], cloud="kumo")
    assert shown["dns_name"] == "db-1"


def test_floating_ip_dns(demo, admin, neutron):
    public = admin.network.find_network("public", ignore_missing=False)
    fip = demo.network.create_ip(floating_network_id=public.id, dns_name="pub",
                                 dns_domain="example.org.")
    try:
        assert (fip.dns_name, fip.dns_domain) == ("pub", "example.org.")
    finally:
        demo.network.delete_ip(fip)
    resp = neutron.request(demo, "POST", "/v2.0/floatingips", json={"floatingip": {
        "floating_network_id": public.id, "dns_name": "-no"}})
    assert_fault(resp, 400, "HTTPBadRequest")


def test_server_port_gets_the_hostname(admin, demo, net):
    network, _ = net
    flavor = next(iter(admin.compute.flavors())).id
    image = next(iter(admin.image.images())).id
    server = demo.compute.create_server(name="Web Server_1", flavor_id=flavor,
                                        image_id=image, networks=[{"uuid": network.id}])
    try:
        server = demo.compute.wait_for_server(server, wait=120)
        ports = list(demo.network.ports(device_id=server.id))
        assert [p.dns_name for p in ports] == ["web-server-1"]
        assert ports[0].dns_assignment[0]["hostname"] == "web-server-1"
    finally:
        demo.compute.delete_server(server)
        demo.compute.wait_for_delete(server, wait=120)
