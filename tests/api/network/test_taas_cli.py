"""Tap-as-a-Service (issue 14) through the standard CLI: ``openstack tap service
create/list/show/update/delete`` and ``openstack tap flow create/list/show/update/
delete`` (python-openstackclient's network/v2/taas) as a project member, on both
databases; the errors the API refuses show the Neutron message and change nothing.
The API's own checks are in test_taas.py."""
from __future__ import annotations

import pytest


@pytest.fixture
def ports(demo, unique):
    """Four demo ports: three on one network, one on a second network."""
    nets = []
    for cidr in ("10.77.0.0/28", "10.77.1.0/28"):
        network = demo.network.create_network(name=unique("tcn"))
        demo.network.create_subnet(network_id=network.id, ip_version=4, cidr=cidr)
        nets.append(network)
    made = [demo.network.create_port(network_id=nets[0].id, name=unique("tcp"))
            for _ in range(3)]
    made.append(demo.network.create_port(network_id=nets[1].id, name=unique("tcq")))
    yield made
    for network in nets:
        for port in demo.network.ports(network_id=network.id):
            demo.network.delete_port(port, ignore_missing=True)
        demo.network.delete_network(network, ignore_missing=True)


def _cli(cloud):
    def run(*args, **kw):
        return cloud.cli(*args, cloud="kumo", **kw)
    return run


def _fails(cloud, *args, parse: bool = True) -> str:
    proc = cloud.cli(*args, cloud="kumo", check=False, parse=parse)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def test_tap_service_cli(cloud, demo, ports, unique):
    cli = _cli(cloud)
    port = ports[0]
    name = unique("ts")
    made = cli("tap", "service", "create", "--name", name, "--port", port.name,
               "--description", "analyzer")
    try:
        assert (made["name"], made["port_id"], made["description"], made["status"]) \
            == (name, port.id, "analyzer", "DOWN")
        assert made["project_id"] == demo.current_project_id
        listed = {s["ID"]: s for s in cli("tap", "service", "list")}
        assert listed[made["id"]]["Name"] == name
        assert listed[made["id"]]["Port"] == port.id
        assert listed[made["id"]]["Status"] == "DOWN"
        by_project = cli("tap", "service", "list", "--project", "demo")
        assert made["id"] in {s["ID"] for s in by_project}
        shown = cli("tap", "service", "show", name)
        assert (shown["id"], shown["port_id"]) == (made["id"], port.id)
        updated = cli("tap", "service", "update", name, "--name", name + "-2",
                      "--description", "ids")
        assert (updated["name"], updated["description"]) == (name + "-2", "ids")
        assert cli("tap", "service", "show", made["id"])["description"] == "ids"
        # one tap service per port: the CLI shows Neutron's 409
        err = _fails(cloud, "tap", "service", "create", "--name", unique("ts"),
                     "--port", port.id)
        assert "ConflictException: 409" in err, err
        assert (f"Unable to complete operation on port {port.id}: it is already the port "
                f"of tap service {made['id']}.") in err, err
        # a port the CLI cannot find
        err = _fails(cloud, "tap", "service", "create", "--port", "no-such-port")
        assert "no-such-port" in err, err
        assert [s["ID"] for s in cli("tap", "service", "list")] == [made["id"]]
        cli("tap", "service", "delete", name + "-2", parse=False)
        made = None
        assert cli("tap", "service", "list") == []
        err = _fails(cloud, "tap", "service", "show", name + "-2")
        assert name + "-2" in err, err
    finally:
        if made is not None:
            cli("tap", "service", "delete", made["id"], parse=False, check=False)


def test_tap_flow_cli(cloud, demo, ports, unique):
    cli = _cli(cloud)
    service_port, src_in, src_out, src_other_net = ports
    service = cli("tap", "service", "create", "--name", unique("ts"), "--port",
                  service_port.id)
    try:
        flows = {}
        for direction, port in (("IN", src_in), ("out", src_out),
                                ("BOTH", src_other_net)):
            name = unique("tf")
            flow = cli("tap", "flow", "create", "--name", name, "--port", port.name,
                       "--tap-service", service["name"], "--direction", direction,
                       "--description", f"mirror {direction}")
            assert (flow["name"], flow["source_port"], flow["tap_service_id"],
                    flow["direction"], flow["status"], flow["vlan_filter"]) == \
                (name, port.id, service["id"], direction.upper(), "DOWN", None)
            assert flow["description"] == f"mirror {direction}"
            flows[direction.upper()] = flow
        listed = {f["ID"]: f for f in cli("tap", "flow", "list")}
        assert set(listed) == {f["id"] for f in flows.values()}
        row = listed[flows["IN"]["id"]]
        assert (row["source_port"], row["tap_service_id"], row["Direction"],
                row["Status"]) == (src_in.id, service["id"], "IN", "DOWN")
        assert {f["ID"] for f in cli("tap", "flow", "list", "--project", "demo")} == \
            set(listed)
        shown = cli("tap", "flow", "show", flows["OUT"]["name"])
        assert (shown["id"], shown["direction"]) == (flows["OUT"]["id"], "OUT")
        updated = cli("tap", "flow", "update", flows["OUT"]["id"], "--name", "renamed",
                      "--description", "changed")
        assert (updated["Name"], updated["Direction"]) == ("renamed", "OUT")
        shown = cli("tap", "flow", "show", "renamed")
        assert (shown["name"], shown["description"], shown["direction"]) == \
            ("renamed", "changed", "OUT")
        # what the API refuses, the CLI shows with Neutron's message, creating nothing
        err = _fails(cloud, "tap", "flow", "create", "--port", service_port.id,
                     "--tap-service", service["id"], "--direction", "IN")
        assert "BadRequestException: 400" in err, err
        err = _fails(cloud, "tap", "flow", "create", "--port", src_in.id,
                     "--tap-service", service["id"], "--direction", "IN",
                     "--vlan-filter", "10-20")
        assert "BadRequestException: 400" in err and "vlan_filter" in err, err
        err = _fails(cloud, "tap", "flow", "create", "--port", src_in.id,
                     "--tap-service", "no-such-service", "--direction", "IN")
        assert "no-such-service" in err, err
        err = _fails(cloud, "tap", "flow", "create", "--port", src_in.id,
                     "--tap-service", service["id"], "--direction", "SIDEWAYS")
        assert "invalid choice" in err, err
        # another project's port or service: not found for demo
        other_port = cloud.connect().network.create_port(
            network_id=cloud.connect().network.create_network(name=unique("tco")).id)
        try:
            err = _fails(cloud, "tap", "flow", "create", "--port", other_port.id,
                         "--tap-service", service["id"], "--direction", "IN")
            assert other_port.id in err, err
        finally:
            admin = cloud.connect()
            admin.network.delete_port(other_port)
            admin.network.delete_network(other_port.network_id)
        assert {f["ID"] for f in cli("tap", "flow", "list")} == set(listed)

        cli("tap", "flow", "delete", "renamed", flows["IN"]["id"], parse=False)
        assert [f["ID"] for f in cli("tap", "flow", "list")] == [flows["BOTH"]["id"]]
        err = _fails(cloud, "tap", "flow", "delete", "renamed", parse=False)
        assert "renamed" in err, err
        # deleting the service takes its last flow
        cli("tap", "service", "delete", service["id"], parse=False)
        service = None
        assert cli("tap", "flow", "list") == []
    finally:
        if service is not None:
            cli("tap", "service", "delete", service["id"], parse=False, check=False)
