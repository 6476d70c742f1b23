"""Network logging (issue 14) through the standard CLI: ``openstack network log
create/list/show/set/delete`` and ``openstack network loggable resources list`` (the
commands python-neutronclient's OSC plugin adds), as the admin (Neutron's policy:
logging is admin-only), on both databases. The API's own checks are in
test_logging.py and test_sg_logging.py."""
from __future__ import annotations

import pytest


def _keys(item: dict) -> dict:
    """The CLI's column names ("Resource", "Target") as lower-case keys."""
    return {k.lower().replace(" ", "_"): v for k, v in item.items()}


@pytest.fixture
def logged(admin, unique):
    """A security group with a port using it, a firewall group on a router port and
    a router port in no group: ``{"sg", "sg_name", "port", "port_name", "fwg",
    "fwg_name", "router_port", "free_router_port"}``."""
    net = admin.network.create_network(name=unique("lcn"))
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4,
                                      cidr="10.76.0.0/28")
    sg = admin.network.create_security_group(name=unique("lcsg"))
    port = admin.network.create_port(network_id=net.id, name=unique("lcp"),
                                     security_group_ids=[sg.id])
    router = admin.network.create_router(name=unique("lcr"))
    router_port = admin.network.add_interface_to_router(router,
                                                        subnet_id=sub.id)["port_id"]
    fwg = admin.network.create_firewall_group(name=unique("lcfg"), ports=[router_port])
    net2 = admin.network.create_network(name=unique("lcn"))
    sub2 = admin.network.create_subnet(network_id=net2.id, ip_version=4,
                                       cidr="10.76.1.0/28")
    free_port = admin.network.add_interface_to_router(router,
                                                      subnet_id=sub2.id)["port_id"]
    yield {"sg": sg.id, "sg_name": sg.name, "port": port.id, "port_name": port.name,
           "fwg": fwg.id, "fwg_name": fwg.name, "router_port": router_port,
           "free_router_port": free_port}
    admin.network.update_firewall_group(fwg, ports=[])
    admin.network.delete_firewall_group(fwg)
    admin.network.remove_interface_from_router(router, subnet_id=sub.id)
    admin.network.remove_interface_from_router(router, subnet_id=sub2.id)
    admin.network.delete_network(net2)
    admin.network.delete_router(router)
    admin.network.delete_port(port)
    admin.network.delete_security_group(sg)
    admin.network.delete_network(net)


def test_loggable_resources_list(cloud):
    listed = cloud.cli("network", "loggable", "resources", "list")
    assert sorted(r["Supported types"] for r in listed) == ["firewall_group",
                                                            "security_group"]
    # members may not: Neutron's get_loggable_resource is admin-only
    proc = cloud.cli("network", "loggable", "resources", "list", cloud="kumo",
                     check=False)
    assert proc.returncode != 0
    assert "not authorized to perform the requested action: get_loggable_resource" \
        in proc.stderr, proc.stderr


def test_network_log_lifecycle(cloud, admin, logged, unique):
    cli = cloud.cli
    made = []

    def create(*args):
        out = _keys(cli("network", "log", "create", *args))
        made.append(out["id"])
        return out
    try:
        by_group = create(unique("lg"), "--resource-type", "security_group",
                          "--resource", logged["sg_name"], "--event", "drop",
                          "--description", "drops of the group")
        assert (by_group["type"], by_group["resource"], by_group["target"],
                by_group["event"], by_group["enabled"], by_group["description"]) == \
            ("security_group", logged["sg"], None, "DROP", True, "drops of the group")
        assert by_group["project"] == admin.current_project_id
        by_port = create(unique("lp"), "--resource-type", "security_group",
                         "--target", logged["port_name"], "--event", "ACCEPT")
        assert (by_port["resource"], by_port["target"], by_port["event"]) == \
            (None, logged["port"], "ACCEPT")
        both = create(unique("lb"), "--resource-type", "SECURITY_GROUP",
                      "--resource", logged["sg"], "--target", logged["port"],
                      "--disable")
        assert (both["resource"], both["target"], both["event"], both["enabled"]) == \
            (logged["sg"], logged["port"], "ALL", False)
        project_wide = create(unique("la"), "--resource-type", "security_group")
        assert (project_wide["resource"], project_wide["target"],
                project_wide["event"]) == (None, None, "ALL")
        fw = create(unique("lf"), "--resource-type", "firewall_group",
                    "--resource", logged["fwg_name"], "--target",
                    logged["router_port"], "--event", "ALL")
        assert (fw["type"], fw["resource"], fw["target"]) == \
            ("firewall_group", logged["fwg"], logged["router_port"])

        listed = {r["ID"]: r for r in cli("network", "log", "list")}
        assert set(made) <= set(listed)
        row = listed[by_group["id"]]
        assert (row["Name"], row["Type"], row["Enabled"]) == \
            (by_group["name"], "security_group", True)
        assert row["Summary"] == ("Event: DROP,\nLogged: (security_group) "
                                  f"{logged['sg']}")
        assert listed[project_wide["id"]]["Summary"] == \
            "Event: ALL,\nLogged: (None specified)"
        assert listed[both["id"]]["Summary"].endswith(f"on (port) {logged['port']}")
        long = {r["ID"]: r for r in cli("network", "log", "list", "--long")}
        assert long[fw["id"]]["Target"] == logged["router_port"]
        assert long[by_port["id"]]["Event"] == "ACCEPT"

        # show by name and by id
        shown = _keys(cli("network", "log", "show", by_port["name"]))
        assert shown == by_port
        assert _keys(cli("network", "log", "show", fw["id"]))["resource"] == logged["fwg"]

        # set: enable/disable, description, name
        cli("network", "log", "set", by_group["id"], "--disable", parse=False)
        assert _keys(cli("network", "log", "show", by_group["id"]))["enabled"] is False
        cli("network", "log", "set", by_group["name"], "--enable", "--description",
            "again", "--name", by_group["name"] + "-2", parse=False)
        shown = _keys(cli("network", "log", "show", by_group["id"]))
        assert (shown["enabled"], shown["description"], shown["name"]) == \
            (True, "again", by_group["name"] + "-2")
        # what the CLI cannot change stays (the API refuses event changes: 400)
        assert (shown["event"], shown["resource"]) == ("DROP", logged["sg"])

        # delete one by name, the rest by id at once
        cli("network", "log", "delete", by_port["name"], parse=False)
        cli("network", "log", "delete", *[m for m in made if m != by_port["id"]],
            parse=False)
        made.clear()
        left = {r["ID"] for r in cli("network", "log", "list")}
        assert not left & {by_group["id"], by_port["id"], both["id"],
                           project_wide["id"], fw["id"]}
    finally:
        for log_id in made:
            cli("network", "log", "delete", log_id, parse=False, check=False)


def test_network_log_errors(cloud, logged, unique):
    """The CLI shows Neutron's messages; nothing is created."""
    cli = cloud.cli
    before = {r["ID"] for r in cli("network", "log", "list")}

    def fails(*args, cloud_name="kumo-admin"):
        proc = cli("network", "log", *args, cloud=cloud_name, check=False)
        assert proc.returncode != 0, proc.stdout
        return proc.stderr
    # an unknown type
    err = fails("create", unique("x"), "--resource-type", "port")
    assert "Invalid log resource_type: port." in err, err
    # a port not using the group (the CLI finds both by name)
    other_sg = cloud.connect().network.create_security_group(name=unique("lco"))
    try:
        err = fails("create", unique("x"), "--resource-type", "security_group",
                    "--resource", other_sg.id, "--target", logged["port"])
        assert "Invalid resource constraint" in err, err
    finally:
        cloud.connect().network.delete_security_group(other_sg.id)
    # firewall group logs target router ports in a group (neutron-fwaas's checks)
    err = fails("create", unique("x"), "--resource-type", "firewall_group",
                "--target", logged["port"])
    assert (f"Logging type firewall_group is not supported on port {logged['port']}."
            in err), err
    err = fails("create", unique("x"), "--resource-type", "firewall_group",
                "--target", logged["free_router_port"])
    assert (f"Target resource {logged['free_router_port']} is not associated with any "
            "firewall group." in err), err
    err = fails("create", unique("x"), "--resource-type", "firewall_group",
                "--resource", logged["fwg"], "--target", logged["free_router_port"])
    assert "Invalid resource constraint between resource (firewall_group " \
        f"{logged['fwg']}) and target resource (port {logged['free_router_port']})" \
        in err, err
    # names the CLI cannot find
    err = fails("create", unique("x"), "--resource-type", "security_group",
                "--resource", "no-such-group")
    assert "no-such-group" in err, err
    err = fails("show", "no-such-log")
    assert "no-such-log" in err, err
    # a member may not create logs
    err = fails("create", unique("x"), "--resource-type", "security_group",
                cloud_name="kumo")
    assert "not authorized to perform the requested action: create_log" in err, err
    assert {r["ID"] for r in cli("network", "log", "list")} == before
