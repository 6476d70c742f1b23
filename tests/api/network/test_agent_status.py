"""The data plane's status reports (``/networking/kumo/v1/ports/{id}/status``, the batch
``/ports/status``, floating IPs likewise) and agent heartbeats: short transactions of
their own that never wait for the ``network`` revision row tenants' writes hold."""
from __future__ import annotations

import contextlib
import uuid

import httpx
import pytest

from tests.api.network.conftest import assert_fault


def _kumo(neutron) -> str:
    return neutron.base + "/kumo/v1"


def _changes_of(neutron, admin, since: int, resource_id: str) -> list:
    body = neutron.request(admin, "GET", "/kumo/v1/changes",
                           params={"since": since}).json()
    return [c for c in body["changes"] if c["resource_id"] == resource_id]


def test_port_status_report(admin, neutron, net):
    port = admin.network.create_port(network_id=net[0].id)
    before = admin.network.get_port(port.id)
    since = neutron.request(admin, "GET", "/kumo/v1/state").json()["revision"]
    resp = neutron.request(admin, "POST", f"/kumo/v1/ports/{port.id}/status",
                           json={"status": "ACTIVE"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"port": {"id": port.id, "status": "ACTIVE"}}
    after = admin.network.get_port(port.id)
    assert after.status == "ACTIVE"
    assert after.revision_number == before.revision_number + 1
    # the same status again changes nothing
    assert neutron.request(admin, "POST", f"/kumo/v1/ports/{port.id}/status",
                           json={"status": "ACTIVE"}).status_code == 200
    assert admin.network.get_port(port.id).revision_number == after.revision_number
    # observed state: no change for the agents' feed
    assert _changes_of(neutron, admin, since, port.id) == []
    assert_fault(neutron.request(admin, "POST", f"/kumo/v1/ports/{uuid.uuid4()}/status",
                                 json={"status": "ACTIVE"}), 404, "PortNotFound")
    assert neutron.request(admin, "POST", f"/kumo/v1/ports/{port.id}/status",
                           json={"status": "BUILD"}).status_code == 400
    assert admin.network.get_port(port.id).status == "ACTIVE"


def test_port_status_batch(admin, demo, neutron, net):
    ports = [admin.network.create_port(network_id=net[0].id) for _ in range(3)]
    gone = str(uuid.uuid4())
    resp = neutron.request(admin, "POST", "/kumo/v1/ports/status", json={"ports": [
        {"id": ports[0].id, "status": "ACTIVE"}, {"id": ports[1].id, "status": "ERROR"},
        {"id": gone, "status": "ACTIVE"}, {"id": ports[2].id, "status": "DOWN"}]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["not_found"] == [gone]
    assert {p["id"]: p["status"] for p in body["ports"]} == {
        ports[0].id: "ACTIVE", ports[1].id: "ERROR", ports[2].id: "DOWN"}
    got = {p.id: (p.status, p.revision_number)
           for p in admin.network.ports(network_id=net[0].id)}
    assert got[ports[0].id] == ("ACTIVE", ports[0].revision_number + 1)
    assert got[ports[1].id] == ("ERROR", ports[1].revision_number + 1)
    assert got[ports[2].id] == ("DOWN", ports[2].revision_number)  # already DOWN
    for bad in ({"ports": [{"id": ports[0].id, "status": "BUILD"}]}, {"ports": "x"},
                {"ports": [{"id": ports[0].id}]}, {}):
        assert neutron.request(admin, "POST", "/kumo/v1/ports/status",
                               json=bad).status_code == 400
    assert admin.network.get_port(ports[0].id).status == "ACTIVE"
    assert neutron.request(demo, "POST", "/kumo/v1/ports/status", json={
        "ports": [{"id": ports[0].id, "status": "DOWN"}]}).status_code == 403


def test_floatingip_status_reports(admin, neutron):
    gone = str(uuid.uuid4())
    assert_fault(neutron.request(admin, "POST", f"/kumo/v1/floatingips/{gone}/status",
                                 json={"status": "ACTIVE"}), 404, "FloatingIPNotFound")
    resp = neutron.request(admin, "POST", "/kumo/v1/floatingips/status", json={
        "floatingips": [{"id": gone, "status": "DOWN"}]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"floatingips": [], "not_found": [gone]}


def _db_url(cloud) -> str:
    args = list(cloud.process.args)
    return args[args.index("--db") + 1].replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def holding_revisions(cloud, *names: str):
    """Another transaction holding the ``kumo_revision`` rows ``names`` (as a tenant's
    write does) until the block ends; then it rolls back."""
    import psycopg

    with psycopg.connect(_db_url(cloud)) as conn:
        for name in names:
            conn.execute("SELECT value FROM kumo_revision WHERE name = %s FOR UPDATE",
                         (name,))
        try:
            yield
        finally:
            conn.rollback()


def test_reports_do_not_wait_for_the_network_revision(cloud, admin, neutron, net):
    """On PostgreSQL: while another transaction holds the network revision row, a port
    status report (single and batch), a floating IP report and an agent heartbeat
    still answer (10 s client timeout)."""
    if cloud.backend != "postgresql":
        pytest.skip("the revision row lock is PostgreSQL's (SQLite has one writer)")
    ports = [admin.network.create_port(network_id=net[0].id) for _ in range(2)]
    headers = {"X-Auth-Token": admin.session.get_token()}
    base = _kumo(neutron)
    with holding_revisions(cloud, "network"), httpx.Client(headers=headers,
                                                           timeout=10) as http:
        single = http.post(f"{base}/ports/{ports[0].id}/status", json={"status": "ACTIVE"})
        assert single.status_code == 200, single.text
        batch = http.post(f"{base}/ports/status", json={"ports": [
            {"id": p.id, "status": "ERROR"} for p in ports]})
        assert batch.status_code == 200, batch.text
        fip = http.post(f"{base}/floatingips/status", json={
            "floatingips": [{"id": str(uuid.uuid4()), "status": "ACTIVE"}]})
        assert fip.status_code == 200, fip.text
        beat = http.post(f"{base}/agents/heartbeat", json={"agent": {
            "host": "lock-test-host", "agent_type": "DHCP agent"}})
        assert beat.status_code == 200, beat.text
    assert {p.status for p in admin.network.ports(network_id=net[0].id)} == {"ERROR"}
