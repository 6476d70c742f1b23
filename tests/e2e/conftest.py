"""End-to-end tests: the README's commands as a user types them, against a whole
``kumo up`` with its real data plane inside a simulated machine
(:class:`kumo.sim.SimulatedMachine`: its own network and mount namespaces).

Skipped unless root with ``ip``, ``nft``, ``unshare`` and ``nsenter``. They share the
``dataplane`` xdist group with the data-plane tests (one heavy test at a time)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REASON = None
if os.geteuid() != 0:
    REASON = "end-to-end tests need root"
elif not all(shutil.which(t) for t in ("ip", "nft", "unshare", "nsenter")):
    REASON = "end-to-end tests need ip, nft, unshare and nsenter"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("dataplane"))
            if REASON:
                item.add_marker(pytest.mark.skip(reason=REASON))
