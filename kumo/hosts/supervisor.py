"""The supervisor of the simulated hosts' agents (:class:`Supervisor`, a thread of
``kumo up --hosts``); see :mod:`kumo.hosts`."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kumo.agent.controller import Backoff
from kumo.hosts import (AGENT_PID, HOSTS_DIR, REMOVING, STOP_GRACE_S, HostError, SimHost,
                        _stop_agent, agent_argv, agent_env, load)

LOG = logging.getLogger(__name__)


class Supervisor:
    """Runs and watches the agents of every recorded simulated host for ``kumo up``: a
    host recorded later (``kumo host add``) gets its agent within a second, one marked
    for removal (``kumo host remove``) or gone loses it; an agent that exits is started
    again after a backoff (1 s doubling to 30 s). Each line an agent prints goes to
    ``out`` prefixed ``[<host>] ``."""

    POLL_S = 1.0
    BACKOFF_MAX_S = 30.0

    def __init__(self, settings, out=None):
        self.settings = settings
        self.out = out or sys.stdout
        self.procs: dict[str, subprocess.Popen] = {}
        self._backoff: dict[str, tuple[int, float]] = {}  # name -> (failures, not before)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._print_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sim-hosts", daemon=True)
        self._thread.start()

    def _say(self, line: str) -> None:
        with self._print_lock:
            self.out.write(line if line.endswith("\n") else line + "\n")
            self.out.flush()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep supervising
                LOG.exception("simulated hosts: supervision failed")
            self._stop.wait(self.POLL_S)

    def tick(self) -> None:
        """One round: start missing agents, stop unwanted ones, note exits."""
        wanted = {h.name: h for h in load(self.settings)
                  if not (Path(h.dir) / REMOVING).exists()}
        now = time.monotonic()
        with self._lock:
            if self._stop.is_set():
                return
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None:
                    del self.procs[name]
                    (Path(self.settings.state_dir) / HOSTS_DIR / name / AGENT_PID).unlink(
                        missing_ok=True)
                    if name in wanted:
                        delay = self._retry_later(name, now)
                        self._say(f"kumo: agent of host {name} exited ({proc.returncode});"
                                  f" starting it again in {delay:.0f} s")
                elif name not in wanted:
                    self._terminate([proc], name)
                    del self.procs[name]
            for name, host in wanted.items():
                if name in self.procs or now < self._backoff.get(name, (0, 0))[1]:
                    continue
                try:
                    self.procs[name] = self._spawn(host)
                except (HostError, OSError) as e:
                    self._retry_later(name, now)
                    self._say(f"kumo: host {name}: {e}")

    def _retry_later(self, name: str, now: float) -> float:
        """Count one more failure of ``name``'s agent; its start waits the agents' one
        backoff (:class:`kumo.agent.controller.Backoff`, 1 s doubling to
        :attr:`BACKOFF_MAX_S`). Returns the delay."""
        attempts = int(self._backoff.get(name, (0, 0))[0]) + 1
        delay = Backoff(1.0, self.BACKOFF_MAX_S, jitter=None).delay(attempts)
        self._backoff[name] = (attempts, now + delay)
        return delay

    def _spawn(self, host: SimHost) -> subprocess.Popen:
        _stop_agent(host)  # one left by a kumo up that was killed: never two agents
        proc = subprocess.Popen(
            [*host.enter(), *agent_argv(self.settings, host)], env=agent_env(self.settings),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        (Path(host.dir) / AGENT_PID).write_text(f"{proc.pid}\n")
        threading.Thread(target=self._relay, args=(host.name, proc), daemon=True,
                         name=f"sim-{host.name}-out").start()
        self._say(f"kumo: agent of simulated host {host.name} started (pid {proc.pid}, "
                  f"underlay {host.address})")
        return proc

    def _relay(self, name: str, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            self._say(f"[{name}] {raw.decode(errors='replace').rstrip()}")
        proc.stdout.close()

    @staticmethod
    def _terminate(procs, what: str = "") -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                LOG.warning("agent %s ignored SIGTERM; killing it", what or p.pid)
                p.kill()
                p.wait(5)

    def signal_stop(self) -> None:
        """Stop supervising and send SIGTERM to every agent (no waiting)."""
        with self._lock:
            self._stop.set()
            for p in self.procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """:meth:`signal_stop`, then wait for the agents (SIGKILL after
        :data:`STOP_GRACE_S`)."""
        self.signal_stop()
        with self._lock:
            procs, self.procs = list(self.procs.values()), {}
        self._terminate(procs)
        for h in load(self.settings):
            (Path(h.dir) / AGENT_PID).unlink(missing_ok=True)
        if self._thread is not None:
            self._thread.join(5)
