"""kumo.sim.SimulatedMachine survives partial starts: stop() before start(), and a
``kumo up`` that exits at once, leave no host namespace and no anchor process behind.
(The full lifecycle is exercised by tests/dataplane/test_quickstart.py.)"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest

from kumo.agent.dataplane import netns
from kumo.sim import MachineError, SimulatedMachine

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "unshare", "nsenter")),
    reason="needs root, ip, unshare and nsenter")


def name() -> str:
    return f"kumo-t{uuid.uuid4().hex[:8]}-sim"


def test_stop_before_start_is_harmless(tmp_path):
    m = SimulatedMachine(tmp_path, name())
    assert m.stop() == []
    assert m.name not in netns.list_netns(netns.Host())
    with pytest.raises(MachineError):
        m.run(["true"])


def test_failed_start_is_cleaned_up(tmp_path):
    # a database URL nothing can open makes kumo up exit during start-up
    m = SimulatedMachine(tmp_path, name(), env={"KUMO_DATABASE_URL": "bogus://"})
    try:
        with pytest.raises(MachineError, match="did not start"):
            m.start(timeout=60)
        assert m.name in netns.list_netns(netns.Host())
        # the machine itself is there: commands run inside its namespaces
        assert m.netns_names() == []
        out = m.run(["ip", "-o", "link", "show"]).stdout
        assert "lo:" in out and "eth0" not in out
    finally:
        m.stop()
    assert m.name not in netns.list_netns(netns.Host())
    assert m.anchor is not None and m.anchor.poll() is not None
