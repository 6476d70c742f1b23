"""Bounded waiting for tests (never a timed assertion: a deadline only ends the wait)."""
from __future__ import annotations

import subprocess
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


def stop_process(proc: subprocess.Popen, timeout: float = 15.0,
                 kill_timeout: float = 10.0) -> None:
    """SIGTERM ``proc`` and wait up to ``timeout`` seconds for it to exit; if it has
    not, SIGKILL it and wait up to ``kill_timeout`` seconds more (reaped either way)."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_timeout)
