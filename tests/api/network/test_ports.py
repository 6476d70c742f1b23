"""Ports (Networking API v2.0 "Ports", "Port binding", "Allowed address pairs",
"Extra DHCP option"): IPAM, errors, filters, policy and isolation."""
from __future__ import annotations

import threading

import requests

from tests.api.network.conftest import assert_fault


def test_port_crud_defaults(admin, demo, neutron, net):
    network, subnet = net
    port = demo.network.create_port(network_id=network.id, name="p1")
    assert port.mac_address.startswith("fa:16:3e:")
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.9.0.2"}]
    assert port.status == "DOWN" and port.is_admin_state_up is True
    assert port.binding_vnic_type == "normal" and port.is_port_security_enabled is True
    assert len(port.security_group_ids) == 1  # the project's default group
    body = neutron.request(demo, "GET", f"/v2.0/ports/{port.id}").json()["port"]
    assert "binding:host_id" not in body and "binding:vif_type" not in body
    seen = admin.network.get_port(port.id)
    assert seen.binding_vif_type == "unbound" and seen.binding_host_id == ""
    bound = admin.network.update_port(port, binding_host_id="host-1")
    assert bound.binding_vif_type == "bridge" and bound.binding_host_id == "host-1"
    port = demo.network.update_port(port, name="p2", device_id="dev-1",
                                    device_owner="compute:nova",
                                    extra_dhcp_opts=[{"opt_name": "bootfile-name",
                                                      "opt_value": "pxelinux.0"}],
                                    allowed_address_pairs=[{"ip_address": "10.9.0.100"}])
    assert port.name == "p2" and port.device_owner == "compute:nova"
    assert port.extra_dhcp_opts == [{"opt_name": "bootfile-name",
                                     "opt_value": "pxelinux.0", "ip_version": 4}]
    assert port.allowed_address_pairs == [{"ip_address": "10.9.0.100",
                                           "mac_address": port.mac_address}]
    assert port.revision_number == 2
    demo.network.delete_port(port)
    assert demo.network.find_port(port.id) is None
    again = demo.network.create_port(network_id=network.id)
    assert again.fixed_ips[0]["ip_address"] == "10.9.0.2"  # the address came back


def test_fixed_ip_requests_and_errors(admin, demo, neutron, net):
    network, subnet = net

    def create(**body):
        body.setdefault("network_id", network.id)
        return neutron.request(demo, "POST", "/v2.0/ports", json={"port": body})
    port = demo.network.create_port(network_id=network.id, fixed_ips=[
        {"subnet_id": subnet.id, "ip_address": "10.9.0.9"}])
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.9.0.9"}]
    by_ip = demo.network.create_port(network_id=network.id,
                                     fixed_ips=[{"ip_address": "10.9.0.10"}])
    assert by_ip.fixed_ips[0]["subnet_id"] == subnet.id
    assert_fault(create(fixed_ips=[{"ip_address": "10.9.0.9"}]), 409,
                 "IpAddressAlreadyAllocated")
    assert_fault(create(fixed_ips=[{"ip_address": "10.9.0.1"}]), 409,
                 "IpAddressAlreadyAllocated")  # the gateway
    assert_fault(create(fixed_ips=[{"ip_address": "10.10.0.5"}]), 400,
                 "InvalidIpForNetwork")
    assert_fault(create(fixed_ips=[{"subnet_id": subnet.id, "ip_address": "10.9.0.15"}]),
                 400, "InvalidIpForSubnet")  # broadcast
    assert_fault(create(mac_address=port.mac_address), 409, "MacAddressInUse")
    assert_fault(create(fixed_ips=[{"subnet_id": "nope"}]), 404, "SubnetNotFound")
    public_subnet = admin.network.find_subnet("public-subnet")
    assert_fault(create(fixed_ips=[{"subnet_id": public_subnet.id}]), 400, "InvalidInput")
    assert_fault(create(network_id="nope"), 404, "NetworkNotFound")
    assert_fault(create(binding_host="x", **{"binding:host_id": "h"}), 400,
                 "HTTPBadRequest")
    assert_fault(create(**{"binding:host_id": "h"}), 403, "PolicyNotAuthorized")
    # moving an address: keep .9, replace .10 by .11
    moved = demo.network.update_port(by_ip, fixed_ips=[{"ip_address": "10.9.0.11"}])
    assert moved.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.9.0.11"}]
    again = demo.network.create_port(network_id=network.id,
                                     fixed_ips=[{"ip_address": "10.9.0.10"}])
    assert again.fixed_ips[0]["ip_address"] == "10.9.0.10"
    no_ip = demo.network.create_port(network_id=network.id, fixed_ips=[])
    assert no_ip.fixed_ips == []


def test_port_security(demo, neutron, net):
    network, _ = net

    def create(**body):
        return neutron.request(demo, "POST", "/v2.0/ports",
                               json={"port": {"network_id": network.id, **body}})
    group = next(iter(demo.network.security_groups(name="default")))
    assert_fault(create(port_security_enabled=False, security_groups=[group.id]), 400,
                 "PortSecurityAndIPRequiredForSecurityGroups")
    assert_fault(create(port_security_enabled=False,
                        allowed_address_pairs=[{"ip_address": "10.1.1.1"}]), 409,
                 "AddressPairAndPortSecurityRequired")
    open_port = demo.network.create_port(network_id=network.id,
                                         port_security_enabled=False)
    assert open_port.security_group_ids == []
    port = demo.network.create_port(network_id=network.id)
    resp = neutron.request(demo, "PUT", f"/v2.0/ports/{port.id}",
                           json={"port": {"port_security_enabled": False}})
    assert_fault(resp, 409, "PortSecurityPortHasSecurityGroup")
    port = demo.network.update_port(port, port_security_enabled=False, security_groups=[])
    assert port.is_port_security_enabled is False and port.security_group_ids == []
    assert_fault(create(security_groups=["00000000-0000-0000-0000-000000000000"]), 404,
                 "SecurityGroupNotFound")


def test_bulk_create_all_or_nothing(demo, neutron, net):
    network, subnet = net
    resp = neutron.request(demo, "POST", "/v2.0/ports", json={"ports": [
        {"network_id": network.id, "name": "b1"},
        {"network_id": network.id, "name": "b2", "fixed_ips": [{"ip_address": "10.9.0.1"}]},
    ]})
    assert_fault(resp, 409, "IpAddressAlreadyAllocated")
    assert list(demo.network.ports(network_id=network.id)) == []
    resp = neutron.request(demo, "POST", "/v2.0/ports", json={"ports": [
        {"network_id": network.id, "name": "b1"}, {"network_id": network.id, "name": "b2"}]})
    assert resp.status_code == 201
    assert [p["fixed_ips"][0]["ip_address"] for p in resp.json()["ports"]] == [
        "10.9.0.2", "10.9.0.3"]


def test_filters_sort_pagination_fields(admin, demo, neutron, net):
    network, subnet = net
    ports = [demo.network.create_port(network_id=network.id, name=f"f{i}",
                                      device_owner="compute:nova" if i % 2 else "",
                                      device_id=f"dev-{i}") for i in range(5)]
    ip3 = ports[3].fixed_ips[0]["ip_address"]
    found = list(demo.network.ports(fixed_ips=[f"ip_address={ip3}"]))
    assert [p.id for p in found] == [ports[3].id]
    assert len(list(demo.network.ports(fixed_ips=[f"subnet_id={subnet.id}"]))) == 5
    assert {p.id for p in demo.network.ports(network_id=network.id,
                                             device_owner="compute:nova")} == {
        ports[1].id, ports[3].id}
    assert [p.id for p in demo.network.ports(device_id="dev-4")] == [ports[4].id]
    assert [p.id for p in demo.network.ports(mac_address=ports[2].mac_address)] == [
        ports[2].id]
    admin.network.update_port(ports[0], binding_host_id="host-f")
    assert [p.id for p in admin.network.ports(binding_host_id="host-f")] == [ports[0].id]
    resp = neutron.request(demo, "GET", "/v2.0/ports", params={
        "network_id": network.id, "sort_key": "name", "sort_dir": "desc", "limit": 2,
        "fields": ["id", "name"]})
    body = resp.json()
    assert [p["name"] for p in body["ports"]] == ["f4", "f3"]
    assert set(body["ports"][0]) == {"id", "name"}
    assert [link["rel"] for link in body["ports_links"]] == ["next"]
    nxt = demo.session.get(body["ports_links"][0]["href"]).json()
    assert [p["name"] for p in nxt["ports"]] == ["f2", "f1"]
    names = [p.name for p in demo.network.ports(network_id=network.id, sort_key="name",
                                                sort_dir="asc", limit=2)]
    assert names == ["f0", "f1", "f2", "f3", "f4"]
    resp = neutron.request(demo, "PUT", f"/v2.0/ports/{ports[0].id}",
                           json={"port": {"name": "x"}},
                           headers={"If-Match": "revision_number=99"})
    assert_fault(resp, 412, "RevisionNumberConstraintFailed")
    resp = neutron.request(demo, "PUT", f"/v2.0/ports/{ports[1].id}",
                           json={"port": {"name": "x"}},
                           headers={"If-Match": "revision_number=0"})
    assert resp.status_code == 200 and resp.json()["port"]["revision_number"] == 1


def test_concurrent_allocation_exhaustion_and_release(cloud, demo, unique):
    network = demo.network.create_network(name=unique("conc"))
    demo.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.8.0.0/27")
    url = cloud.url + "/networking/v2.0/ports"
    token = demo.session.get_token()
    results, errors = [], []

    def worker():
        with requests.Session() as http:
            resp = http.post(url, json={"port": {"network_id": network.id}},
                             headers={"X-Auth-Token": token})
            (results if resp.status_code == 201 else errors).append(resp)
    try:
        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, [e.text for e in errors]
        ips = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in results]
        assert len(set(ips)) == 20
        for _ in range(9):  # a /27 has 29 addresses besides the gateway
            demo.network.create_port(network_id=network.id)
        with requests.Session() as http:
            resp = http.post(url, json={"port": {"network_id": network.id}},
                             headers={"X-Auth-Token": token})
            assert_fault(resp, 409, "IpAddressGenerationFailure")
            freed = [r.json()["port"] for r in results[:3]]
            for port in freed:
                assert http.delete(f"{url}/{port['id']}",
                                   headers={"X-Auth-Token": token}).status_code == 204
        again = [demo.network.create_port(network_id=network.id) for _ in range(3)]
        assert sorted(p.fixed_ips[0]["ip_address"] for p in again) == sorted(
            p["fixed_ips"][0]["ip_address"] for p in freed)
    finally:
        for port in demo.network.ports(network_id=network.id):
            demo.network.delete_port(port)
        demo.network.delete_network(network)


def test_project_isolation(admin, demo, other, neutron, net, unique):
    network, subnet = net
    port = demo.network.create_port(network_id=network.id)
    assert_fault(neutron.request(other, "GET", f"/v2.0/ports/{port.id}"), 404,
                 "PortNotFound")
    assert_fault(neutron.request(other, "GET", f"/v2.0/networks/{network.id}"), 404,
                 "NetworkNotFound")
    assert_fault(neutron.request(other, "PUT", f"/v2.0/ports/{port.id}",
                                 json={"port": {"name": "x"}}), 404, "PortNotFound")
    assert_fault(neutron.request(other, "DELETE", f"/v2.0/ports/{port.id}"), 404,
                 "PortNotFound")
    assert_fault(neutron.request(other, "POST", "/v2.0/ports", json={
        "port": {"network_id": network.id}}), 404, "NetworkNotFound")
    assert port.id not in [p.id for p in other.network.ports()]
    public = admin.network.find_network("public")  # external, not shared
    assert_fault(neutron.request(other, "POST", "/v2.0/ports", json={
        "port": {"network_id": public.id}}), 404, "NetworkNotFound")
    # a shared network takes ports of every project; its owner sees them
    shared = admin.network.create_network(name=unique("shared"), shared=True)
    try:
        admin.network.create_subnet(network_id=shared.id, ip_version=4,
                                    cidr="10.60.0.0/24")
        mine = other.network.create_port(network_id=shared.id)
        assert mine.project_id == other.project_id_
        assert_fault(neutron.request(other, "POST", "/v2.0/ports", json={"port": {
            "network_id": shared.id, "fixed_ips": [{"ip_address": "10.60.0.50"}]}}),
            403, "PolicyNotAuthorized")
        assert mine.id in [p.id for p in admin.network.ports(network_id=shared.id)]
        assert mine.id not in [p.id for p in demo.network.ports()]
        other.network.delete_port(mine)
    finally:
        for p in admin.network.ports(network_id=shared.id):
            admin.network.delete_port(p)
        admin.network.delete_network(shared)


def test_port_cli(cloud, demo, net):
    network, subnet = net
    port = cloud.cli("port", "create", "--network", network.id, "--fixed-ip",
                     f"subnet={subnet.id},ip-address=10.9.0.7", "cli-port", cloud="kumo")
    assert port["fixed_ips"] == [{"subnet_id": subnet.id, "ip_address": "10.9.0.7"}]
    listed = cloud.cli("port", "list", "--fixed-ip", "ip-address=10.9.0.7", cloud="kumo")
    assert [p["ID"] for p in listed] == [port["id"]]
    cloud.cli("port", "delete", port["id"], cloud="kumo", parse=False)


def test_extensions(demo):
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"binding", "allowed-address-pairs", "extra_dhcp_opt", "subnet_allocation",
            "address-scope", "default-subnetpools", "subnet-service-types"} <= aliases


def test_port_changes_in_feed_follow_the_binding_host(admin, demo, net):
    network, _ = net
    base = admin.network.get_endpoint().rstrip("/")[:-len("/v2.0")]
    since = admin.session.get(base + "/kumo/v1/state").json()["revision"]
    port = demo.network.create_port(network_id=network.id)
    admin.network.update_port(port, binding_host_id="host-a")
    admin.network.update_port(port, binding_host_id="host-b")
    changes = [(c["op"], c["host"]) for c in admin.session.get(
        base + f"/kumo/v1/changes?since={since}").json()["changes"]
        if c["resource_id"] == port.id]
    assert changes == [("update", None), ("update", "host-a"), ("delete", "host-a"),
                       ("update", "host-b")]
    for_a = admin.session.get(base + f"/kumo/v1/changes?since={since}&host=host-a").json()
    assert ("delete", "host-a") in [(c["op"], c["host"]) for c in for_a["changes"]
                                    if c["resource_id"] == port.id]


def test_reader_cannot_write(admin, cloud, neutron, net, make_user, ids):
    network, _ = net
    person = make_user(role="reader", project_id=ids["demo_project"])
    reader = cloud.connect(username=person.name, password=person.password,
                           user_domain_id="default", project_id=ids["demo_project"])
    try:
        assert network.id in [n.id for n in reader.network.networks()]
        assert_fault(neutron.request(reader, "POST", "/v2.0/ports", json={
            "port": {"network_id": network.id}}), 403, "PolicyNotAuthorized")
        assert_fault(neutron.request(reader, "POST", "/v2.0/subnets", json={"subnet": {
            "network_id": network.id, "ip_version": 4, "cidr": "10.90.0.0/24"}}),
            403, "PolicyNotAuthorized")
    finally:
        reader.close()


def test_feed_snapshot_has_subnets_and_host_ports(admin, demo, net):
    network, subnet = net
    port = demo.network.create_port(network_id=network.id)
    admin.network.update_port(port, binding_host_id="host-snap")
    base = admin.network.get_endpoint().rstrip("/")[:-len("/v2.0")]
    snap = admin.session.get(base + "/kumo/v1/state?host=host-snap").json()
    assert subnet.id in [s["id"] for s in snap["subnets"]]
    mine = [p for p in snap["ports"] if p["id"] == port.id]
    assert mine and mine[0]["binding:host_id"] == "host-snap"
    other = admin.session.get(base + "/kumo/v1/state?host=elsewhere").json()
    assert port.id not in [p["id"] for p in other["ports"]]
