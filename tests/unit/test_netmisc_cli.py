"""``kumo agent --help`` names every registered driver (data-plane and compute)."""
from __future__ import annotations

import subprocess

from kumo.agent.drivers import DRIVERS
from kumo.agent.virt import DRIVERS as COMPUTE
from tests.conftest import BIN


def test_agent_help_lists_the_registered_drivers():
    proc = subprocess.run([str(BIN / "kumo"), "agent", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert set(DRIVERS.available()) >= {"linuxbridge", "firewall", "dhcp", "l3",
                                        "metadata", "fake"}
    for name in DRIVERS.available() + COMPUTE.available():
        assert name in text, name
