"""kumo.hosts and the ``kumo agent`` flags without a kernel: host names and records, the
agent's command line and environment for a simulated host, the flags a host needs
(``--tunneling-ip``, ``--state-dir``...) reaching the agent's settings, and the
supervisor prefixing and restarting an agent. (The kernel side is
tests/dataplane/test_hosts.py, inside a simulated machine.)"""
from __future__ import annotations

import io
import subprocess
import time

import pytest

from kumo import cli, config, hosts


def settings_in(tmp_path, **kw):
    s = config.load(str(tmp_path / "state"))
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_default_names_follow_the_machines_host(tmp_path):
    assert hosts.default_names(settings_in(tmp_path, agent_host="h1"), 3) == ["h1-2", "h1-3"]
    assert hosts.default_names(settings_in(tmp_path, agent_host="Web01.example.org"),
                               2) == ["web01-2"]
    assert hosts.default_names(settings_in(tmp_path, agent_host="x" * 50), 2) == ["host-2"]
    assert hosts.default_names(settings_in(tmp_path, agent_host="h1"), 1) == []


def test_agent_command_line_has_everything_a_host_needs(tmp_path):
    s = settings_in(tmp_path, port=5123)
    h = hosts.SimHost(name="h1-2", index=2, address="10.255.0.2", prefixlen=24,
                      dir=str(tmp_path / "state" / "hosts" / "h1-2"))
    argv = hosts.agent_argv(s, h)
    flags = dict(zip(argv, argv[1:]))
    assert flags["--controller"] == "http://10.255.0.1:5123"
    assert flags["--host"] == "h1-2" and flags["--tunneling-ip"] == "10.255.0.2"
    assert flags["--state-dir"] == h.dir and flags["--compute-driver"] == "netns"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--driver"] == list(hosts.DRIVERS)
    env = hosts.agent_env(s)
    assert env["KUMO_METADATA_PROXY_SHARED_SECRET"] == s.metadata_secret()
    assert float(env["KUMO_AGENT_WAIT_S"]) <= 5
    assert "KUMO_STATE_DIR" not in env
    assert not any(s.metadata_secret() in a for a in argv), "secrets stay off argv"


def test_underlay_setting_moves_every_address(tmp_path):
    s = settings_in(tmp_path, underlay_cidr="10.77.3.0/24", port=5000)
    assert hosts.machine_address(s) == "10.77.3.1"
    assert hosts.controller_url(s) == "http://10.77.3.1:5000"
    with pytest.raises(ValueError):
        hosts.underlay(settings_in(tmp_path, underlay_cidr="10.77.3.1/24"))


def test_kumo_agent_flags_reach_the_agent(tmp_path, monkeypatch):
    from kumo.agent import agent as agent_mod
    from kumo.agent import client as client_mod

    seen = {}

    class FakeAgent:
        host = "h9"
        drivers = []

        def run_forever(self):
            return 0

    def from_settings(settings, client, host=None):
        seen.update(settings=settings, host=host)
        return FakeAgent()
    monkeypatch.setattr(client_mod, "connect", lambda **kw: seen.update(connect=kw))
    monkeypatch.setattr(agent_mod, "from_settings", from_settings)
    state = tmp_path / "agent-state"
    assert cli.main(["agent", "--state-dir", str(state), "--controller",
                     "http://192.0.2.10:5000", "--host", "h9", "--tunneling-ip",
                     "192.0.2.9", "--underlay-dev", "eth1", "--driver",
                     "linuxbridge,firewall", "--driver", "dhcp", "--bridge-mapping",
                     "public:br-pub"]) == 0
    s = seen["settings"]
    assert s.state_dir == str(state) and state.is_dir()
    assert s.agent_tunneling_ip == "192.0.2.9" and s.agent_underlay_dev == "eth1"
    assert s.agent_drivers == ["linuxbridge", "firewall", "dhcp"]
    assert s.agent_bridge_mappings == {"public": "br-pub"}
    assert seen["host"] == "h9" and seen["connect"]["controller"] == "http://192.0.2.10:5000"


def test_records_round_trip(tmp_path):
    s = settings_in(tmp_path)
    h = hosts.SimHost(name="h1-3", index=3, address="10.255.0.3", prefixlen=24,
                      dir=str(hosts.hosts_dir(s) / "h1-3"))
    h.save()
    assert hosts.load(s) == [h] and hosts.find(s, "h1-3") == h
    assert hosts.find(s, "nope") is None
    assert not h.anchor_alive()
    with pytest.raises(hosts.HostError):
        h.enter()


def test_supervisor_prefixes_output_and_restarts_an_agent_that_exits(tmp_path, monkeypatch):
    s = settings_in(tmp_path)
    hosts.SimHost(name="h1-2", index=2, address="10.255.0.2", prefixlen=24,
                  dir=str(hosts.hosts_dir(s) / "h1-2")).save()
    out = io.StringIO()
    sup = hosts.Supervisor(s, out=out)
    spawned = []

    def spawn(host):  # an "agent" that prints a line and exits 3
        p = subprocess.Popen(["sh", "-c", "echo hello; exit 3"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        import threading
        threading.Thread(target=sup._relay, args=(host.name, p), daemon=True).start()
        spawned.append(p)
        return p
    monkeypatch.setattr(sup, "_spawn", spawn)
    sup.tick()
    assert len(spawned) == 1
    spawned[0].wait(10)
    deadline = time.monotonic() + 10
    while "[h1-2] hello" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "[h1-2] hello" in out.getvalue()
    sup.tick()  # notices the exit: restarts after a backoff, not at once
    assert "exited (3)" in out.getvalue() and len(spawned) == 1
    sup._backoff["h1-2"] = (1.0, 0.0)
    sup.tick()
    assert len(spawned) == 2
    (hosts.hosts_dir(s) / "h1-2" / hosts.REMOVING).write_text("")
    spawned[1].wait(10)
    sup.tick()  # marked for removal: not started again
    assert len(spawned) == 2
    sup.stop()


def test_hosts_need_the_real_data_plane(tmp_path, capsys):
    state = tmp_path / "state"
    assert cli.main(["--state-dir", str(state), "up", "--dataplane", "off",
                     "--hosts", "2"]) == 1
    assert "--hosts needs the real data plane" in capsys.readouterr().err
    assert not (state / "hosts").exists() and not (state / "kumo.db").exists()
    assert cli.main(["--state-dir", str(state), "host", "list"]) == 0
