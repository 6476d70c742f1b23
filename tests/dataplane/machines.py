"""What the heavy tests (tests/dataplane, tests/e2e) share: their skip rule and xdist
group, a unique tag for their kernel objects, and a whole ``kumo up`` inside a
simulated machine (:class:`kumo.sim.SimulatedMachine`) started for a test and torn
down pass or fail.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from kumo.sim import MachineError, SimulatedMachine
from tests import waiting

#: Seconds a machine test waits for the cloud to converge (one wait).
WAIT_S = 120.0


def skip_reason(what: str, tools: tuple[str, ...]) -> str | None:
    """Why ``what`` (e.g. "data-plane tests") cannot run here: not root, or one of
    ``tools`` missing from PATH; None when they can."""
    if os.geteuid() != 0:
        return f"{what} need root"
    if not all(shutil.which(t) for t in tools):
        return f"{what} need the {', '.join(tools)} commands"
    return None


def mark_heavy(items, here: Path, reason: str | None) -> None:
    """For a conftest's ``pytest_collection_modifyitems``: the tests under ``here`` are
    skipped with ``reason`` when it is not None. (They run beside each other under
    xdist: each makes its own simulated machine and tag-named kernel objects.)"""
    if not reason:
        return
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=reason))


def new_tag() -> str:
    """A unique prefix for a test's kernel objects: ``kumo-t<8 hex>``."""
    return f"kumo-t{uuid.uuid4().hex[:8]}"


def wait_for(predicate, what: str, timeout: float = WAIT_S, interval: float = 0.5):
    """:func:`tests.waiting.wait_for` with the machine tests' defaults."""
    return waiting.wait_for(predicate, what, timeout, interval)


class Machine(SimulatedMachine):
    """A simulated machine whose :meth:`run` also takes its argv spread out
    (``m.run("ip", "link")``) and whose failing commands are test failures
    (AssertionError with the command's output)."""

    @property
    def tmp(self) -> Path:
        """The machine's directory (the test's ``tmp_path``): for files to hand it."""
        return self.dir

    def run(self, *argv, check: bool = True, timeout: float = 120, **kw):
        if len(argv) == 1 and isinstance(argv[0], (list, tuple)):
            argv = tuple(argv[0])
        try:
            return super().run(list(argv), check=check, timeout=timeout, **kw)
        except MachineError as e:
            raise AssertionError(str(e)) from None
        except subprocess.TimeoutExpired as e:
            # what the cloud was doing meanwhile is the only clue a CI log keeps
            raise AssertionError(
                f"{' '.join(map(str, argv))} did not end within {timeout} s; output so "
                f"far:\n{_text(e.stdout)}{_text(e.stderr)}\n"
                f"last lines of kumo.log:\n{self.server_log()[-8000:]}") from None


def _text(out) -> str:
    """A timed-out command's captured output as text (bytes even with text=True)."""
    if isinstance(out, bytes):
        return out.decode(errors="replace")
    return out or ""


@contextlib.contextmanager
def started(tmp_path: Path, name: str, agent_host: str | None = None, *,
            args: tuple[str, ...] = (), timeout: float = 90.0,
            needs: tuple[str, ...] = ()) -> Iterator[Machine]:
    """A :class:`Machine` named ``name`` in ``tmp_path`` (agent host ``agent_host``, by
    default ``name``), its ``kumo up <args>`` started within ``timeout`` seconds;
    stopped on exit, pass or fail, printing what its teardown found. Skips the test
    unless ``unshare``, ``nsenter`` and the commands in ``needs`` are on PATH."""
    for tool in ("unshare", "nsenter", *needs):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    env = {"KUMO_AGENT_HOST": agent_host} if agent_host else None
    m = Machine(tmp_path, name, env=env)
    try:
        m.start(timeout=timeout, args=args)
        yield m
    finally:
        problems = m.stop()
        print("machine teardown:", problems or "clean")


def loops_of(root) -> list[tuple[str, str]]:
    """``(/dev/loopN, backing file)`` of the loop devices over files under ``root``."""
    out = subprocess.run(["losetup", "--list", "-n", "--raw", "-O", "NAME,BACK-FILE"],
                         capture_output=True, text=True, timeout=30).stdout
    found = []
    for line in out.splitlines():
        name, _, back = line.partition(" ")
        if back.startswith(str(root)):
            found.append((name, back))
    return found


@contextlib.contextmanager
def started_with_loops(tmp_path: Path, name: str, agent_host: str, *,
                       needs: tuple[str, ...] = ()) -> Iterator[Machine]:
    """:func:`started` for servers holding loop devices (volumes, config drives):
    whatever happened, the loops still over the machine's files are freed after it
    stops, and the test fails if any is left then. Skips without ``losetup``."""
    with started(tmp_path, name, agent_host, needs=("losetup", *needs)) as m:
        try:
            yield m
        finally:
            for dev, _ in loops_of(tmp_path):
                subprocess.run(["losetup", "-d", dev], capture_output=True, timeout=30)
    leaked = loops_of(tmp_path)
    assert not leaked, f"loop devices left: {leaked}"
