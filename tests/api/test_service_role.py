"""Agents are not admins (issue 10): Keystone's bootstrap roles (``admin`` > ``manager``
> ``member`` > ``reader``, and ``service``), the agents' service user ``kumo-agent``
(role ``service`` on project ``service``), what that user may do (the data-plane feed,
status and heartbeat routes of networking and compute; DHCP ports in any project's
network, as Neutron's ``service_api`` rules allow; image downloads) and what it may not
(identity administration, networks in other projects, other projects' servers), and
that a plain member cannot call the feed routes."""
from __future__ import annotations

import os
import stat
import uuid

import pytest
import yaml

from kumo.agent import client as api
from kumo.agent.compute import ComputeClient


@pytest.fixture(scope="module")
def agent(cloud):
    """The agents' client, from the ``kumo-agent`` cloud ``kumo up`` wrote."""
    return api.ControllerClient.from_cloud("kumo-agent", config_files=[str(cloud.clouds_yaml)])


@pytest.fixture(scope="module")
def member(cloud):
    """The same client as the demo user (a plain member)."""
    return api.ControllerClient.from_cloud("kumo", config_files=[str(cloud.clouds_yaml)])


@pytest.fixture
def demo_net(demo, unique):
    """A network and subnet of project demo (made by demo)."""
    net = demo.network.create_network(name=unique("svc-net"))
    subnet = demo.network.create_subnet(network_id=net.id, cidr="10.91.0.0/24",
                                        ip_version=4)
    yield net, subnet
    for port in demo.network.ports(network_id=net.id):
        demo.network.delete_port(port.id)
    demo.network.delete_network(net.id)


def _status(fn, *args, **kwargs) -> int:
    try:
        fn(*args, **kwargs)
    except api.ControllerError as e:
        return e.status
    return 200


def test_bootstrap_roles_and_implied_chain(cloud):
    roles = {r["Name"] for r in cloud.cli("role", "list")}
    assert {"admin", "manager", "member", "reader", "service"} <= roles
    rows = cloud.cli("implied", "role", "list")
    pairs = {(r["Prior Role Name"], r["Implied Role Name"]) for r in rows}
    assert {("admin", "manager"), ("manager", "member"), ("member", "reader")} <= pairs
    assert ("admin", "member") not in pairs  # Keystone's bootstrap removes it
    assert not any(prior == "service" for prior, _ in pairs)


def test_agent_user_holds_only_the_service_role(cloud, admin):
    project = next(iter(admin.identity.projects(name="service")))
    user = next(iter(admin.identity.users(name="kumo-agent")))
    rows = cloud.cli("role", "assignment", "list", "--user", user.id, "--names")
    assert [(r["Role"], r["Project"]) for r in rows] == [("service", "service@Default")]
    assert project.id
    token = cloud.cli("token", "issue", cloud="kumo-agent")
    assert token["project_id"] == project.id


def test_clouds_yaml_and_password_file_are_private(cloud):
    state = cloud.state_dir
    for name in ("clouds.yaml", "agent_password"):
        assert stat.S_IMODE(os.stat(state / name).st_mode) == 0o600, name
    clouds = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]
    auth = clouds["kumo-agent"]["auth"]
    assert (auth["username"], auth["project_name"]) == ("kumo-agent", "service")
    assert auth["password"] == (state / "agent_password").read_text().strip()
    home = cloud.env["HOME"]
    mine = yaml.safe_load(open(f"{home}/.config/openstack/clouds.yaml"))["clouds"]
    assert "kumo-agent" not in mine and "kumo-admin" in mine


def test_agent_user_calls_the_feed_and_status_routes(agent, admin, demo_net):
    host = f"svc-{uuid.uuid4().hex[:8]}"
    snap = agent.snapshot(host)
    assert "revision" in snap and "ports" in snap
    assert "changes" in agent.changes(snap["revision"], host, wait=0)
    row = agent.heartbeat(host, "DHCP agent", "neutron-dhcp-agent", {}, start_flag=True)
    assert row["host"] == host
    port = admin.network.create_port(network_id=demo_net[0].id, binding_host_id=host)
    agent.report_port_status(port.id, "ACTIVE")
    assert admin.network.get_port(port.id).status == "ACTIVE"
    compute = ComputeClient.from_controller(agent)
    csnap = compute.snapshot(host)
    assert "instances" in csnap
    assert "changes" in compute.changes(csnap["revision"], host, wait=0)
    compute.heartbeat({"host": host, "hypervisor_type": "fake",
                       "hypervisor_hostname": host, "vcpus": 1, "memory_mb": 512,
                       "local_gb": 1, "availability_zone": None, "driver": "fake",
                       "host_ip": ""})
    assert _status(compute.report_status, str(uuid.uuid4()),
                   {"host": host, "power_state": "running"}) == 404  # allowed; no such server
    for svc in admin.compute.services(host=host):
        admin.compute.delete_service(svc.id)
    for a in admin.network.agents(host=host):
        admin.network.delete_agent(a.id)


def test_agent_user_makes_a_dhcp_port_in_another_projects_network(agent, demo, demo_net):
    net, subnet = demo_net
    host = f"svc-{uuid.uuid4().hex[:8]}"
    body = {"network_id": net.id, "project_id": net.project_id,
            "device_owner": "network:dhcp", "device_id": f"dhcp-{host}",
            "binding:host_id": host, "fixed_ips": [{"subnet_id": subnet.id}]}
    port = agent.create_port(body)
    assert port["project_id"] == net.project_id
    assert port["binding:host_id"] == host  # binding fields are shown to the service
    listed = agent.list_ports(network_id=net.id)
    assert port["id"] in [p["id"] for p in listed]
    other = f"{host}-b"
    moved = agent.update_port(port["id"], {"binding:host_id": other})
    assert moved["binding:host_id"] == other
    assert demo.network.get_port(port["id"]).device_owner == "network:dhcp"
    assert agent.delete_port(port["id"]) is True
    assert agent.delete_port(port["id"]) is False  # already gone
    assert _status(agent.call, "GET", f"/v2.0/ports/{port['id']}") == 404


def test_agent_user_is_not_an_admin(cloud, agent, demo, unique):
    identity = agent.for_service("identity")
    assert _status(identity.call, "POST", "/v3/users",
                   {"user": {"name": unique("nope"), "password": "x"}}) == 403
    assert _status(identity.call, "GET", "/v3/projects") == 403
    demo_project = demo.current_project_id
    assert _status(agent.call, "POST", "/v2.0/networks",
                   {"network": {"name": unique("n"), "project_id": demo_project}}) == 403
    assert _status(agent.call, "POST", "/v2.0/networks",
                   {"network": {"name": unique("n")}}) == 403
    compute = agent.for_service("compute")
    assert _status(compute.call, "GET", "/v2.1/servers/detail",
                   params={"all_tenants": "1"}) == 403
    assert _status(agent.for_service("image").call, "GET", "/v2/images") == 403


def test_agent_user_downloads_a_private_image(agent, demo, unique):
    image = demo.image.create_image(name=unique("svc-img"), data=b"private bytes",
                                    disk_format="raw", container_format="bare",
                                    visibility="private")
    try:
        compute = ComputeClient.from_controller(agent)
        assert b"".join(compute.download(image.id)) == b"private bytes"
        images = agent.for_service("image")
        assert _status(images.call, "PATCH", f"/v2/images/{image.id}", None) in (
            403, 415)
        assert _status(images.call, "DELETE", f"/v2/images/{image.id}") == 403
    finally:
        demo.image.delete_image(image.id)


def test_a_member_cannot_call_the_feed_routes(member):
    host = "member-host"
    assert _status(member.snapshot, host) == 403
    assert _status(member.changes, 0, host) == 403
    assert _status(member.heartbeat, host, "DHCP agent") == 403
    assert _status(member.report_port_status, str(uuid.uuid4()), "ACTIVE") == 403
    assert _status(member.report_floatingip_status, str(uuid.uuid4()), "ACTIVE") == 403
    compute = ComputeClient.from_controller(member)
    assert _status(compute.snapshot, host) == 403
    assert _status(compute.heartbeat, {"host": host}) == 403
