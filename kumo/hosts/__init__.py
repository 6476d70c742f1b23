"""Simulated hosts: several compute and network hosts on one machine (``kumo up --hosts N``,
``kumo host add|remove|list``).

A simulated host is what a second machine would be, made of kernel objects:

- its **network namespace** ``kumo-host-<name>`` (in the machine's ``/run/netns``, so
  ``ip netns exec kumo-host-<name> ...`` looks inside), holding its own ``br-ex``, the
  ``brq*`` bridges, VXLAN devices and taps its agent makes;
- a private **mount namespace** whose ``/run/netns`` is an empty tmpfs, so its
  ``qrouter-``/``qdhcp-``/``instance-`` namespaces are its own (as on another machine);
- both held by an *anchor* process (``sleep``, in a session of its own, so Ctrl-C of
  ``kumo up`` leaves it: the host's servers keep running, as the machine's do);
- an **underlay** leg: a veth ``kumo-ul<i>`` on the machine's bridge ``kumo-underlay``
  whose other end is ``eth0`` in the host with ``<underlay_cidr>.<i>`` (10.255.0.i by
  default; the machine itself is ``.1``). The host's tunnelling (VXLAN) address is that
  address. The underlay has no route anywhere else: the namespaces have no default
  route, and the table ``inet kumo-underlay-guard`` on the machine drops anything
  routed into or out of ``kumo-underlay`` and anything for an underlay address that
  arrives by another device than ``kumo-underlay`` or loopback (a tenant behind a
  router cannot reach the API or inject VXLAN through ``br-ex``);
- a **provider** leg: a veth ``kumo-ex<i>`` on the machine's ``br-ex`` whose other end
  ``ex0`` is in the host's ``br-ex``, so the flat ``public`` network is one L2 segment
  across hosts (a router scheduled to a simulated host has its gateway and floating IPs
  on it, reachable from the machine at 172.24.4.1, as on a multi-node DevStack);
- its **state directory** ``<state>/hosts/<name>/`` (``host.json``: index, address,
  anchor; the agent's and compute driver's state; ``agent.pid``, ``agent.log`` is not
  kept: the agent's output goes to ``kumo up``'s, each line prefixed ``[<name>]``);
- its **agent**: ``kumo agent --controller http://<underlay .1>:<port> --host <name>
  --tunneling-ip <address> --driver ... --compute-driver netns`` run inside both
  namespaces by ``kumo up`` (:class:`Supervisor`: started once the API listens,
  restarted with backoff if it exits, stopped on Ctrl-C).

The API listens on the underlay address too, and the catalog's URL is
``http://<underlay .1>:<port>`` (``public_url``) so agents on simulated hosts find every
endpoint from the catalog.

:func:`remove` (``kumo host remove``, and :func:`remove_all` for ``kumo down``) runs
``kumo down`` inside the host (its servers, DHCP, routers, firewall, bridges, with the
same code as on the machine), kills what still runs in its namespaces, stops the anchor
and deletes the namespace and legs; the bridge ``kumo-underlay`` and the guard go with
the last host.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kumo.agent.dataplane import links, netns, nft

LOG = logging.getLogger(__name__)

UNDERLAY_BRIDGE = "kumo-underlay"
GUARD_TABLE = "kumo-underlay-guard"
NETNS_PREFIX = "kumo-host-"
HOSTS_DIR = "hosts"
RECORD = "host.json"
AGENT_PID = "agent.pid"
REMOVING = "removing"
#: Host names: what a hostname may be (they are ``binding:host_id`` and hypervisor names).
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
#: The drivers every simulated host's agent runs.
DRIVERS = ("linuxbridge", "firewall", "dhcp", "l3", "metadata", "qos", "taas", "trunk")
#: Seconds an agent gets after SIGTERM before SIGKILL.
STOP_GRACE_S = 10.0


class HostError(RuntimeError):
    """A simulated host cannot be made, found or removed (the message says why)."""


@dataclass
class SimHost:
    """One simulated host's record (``<state>/hosts/<name>/host.json``)."""

    name: str
    index: int
    address: str          #: its underlay (tunnelling) address, no prefix length
    prefixlen: int
    anchor: int = 0       #: pid of the anchor process (0: none yet)
    anchor_start: str = ""  #: the anchor's start time (/proc/<pid>/stat field 22)
    dir: str = ""         #: its state directory
    agent_mode: str = ""  #: its L3 agent's agent_mode ("": the agent's default)

    @property
    def netns_name(self) -> str:
        return NETNS_PREFIX + self.name

    @property
    def netns_path(self) -> str:
        return netns.Host().ns(self.netns_name).path

    @property
    def underlay_leg(self) -> str:
        return f"kumo-ul{self.index}"

    @property
    def provider_leg(self) -> str:
        return f"kumo-ex{self.index}"

    def anchor_alive(self) -> bool:
        return bool(self.anchor) and _start_time(self.anchor) == self.anchor_start

    def enter(self) -> list[str]:
        """The ``nsenter`` prefix running a command inside the host (its network and
        mount namespaces). :class:`HostError` when the anchor is gone."""
        if not self.anchor_alive():
            raise HostError(f"host {self.name}: its namespaces' anchor is not running")
        return ["nsenter", "-t", str(self.anchor), "-m", "-n", "--"]

    def save(self) -> None:
        path = Path(self.dir)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path / (RECORD + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path / RECORD)


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` ("" if it is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return "" if fields[0] in ("Z", "X") else fields[19]  # a zombie is gone


# -- records ------------------------------------------------------------------------------

def hosts_dir(settings) -> Path:
    return Path(settings.state_dir) / HOSTS_DIR


def load(settings) -> list[SimHost]:
    """Every simulated host recorded in the state directory, by index."""
    out = []
    base = hosts_dir(settings)
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        try:
            data = json.loads((d / RECORD).read_text())
            data["dir"] = str(d)
            out.append(SimHost(**data))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda h: h.index)


def find(settings, name: str) -> SimHost | None:
    return next((h for h in load(settings) if h.name == name), None)


def underlay(settings) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(str(settings.underlay_cidr), strict=True)


def machine_address(settings) -> str:
    """The machine's own underlay address (the first of ``underlay_cidr``): its
    tunnelling address and where simulated hosts reach the API."""
    return str(next(underlay(settings).hosts()))


def controller_url(settings) -> str:
    return f"http://{machine_address(settings)}:{settings.port}"


def layout(count: int) -> list[str]:
    """The L3 agents' ``agent_mode`` of ``kumo up --hosts N``'s hosts, the machine's
    first: with 3 hosts or more, two ``dvr_snat`` (network hosts, so an SNAT part has
    two places to live) and the rest ``dvr``; fewer hosts stay ``legacy``. Every host
    also runs servers."""
    if count < 3:
        return ["legacy"] * count
    return ["dvr_snat", "dvr_snat"] + ["dvr"] * (count - 2)


def default_names(settings, count: int) -> list[str]:
    """The names ``kumo up --hosts N`` gives its N-1 simulated hosts:
    ``<machine's host>-2``.. (``host-2``.. when that name would be too long)."""
    import socket
    base = (settings.agent_host or socket.gethostname()).split(".")[0].lower()
    base = re.sub(r"[^a-z0-9-]", "-", base).strip("-") or "host"
    if len(base) > 30:
        base = "host"
    return [f"{base}-{i}" for i in range(2, count + 1)]


# -- the machine's side --------------------------------------------------------------------

def check_underlay(settings) -> None:
    """Refuse an ``underlay_cidr`` that overlaps an address or route the machine already
    has on another device than ``kumo-underlay`` (it would capture real traffic)."""
    net = underlay(settings)
    for lk in links.list_links(netns.ROOT):
        if lk.name == UNDERLAY_BRIDGE or lk.name.startswith("kumo-ul"):
            continue
        for cidr in links.list_addresses(netns.ROOT, lk.name, family=4):
            if ipaddress.IPv4Interface(cidr).network.overlaps(net):
                raise HostError(f"the underlay {net} overlaps {cidr} on {lk.name}; set "
                                "another underlay_cidr (kumo.yaml or KUMO_UNDERLAY_CIDR)")
    for route in links.list_routes(netns.ROOT):
        dst = route.get("dst")
        if not dst or route.get("dev") == UNDERLAY_BRIDGE:
            continue
        try:
            dst_net = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        if dst_net.prefixlen and dst_net.overlaps(net):
            raise HostError(f"the underlay {net} overlaps the route {dst}; set another "
                            "underlay_cidr (kumo.yaml or KUMO_UNDERLAY_CIDR)")


def ensure_underlay(settings) -> str:
    """The bridge ``kumo-underlay`` up with the machine's underlay address, and the
    guard table; returns the machine's address. Idempotent."""
    net = underlay(settings)
    check_underlay(settings)
    links.ensure_bridge(netns.ROOT, UNDERLAY_BRIDGE)
    address = machine_address(settings)
    links.ensure_address(netns.ROOT, UNDERLAY_BRIDGE, f"{address}/{net.prefixlen}")
    guard(settings)
    return address


def guard(settings) -> None:
    """Replace ``inet kumo-underlay-guard`` (module doc)."""
    net = str(underlay(settings))
    br = UNDERLAY_BRIDGE
    nft.replace_table(
        netns.ROOT, "inet", GUARD_TABLE,
        chains=[nft.Chain("input", type="filter", hook="input", prio=0, policy="accept"),
                nft.Chain("forward", type="filter", hook="forward", prio=0,
                          policy="accept")],
        rules=[nft.Rule("input", [nft.daddr(net), nft.iifname(br, op="!="),
                                  nft.iifname("lo", op="!="), nft.counter(), nft.drop()],
                        comment="kumo: the underlay is reached by the underlay only"),
               nft.Rule("forward", [nft.iifname(br), nft.oifname(br, op="!="),
                                    nft.counter(), nft.drop()],
                        comment="kumo: nothing is routed out of the underlay"),
               nft.Rule("forward", [nft.oifname(br), nft.iifname(br, op="!="),
                                    nft.counter(), nft.drop()],
                        comment="kumo: nothing is routed into the underlay")])


def remove_underlay() -> list[str]:
    """Delete ``kumo-underlay`` and the guard table; returns what went."""
    removed = []
    if links.delete_link(netns.ROOT, UNDERLAY_BRIDGE):
        removed.append(UNDERLAY_BRIDGE)
    try:
        if nft.table_exists(netns.ROOT, "inet", GUARD_TABLE):
            nft.delete_table(netns.ROOT, "inet", GUARD_TABLE)
            removed.append(f"inet {GUARD_TABLE}")
    except Exception as e:  # noqa: BLE001 - no nft: no table either
        LOG.debug("underlay guard: %s", e)
    return removed


# -- making a host ------------------------------------------------------------------------

def _free_index(settings, taken: set[int]) -> int:
    net = underlay(settings)
    for i in range(2, min(net.num_addresses - 1, 1000)):
        if i not in taken:
            return i
    raise HostError(f"no free address left in the underlay {net}")


def create(settings, name: str, agent_mode: str | None = None) -> SimHost:
    """Record and make the simulated host ``name`` (or make again the kernel objects of
    a recorded one: after ``kumo down`` or a reboot). Needs root and the underlay
    (:func:`ensure_underlay`). Raises :class:`HostError`."""
    if not NAME_RE.match(name):
        raise HostError(f"host name {name!r}: lower-case letters, digits and '-', at most "
                        "40 characters, starting with a letter or digit")
    import socket
    if name == (settings.agent_host or socket.gethostname()):
        raise HostError(f"{name} is the machine's own host")
    host = find(settings, name)
    if host is None:
        existing = load(settings)
        index = _free_index(settings, {h.index for h in existing})
        net = underlay(settings)
        if agent_mode is None:  # a host added to a DVR cloud is a compute host
            agent_mode = "dvr" if any(h.agent_mode in ("dvr", "dvr_snat")
                                      for h in existing) else ""
        host = SimHost(name=name, index=index, address=str(net.network_address + index),
                       prefixlen=net.prefixlen, dir=str(hosts_dir(settings) / name),
                       agent_mode=agent_mode)
        hosts_dir(settings).mkdir(parents=True, exist_ok=True, mode=0o700)
        host.save()
    (Path(host.dir) / REMOVING).unlink(missing_ok=True)
    make_kernel_objects(settings, host)
    return host


def make_kernel_objects(settings, host: SimHost) -> None:
    """The namespace, the legs and the anchor of ``host`` (idempotent)."""
    machine = netns.Host()
    inside = netns.ensure_netns(machine, host.netns_name)
    links.ensure_veth(netns.ROOT, host.underlay_leg, "eth0", inside)
    links.set_master(netns.ROOT, host.underlay_leg, UNDERLAY_BRIDGE)
    links.ensure_address(inside, "eth0", f"{host.address}/{host.prefixlen}")
    bridges = dict(getattr(settings, "agent_bridge_mappings", None) or {})
    ex = bridges.get("public")
    if ex and links.get_link(netns.ROOT, ex) is not None:
        links.ensure_bridge(inside, ex)
        links.ensure_veth(netns.ROOT, host.provider_leg, "ex0", inside)
        links.set_master(netns.ROOT, host.provider_leg, ex)
        links.set_master(inside, "ex0", ex)
    if not host.anchor_alive():
        _start_anchor(host)
        host.save()


def _start_anchor(host: SimHost) -> None:
    """A process holding a private mount namespace (``/run/netns`` an empty tmpfs) in
    the host's network namespace, in a session of its own (Ctrl-C does not reach it)."""
    script = (f"exec 3<{host.netns_path}; mount -t tmpfs kumo-netns /run/netns && "
              "exec nsenter --net=/proc/self/fd/3 sleep infinity")
    os.makedirs(netns.DEFAULT_RUN_DIR, exist_ok=True)
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    want = os.stat(host.netns_path).st_ino
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if os.stat(f"/proc/{proc.pid}/ns/net").st_ino == want:
                break
        except OSError:
            pass
        time.sleep(0.02)
    else:
        err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
        proc.kill()
        raise HostError(f"host {host.name}: its namespaces did not come up: {err}")
    proc.stderr.close()
    # The anchor outlives this process: nobody waits for it here (a zombie is reaped by
    # init once kumo up exits; kumo down kills it).
    host.anchor = proc.pid
    host.anchor_start = _start_time(proc.pid)


# -- the agent ----------------------------------------------------------------------------

def agent_argv(settings, host: SimHost) -> list[str]:
    """``kumo agent`` for ``host``, as run inside it (after :meth:`SimHost.enter`)."""
    kumo = Path(sys.executable).parent / "kumo"
    prog = [str(kumo)] if kumo.exists() else [sys.executable, "-m", "kumo.cli"]
    argv = [*prog, "agent", "--state-dir", host.dir, "--controller",
            controller_url(settings), "--host", host.name, "--tunneling-ip", host.address,
            "--underlay-dev", "eth0", "--compute-driver", "netns"]
    for d in DRIVERS:
        argv += ["--driver", d]
    if host.agent_mode:
        argv += ["--agent-mode", host.agent_mode]
    return argv


def agent_env(settings) -> dict[str, str]:
    """The agent's environment: ``kumo up``'s, with the shared secrets it needs as
    settings (never on a command line) and the machine's ``kumo.yaml``."""
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1",
                # the agents log in as the service user (kumo agent's password path)
                "KUMO_AGENT_PASSWORD": settings.agent_secret(),
                "KUMO_METADATA_PROXY_SHARED_SECRET": settings.metadata_secret(),
                # a long poll in flight holds the agent's stop (and kumo up's graceful
                # shutdown): keep it short, as for the in-process agents
                "KUMO_AGENT_WAIT_S": str(min(float(settings.agent_wait_s), 5.0))})
    conf = Path(settings.state_dir) / "kumo.yaml"
    if "KUMO_CONFIG" not in env and conf.is_file():
        env["KUMO_CONFIG"] = str(conf)
    for var in ("OS_PASSWORD", "OS_CLOUD", "KUMO_STATE_DIR", "KUMO_AGENT_HOST", "KUMO_AGENT_TUNNELING_IP",
                "KUMO_AGENT_UNDERLAY_DEV", "KUMO_AGENT_DRIVERS", "KUMO_AGENT_COMPUTE_DRIVER",
                "KUMO_AGENT_MODE"):
        env.pop(var, None)
    return env


# -- removing -----------------------------------------------------------------------------

def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pids_in(host: SimHost) -> list[int]:
    """Processes in the host's network namespace or its anchor's mount namespace, or
    whose command line names its state directory (instances' supervisors, dnsmasq)."""
    def ino(path):
        try:
            return os.stat(path).st_ino
        except OSError:
            return None
    net = ino(host.netns_path)
    mnt = ino(f"/proc/{host.anchor}/ns/mnt") if host.anchor_alive() else None
    mine = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == mine:
            continue
        pid = int(entry)
        if (net and ino(f"/proc/{pid}/ns/net") == net) or \
                (mnt and ino(f"/proc/{pid}/ns/mnt") == mnt):
            out.append(pid)
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if (host.dir.encode() + b"/") in cmdline or host.dir.encode() + b"\0" in cmdline:
            out.append(pid)
    return out


def _stop_agent(host: SimHost) -> None:
    """Stop the agent recorded in ``agent.pid`` (SIGTERM, SIGKILL after
    :data:`STOP_GRACE_S`), if it still runs and is this host's agent."""
    try:
        pid = int((Path(host.dir) / AGENT_PID).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return
    if b"agent" not in cmdline or host.dir.encode() not in cmdline:
        return  # gone, and the pid reused by something else
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    _kill(pid)


#: What runs inside a host to tear it down: :func:`kumo.agent.teardown.down` on its state
#: directory (as ``kumo down`` there), printing ``{"counts", "problems"}`` as JSON.
_INNER_DOWN = ("import json, sys\n"
               "from kumo import config\n"
               "from kumo.agent import teardown\n"
               "counts, problems = teardown.down(config.load(sys.argv[1]))\n"
               "print(json.dumps({'counts': counts, 'problems': problems}))\n")


def teardown(settings, host: SimHost, timeout: float = 120.0
             ) -> tuple[dict[str, int], list[str]]:
    """Remove ``host``'s kernel objects (not its record): a ``kumo down`` inside it
    (:func:`kumo.agent.teardown.down` on its state directory), then whatever still runs
    there, the anchor, the namespace and the legs. Returns ``({kind: count removed}
    inside the host, problems)``."""
    problems: list[str] = []
    counts: dict[str, int] = {}
    if host.anchor_alive():
        try:
            proc = subprocess.run([*host.enter(), sys.executable, "-c", _INNER_DOWN,
                                   host.dir], env=agent_env(settings), text=True,
                                  capture_output=True, timeout=timeout)
            lines = proc.stdout.strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise HostError(f"exited {proc.returncode}: {proc.stderr.strip()}")
            result = json.loads(lines[-1])
            counts = result["counts"]
            problems += [f"host {host.name}: {p}" for p in result["problems"]]
        except (subprocess.TimeoutExpired, OSError, HostError, ValueError, KeyError) as e:
            problems.append(f"host {host.name}: teardown inside: {e}"[:1500])
    for _ in range(3):
        pids = [p for p in _pids_in(host) if p != host.anchor]
        if not pids:
            break
        for pid in pids:
            _kill(pid)
        time.sleep(0.2)
    if host.anchor_alive():
        _kill(host.anchor)
        deadline = time.monotonic() + 5
        while host.anchor_alive() and time.monotonic() < deadline:
            try:  # our child when kumo up made it in this process
                os.waitpid(host.anchor, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
    host.anchor, host.anchor_start = 0, ""
    if Path(host.dir, RECORD).exists():
        host.save()
    try:
        netns.delete_netns(netns.Host(), host.netns_name)
        for leg in (host.underlay_leg, host.provider_leg):
            links.delete_link(netns.ROOT, leg)
    except Exception as e:  # noqa: BLE001
        problems.append(f"host {host.name}: {e}")
    return counts, problems


def exists(host: SimHost) -> bool:
    """Whether any kernel object of ``host`` is there."""
    return (os.path.lexists(host.netns_path) or host.anchor_alive()
            or links.get_link(netns.ROOT, host.underlay_leg) is not None)


def remove_all(settings, purge: bool = False) -> tuple[dict[str, int], list[str]]:
    """``kumo down``: tear down every simulated host (records kept unless ``purge``,
    so the next ``kumo up`` makes them again), then the underlay. Returns
    ``({kind: count removed}, problems)``: ``hosts`` torn down, plus what went inside
    them (servers, namespaces...)."""
    problems: list[str] = []
    counts: dict[str, int] = {"hosts": 0}
    for host in load(settings):
        if exists(host):
            counts["hosts"] += 1
        inside, more = teardown(settings, host)
        problems += more
        for kind, n in inside.items():
            counts[kind] = counts.get(kind, 0) + int(n)
        if purge:
            shutil.rmtree(host.dir, ignore_errors=True)
    # legs of hosts whose record is gone
    for lk in links.list_links(netns.ROOT):
        if re.match(r"^kumo-(ul|ex)[0-9]+$", lk.name):
            links.delete_link(netns.ROOT, lk.name)
    remove_underlay()
    return counts, problems


def remove(settings, name: str) -> list[str]:
    """``kumo host remove``: mark the host (the running ``kumo up`` stops supervising
    it), stop its agent, tear it down and forget it. Its servers must be gone (the
    CLI deletes them through the API first). Raises :class:`HostError` if unknown."""
    host = find(settings, name)
    if host is None:
        raise HostError(f"no simulated host {name}")
    (Path(host.dir) / REMOVING).write_text("")
    _stop_agent(host)
    problems = teardown(settings, host)[1]
    if not problems:
        shutil.rmtree(host.dir, ignore_errors=True)
    if not load(settings):
        remove_underlay()
    return problems


from kumo.hosts.supervisor import Supervisor  # noqa: E402 (it uses the names above)

__all__ = ["HostError", "SimHost", "Supervisor", "create", "load", "find", "remove",
           "remove_all", "ensure_underlay", "agent_argv", "agent_env"]
