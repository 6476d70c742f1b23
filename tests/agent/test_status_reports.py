"""The agent's status reports now that a report appends no feed change (its informer's
view keeps the status it listed): a port reported ACTIVE and then DOWN is reported
DOWN (the agent remembers what it sent), and a report naming several ports goes as one
batch request (``POST /networking/kumo/v1/ports/status``)."""
from __future__ import annotations

import threading

from kumo.agent.agent import Agent
from kumo.agent.client import ControllerClient
from kumo.agent.drivers import FakeDriver, Report
from tests.agent.test_agent import (  # noqa: F401 - fixtures
    host, network, port_status, start_agent, wait_for)


class StatusDriver(FakeDriver):
    """Reports each bound port as :attr:`status` says (default ACTIVE); the test
    requeues keys through the watch hook."""

    def __init__(self, host: str):
        super().__init__(host)
        self.status: dict[str, str] = {}
        self.requeue = None
        self.ready = threading.Event()

    def reconcile(self, desired: dict, revision: int) -> Report:
        report = super().reconcile(desired, revision)
        for port_id in list(report.ports):
            report.ports[port_id] = self.status.get(port_id, "ACTIVE")
        return report

    def watch(self, requeue, stop) -> None:
        self.requeue = requeue
        self.ready.set()
        stop.wait()


def test_active_then_down_is_reported(cloud, admin, network, host):
    driver = StatusDriver(host)
    client = ControllerClient.from_cloud("kumo-admin", config_files=[str(cloud.clouds_yaml)])
    # no periodic resync during the test: the view is only what the feed brings
    agent = Agent(client, host, [driver], workers=2, resync_s=600.0, heartbeat_s=1.0,
                  wait_s=2.0)
    agent.start()
    try:
        _active_then_down(admin, network, host, driver, agent)
    finally:
        agent.stop()


def _kumo(conn) -> str:
    url = conn.network.get_endpoint().rstrip("/")
    return (url[:-len("/v2.0")] if url.endswith("/v2.0") else url) + "/kumo/v1"


def _active_then_down(admin, network, host, driver, agent):
    port = admin.network.create_port(network_id=network.id, binding_host_id=host)
    wait_for(lambda: port_status(admin, port.id) == "ACTIVE", "the port ACTIVE")
    wait_for(driver.ready.is_set, "the watch hook")
    # the informer's view still says DOWN (no feed change came): DOWN must still go
    driver.status[port.id] = "DOWN"
    driver.requeue(("ports", port.id))
    wait_for(lambda: port_status(admin, port.id) == "DOWN", "the port DOWN again")
    driver.status[port.id] = "ACTIVE"
    driver.requeue(("ports", port.id))
    wait_for(lambda: port_status(admin, port.id) == "ACTIVE", "the port ACTIVE again")
    # a report that lands after a tenant's change (they no longer serialize): the view
    # says DOWN at the tenant's revision, the API ACTIVE; the driver's DOWN must go
    old_rev = agent.informer.get(("ports", port.id))["revision_number"]
    driver.status[port.id] = "DOWN"
    admin.session.post(_kumo(admin) + f"/ports/{port.id}/status", json={"status": "DOWN"})
    admin.network.update_port(port.id, name="changed")
    rev = admin.network.get_port(port.id).revision_number
    wait_for(lambda: (agent.informer.get(("ports", port.id)) or {}).get(
        "revision_number") == rev, "the view at the tenant's revision")
    wait_for(lambda: (agent.realized_revision or 0) >= agent.informer.revision,
             "the tenant's revision realized")
    admin.session.post(_kumo(admin) + f"/ports/{port.id}/status", json={"status": "ACTIVE"})
    with agent._lock:  # what the agent recorded for that late report of its own
        agent._sent[("ports", port.id)] = ("ACTIVE", old_rev)
    assert port_status(admin, port.id) == "ACTIVE"
    driver.requeue(("ports", port.id))
    wait_for(lambda: port_status(admin, port.id) == "DOWN", "the late report corrected")


class ManyDriver(FakeDriver):
    """Reports every port bound to its host ERROR, all at once on each network key
    (and nothing on port keys)."""

    def reconcile(self, desired: dict, revision: int) -> Report:
        report = super().reconcile(desired, revision)
        report.ports.clear()
        if desired["kind"] == "networks" and desired["object"] is not None:
            for p in desired["state"].get("ports", []):
                if p.get("binding:host_id") == self.host \
                        and p["network_id"] == desired["id"]:
                    report.ports[p["id"]] = "ERROR"
        return report


def test_many_statuses_go_in_one_request(admin, network, host, start_agent, monkeypatch):
    from kumo.agent.client import ControllerClient

    ports = [admin.network.create_port(network_id=network.id, binding_host_id=host)
             for _ in range(3)]
    batches, singles = [], []
    real_many = ControllerClient.report_statuses
    real_one = ControllerClient.report_port_status

    def many(self, kind, statuses):
        batches.append((kind, dict(statuses)))
        return real_many(self, kind, statuses)

    def one(self, port_id, status):
        singles.append(port_id)
        return real_one(self, port_id, status)
    monkeypatch.setattr(ControllerClient, "report_statuses", many)
    monkeypatch.setattr(ControllerClient, "report_port_status", one)
    start_agent(host, ManyDriver(host))
    wait_for(lambda: all(port_status(admin, p.id) == "ERROR" for p in ports),
             "every port ERROR")
    assert any(kind == "ports" and {p.id for p in ports} <= set(statuses)
               for kind, statuses in batches), batches
    assert not set(singles) & {p.id for p in ports}
