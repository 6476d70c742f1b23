"""``kumo console`` (kumo/agent/virt/console.py): finding a server in the netns
driver's state by id, instance name, name or hostname; ambiguous and unknown names;
a stopped server; the nsenter command line."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kumo.agent.virt import console

A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"
C = "33333333-3333-3333-3333-333333333333"


@pytest.fixture
def compute_dir(tmp_path) -> Path:
    for iid, name, display, host in ((A, "instance-00000001", "web", "web"),
                                     (B, "instance-00000002", "db", "db-1"),
                                     (C, "instance-00000003", "db", "db-2")):
        d = tmp_path / "instances" / iid
        d.mkdir(parents=True)
        (d / "meta.json").write_text(json.dumps({"id": iid, "name": name,
                                                 "display_name": display,
                                                 "hostname": host}))
    (tmp_path / "instances" / "not-an-id!").mkdir()
    return tmp_path


def test_find_by_id_instance_name_name_or_hostname(compute_dir):
    for ref in (A, "instance-00000001", "web"):
        assert console.find_instance(compute_dir, ref)[1]["id"] == A
    assert console.find_instance(compute_dir, "db-2")[1]["id"] == C


def test_ambiguous_and_unknown_names_are_refused(compute_dir):
    with pytest.raises(console.ConsoleError, match="more than one") as e:
        console.find_instance(compute_dir, "db")
    assert B in str(e.value) and C in str(e.value)
    with pytest.raises(console.ConsoleError, match="no server 'nope'"):
        console.find_instance(compute_dir, "nope")
    with pytest.raises(console.ConsoleError, match="no server"):
        console.find_instance(compute_dir / "missing", "web")


def test_stopped_server_and_command_line(compute_dir, monkeypatch):
    with pytest.raises(console.ConsoleError, match="not running"):
        console.command(compute_dir, "web")
    monkeypatch.setattr(console, "instance_init_pid", lambda d: 4242)
    assert console.command(compute_dir, "web") == [
        "nsenter", "-t", "4242", "-a", "-r", "-w", "/bin/sh", "-l"]
    assert console.command(compute_dir, "web", ["cat", "/etc/hostname"]) == [
        "nsenter", "-t", "4242", "-a", "-r", "-w", "--", "cat", "/etc/hostname"]


def test_main_reports_errors(compute_dir, capsys):
    assert console.main(compute_dir, "nope") == 1
    err = capsys.readouterr().err
    assert err.startswith("kumo console: ") and ("needs root" in err or "nope" in err)
    if os.geteuid() == 0:
        assert "no server 'nope'" in err
