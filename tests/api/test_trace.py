"""``kumo trace`` against the test cloud, which has no data plane (``KUMO_DATAPLANE=off``)
and two fake compute hosts: the API checks find the port not plugged and no network
agent on its host, the security group closed; the kernel checks are not run for hosts
that are not this machine (WARN), and nothing is probed. The data-plane side is
tests/dataplane/test_trace.py."""
from __future__ import annotations

import json
import subprocess

from tests.conftest import BIN


def trace(cloud, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kumo"), "trace", *args], capture_output=True,
                          text=True, timeout=120, env=cloud.env)


def test_trace_a_server_on_a_host_without_agents(cloud, unique):
    net, subnet, name = unique("trnet"), unique("trsub"), unique("trvm")
    group = unique("trsg")  # its own group: other tests may open the default one
    cloud.cli("security", "group", "create", group, cloud="kumo")
    cloud.cli("network", "create", net, cloud="kumo")
    cloud.cli("subnet", "create", subnet, "--network", net, "--subnet-range",
              "10.77.0.0/24", cloud="kumo")
    server = None
    try:
        server = cloud.cli("server", "create", "--image", "cirros", "--flavor", "m1.nano",
                           "--network", net, "--security-group", group, "--wait", name,
                           cloud="kumo")
        proc = trace(cloud, name, "--json", "--log-file", str(cloud.log))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        data = json.loads(proc.stdout)
        assert data["ok"] is False
        assert data["target"]["kind"] == "server"
        assert data["target"]["server"] == server["id"]
        host = cloud.cli("server", "show", server["id"])["OS-EXT-SRV-ATTR:host"]
        by = {}
        for c in data["checks"]:
            by.setdefault((c["step"], c["status"]), []).append(c["what"])
        assert any(f"bound on {host}" in w and "DOWN" in w for w in by[("port", "FAIL")])
        assert f"Linux bridge agent on {host}: none registered" in by[("agents", "FAIL")]
        assert f"nova-compute on {host}: up" in by[("agents", "PASS")]
        assert any("lets icmp from external (no probe here" in w
                   for w in by[("secgroups", "FAIL")])
        assert any(f"host {host} is not this machine" in w
                   for w in by[("dataplane", "WARN")])
        assert any("nothing to probe from" in w for w in by[("ping", "WARN")])
        assert any(str(cloud.log) in w for s in ("PASS", "WARN")
                   for w in by.get(("logs", s), []))
        hint = [c["hint"] for c in data["checks"] if c["step"] == "secgroups"][0]
        assert "ingress is closed by default: add `openstack security group rule " \
            "create " in hint and "--protocol icmp`" in hint
        # the same port by its id, as text
        port = cloud.cli("port", "list", "--device-id", server["id"])[0]["ID"]
        text = trace(cloud, port)
        assert text.returncode == 1
        line = f"FAIL  agents    Linux bridge agent on {host}: none registered"
        assert line in text.stdout
        assert text.stdout.splitlines()[-1].endswith("warnings")
        # as the demo user: agents and bindings are the admin's to see
        demo = trace(cloud, name, "--os-cloud", "kumo")
        assert demo.returncode == 2, demo.stdout + demo.stderr
        assert "needs an admin cloud" in demo.stderr
    finally:
        if server is not None:
            cloud.cli("server", "delete", "--wait", server["id"], cloud="kumo",
                      parse=False)
        cloud.cli("subnet", "delete", subnet, cloud="kumo", parse=False)
        cloud.cli("network", "delete", net, cloud="kumo", parse=False)
        cloud.cli("security", "group", "delete", group, cloud="kumo", parse=False)


def test_trace_unknown_target(cloud):
    proc = trace(cloud, "no-such-thing-anywhere")
    assert proc.returncode == 2
    assert "no server, port or floating IP is called 'no-such-thing-anywhere'" in \
        proc.stderr
    bad = trace(cloud, "x", "--protocol", "icmp", "--port", "22")
    assert bad.returncode == 2 and "--port is for" in bad.stderr
