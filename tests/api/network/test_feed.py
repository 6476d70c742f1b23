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


def _get(admin, path):
    resp = admin.session.get(_base(admin) + path, raise_exc=False)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _changes(admin, since, host):
    return _get(admin, f"/kumo/v1/changes?since={since}&host={host}")["changes"]


def _ids(snap, collection):
    return {o["id"] for o in snap.get(collection, [])}


COLLECTIONS = ("networks", "subnets", "ports", "security_groups", "routers", "floatingips")


def test_peers_reach_only_the_hosts_concerned(admin, unique):
    """A port bound to host B reaches host A, which has a port on the network and a
    group naming B's port's group as remote group: as a change, as L2 population (with
    B's tunneling address) and as a member. Host C, with no port anywhere, gets no
    change and an empty snapshot; deleting the port takes it away from A."""
    base = _base(admin)
    host_a, host_b, host_c = unique("host-a"), unique("host-b"), unique("host-c")
    admin.session.post(base + "/kumo/v1/agents/heartbeat", json={"agent": {
        "host": host_b, "agent_type": "Linux bridge agent",
        "binary": "neutron-linuxbridge-agent",
        "configurations": {"tunneling_ip": "192.0.2.77"}}})
    net = admin.network.create_network(name=unique("l2pop"))
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24",
                                         ip_version=4)
    group = admin.network.create_security_group(name=unique("members"))
    watcher = admin.network.create_security_group(name=unique("watcher"))
    admin.network.create_security_group_rule(
        security_group_id=watcher.id, direction="ingress", remote_group_id=group.id)
    try:
        mine = admin.network.create_port(network_id=net.id, binding_host_id=host_a,
                                          security_group_ids=[watcher.id])
        since = _get(admin, f"/kumo/v1/state?host={host_a}")["revision"]
        port = admin.network.create_port(network_id=net.id, binding_host_id=host_b,
                                          security_group_ids=[group.id])
        ip = port.fixed_ips[0]["ip_address"]
        changes = _changes(admin, since, host_a)
        assert {("network", net.id), ("security_group", group.id)} <= {
            (c["resource_type"], c["resource_id"]) for c in changes}
        assert all(c["host"] in (host_a, None) for c in changes)  # None: routed when read
        assert port.id not in {c["resource_id"] for c in changes}
        assert _changes(admin, since, host_c) == []
        snap_c = _get(admin, f"/kumo/v1/state?host={host_c}")
        assert all(snap_c[c] == [] for c in COLLECTIONS), snap_c

        snap = _get(admin, f"/kumo/v1/state?host={host_a}")
        assert _ids(snap, "networks") == {net.id}
        assert _ids(snap, "subnets") == {subnet.id}
        assert _ids(snap, "ports") == {mine.id}
        assert _ids(snap, "security_groups") == {watcher.id, group.id}
        assert snap["networks"][0]["l2_population"] == [{
            "port_id": port.id, "host": host_b, "tunneling_ip": "192.0.2.77",
            "mac_address": port.mac_address, "ip_addresses": [ip]}]
        groups = {g["id"]: g for g in snap["security_groups"]}
        assert groups[group.id]["members"] == [ip]
        assert groups[watcher.id]["members"] == []  # no rule of A's names it remote
        # Host B's snapshot lists A's port as a peer, not its own, and has no
        # members: no group of its ports is anyone's remote group.
        snap_b = _get(admin, f"/kumo/v1/state?host={host_b}")
        assert [p["port_id"] for p in snap_b["networks"][0]["l2_population"]] == [mine.id]
        assert _ids(snap_b, "security_groups") == {group.id}
        assert snap_b["security_groups"][0]["members"] == []

        since = _get(admin, f"/kumo/v1/state?host={host_a}")["revision"]
        admin.network.delete_port(port)
        assert ("network", net.id) in {(c["resource_type"], c["resource_id"])
                                       for c in _changes(admin, since, host_a)}
        snap = _get(admin, f"/kumo/v1/state?host={host_a}")
        assert snap["networks"][0]["l2_population"] == []
        assert {g["id"]: g["members"] for g in snap["security_groups"]}[group.id] == []
        assert _changes(admin, since, host_c) == []
    finally:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p)
        admin.network.delete_network(net)
        admin.network.delete_security_group(watcher)
        admin.network.delete_security_group(group)


def test_a_host_hears_of_what_enters_and_leaves_its_state(admin, unique):
    """A host's first port on a network brings it the network, its subnet and the
    port's groups as changes; its last port's deletion announces them again, and a
    fetch by key then answers none of them (they left the host's state)."""
    host = unique("host-scope")
    net = admin.network.create_network(name=unique("scope"))
    subnet = admin.network.create_subnet(network_id=net.id, cidr="10.78.0.0/24",
                                         ip_version=4)
    group = admin.network.create_security_group(name=unique("scope"))
    try:
        since = _get(admin, "/kumo/v1/state?host=" + host)["revision"]
        port = admin.network.create_port(network_id=net.id, binding_host_id=host,
                                         security_group_ids=[group.id])
        keys = {(c["resource_type"], c["resource_id"]) for c in _changes(admin, since, host)}
        wanted = {("port", port.id), ("network", net.id), ("subnet", subnet.id),
                  ("security_group", group.id)}
        assert wanted <= keys
        query = ",".join(f"{k}s:{i}" if k != "security_group" else f"security_groups:{i}"
                         for k, i in sorted(wanted))
        got = _get(admin, f"/kumo/v1/state?host={host}&keys={query}")
        assert {c: _ids(got, c) for c in got if c != "revision"} == {
            "ports": {port.id}, "networks": {net.id}, "subnets": {subnet.id},
            "security_groups": {group.id}}
        since = got["revision"]
        admin.network.delete_port(port)
        keys = {(c["resource_type"], c["resource_id"]) for c in _changes(admin, since, host)}
        assert wanted <= keys
        got = _get(admin, f"/kumo/v1/state?host={host}&keys={query}")
        assert all(got[c] == [] for c in got if c != "revision")
    finally:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p)
        admin.network.delete_network(net)
        admin.network.delete_security_group(group)


def test_fetch_by_key_returns_exactly_the_keys_asked(admin, unique):
    """``keys`` answers the asked objects of the host's state and nothing else (not
    its other ports, not other collections); a bad key is a 400."""
    host = unique("host-fetch")
    net = admin.network.create_network(name=unique("fetch"))
    admin.network.create_subnet(network_id=net.id, cidr="10.79.0.0/24", ip_version=4)
    try:
        ports = [admin.network.create_port(network_id=net.id, binding_host_id=host)
                 for _ in range(3)]
        other = admin.network.create_port(network_id=net.id, binding_host_id=host + "-x")
        got = _get(admin, f"/kumo/v1/state?host={host}&keys=ports:{ports[1].id},"
                          f"ports:{other.id}")
        assert set(got) == {"revision", "ports"}
        assert [p["id"] for p in got["ports"]] == [ports[1].id]
        resp = admin.session.get(_base(admin) + f"/kumo/v1/state?host={host}&keys=nope:1",
                                 raise_exc=False)
        assert resp.status_code == 400
        assert resp.json()["NeutronError"]["type"] == "HTTPBadRequest"
    finally:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p)
        admin.network.delete_network(net)


def test_status_reports_append_no_feed_change(admin, unique):
    """A port's and a floating IP's status are observed state: reporting them changes
    the API's answer but appends nothing to the desired-state feed."""
    base = _base(admin)
    host = unique("host-status")
    net = admin.network.create_network(name=unique("status"))
    admin.network.create_subnet(network_id=net.id, cidr="10.80.0.0/24", ip_version=4)
    try:
        port = admin.network.create_port(network_id=net.id, binding_host_id=host)
        since = _get(admin, "/kumo/v1/state")["revision"]
        resp = admin.session.post(base + f"/kumo/v1/ports/{port.id}/status",
                                  json={"status": "ACTIVE"}, raise_exc=False)
        assert resp.status_code == 200, resp.text
        assert admin.network.get_port(port.id).status == "ACTIVE"
        assert _get(admin, f"/kumo/v1/changes?since={since}")["changes"] == []
        assert _changes(admin, since, host) == []
    finally:
        for p in admin.network.ports(network_id=net.id):
            admin.network.delete_port(p)
        admin.network.delete_network(net)
