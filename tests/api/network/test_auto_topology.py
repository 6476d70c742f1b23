"""Auto-allocated topology ("get me a network") through openstacksdk, raw calls and the
openstack CLI: the default external network (``is_default``) and default subnet pool
a fresh cloud has (as DevStack), the 409s without them (the defaults are unset for the
test and restored), the dry run (``--check-resources``), idempotent
creation, deletion, and Nova's ``networks: "auto"`` (2.37+) building it on a fresh
project's first boot."""
from __future__ import annotations

import contextlib

import pytest
from openstack import exceptions as sdk_exc

from tests.api.network.conftest import assert_fault

#: The shared default IPv4 pool the first start makes (kumo/network/bootstrap.py).
POOL = "shared-default-subnetpool-v4"


@pytest.fixture
def defaults(admin):
    """The bootstrapped default external network ``public`` and default pool."""
    public = admin.network.find_network("public", ignore_missing=False)
    pool = admin.network.find_subnet_pool(POOL, ignore_missing=False)
    assert public.is_default is True and pool.is_default is True
    return public, pool


@contextlib.contextmanager
def no_default_network(admin):
    """``public`` is not the default external network for the block (restored after,
    pass or fail: the test servers are shared)."""
    public = admin.network.find_network("public", ignore_missing=False)
    admin.network.update_network(public, is_default=False)
    try:
        yield public
    finally:
        admin.network.update_network(public, is_default=True)


@contextlib.contextmanager
def no_default_pool(admin):
    """The bootstrapped pool is not the default for the block (restored after)."""
    pool = admin.network.find_subnet_pool(POOL, ignore_missing=False)
    admin.network.update_subnet_pool(pool, is_default=False)
    try:
        yield pool
    finally:
        admin.network.update_subnet_pool(pool, is_default=True)


def _cleanup(admin, project_id):
    admin.network.delete_auto_allocated_topology(project_id, ignore_missing=True)


def _own_cloud(cloud, conn, tmp_path) -> dict:
    """A clouds.yaml with the cloud ``fresh``: ``conn``'s user in its project; returns
    the environment that makes the CLI read it."""
    import yaml

    from tests.api.helpers import PASSWORD

    config = tmp_path / "clouds.yaml"
    config.write_text(yaml.safe_dump({"clouds": {"fresh": {
        "auth": {"auth_url": cloud.url + "/identity", "username": conn.user_name_,
                 "password": PASSWORD, "project_id": conn.project_id_,
                 "user_domain_id": "default", "project_domain_id": "default"},
        "region_name": "RegionOne", "identity_api_version": 3}}}))
    return {"OS_CLIENT_CONFIG_FILE": str(config)}


def test_fresh_cloud_has_the_defaults(cloud, admin, demo):
    """As DevStack: ``public`` is the default external network, the shared default
    IPv4 pool 10.0.0.0/22 (/26 subnets) exists, and demo's ``private-subnet``
    (10.0.0.0/26, gateway 10.0.0.1) is allocated from it."""
    public = admin.network.find_network("public", ignore_missing=False)
    assert public.is_default is True and public.is_router_external is True
    shown = cloud.cli("network", "show", "public")
    assert shown["is_default"] is True
    pools = [p for p in admin.network.subnet_pools(is_default=True) if p.ip_version == 4]
    assert [p.name for p in pools] == [POOL]
    pool = pools[0]
    assert pool.is_shared is True and pool.prefixes == ["10.0.0.0/22"]
    assert pool.default_prefix_length == 26
    # shared: a project member sees it, and so does the CLI
    assert pool.id in [p.id for p in demo.network.subnet_pools()]
    cli_pool = cloud.cli("subnet", "pool", "show", POOL, cloud="kumo")
    assert cli_pool["is_default"] is True and cli_pool["shared"] is True
    private = demo.network.find_network("private", ignore_missing=False)
    subnet = demo.network.find_subnet("private-subnet", network_id=private.id,
                                      ignore_missing=False)
    assert (subnet.cidr, subnet.gateway_ip, subnet.subnet_pool_id) == (
        "10.0.0.0/26", "10.0.0.1", pool.id)


def test_requirements_missing(admin, member, neutron):
    conn = member()
    path = f"/v2.0/auto-allocated-topology/{conn.project_id_}"
    with no_default_network(admin):
        resp = neutron.request(conn, "GET", path, params={"fields": "dry-run"})
        assert "No default router:external network" in assert_fault(
            resp, 409, "AutoAllocationFailure")
        resp = neutron.request(conn, "GET", path)
        assert_fault(resp, 409, "AutoAllocationFailure")
    assert list(conn.network.networks(project_id=conn.project_id_)) == []
    resp = neutron.request(conn, "DELETE", path)
    assert_fault(resp, 404, "HTTPNotFound")


def test_cli_check_fails_without_defaults(cloud, admin, member):
    conn = member()
    with no_default_network(admin):
        proc = cloud.cli("network", "auto", "allocated", "topology", "create",
                         "--check-resources", "--project", conn.project_id_, check=False)
    assert proc.returncode != 0
    assert "Deployment error: No default router:external network" in proc.stderr


def test_no_default_pool(admin, member, neutron):
    conn = member()
    path = f"/v2.0/auto-allocated-topology/{conn.project_id_}"
    with no_default_pool(admin):
        resp = neutron.request(conn, "GET", path, params={"fields": "dry-run"})
        assert "No default subnetpools defined" in assert_fault(
            resp, 409, "AutoAllocationFailure")
        assert_fault(neutron.request(conn, "GET", path), 409, "AutoAllocationFailure")
    assert list(conn.network.networks(project_id=conn.project_id_)) == []


def test_cli_network_set_default(cloud, admin):
    public = admin.network.find_network("public", ignore_missing=False)
    try:
        cloud.cli("network", "set", "--no-default", "public", parse=False)
        assert admin.network.get_network(public.id).is_default is False
        cloud.cli("network", "set", "--default", "--external", "public", parse=False)
        assert admin.network.get_network(public.id).is_default is True
        shown = cloud.cli("network", "show", "public")
        assert shown["is_default"] is True
    finally:
        admin.network.update_network(public, is_default=True)
    assert admin.network.get_network(public.id).is_default is True


def test_default_external_network_rules(admin, neutron, unique, defaults):
    public, _ = defaults
    assert admin.network.get_network(public.id).is_default is True
    other = admin.network.create_network(name=unique("ext2"), is_router_external=True)
    try:
        resp = neutron.request(admin, "PUT", f"/v2.0/networks/{other.id}",
                               json={"network": {"is_default": True}})
        assert_fault(resp, 409, "DefaultExternalNetworkExists")
    finally:
        admin.network.delete_network(other)
    internal = admin.network.create_network(name=unique("int"))
    try:
        resp = neutron.request(admin, "PUT", f"/v2.0/networks/{internal.id}",
                               json={"network": {"is_default": True}})
        assert_fault(resp, 400, "HTTPBadRequest")
    finally:
        admin.network.delete_network(internal)


def test_sdk_build_idempotent_delete(admin, member, neutron, defaults):
    public, pool = defaults
    conn = member()
    check = conn.network.validate_auto_allocated_topology(conn.project_id_)
    assert check.id == "dry-run=pass"
    assert list(conn.network.networks(project_id=conn.project_id_)) == []
    try:
        topo = conn.network.get_auto_allocated_topology(conn.project_id_)
        assert topo.project_id == conn.project_id_
        net = conn.network.get_network(topo.id)
        assert net.name == "auto_allocated_network"
        subnets = list(conn.network.subnets(network_id=net.id))
        assert [(s.subnet_pool_id, s.cidr.endswith("/26")) for s in subnets] == [
            (pool.id, True)]
        routers = list(conn.network.routers(project_id=conn.project_id_))
        assert [r.name for r in routers] == ["auto_allocated_router"]
        assert routers[0].external_gateway_info["network_id"] == public.id
        assert {p.device_owner for p in conn.network.ports(device_id=routers[0].id)} \
            >= {"network:router_interface"}
        again = conn.network.get_auto_allocated_topology(conn.project_id_)
        assert again.id == topo.id
        assert len(list(conn.network.networks(project_id=conn.project_id_))) == 1
        # another project's topology is not the member's to build
        resp = neutron.request(conn, "GET", "/v2.0/auto-allocated-topology/"
                               "0123456789abcdef0123456789abcdef")
        assert resp.status_code == 403
        conn.network.delete_auto_allocated_topology(conn.project_id_)
        assert list(conn.network.networks(project_id=conn.project_id_)) == []
        assert list(conn.network.routers(project_id=conn.project_id_)) == []
        with pytest.raises(sdk_exc.NotFoundException):
            conn.network.delete_auto_allocated_topology(conn.project_id_)
    finally:
        _cleanup(admin, conn.project_id_)


def test_cli(cloud, admin, member, defaults, tmp_path):
    """A member of a brand-new project (no networks) gets a topology with the CLI, on
    the bootstrapped defaults alone."""
    public, pool = defaults
    conn = member()
    project = conn.project_id_
    env = _own_cloud(cloud, conn, tmp_path)
    assert list(conn.network.networks(project_id=project)) == []
    try:
        # Neutron's dry-run body is {"id": "dry-run=pass", ...}: the command succeeds
        # (it fails with the deployment error when a requirement is missing, above)
        checked = cloud.cli("network", "auto", "allocated", "topology", "create",
                            "--check-resources", cloud="fresh", env=env)
        assert "dry_run" in checked
        assert list(admin.network.networks(project_id=project)) == []
        made = cloud.cli("network", "auto", "allocated", "topology", "create",
                         cloud="fresh", env=env)
        assert made["project_id"] == project
        net = admin.network.get_network(made["id"])
        assert net.name == "auto_allocated_network"
        [subnet] = admin.network.subnets(network_id=net.id)
        assert subnet.subnet_pool_id == pool.id and subnet.cidr.endswith("/26")
        assert subnet.cidr != "10.0.0.0/26"  # demo's private-subnet holds that one
        [router] = admin.network.routers(project_id=project)
        assert router.external_gateway_info["network_id"] == public.id
        again = cloud.cli("network", "auto", "allocated", "topology", "create",
                          cloud="fresh", env=env)
        assert again["id"] == made["id"]
        cloud.cli("network", "auto", "allocated", "topology", "delete", cloud="fresh",
                  env=env, parse=False)
        assert list(admin.network.networks(project_id=project)) == []
    finally:
        _cleanup(admin, project)


def test_server_nic_auto_on_a_fresh_project(cloud, admin, member, defaults, tmp_path):
    """``openstack server create --nic auto`` (2.37+) on a project with no network, on
    the bootstrapped defaults alone: the topology is built and the server's port is on
    it."""
    conn = member()
    project = conn.project_id_
    env = _own_cloud(cloud, conn, tmp_path)
    flavor = next(iter(admin.compute.flavors())).id
    image = next(iter(admin.image.images())).id
    server = None
    try:
        out = cloud.cli("--os-compute-api-version", "2.37", "server", "create",
                        "--flavor", flavor, "--image", image, "--nic", "auto", "--wait",
                        "auto-vm", cloud="fresh", env=env, check=False)
        assert out.returncode == 0, out.stderr
        server = conn.compute.find_server("auto-vm", ignore_missing=False)
        nets = list(conn.network.networks(project_id=project))
        assert [n.name for n in nets] == ["auto_allocated_network"]
        ports = list(conn.network.ports(device_id=server.id))
        assert [p.network_id for p in ports] == [nets[0].id]
    finally:
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)
        _cleanup(admin, project)
