"""The ``kumo`` command.

- ``kumo up [--reset]``: prepare the state directory, migrate, bootstrap, write
  ``clouds.yaml`` and serve every API in the foreground (the all-in-one cloud).
- ``kumo api [--db URL]``: serve the API against an existing database (scale-out).
- ``kumo db upgrade [--db URL]``: apply schema migrations.
- ``kumo bootstrap [--db URL]``: create the bootstrap identity data and catalog.
- ``kumo fernet rotate [--db URL]``: rotate the token keys (in the database: every API
  process picks the new keys up without a restart).
- ``kumo agent --controller URL --host NAME [--cloud NAME] [--compute-driver fake|netns]``:
  the per-host data-plane agent (:mod:`kumo.agent.agent`), and the compute agent
  (:mod:`kumo.agent.compute`) when a compute driver is given.
- ``kumo up --fake-compute-hosts N`` adds N in-process fake compute hosts.
- ``kumo down [--purge] [--force]``: remove the servers and the data plane ``kumo up``
  made on this machine (:mod:`kumo.agent.teardown`); ``--purge`` also the state.
- ``kumo console <server> [-- command...]``: a shell or a command inside a server on this
  host (root; :mod:`kumo.agent.virt.console`).
- ``kumo trace <server|port|floating-ip>``: the troubleshooting workflow in one command
  (:mod:`kumo.trace`).
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

from kumo import config

START = time.monotonic()


def _settings(args) -> config.Settings:
    return config.load(args.state_dir, database_url=getattr(args, "db", None),
                       host=getattr(args, "host", None), port=getattr(args, "port", None))


#: Files directly under the state directory that hold secrets (password hashes and
#: user_data in the database and its WAL, the metadata HMAC key, clouds.yaml's
#: passwords); tightened to 0600 on every start, for state made by older versions.
SECRET_FILES = ("kumo.db", "kumo.db-wal", "kumo.db-shm", "metadata_secret", "clouds.yaml",
                "kumo.yaml")


def secure_state_dir(path: str | Path) -> Path:
    """Create the state directory ``path`` (and parents) and make it 0700, so nothing
    beneath it (database, images, console logs, instance metadata, DHCP host files) is
    reachable by other users; existing secret-bearing files directly in it become 0600.
    Files Kumo creates later are 0600/0700 anyway: :func:`main` sets umask 077."""
    state = Path(path)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    state.chmod(0o700)
    for name in SECRET_FILES:
        try:
            (state / name).chmod(0o600)
        except FileNotFoundError:
            pass
    return state


def prepare(settings: config.Settings, migrate: bool):
    """Keys, schema and bootstrap data; returns the ready :class:`~kumo.app.Cloud`."""
    from kumo import db
    from kumo.app import Cloud
    from kumo.identity.bootstrap import bootstrap
    from kumo.image.bootstrap import bootstrap as image_bootstrap
    from kumo.network.bootstrap import bootstrap as network_bootstrap

    secure_state_dir(settings.state_dir)
    if migrate:
        db.upgrade(settings.db_url)
    cloud = Cloud(settings)
    bootstrap(cloud.identity)
    network_bootstrap(cloud)
    image_bootstrap(cloud)
    return cloud


def clouds_yaml(settings: config.Settings) -> dict:
    """The ``clouds.yaml`` entries ``kumo-admin`` and ``kumo`` (demo)."""
    def cloud(user, password, project):
        return {"auth": {"auth_url": settings.base_url + "/identity", "username": user,
                         "password": password, "project_name": project,
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": settings.region, "interface": "public",
                "identity_api_version": 3}
    return {"kumo-admin": cloud("admin", settings.admin_password, "admin"),
            "kumo": cloud("demo", settings.demo_password, "demo")}


def write_clouds_yaml(settings: config.Settings) -> list[Path]:
    """Write ``<state>/clouds.yaml`` and merge our clouds into the user's
    ``~/.config/openstack/clouds.yaml`` (other clouds there are kept)."""
    entries = clouds_yaml(settings)
    written = []
    for path in (Path(settings.state_dir) / "clouds.yaml",
                 Path.home() / ".config" / "openstack" / "clouds.yaml"):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {}
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
        data.setdefault("clouds", {}).update(entries)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        path.chmod(0o600)
        written.append(path)
    return written


def serve(cloud, settings: config.Settings, banner: str = "", on_ready=None,
          on_shutdown=None, on_stopped=None) -> None:
    """Serve the API in the foreground; ``on_ready()`` runs once it listens,
    ``on_shutdown()`` when it starts shutting down (before open requests drain),
    ``on_stopped()`` once they drained (uvicorn may then re-raise the signal that
    stopped it, so code after this call may never run)."""
    import uvicorn

    from kumo.app import App

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if self.started:
                print(f"{banner}kumo: ready on {settings.base_url} in "
                      f"{time.monotonic() - START:.2f} s", flush=True)
                if on_ready is not None:
                    on_ready()

        async def shutdown(self, sockets=None):
            if on_shutdown is not None:  # in a thread: the loop keeps serving meanwhile
                import asyncio
                await asyncio.get_running_loop().run_in_executor(None, on_shutdown)
            await super().shutdown(sockets)
            if on_stopped is not None:
                on_stopped()

    loop = "uvloop" if _has("uvloop") else "asyncio"
    uv = uvicorn.Config(App(cloud), host=settings.host, port=settings.port,
                        # Kumo's own logging (kumo.common.log) formats uvicorn's lines;
                        # kumo.access writes the access lines.
                        log_config=None, log_level="warning", access_log=False, loop=loop,
                        http="httptools" if _has("httptools") else "h11",
                        lifespan="off",
                        # Every connection is accepted and served: no concurrency cap
                        # (a request waiting for its body holds no worker thread, see
                        # kumo.app) and a deep accept backlog.
                        limit_concurrency=None, backlog=2048,
                        # Longer than clients' polling intervals (the CLI's --wait
                        # polls every 5 s): an idle connection closed by the server
                        # just as the client reuses it is a "connection reset".
                        timeout_keep_alive=75)
    # Startup's objects (modules, SQLAlchemy metadata, policies) live as long as the
    # process: keep them out of the cyclic GC, whose full collections would otherwise
    # walk them all (tens of ms in the middle of a 10,000-port list).
    gc.collect()
    gc.freeze()
    Server(uv).run()


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def _lock_state(settings: config.Settings):
    """Take the state directory's :class:`~kumo.agent.teardown.StateLock`, or print why
    not and return None."""
    from kumo.agent import teardown

    secure_state_dir(settings.state_dir)
    try:
        return teardown.StateLock(settings.state_dir).acquire()
    except teardown.Busy as e:
        print(f"kumo: a kumo up (pid {e.pid or '?'}) is running on {settings.state_dir}; "
              "stop it first (Ctrl-C in its terminal)", file=sys.stderr)
        return None


def reset(settings: config.Settings) -> None:
    """``kumo up --reset``: remove the data plane (as ``kumo down``; not when the
    ``dataplane`` setting is ``off`` or ``fake``: then this cloud never touched the
    kernel) and every piece of state (database, keys, clouds.yaml, image files, caches,
    unpacked root filesystems). The caller holds the state lock."""
    from kumo.agent import teardown

    real = (settings.dataplane or "auto").lower() not in ("off", "fake")
    counts, problems = teardown.down(settings, purge=True, dataplane=real, keep_lock=True)
    print(f"kumo: reset: removed {teardown.summary(counts)}", flush=True)
    for p in problems:
        print(f"kumo: reset: {p}", file=sys.stderr, flush=True)
    secure_state_dir(settings.state_dir)


def cmd_up(args) -> int:
    settings = _settings(args)
    if args.fake_dataplane:
        settings.dataplane = "fake"
    elif args.dataplane:
        settings.dataplane = args.dataplane
    lock = _lock_state(settings)
    if lock is None:
        return 1
    if args.reset:
        reset(settings)
    from kumo.agent import local

    net_drivers, compute_driver = local.choose(settings)
    if net_drivers:
        settings.agent_in_process = True
        settings.agent_drivers = net_drivers
        settings.agent_compute_driver = settings.agent_compute_driver or compute_driver
        if "linuxbridge" in net_drivers:
            # One host: VXLAN devices need a local address but have no peers.
            settings.agent_tunneling_ip = settings.agent_tunneling_ip or "127.0.0.1"
            local.prepare_host(settings)
    if args.fake_compute_hosts is not None:
        settings.compute_fake_hosts = args.fake_compute_hosts
    # Each in-process compute agent holds one server worker thread in its long poll.
    settings.worker_threads += _compute_agent_count(settings)
    cloud = prepare(settings, migrate=True)
    paths = write_clouds_yaml(settings)
    banner = (f"kumo: state in {settings.state_dir}, database {cloud.db.engine.url!r}\n"
              f"kumo: clouds.yaml written to {', '.join(map(str, paths))}\n")
    agents = []
    stopping = []
    periodic = []

    def start_agent():
        from kumo.common import periodic as periodic_mod

        runner = periodic_mod.start(cloud)
        if runner is not None:
            periodic.append(runner)
        if settings.agent_in_process:
            agents.append(_in_process_agent(settings))
        agents.extend(_in_process_compute_agents(settings))
        print(next_steps(settings), flush=True)

    def stop_agents():
        if not stopping:
            stopping.append(time.monotonic())
            print(stopping_message(settings), flush=True)
        for runner in periodic:
            runner.stop()
        for agent in agents:  # first let no informer start another long poll...
            agent.informer.stop(timeout=0)
        cloud.stop_watches()  # ...then end those in flight at once
        for agent in agents:
            agent.stop()

    def stopped():
        if stopping:
            print(f"kumo: stopped in {time.monotonic() - stopping[0]:.1f} s", flush=True)

    try:
        serve(cloud, settings, banner, on_ready=start_agent, on_shutdown=stop_agents,
              on_stopped=stopped)
    finally:
        stop_agents()
        lock.release()
    return 0


def _real_dataplane(settings: config.Settings) -> bool:
    return settings.agent_compute_driver == "netns" or bool(
        settings.agent_in_process and "linuxbridge" in (settings.agent_drivers or []))


def next_steps(settings: config.Settings) -> str:
    """What ``kumo up`` prints once the cloud is ready: the README's Terminal 2."""
    openstack = shutil.which("openstack")
    venv_cli = Path(sys.executable).parent / "openstack"
    lines = ["kumo: ready. In another terminal:"]
    if openstack is None and venv_cli.exists():
        lines.append(f"kumo:   export PATH={venv_cli.parent}:$PATH")
    lines += ["kumo:   export OS_CLOUD=kumo          # demo user (kumo-admin: admin)",
              "kumo:   openstack server list"]
    if _real_dataplane(settings):
        lines.append("kumo: Ctrl-C stops the API and agents; servers and the data plane "
                     "keep running until `kumo down`.")
    return "\n".join(lines)


def stopping_message(settings: config.Settings) -> str:
    """What Ctrl-C/SIGTERM prints: what stops, what keeps running."""
    if _real_dataplane(settings):
        from kumo.agent import teardown

        n = teardown.count_servers(settings)
        return (f"kumo: stopping (API and agents; {n} server{'s' if n != 1 else ''} and "
                "the data plane keep running: `kumo down` removes them)")
    return "kumo: stopping"


def _in_process_agent(settings: config.Settings):
    """Start the machine's own agent (drivers from ``agent_drivers``) against this
    server, as admin."""
    from kumo.agent import agent as agent_mod
    from kumo.agent.client import ControllerClient

    client = ControllerClient.from_password(settings.base_url + "/identity", "admin",
                                            settings.admin_password, "admin")
    agent = agent_mod.from_settings(settings, client)
    # A long poll in flight holds the server's graceful shutdown: keep it short here.
    agent.informer.wait_s = min(agent.informer.wait_s, 5.0)
    agent.start()
    print(f"kumo: data-plane agent for host {agent.host} running "
          f"(drivers: {', '.join(d.name for d in agent.drivers)})", flush=True)
    return agent


def _compute_agent_count(settings: config.Settings) -> int:
    return int(settings.compute_fake_hosts) + (1 if settings.agent_compute_driver else 0)


def _in_process_compute_agents(settings: config.Settings) -> list:
    """Start ``compute_fake_hosts`` compute agents ``fake-0``.. with the fake driver,
    and the machine's own with ``agent_compute_driver`` when set, against this server
    as admin (one shared keystone session)."""
    if not _compute_agent_count(settings):
        return []
    import socket

    from kumo.agent import compute
    from kumo.agent.client import ControllerClient

    ctrl = ControllerClient.from_password(settings.base_url + "/identity", "admin",
                                          settings.admin_password, "admin")
    client = compute.ComputeClient.from_controller(
        ctrl, endpoint=settings.base_url + "/compute")
    agents = []
    hosts = [(f"fake-{i}", "fake") for i in range(int(settings.compute_fake_hosts))]
    if settings.agent_compute_driver:
        hosts.append((settings.agent_host or socket.gethostname(),
                      settings.agent_compute_driver))
    for host, driver in hosts:
        agent = compute.from_settings(settings, client, host=host, driver=driver)
        # A long poll in flight holds the server's graceful shutdown: keep it short.
        agent.informer.wait_s = min(agent.informer.wait_s, 5.0)
        if driver == "fake":
            agent.workers = 2
        agent.start()
        agents.append(agent)
    names = [h for h, _ in hosts]
    shown = ", ".join(names if len(names) <= 6 else names[:3] + ["...", names[-1]])
    print(f"kumo: compute agents running for {len(names)} host(s): {shown}", flush=True)

    def announce():  # once every host's first heartbeat landed (bounded: 120 s)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(a.heartbeats for a in agents):
                print(f"kumo: compute hosts up: {len(agents)}", flush=True)
                return
            time.sleep(0.05)

    import threading
    threading.Thread(target=announce, name="compute-announce", daemon=True).start()
    return agents


def cmd_agent(args) -> int:
    from kumo.agent import agent as agent_mod
    from kumo.agent import client as client_mod

    settings = config.load(args.state_dir)
    secure_state_dir(settings.state_dir)
    if args.driver:
        settings.agent_drivers = args.driver
    client = client_mod.connect(controller=args.controller, cloud=args.cloud,
                                token=args.token or os.environ.get("KUMO_AGENT_TOKEN"),
                                password=settings.admin_password)
    if args.compute_driver is not None:
        settings.agent_compute_driver = args.compute_driver
    agent = agent_mod.from_settings(settings, client, host=args.host)
    print(f"kumo: agent for host {agent.host} watching "
          f"{args.controller or 'cloud ' + args.cloud} "
          f"(drivers: {', '.join(d.name for d in agent.drivers)})", flush=True)
    compute_agent = None
    if settings.agent_compute_driver:
        from kumo.agent import compute

        compute_agent = compute.from_settings(
            settings, compute.ComputeClient.from_controller(client), host=agent.host)
        compute_agent.start()
        print(f"kumo: compute agent for host {agent.host} running (driver "
              f"{compute_agent.driver.name})", flush=True)
    try:
        return agent.run_forever()
    finally:
        if compute_agent is not None:
            compute_agent.stop()


def cmd_down(args) -> int:
    from kumo.agent import teardown

    settings = _settings(args)
    state = Path(settings.state_dir)
    lock = None
    if state.is_dir():
        try:
            lock = teardown.StateLock(state).acquire()
        except teardown.Busy as e:
            if not args.force:
                print(f"kumo: a kumo up (pid {e.pid or '?'}) is running on {state}; stop "
                      "it first (Ctrl-C in its terminal), or pass --force", file=sys.stderr)
                return 1
            print(f"kumo: --force: going on while kumo up (pid {e.pid or '?'}) runs; its "
                  "agent will recreate what it still wants", file=sys.stderr)
    try:
        counts, problems = teardown.down(settings, purge=args.purge)
    finally:
        if lock is not None:
            lock.release()
    if args.purge:
        if teardown.forget_clouds():
            counts["state"] += 1
        left = [n for n in teardown.OPERATOR_FILES if (state / n).exists()]
        if left:
            print(f"kumo: kept your {', '.join(left)} in {state}")
    print(f"kumo: removed {teardown.summary(counts)}", flush=True)
    for p in problems:
        print(f"kumo: {p}", file=sys.stderr)
    return 1 if any(" left: " in p for p in problems) else 0


def cmd_api(args) -> int:
    settings = _settings(args)
    from kumo.app import Cloud
    from kumo.identity.bootstrap import ensure_catalog

    from kumo.common import periodic

    secure_state_dir(settings.state_dir)
    cloud = Cloud(settings)
    ensure_catalog(cloud.identity)
    runners = []

    def started():
        runner = periodic.start(cloud)
        if runner is not None:
            runners.append(runner)

    def stopping():
        for runner in runners:
            runner.stop()

    serve(cloud, settings, on_ready=started, on_shutdown=stopping)
    stopping()
    return 0


def cmd_db_upgrade(args) -> int:
    from kumo import db

    settings = _settings(args)
    db.upgrade(settings.db_url)
    print(f"kumo: database at head ({settings.db_url.split('@')[-1]})")
    return 0


def cmd_bootstrap(args) -> int:
    settings = _settings(args)
    prepare(settings, migrate=False).close()
    print("kumo: bootstrap done")
    return 0


def cmd_fernet_rotate(args) -> int:
    import sqlalchemy as sa

    from kumo.db import Database
    from kumo.identity.tokens import DatabaseKeyRepository

    settings = _settings(args)
    db = Database(settings.db_url, pg_pool_size=1, pg_max_overflow=0)
    try:
        keys = DatabaseKeyRepository(db, settings.fernet_max_active_keys).rotate()
    except (LookupError, sa.exc.OperationalError, sa.exc.ProgrammingError) as e:
        print(f"kumo: cannot rotate the keys in {settings.db_url.split('@')[-1]}: "
              f"{str(e).splitlines()[0]} (start kumo up or kumo api once first)",
              file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"kumo: rotated the token keys (now {', '.join(map(str, keys))}; the primary is "
          f"{max(keys)}); API processes use them within cache_recheck_s "
          f"({settings.cache_recheck_s:g} s), no restart needed")
    return 0


# -- kumo console (issue 15) -------------------------------------------------------------
def cmd_console(args) -> int:
    from kumo.agent.virt import console

    compute_dir = args.compute_dir or str(Path(config.load(args.state_dir).state_dir)
                                          / "compute")
    return console.main(Path(compute_dir), args.server, args.command)


def _console_parser(sub) -> None:
    con = sub.add_parser(
        "console", help="a root shell (or a command) inside a server on this host",
        description="Enter a server running on this host with the netns compute driver "
                    "(as root): nsenter into its init's namespaces and root. SERVER is "
                    "its id, instance name, name or hostname, looked up in the compute "
                    "driver's state (<state dir>/compute); no API call. Without a "
                    "command, an interactive /bin/sh -l; with `-- command...`, runs it "
                    "and exits with its status.")
    con.add_argument("server", help="id, instance name (instance-...), name or hostname")
    con.add_argument("command", nargs="*", help="command to run instead of a shell "
                     "(after --)")
    con.add_argument("--compute-dir", help="the compute driver's state directory "
                     "(default <state dir>/compute)")
    con.set_defaults(func=cmd_console)
# -- end kumo console ----------------------------------------------------------------------


# -- kumo trace (issue 15) -------------------------------------------------------------
def cmd_trace(args) -> int:
    from kumo import trace

    return trace.main(args)


def _trace_parser(sub) -> None:
    tr = sub.add_parser(
        "trace", help="walk the troubleshooting workflow for a server, port or "
                      "floating IP",
        description="Check, hop by hop, why a server, port or floating IP does not "
                    "answer: the port's binding, the agents on its host, the console's "
                    "DHCP lease, the security group rules for the probe, the tap, "
                    "bridge, VXLAN, DHCP, router legs and NAT on this machine, a "
                    "bounded ping (or TCP connect) from the router's namespace, and a "
                    "short tcpdump where it fails. One line per check: PASS/FAIL/WARN "
                    "and the command to see it yourself. Exit status 0 when nothing "
                    "failed (warnings are checks that could not be made here), 1 "
                    "otherwise, 2 when the target is not found.")
    tr.add_argument("target", help="a server (id or name), port (id or name) or "
                    "floating IP (id or address)")
    tr.add_argument("--protocol", choices=["icmp", "tcp", "udp"], default="icmp",
                    help="what must get in (default icmp)")
    tr.add_argument("--port", type=int, help="the TCP/UDP destination port")
    tr.add_argument("--from", dest="source", metavar="IP|external",
                    help="where the traffic comes from, for the security group check: "
                         "an address, or 'external' (anywhere outside the cloud); "
                         "default: the address the probe is sent from (the router's "
                         "leg, else the DHCP port)")
    tr.add_argument("--log-file", action="append", metavar="PATH", dest="trace_logs",
                    help="a log of kumo up/api/agent to search for trace|error lines "
                         "about the resources (repeatable)")
    tr.add_argument("--os-cloud", help="the clouds.yaml cloud to ask (default "
                    "kumo-admin, from <state dir>/clouds.yaml)")
    tr.add_argument("--json", action="store_true", help="print the checks as JSON")
    tr.set_defaults(func=cmd_trace)
# -- end kumo trace ----------------------------------------------------------------------


# -- logging (issue 15) ----------------------------------------------------------------
def _log_options(p) -> None:
    p.add_argument("--log-file", metavar="PATH",
                   help="write the log to PATH instead of stderr (appended; created "
                        "0600, its directory 0700 if made)")
    p.add_argument("--debug", action="store_true",
                   help="log at DEBUG (default INFO, or the KUMO_LOG_LEVEL variable)")


def setup_logging(args) -> None:
    """The log of a ``kumo`` command (:mod:`kumo.common.log`): INFO for the serving
    commands (up, api, agent: one access line per request, errors with their cause),
    WARNING for the others; ``KUMO_LOG_LEVEL`` overrides, ``--debug`` wins."""
    from kumo.common import log

    serving = args.command in ("up", "api", "agent")
    level = os.environ.get("KUMO_LOG_LEVEL") or ("INFO" if serving else "WARNING")
    log.setup(level, log_file=getattr(args, "log_file", None),
              debug=getattr(args, "debug", False))
# -- end logging ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    # Everything Kumo writes (database, image files, console logs, instance metadata,
    # dnsmasq host files, keys) is for root or the running user only.
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="kumo", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", help="state directory (default /var/lib/kumo)")
    sub = parser.add_subparsers(dest="command", required=True)

    def serving(p):
        p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default 5000)")
        p.add_argument("--db", help="SQLAlchemy URL (default SQLite in the state dir)")
        _log_options(p)

    up = sub.add_parser("up", help="run the all-in-one cloud in the foreground")
    serving(up)
    up.add_argument("--reset", action="store_true",
                    help="start from a clean state: first remove the data plane (as kumo "
                         "down) and all state (database, keys, clouds.yaml, image files, "
                         "caches, unpacked root filesystems)")
    up.add_argument("--dataplane", choices=["auto", "real", "fake", "off"],
                    help="the machine's own data plane (setting dataplane; default auto: "
                         "the real drivers when root with the tools installed)")
    up.add_argument("--fake-dataplane", action="store_true",
                    help="same as --dataplane fake: fake network and compute drivers "
                         "(ports and servers turn ACTIVE; nothing touches the kernel)")
    up.add_argument("--fake-compute-hosts", type=int, metavar="N",
                    help="run N in-process compute agents fake-0..fake-{N-1} with the "
                         "fake compute driver (servers go ACTIVE with no processes; "
                         "setting compute_fake_hosts)")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser(
        "down", help="remove the servers and the data plane kumo up made here",
        description="Remove everything kumo up made on this machine: the servers' "
                    "processes and cgroups, dnsmasq, the qrouter-/qdhcp-/instance- "
                    "namespaces, bridges (br-ex, brq*), VXLAN devices, veths and the "
                    "nftables tables it owns. The state directory stays for the next "
                    "kumo up unless --purge. Refuses while kumo up runs on the state "
                    "directory unless --force.")
    down.add_argument("--purge", action="store_true",
                      help="also remove the state: database, keys, clouds.yaml (and the "
                           "kumo clouds in ~/.config/openstack/clouds.yaml), image files, "
                           "caches, unpacked root filesystems")
    down.add_argument("--force", action="store_true",
                      help="go on even while kumo up runs on this state directory")
    down.set_defaults(func=cmd_down)
    api = sub.add_parser("api", help="serve the API against an existing database")
    serving(api)
    api.set_defaults(func=cmd_api)
    dbp = sub.add_parser("db", help="database schema")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    upg = dbsub.add_parser("upgrade", help="apply Alembic migrations")
    upg.add_argument("--db")
    upg.set_defaults(func=cmd_db_upgrade)
    boot = sub.add_parser("bootstrap", help="create bootstrap identity data")
    boot.add_argument("--db")
    boot.set_defaults(func=cmd_bootstrap)
    fernet = sub.add_parser("fernet", help="token keys")
    fsub = fernet.add_subparsers(dest="fernet_command", required=True)
    rot = fsub.add_parser("rotate", help="rotate the token keys (kept in the database)")
    rot.add_argument("--db", help="SQLAlchemy URL (default SQLite in the state dir)")
    rot.set_defaults(func=cmd_fernet_rotate)
    agent = sub.add_parser(
        "agent", help="run the data-plane agent of one host",
        description="Watch the controller's desired state for one host and realize it "
                    "with the configured drivers (setting agent_drivers). Only the "
                    "'fake' driver is available for now: it realizes nothing in the "
                    "kernel and reports ports bound to the host ACTIVE.")
    agent.add_argument("--controller", help="the controller's base URL, e.g. "
                       "http://127.0.0.1:5000 (password auth as admin with the "
                       "admin_password setting, or KUMO_AGENT_TOKEN)")
    agent.add_argument("--host", help="the host name served (ports' binding:host_id; "
                       "default: setting agent_host, else this machine's hostname)")
    agent.add_argument("--cloud", help="authenticate with this clouds.yaml cloud, e.g. "
                       "kumo-admin (the endpoint comes from its catalog)")
    agent.add_argument("--token", help="a fixed admin token (with --controller)")
    agent.add_argument("--driver", action="append",
                       help="a data-plane driver (repeatable; default: setting "
                            "agent_drivers). Available now: fake")
    agent.add_argument("--compute-driver", choices=["", "fake", "netns"],
                       help="also run the compute agent with this driver (setting "
                            "agent_compute_driver; default none): fake (nothing runs) or "
                            "netns (instances are namespaces running the image's init)")
    agent.set_defaults(func=cmd_agent)
    _log_options(agent)
    _console_parser(sub)
    _trace_parser(sub)
    args = parser.parse_args(argv)
    setup_logging(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
