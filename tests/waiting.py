"""Bounded waiting for tests (never a timed assertion: a deadline only ends the wait)."""
from __future__ import annotations

import time


def wait_for(predicate, what: str, timeout: float = 60.0, interval: float = 0.2):
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy
    (returned); fail with "timed out waiting for <what>" after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
