"""End-to-end tests: the README's commands as a user types them, against a whole
``kumo up`` with its real data plane inside a simulated machine
(:class:`kumo.sim.SimulatedMachine`: its own network and mount namespaces).

Skipped unless root with ``ip``, ``nft``, ``unshare`` and ``nsenter``. Like the data-plane
tests they run beside other tests under xdist."""
from __future__ import annotations

from pathlib import Path

from tests.dataplane import machines

HERE = Path(__file__).resolve().parent
REASON = machines.skip_reason("end-to-end tests", ("ip", "nft", "unshare", "nsenter"))


def pytest_collection_modifyitems(config, items):
    machines.mark_heavy(items, HERE, REASON)
