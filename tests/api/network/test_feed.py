"""The data-plane feed: snapshot with a revision, then watch changes from it."""
import threading
import time

import pytest


def _base(conn) -> str:
    url = conn.network.get_endpoint().rstrip("/")
    return url[:-len("/v2.0")] if url.endswith("/v2.0") else url


def test_snapshot_then_watch_sees_a_new_network(admin, unique):
    base = _base(admin)
    snap = admin.session.get(base + "/kumo/v1/state").json()
    assert isinstance(snap["revision"], int)
    assert any(n["network_type"] == "flat" for n in snap["networks"])
    name = unique("watched")
    created = {}

    def create():
        time.sleep(0.3)
        created["net"] = admin.network.create_network(name=name)
    worker = threading.Thread(target=create)
    worker.start()
    body = admin.session.get(base + f"/kumo/v1/changes?since={snap['revision']}&wait=10").json()
    worker.join()
    try:
        ids = {c["resource_id"] for c in body["changes"] if c["resource_type"] == "network"}
        assert created["net"].id in ids
        assert body["revision"] > snap["revision"]
        assert all(c["revision"] > snap["revision"] for c in body["changes"])
        # Nothing new after the revision we were given.
        again = admin.session.get(base + f"/kumo/v1/changes?since={body['revision']}").json()
        assert again["changes"] == []
        admin.network.delete_network(created["net"])
        deleted = admin.session.get(base + f"/kumo/v1/changes?since={body['revision']}").json()
        assert {"resource_id": created["net"].id, "op": "delete"}.items() <= \
            {k: v for k, v in deleted["changes"][-1].items()}.items()
    finally:
        if admin.network.find_network(name):
            admin.network.delete_network(created["net"])


def test_feed_is_admin_only(demo):
    base = _base(demo)
    resp = demo.session.get(base + "/kumo/v1/state", raise_exc=False)
    assert resp.status_code == 403
    assert resp.json()["NeutronError"]["type"] == "PolicyNotAuthorized"


@pytest.mark.parametrize("query", ["since=abc", "since=0&wait=x"])
def test_feed_rejects_bad_parameters(admin, query):
    resp = admin.session.get(_base(admin) + f"/kumo/v1/changes?{query}", raise_exc=False)
    assert resp.status_code == 400


def test_other_hosts_ports_reach_every_host(admin, unique):
    """A port bound to host B wakes host A's watch and shows in A's snapshot as L2
    population (with B's tunneling address) and as a member of its security group;
    deleting it takes both away."""
    base = _base(admin)
    host_a, host_b = unique("host-a"), unique("host-b")
    admin.session.post(base + "/kumo/v1/agents/heartbeat", json={"agent": {
        "host": host_b, "agent_type": "Linux bridge agent",
        "binary": "neutron-linuxbridge-agent",
        "configurations": {"tunneling_ip": "192.0.2.77"}}})
    net = admin.network.create_network(name=unique("l2pop"))
    admin.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4)
    group = admin.network.create_security_group(name=unique("members"))
    try:
        since = admin.session.get(base + f"/kumo/v1/state?host={host_a}").json()["revision"]
        port = admin.network.create_port(network_id=net.id, binding_host_id=host_b,
                                         security_group_ids=[group.id])
        ip = port.fixed_ips[0]["ip_address"]
        changes = admin.session.get(
            base + f"/kumo/v1/changes?since={since}&host={host_a}").json()["changes"]
        assert {"network", "security_group"} <= {
            c["resource_type"] for c in changes if c["resource_id"] in (net.id, group.id)}
        snap = admin.session.get(base + f"/kumo/v1/state?host={host_a}").json()
        mine = next(n for n in snap["networks"] if n["id"] == net.id)
        assert mine["l2_population"] == [{
            "port_id": port.id, "host": host_b, "tunneling_ip": "192.0.2.77",
            "mac_address": port.mac_address, "ip_addresses": [ip]}]
        sg = next(g for g in snap["security_groups"] if g["id"] == group.id)
        assert sg["members"] == [ip]
        # Host B's own snapshot does not list its own port as a peer.
        snap_b = admin.session.get(base + f"/kumo/v1/state?host={host_b}").json()
        assert next(n for n in snap_b["networks"] if n["id"] == net.id)["l2_population"] == []
        admin.network.delete_port(port)
        snap = admin.session.get(base + f"/kumo/v1/state?host={host_a}").json()
        assert next(n for n in snap["networks"] if n["id"] == net.id)["l2_population"] == []
        assert next(g for g in snap["security_groups"] if g["id"] == group.id)["members"] == []
    finally:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p)
        admin.network.delete_network(net)
        admin.network.delete_security_group(group)
