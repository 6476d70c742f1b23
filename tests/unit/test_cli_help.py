"""``kumo --version``, ``kumo --help`` and what ``kumo up`` says without a data plane."""
from __future__ import annotations

import subprocess
from importlib import metadata

import pytest

from kumo import config
from kumo.agent import local
from tests.conftest import BIN


def _kumo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "kumo"), *args], capture_output=True, text=True,
                          timeout=60)


def test_version_from_the_package_metadata():
    proc = _kumo("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"kumo {metadata.version('kumo')}"


def test_help_says_where_state_and_clouds_live():
    proc = _kumo("--help")
    assert proc.returncode == 0
    text = proc.stdout
    assert "``" not in text and "The kumo command" not in text
    for words in ("/var/lib/kumo", "~/.local/state/kumo", "$KUMO_STATE_DIR",
                  "~/.config/openstack/clouds.yaml", "--version", "OS_CLOUD=kumo"):
        assert words in text, words
    up = _kumo("up", "--help").stdout
    assert "without root: the API only" in " ".join(up.split())


def test_choose_without_root(monkeypatch):
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    assert local.unavailable() == "not running as root"
    assert local.choose(config.Settings(dataplane="auto")) == ([], "")
    assert local.choose(config.Settings(dataplane="fake")) == (["fake"], "fake")
    with pytest.raises(RuntimeError, match="not running as root"):
        local.choose(config.Settings(dataplane="real"))


def test_api_only_message():
    text = local.api_only_message("not running as root")
    lines = text.splitlines()
    assert lines[0].startswith("kumo: not running as root: no data plane")
    assert [line.split(":")[1].strip() for line in lines[1:]] == [
        "works", "does not", "to get the rest"]
    assert "No valid host was found" in text and "--fake-compute-hosts N" in text
    assert "sudo make up" in text
    fake = local.api_only_message("not running as root", fake_compute_hosts=2)
    assert "servers go ACTIVE on the 2 fake compute host(s)" in fake
    tools = local.api_only_message("nft, dnsmasq not installed")
    assert "install-system-deps.sh" in tools and "sudo" not in tools
