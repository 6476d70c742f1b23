"""A simulated machine: a whole ``kumo up`` with its real data plane, isolated from the
machine it runs on (tests and benchmarks).

:class:`SimulatedMachine` gives the cloud two namespaces of its own:

- a fresh **network namespace** (``name`` in the real ``/run/netns``): the machine's
  "host", which holds ``br-ex``, the bridges, the VXLAN devices and the instances' taps;
- a private **mount namespace** whose ``/run/netns`` is an empty tmpfs, so the cloud's
  ``qrouter-``/``qdhcp-``/``instance-`` namespaces are named and listed only there.

Both are held by an *anchor* process (``sleep``) started first; ``kumo up`` (with
``KUMO_DATAPLANE=real``) and every command given to :meth:`SimulatedMachine.run` enter
them with ``nsenter -t <anchor> -m -n``. So the machine outlives a ``kumo up`` that failed
to start, and :meth:`SimulatedMachine.stop` can always clean up. Traffic stays inside:
the host namespace has no link to the real machine (only its loopback and what the
cloud makes), and clients reach the API on ``127.0.0.1:<port>`` *inside* it, which is
why the Python helpers (:meth:`python`, :meth:`python_json`) run inside too.

Requires root and util-linux (``unshare``, ``nsenter``), ``ip``, ``nft`` and dnsmasq.

    m = SimulatedMachine(tmp_dir, "kumo-t1234-machine", env={"KUMO_AGENT_HOST": "qs"})
    try:
        m.start()
        m.openstack("network", "create", "net1")
        print(m.python_json("import json; print(json.dumps(1 + 1))"))
    finally:
        m.stop()
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from kumo.agent.dataplane import names as kumo_names
from kumo.agent.dataplane import netns

#: The directory holding ``kumo``, ``openstack`` and ``python`` (this interpreter's venv).
BIN = Path(sys.executable).parent

#: Resource deletion done by :meth:`SimulatedMachine.stop` as ``kumo-admin`` (openstacksdk,
#: run inside the machine; bounded by ``KUMO_SIM_DEADLINE`` seconds). Prints a JSON list
#: of what failed.
_CLEANUP = r"""
import json, os, sys, time
import openstack
deadline = time.monotonic() + float(os.environ.get("KUMO_SIM_DEADLINE", "60"))
errors = []
def attempt(what, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except Exception as e:  # keep going: the machine is removed anyway
        errors.append(f"{what}: {type(e).__name__}: {e}"[:300])
conn = openstack.connect(cloud="kumo-admin")
servers = list(conn.compute.servers(all_projects=True))
for s in servers:
    attempt(f"server {s.id}", conn.compute.delete_server, s, force=False)
for s in servers:
    while time.monotonic() < deadline:
        try:
            conn.compute.get_server(s.id)
        except openstack.exceptions.NotFoundException:
            break
        time.sleep(0.2)
for fip in conn.network.ips():
    attempt(f"floating ip {fip.id}", conn.network.delete_ip, fip)
for r in conn.network.routers():
    for p in conn.network.ports(device_id=r.id, device_owner="network:router_interface"):
        for ip in p.fixed_ips:
            attempt(f"router {r.id} interface", conn.network.remove_interface_from_router,
                    r, subnet=ip["subnet_id"])
    if r.external_gateway_info:
        attempt(f"router {r.id} gateway", conn.network.update_router, r,
                external_gateway_info={})
    attempt(f"router {r.id}", conn.network.delete_router, r)
keep = {n.id for n in conn.network.networks(name="public", is_router_external=True)}
for p in conn.network.ports():
    if p.network_id not in keep and p.device_owner != "network:dhcp":
        attempt(f"port {p.id}", conn.network.delete_port, p)
for n in conn.network.networks():
    if n.id in keep:
        continue
    for sub in conn.network.subnets(network_id=n.id):
        attempt(f"subnet {sub.id}", conn.network.delete_subnet, sub)
    attempt(f"network {n.id}", conn.network.delete_network, n)
print(json.dumps(errors))
"""


class MachineError(RuntimeError):
    """The simulated machine could not start, or a command inside it failed."""


def _wait(predicate: Callable[[], Any], timeout: float, step: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout``
    seconds pass (``None``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(step)


def _ns_inode(pid: int, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError, PermissionError):
            pass


class SimulatedMachine:
    """A ``kumo up`` with the real data plane in its own network and mount namespaces
    (see the module doc).

    ``state_dir`` is the machine's private directory: ``state/`` (``KUMO_STATE_DIR``,
    with ``clouds.yaml``), ``home/`` (``HOME``) and ``kumo.log`` (kumo's output).
    ``name`` names the host network namespace (at most 64 characters, ``[A-Za-z0-9_.-]``)
    and is the agent's host name (``binding:host_id``) unless ``env`` sets
    ``KUMO_AGENT_HOST``. ``port`` is the API port on the machine's loopback. ``env`` adds
    or overrides environment variables of ``kumo up`` and of every command run inside
    (``KUMO_*`` settings, for example quotas).
    """

    def __init__(self, state_dir: str | os.PathLike, name: str, port: int = 5000,
                 env: dict[str, str] | None = None):
        self.dir = Path(state_dir)
        self.name = name
        self.port = port
        self.env = {**os.environ, "HOME": str(self.dir / "home"),
                    "KUMO_STATE_DIR": str(self.dir / "state"), "PYTHONUNBUFFERED": "1",
                    "OS_CLIENT_CONFIG_FILE": str(self.dir / "state" / "clouds.yaml"),
                    "KUMO_DATAPLANE": "real", "KUMO_AGENT_HOST": name}
        for var in ("OS_CLOUD", "KUMO_CONFIG", "KUMO_DATABASE_URL"):
            self.env.pop(var, None)
        self.env.update(env or {})
        self.anchor: subprocess.Popen | None = None
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def agent_host(self) -> str:
        """The host name the machine's agents serve (ports' ``binding:host_id``)."""
        return self.env["KUMO_AGENT_HOST"]

    @property
    def log_path(self) -> Path:
        return self.dir / "kumo.log"

    def server_log(self) -> str:
        """Everything ``kumo up`` printed so far ("" before start)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 90.0, args: tuple[str, ...] = ()) -> None:
        """Create the namespaces (unless they exist: the machine is started again after
        :meth:`stop_cloud`), start ``kumo up [args...]`` inside and wait until its compute
        agent runs (at most ``timeout`` seconds). Raises :class:`MachineError` (with
        kumo's output) when it exits or is not ready in time; call :meth:`stop` anyway.
        """
        if self.running():
            raise MachineError("kumo up already runs in this machine")
        if self.anchor is None or self.anchor.poll() is not None:
            self._make_namespaces()
        if self._log is not None:
            self._log.close()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [*self._enter(), str(BIN / "kumo"), "up", "--port", str(self.port), *args],
            env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        ready = _wait(lambda: "compute agents running" in self.server_log()
                      or self.proc.poll() is not None, timeout)
        if not ready or self.proc.poll() is not None:
            raise MachineError(f"kumo up did not start:\n{self.server_log()[-4000:]}")

    def stop_cloud(self, timeout: float = 30.0) -> str | None:
        """Stop ``kumo up`` only (SIGTERM, as Ctrl-C; SIGKILL after ``timeout`` s): its
        servers and data plane stay, as on a real machine. Returns a problem, if any."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return "kumo up ignored SIGTERM"
        return None

    def kumo(self, *args: str, check: bool = True,
             timeout: float = 120.0) -> subprocess.CompletedProcess:
        """``kumo <args>`` inside the machine (its state directory and HOME)."""
        return self.run([BIN / "kumo", *args], check=check, timeout=timeout)

    def _make_namespaces(self) -> None:
        (self.dir / "home").mkdir(parents=True, exist_ok=True)
        host_ns = netns.ensure_netns(netns.Host(), self.name)
        # The anchor: a private mount namespace with an empty /run/netns, in the host
        # namespace; unshare and sh exec, nsenter execs, so its pid is sleep's own.
        script = (f"exec 3<{host_ns.path}; mount -t tmpfs kumo-netns /run/netns && "
                  "exec nsenter --net=/proc/self/fd/3 sleep infinity")
        self.anchor = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        host_inode = os.stat(host_ns.path).st_ino
        if not _wait(lambda: self.anchor.poll() is not None
                     or _ns_inode(self.anchor.pid, "net") == host_inode, 10, 0.02) \
                or self.anchor.poll() is not None:
            err = self.anchor.stderr.read().decode() if self.anchor.poll() is not None else ""
            raise MachineError(f"the machine's namespaces did not come up: {err}")

    def stop(self, timeout: float = 120.0) -> list[str]:
        """Tear the machine down, whatever state it is in; never raises for cleanup.

        1. while ``kumo up`` runs: delete, as ``kumo-admin``, every server, floating IP,
           router (interfaces and gateway removed first), port, subnet and network
           except the external ``public`` network, and wait for the agents to remove
           the namespaces of what was deleted (about half of ``timeout`` in all);
        2. stop ``kumo up`` (SIGTERM, SIGKILL after 30 s);
        3. ``kumo down`` inside (:mod:`kumo.agent.teardown`: whatever the agents left);
        4. kill every process left in the machine's namespaces and delete them (should
           ``kumo down`` have failed);
        5. stop the anchor and delete the host namespace.

        Returns what went wrong on the way (empty when everything was removed cleanly
        through the API).
        """
        problems: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            if self.running():
                problems += self._delete_resources(max(10.0, timeout / 2))
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            problems.append(f"deleting resources: {type(e).__name__}: {e}")
        try:
            problem = self.stop_cloud(max(5.0, min(30.0, deadline - time.monotonic())))
            if problem:
                problems.append(problem)
            if self.proc is not None:  # it ran: remove what it left
                problems += self._down(max(10.0, min(60.0, deadline - time.monotonic())))
        finally:
            if self._log is not None:
                self._log.close()
            try:
                problems += self._remove_namespaces()
            finally:
                self._stop_anchor()
                netns.delete_netns(netns.Host(), self.name)
        return problems

    def running(self) -> bool:
        """Whether ``kumo up`` runs (its API may still be starting)."""
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> SimulatedMachine:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- commands inside ----------------------------------------------------------------
    def _enter(self) -> list[str]:
        if self.anchor is None or self.anchor.poll() is not None:
            raise MachineError("the simulated machine is not running")
        return ["nsenter", "-t", str(self.anchor.pid), "-m", "-n"]

    def run(self, argv, *, check: bool = True, timeout: float = 120.0,
            input: str | None = None, env: dict[str, str] | None = None,
            cloud: str = "kumo") -> subprocess.CompletedProcess:
        """Run ``argv`` (a list of strings) inside the machine's namespaces with the
        machine's environment plus ``OS_CLOUD=cloud`` and ``env``; text output captured.
        ``check``: raise :class:`MachineError` (with the output) on a non-zero exit.
        Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        proc = subprocess.run([*self._enter(), *map(str, argv)], input=input,
                              env={**self.env, "OS_CLOUD": cloud, **(env or {})},
                              text=True, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise MachineError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n"
                               f"{proc.stdout}{proc.stderr}")
        return proc

    def openstack(self, *args: str, admin: bool = False, check: bool = True,
                  timeout: float = 120.0) -> subprocess.CompletedProcess:
        """The ``openstack`` CLI inside the machine as the demo user (cloud ``kumo``)
        or, with ``admin``, as the admin (cloud ``kumo-admin``)."""
        return self.run([BIN / "openstack", *args], check=check, timeout=timeout,
                        cloud="kumo-admin" if admin else "kumo")

    def json(self, *args: str, admin: bool = False, timeout: float = 120.0) -> Any:
        """``openstack <args> -f json`` inside the machine, parsed."""
        return json.loads(self.openstack(*args, "-f", "json", admin=admin,
                                         timeout=timeout).stdout)

    def python(self, code: str, *args: str, admin: bool = False, check: bool = True,
               timeout: float = 120.0,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run Python ``code`` (``python -c code args...``, this venv's interpreter, so
        openstacksdk and kumo import) inside the machine; ``OS_CLOUD`` is ``kumo`` or,
        with ``admin``, ``kumo-admin``, so ``openstack.connect()`` reaches this cloud."""
        return self.run([BIN / "python", "-c", code, *args], check=check, timeout=timeout,
                        env=env, cloud="kumo-admin" if admin else "kumo")

    def python_json(self, code: str, *args: str, admin: bool = False,
                    timeout: float = 120.0, env: dict[str, str] | None = None) -> Any:
        """:meth:`python`, then the last non-empty line of its output parsed as JSON
        (the snippet prints its result last; anything before is ignored)."""
        out = self.python(code, *args, admin=admin, timeout=timeout, env=env).stdout
        lines = [line for line in out.splitlines() if line.strip()]
        if not lines:
            raise MachineError("the Python snippet printed nothing")
        return json.loads(lines[-1])

    def netns_names(self) -> list[str]:
        """The cloud's named network namespaces (the machine's ``/run/netns``)."""
        out = self.run(["ip", "netns", "list"], check=False, timeout=30).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def kumo_objects(self) -> dict[str, list[str]]:
        """What carries Kumo's names in the machine: its named namespaces, links (ours
        and ``br-ex``), nft tables, and processes of its state directory (instances'
        supervisors and init, dnsmasq: their command lines name it; and, while ``kumo
        up`` is stopped, anything but the anchor in the host namespace). All four lists
        are empty on a fresh machine and after ``kumo down``."""
        links = [line.split(":")[1].strip().split("@")[0]
                 for line in self.run(["ip", "-o", "link", "show"]).stdout.splitlines()]
        tables = json.loads(self.run(["nft", "-j", "list", "tables"]).stdout)["nftables"]
        state = str(self.dir / "state").encode()
        procs = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if state in cmdline:
                procs.append(f"{pid} {cmdline[:120].decode(errors='replace')}")
        if not self.running():  # then nothing but the anchor runs in the host namespace
            out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                                 text=True, timeout=30).stdout.split()
            procs += [f"{p} in the host namespace" for p in out
                      if self.anchor is None or p != str(self.anchor.pid)]
        return {"namespaces": self.netns_names(),
                "links": [n for n in links if kumo_names.is_ours(n) or n == "br-ex"],
                "nft_tables": [t["table"]["name"] for t in tables if "table" in t
                               and kumo_names.is_our_table(t["table"]["name"])],
                "processes": procs}

    # -- teardown -----------------------------------------------------------------------
    def _delete_resources(self, timeout: float) -> list[str]:
        started = time.monotonic()
        problems: list[str] = []
        try:
            problems += self.python_json(_CLEANUP, admin=True, timeout=timeout,
                                         env={"KUMO_SIM_DEADLINE": str(timeout * 0.6)})
        except (MachineError, subprocess.TimeoutExpired, ValueError) as e:
            problems.append(f"API cleanup: {e}"[:2000])
        left = max(5.0, timeout - (time.monotonic() - started))
        # the agents remove the namespaces they made for what was deleted
        gone = _wait(lambda: not any(n.startswith(("instance-", "qdhcp-", "qrouter-"))
                                     for n in self.netns_names()), left, 0.5)
        if not gone:
            problems.append(f"namespaces left by the agents: {self.netns_names()}")
        return problems

    def _down(self, timeout: float) -> list[str]:
        """``kumo down --force`` inside; what it could not remove."""
        if self.anchor is None or self.anchor.poll() is not None:
            return []
        try:
            proc = self.kumo("down", "--force", check=False, timeout=timeout)
        except (MachineError, subprocess.TimeoutExpired, OSError) as e:
            return [f"kumo down: {e}"[:2000]]
        if proc.returncode != 0:
            return [f"kumo down exited {proc.returncode}: {proc.stdout}{proc.stderr}"[:2000]]
        return []

    def _remove_namespaces(self) -> list[str]:
        """Kill the processes in the machine's namespaces (its named ones and the host
        namespace itself, but not the anchor yet) and delete the named ones."""
        problems: list[str] = []
        if self.anchor is None or self.anchor.poll() is not None:
            return problems
        try:
            for _ in range(3):  # a killed supervisor cannot respawn, but be sure
                names = self.netns_names()
                if not names:
                    break
                for name in names:
                    pids = self.run(["ip", "netns", "pids", name], check=False,
                                    timeout=30).stdout.split()
                    _kill(pids)
                    self.run(["ip", "netns", "delete", name], check=False, timeout=30)
            host_pids = subprocess.run(["ip", "netns", "pids", self.name], text=True,
                                       capture_output=True, timeout=30).stdout.split()
            _kill(p for p in host_pids if p != str(self.anchor.pid))
            left = self.netns_names()
            if left:
                problems.append(f"namespaces not deleted: {left}")
        except (MachineError, subprocess.TimeoutExpired, OSError) as e:
            problems.append(f"removing namespaces: {e}")
        return problems

    def _stop_anchor(self) -> None:
        if self.anchor is None:
            return
        if self.anchor.poll() is None:
            self.anchor.kill()
        try:
            self.anchor.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if self.anchor.stderr is not None:
            self.anchor.stderr.close()
