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
- ``kumo up --hosts N``: the machine's host plus N-1 simulated hosts, each its own
  namespaces, underlay leg and agent (:mod:`kumo.hosts`); ``kumo host add|remove|list``
  changes them while the cloud runs.
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
                "kumo.yaml", "agent_password")


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


#: The clouds.yaml cloud of the agents' service user (only in ``<state>/clouds.yaml``).
AGENT_CLOUD = "kumo-agent"


def clouds_yaml(settings: config.Settings, agent: bool = False) -> dict:
    """The ``clouds.yaml`` entries ``kumo-admin`` and ``kumo`` (demo), and with
    ``agent`` the agents' service user :data:`AGENT_CLOUD`."""
    def cloud(user, password, project):
        return {"auth": {"auth_url": settings.base_url + "/identity", "username": user,
                         "password": password, "project_name": project,
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": settings.region, "interface": "public",
                "identity_api_version": 3}
    entries = {"kumo-admin": cloud("admin", settings.admin_password, "admin"),
               "kumo": cloud("demo", settings.demo_password, "demo")}
    if agent:
        entries[AGENT_CLOUD] = cloud(settings.agent_username, settings.agent_secret(),
                                     settings.agent_project_name)
    return entries


def write_clouds_yaml(settings: config.Settings) -> list[Path]:
    """Write ``<state>/clouds.yaml`` (with the agents' :data:`AGENT_CLOUD`, for ``kumo
    agent --cloud kumo-agent`` on this machine) and merge ``kumo-admin`` and ``kumo``
    into the user's ``~/.config/openstack/clouds.yaml`` (other clouds there are kept).
    Both files are 0600."""
    written = []
    for path, agent in ((Path(settings.state_dir) / "clouds.yaml", True),
                        (Path.home() / ".config" / "openstack" / "clouds.yaml", False)):
        entries = clouds_yaml(settings, agent=agent)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {}
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
        data.setdefault("clouds", {}).update(entries)
        # 0600 before a password is written (whatever the umask or the old file's mode)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(yaml.safe_dump(data, sort_keys=False))
        written.append(path)
    return written


def serve(cloud, settings: config.Settings, banner: str = "", on_ready=None,
          on_shutdown=None, on_stopped=None, also_listen: tuple[str, ...] = ()) -> None:
    """Serve the API in the foreground; ``on_ready()`` runs once it listens,
    ``on_shutdown()`` when it starts shutting down (before open requests drain),
    ``on_stopped()`` once they drained (uvicorn may then re-raise the signal that
    stopped it, so code after this call may never run). ``also_listen``: more
    addresses to listen on (same port), e.g. the underlay address of ``--hosts``."""
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
    sockets = None
    if also_listen:
        import socket
        sockets = [socket.create_server((addr, settings.port), backlog=2048)
                   for addr in (settings.host, *also_listen)]
    Server(uv).run(sockets=sockets)


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

    try:
        net_drivers, compute_driver = local.choose(settings)
    except RuntimeError as e:  # dataplane: real on a machine that cannot
        print(f"kumo: {e} (dataplane: real)", file=sys.stderr)
        lock.release()
        return 1
    sim = _sim_hosts_wanted(args, settings)
    if sim is not None and not ("linuxbridge" in net_drivers and compute_driver == "netns"):
        print("kumo: --hosts needs the real data plane (root with ip, nft, dnsmasq and "
              "unshare; dataplane auto or real)", file=sys.stderr)
        lock.release()
        return 1
    also_listen: tuple[str, ...] = ()
    if net_drivers:
        settings.agent_in_process = True
        settings.agent_drivers = net_drivers
        settings.agent_compute_driver = settings.agent_compute_driver or compute_driver
        if "linuxbridge" in net_drivers:
            if sim is None:
                # One host: VXLAN devices need a local address but have no peers.
                settings.agent_tunneling_ip = settings.agent_tunneling_ip or "127.0.0.1"
            else:
                also_listen = _sim_underlay(settings)
            local.prepare_host(settings)
    if sim is not None:
        from kumo import hosts as sim_hosts
        try:
            for name in sim:
                sim_hosts.create(settings, name)
        except sim_hosts.HostError as e:
            print(f"kumo: {e}", file=sys.stderr)
            lock.release()
            return 1
    if args.fake_compute_hosts is not None:
        settings.compute_fake_hosts = args.fake_compute_hosts
    if not net_drivers and (settings.dataplane or "auto").lower() == "auto":
        print(local.api_only_message(local.unavailable() or "no data plane",
                                     int(settings.compute_fake_hosts)), flush=True)
    # Each in-process compute agent holds one server worker thread in its long poll.
    settings.worker_threads += _compute_agent_count(settings)
    cloud = prepare(settings, migrate=True)
    paths = write_clouds_yaml(settings)
    banner = (f"kumo: state in {settings.state_dir}, database {cloud.db.engine.url!r}\n"
              f"kumo: clouds.yaml written to {', '.join(map(str, paths))}\n")
    agents = []
    stopping = []
    periodic = []
    supervisor = None
    if sim is not None:
        from kumo import hosts as sim_hosts
        supervisor = sim_hosts.Supervisor(settings)

    def start_agent():
        from kumo.common import periodic as periodic_mod

        runner = periodic_mod.start(cloud)
        if runner is not None:
            periodic.append(runner)
        if settings.agent_in_process:
            agents.append(_in_process_agent(settings))
        agents.extend(_in_process_compute_agents(settings))
        if supervisor is not None:
            supervisor.start()
        print(next_steps(settings), flush=True)

    def stop_agents():
        if not stopping:
            stopping.append(time.monotonic())
            print(stopping_message(settings), flush=True)
        for runner in periodic:
            runner.stop()
        if supervisor is not None:  # the simulated hosts' agents: SIGTERM, no wait yet
            supervisor.signal_stop()
        for agent in agents:  # first let no informer start another long poll...
            agent.informer.stop(timeout=0)
        cloud.stop_watches()  # ...then end those in flight at once
        for agent in agents:
            agent.stop()
        if supervisor is not None:
            supervisor.stop()

    def stopped():
        if stopping:
            print(f"kumo: stopped in {time.monotonic() - stopping[0]:.1f} s", flush=True)

    try:
        serve(cloud, settings, banner, on_ready=start_agent, on_shutdown=stop_agents,
              on_stopped=stopped, also_listen=also_listen)
    finally:
        stop_agents()
        lock.release()
    return 0


def _sim_hosts_wanted(args, settings: config.Settings) -> list[str] | None:
    """The simulated hosts ``kumo up`` makes (names), or None for a one-host cloud:
    ``--hosts N`` asks for N-1 (``<host>-2``..), and hosts recorded earlier (``kumo host
    add``, an earlier ``--hosts``) are made again whatever N is."""
    from kumo import hosts as sim_hosts

    recorded = [h.name for h in sim_hosts.load(settings)]
    if args.hosts is None and not recorded:
        return None
    names = sim_hosts.default_names(settings, args.hosts or 1)
    return names + [n for n in recorded if n not in names]


def _sim_underlay(settings: config.Settings) -> tuple[str, ...]:
    """Ready the machine for simulated hosts (:func:`kumo.hosts.ensure_underlay`): its
    tunnelling address is its underlay address, the API also listens there (unless it
    already listens on every address) and the catalog names it (unless ``public_url``
    is set), so agents on simulated hosts reach every endpoint. Returns the extra
    addresses to listen on."""
    from kumo import hosts as sim_hosts

    address = sim_hosts.ensure_underlay(settings)
    settings.agent_tunneling_ip = address
    settings.agent_underlay_dev = settings.agent_underlay_dev or sim_hosts.UNDERLAY_BRIDGE
    if not settings.public_url:
        settings.public_url = f"http://{address}:{settings.port}"
    return () if settings.host in ("0.0.0.0", "::", address) else (address,)


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
        from kumo import hosts as sim_hosts
        sims = [h.name for h in sim_hosts.load(settings)]
        if sims:
            lines.append(f"kumo: simulated hosts: {', '.join(sims)} (underlay "
                         f"{settings.underlay_cidr}; kumo host add|remove|list)")
        lines.append("kumo: Ctrl-C stops the API and agents; servers and the data plane "
                     "keep running until `kumo down`.")
    return "\n".join(lines)


def stopping_message(settings: config.Settings) -> str:
    """What Ctrl-C/SIGTERM prints: what stops, what keeps running."""
    if _real_dataplane(settings):
        from kumo.agent import teardown

        n = teardown.count_servers(settings)
        from types import SimpleNamespace

        from kumo import hosts as sim_hosts
        n += sum(teardown.count_servers(SimpleNamespace(state_dir=h.dir))
                 for h in sim_hosts.load(settings))
        return (f"kumo: stopping (API and agents; {n} server{'s' if n != 1 else ''} and "
                "the data plane keep running: `kumo down` removes them)")
    return "kumo: stopping"


def _in_process_agent(settings: config.Settings):
    """Start the machine's own agent (drivers from ``agent_drivers``) against this
    server, as the agents' service user."""
    from kumo.agent import agent as agent_mod
    from kumo.agent.client import ControllerClient

    client = ControllerClient.from_settings(settings)  # the service user, not admin
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
    as the agents' service user (one shared keystone session)."""
    if not _compute_agent_count(settings):
        return []
    import socket

    from kumo.agent import compute
    from kumo.agent.client import ControllerClient

    # the service user; the compute and image endpoints from its catalog
    client = compute.ComputeClient.from_controller(ControllerClient.from_settings(settings))
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


def _agent_client(args, settings: config.Settings):
    """``kumo agent``'s credentials: the service user, never admin by default. A
    clouds.yaml cloud (``--cloud``; ``<state>/clouds.yaml`` is searched first, and its
    ``kumo-agent`` cloud is the default when neither ``--cloud`` nor ``--controller``
    is given), else password auth at ``--controller`` as ``--os-username`` (setting
    ``agent_username``) in ``--os-project-name`` (``agent_project_name``) with
    ``--os-password`` (``OS_PASSWORD``, the ``agent_password`` setting, or the
    ``<state>/agent_password`` file ``kumo up`` made), or a ``--token``. Endpoints come
    from the catalog. Prints why and returns None when it cannot."""
    from kumo.agent import client as client_mod

    state_clouds = Path(settings.state_dir) / "clouds.yaml"
    files = None
    if not args.cloud and not args.controller and _has_cloud(state_clouds, AGENT_CLOUD):
        args.cloud = AGENT_CLOUD
    if args.cloud and _has_cloud(state_clouds, args.cloud):
        files = [str(state_clouds)]
    token = args.token or os.environ.get("KUMO_AGENT_TOKEN")
    password = (args.os_password or os.environ.get("OS_PASSWORD")
                or settings.agent_secret(create=False))
    if not args.cloud and args.controller and not token and not password:
        print("kumo: no password for the agent user: give --os-password, the "
              "agent_password setting, or --cloud kumo-agent", file=sys.stderr)
        return None
    try:
        return client_mod.connect(
            controller=args.controller, cloud=args.cloud, token=token, password=password,
            username=args.os_username or settings.agent_username,
            project_name=args.os_project_name or settings.agent_project_name,
            config_files=files, region_name=settings.region)
    except ValueError as e:
        print(f"kumo: {e}", file=sys.stderr)
        return None


def _has_cloud(path: Path, name: str) -> bool:
    try:
        return name in ((yaml.safe_load(path.read_text()) or {}).get("clouds") or {})
    except (OSError, yaml.YAMLError, AttributeError):
        return False


def cmd_agent(args) -> int:
    from kumo.agent import agent as agent_mod

    settings = config.load(args.state_dir)
    secure_state_dir(settings.state_dir)
    if args.driver:
        settings.agent_drivers = [d for arg in args.driver for d in arg.split(",") if d]
    if args.tunneling_ip:
        settings.agent_tunneling_ip = args.tunneling_ip
    if args.underlay_dev:
        settings.agent_underlay_dev = args.underlay_dev
    if args.bridge_mapping:
        settings.agent_bridge_mappings = dict(m.split(":", 1) for m in args.bridge_mapping)
    client = _agent_client(args, settings)
    if client is None:
        return 2
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
        # ends the feeds' long polls at once (agents reconnect elsewhere)
        cloud.stop_watches()

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
    if not args.compute_dir:  # kumo up --hosts: a server on a simulated host too
        from kumo import hosts as sim_hosts

        for host in sim_hosts.load(config.load(args.state_dir)):
            try:
                console.find_instance(Path(compute_dir), args.server)
                break
            except console.ConsoleError:
                other = Path(host.dir) / "compute"
                try:
                    console.find_instance(other, args.server)
                    compute_dir = str(other)
                    break
                except console.ConsoleError:
                    continue
    return console.main(Path(compute_dir), args.server, args.command)


def _console_parser(sub) -> None:
    con = sub.add_parser(
        "console", help="a root shell (or a command) inside a server on this host",
        description="Enter a server running on this host with the netns compute driver "
                    "(as root): nsenter into its init's namespaces and root. SERVER is "
                    "its id, instance name, name or hostname, looked up in the compute "
                    "driver's state (<state dir>/compute, then the simulated hosts' "
                    "<state dir>/hosts/*/compute); no API call. Without a "
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


# -- kumo host (simulated hosts, issue 10) -------------------------------------------------
def _admin_connection(settings: config.Settings):
    """openstacksdk as ``kumo-admin`` from ``<state>/clouds.yaml``."""
    import openstack
    import openstack.config

    cfg = openstack.config.OpenStackConfig(
        config_files=[str(Path(settings.state_dir) / "clouds.yaml")])
    return openstack.connection.Connection(config=cfg.get_one("kumo-admin"))


def _wait(predicate, timeout: float, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def cmd_host_add(args) -> int:
    from kumo import hosts as sim_hosts
    from kumo.agent import teardown

    settings = config.load(args.state_dir)
    if os.geteuid() != 0:
        print("kumo: simulated hosts need root", file=sys.stderr)
        return 1
    from kumo.agent.dataplane import links, netns
    if not teardown.StateLock(settings.state_dir).held() or links.get_link(
            netns.ROOT, sim_hosts.UNDERLAY_BRIDGE) is None:
        print(f"kumo: no kumo up --hosts runs on {settings.state_dir}; start it with "
              "--hosts N (N >= 1) first", file=sys.stderr)
        return 1
    try:
        host = sim_hosts.create(settings, args.name)
    except sim_hosts.HostError as e:
        print(f"kumo: {e}", file=sys.stderr)
        return 1
    print(f"kumo: host {host.name} made (namespace {host.netns_name}, underlay "
          f"{host.address}); kumo up starts its agent", flush=True)
    if args.no_wait:
        return 0
    conn = _admin_connection(settings)

    def up():
        try:
            return any(h.name == host.name and h.state == "up"
                       for h in conn.compute.hypervisors(details=True))
        except Exception:  # noqa: BLE001 - the API may be busy: ask again
            return False
    if not _wait(up, args.timeout):
        print(f"kumo: host {host.name}: no hypervisor up after {args.timeout:.0f} s; see "
              "kumo up's output", file=sys.stderr)
        return 1
    print(f"kumo: host {host.name} is up", flush=True)
    return 0


def cmd_host_remove(args) -> int:
    from kumo import hosts as sim_hosts

    settings = config.load(args.state_dir)
    if os.geteuid() != 0:
        print("kumo: simulated hosts need root", file=sys.stderr)
        return 1
    if sim_hosts.find(settings, args.name) is None:
        print(f"kumo: no simulated host {args.name}", file=sys.stderr)
        return 1
    conn = None
    try:
        conn = _admin_connection(settings)
        servers = list(conn.compute.servers(all_projects=True, compute_host=args.name))
    except Exception as e:  # noqa: BLE001 - the API is not there
        if not args.force:
            print(f"kumo: cannot ask the API for the servers of {args.name} ({e}); is "
                  "kumo up running? (--force removes the host anyway)", file=sys.stderr)
            return 1
        servers, conn = [], None
    from kumo.agent import teardown
    running = teardown.count_servers(config.load(
        str(Path(sim_hosts.find(settings, args.name).dir))))
    if not servers and running and not (args.delete_servers or args.force):  # not in the API
        print(f"kumo: host {args.name} still runs {running} server(s); delete them first",
              file=sys.stderr)
        return 1
    if servers and not args.delete_servers:
        print(f"kumo: host {args.name} has {len(servers)} server(s): "
              f"{', '.join(s.name or s.id for s in servers)}; delete them first or pass "
              "--delete-servers", file=sys.stderr)
        return 1
    for s in servers:
        conn.compute.delete_server(s)

    def gone():
        try:
            return not list(conn.compute.servers(all_projects=True, compute_host=args.name))
        except Exception:  # noqa: BLE001
            return False
    if servers and not _wait(gone, args.timeout):
        print(f"kumo: the servers of {args.name} were not deleted within "
              f"{args.timeout:.0f} s", file=sys.stderr)
        return 1
    problems = sim_hosts.remove(settings, args.name)
    for p in problems:
        print(f"kumo: {p}", file=sys.stderr)
    if conn is not None:  # forget its agents, as `openstack network agent delete` would
        try:
            for a in conn.network.agents(host=args.name):
                conn.network.delete_agent(a)
            for svc in conn.compute.services(host=args.name):
                conn.compute.delete_service(svc)
        except Exception as e:  # noqa: BLE001
            print(f"kumo: host {args.name}: its agents stay listed ({e})", file=sys.stderr)
    print(f"kumo: host {args.name} removed", flush=True)
    return 1 if problems else 0


def cmd_host_list(args) -> int:
    from kumo import hosts as sim_hosts

    settings = config.load(args.state_dir)
    for h in sim_hosts.load(settings):
        state = "running" if h.anchor_alive() else "stopped"
        print(f"{h.name}\t{h.address}\t{h.netns_name}\t{state}")
    return 0


def _host_parser(sub) -> None:
    host = sub.add_parser("host", help="simulated hosts on this machine (kumo up --hosts)")
    hsub = host.add_subparsers(dest="host_command", required=True)
    add = hsub.add_parser(
        "add", help="one more simulated host in the running cloud",
        description="Make a simulated host NAME (its network and mount namespaces, an "
                    "underlay leg on kumo-underlay, a leg on br-ex) for the running "
                    "kumo up --hosts, which starts and supervises its agent; waits "
                    "until its hypervisor is up.")
    add.add_argument("name")
    add.add_argument("--no-wait", action="store_true", help="do not wait for the agent")
    add.add_argument("--timeout", type=float, default=120.0,
                     help="seconds to wait for the hypervisor (default 120)")
    add.set_defaults(func=cmd_host_add)
    rm = hsub.add_parser(
        "remove", help="remove a simulated host",
        description="Stop the host's agent and remove its namespaces and kernel objects "
                    "(kumo down inside it), its state and its agents' records. Refuses "
                    "while servers run there unless --delete-servers (deleted through "
                    "the API first).")
    rm.add_argument("name")
    rm.add_argument("--delete-servers", action="store_true",
                    help="delete the host's servers through the API first")
    rm.add_argument("--force", action="store_true",
                    help="remove it even when the API cannot be asked for its servers")
    rm.add_argument("--timeout", type=float, default=120.0,
                    help="seconds to wait for its servers to go (default 120)")
    rm.set_defaults(func=cmd_host_remove)
    hsub.add_parser("list", help="the simulated hosts").set_defaults(func=cmd_host_list)
# -- end kumo host -------------------------------------------------------------------------

# -- help and version (issue 15) ------------------------------------------------------
DESCRIPTION = ("Kumo: an OpenStack-API-compatible cloud (Keystone, Neutron, Nova, "
               "Glance)\non one machine, with a real Linux data plane when run as root.")
EPILOG = """\
where things live:
  state         /var/lib/kumo as root, ~/.local/state/kumo otherwise; --state-dir or
                $KUMO_STATE_DIR choose another (database, token keys, images,
                clouds.yaml; settings in <state>/kumo.yaml or $KUMO_CONFIG)
  clouds.yaml   kumo up writes the clouds kumo (demo user) and kumo-admin into
                <state>/clouds.yaml and ~/.config/openstack/clouds.yaml, so:
                  export OS_CLOUD=kumo; openstack server list

Without root, kumo up serves the API only (no data plane, no real servers).
`kumo COMMAND --help` tells more about a command."""


def version() -> str:
    """Kumo's version, from the installed package's metadata."""
    from importlib import metadata

    try:
        return metadata.version("kumo")
    except metadata.PackageNotFoundError:  # run from a source tree never installed
        return "unknown (not installed)"
# -- end help and version --------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    # Everything Kumo writes (database, image files, console logs, instance metadata,
    # dnsmasq host files, keys) is for root or the running user only.
    os.umask(0o077)
    parser = argparse.ArgumentParser(
        prog="kumo", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kumo {version()}")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="the state directory: database, token keys, images, "
                             "clouds.yaml, kumo.yaml (default /var/lib/kumo as root, "
                             "~/.local/state/kumo otherwise, or $KUMO_STATE_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)

    def serving(p):
        p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default 5000)")
        p.add_argument("--db", help="SQLAlchemy URL (default SQLite in the state dir)")
        _log_options(p)

    up = sub.add_parser(
        "up", help="run the all-in-one cloud in the foreground",
        description="Run the all-in-one cloud in the foreground: migrate, bootstrap, "
                    "write clouds.yaml, serve every API and, as root with the tools "
                    "installed, the machine's data plane and real servers (without "
                    "root: the API only, and it says so). Ctrl-C stops it; `kumo down` "
                    "removes what it made.")
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
    up.add_argument("--hosts", type=int, metavar="N",
                    help="N hosts on this machine: its own plus N-1 simulated hosts "
                         "(<host>-2..), each its own network and mount namespaces on the "
                         "bridge kumo-underlay (setting underlay_cidr, 10.255.0.0/24) "
                         "with its own agent, real drivers and netns compute driver "
                         "(kumo host add/remove changes them; kumo down removes them)")
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
                    "with the configured drivers (setting agent_drivers), and run its "
                    "compute agent with --compute-driver. A host of the real data plane: "
                    "kumo agent --controller http://CONTROLLER:5000 --host NAME "
                    "--tunneling-ip THIS_HOSTS_UNDERLAY_ADDRESS --driver "
                    "linuxbridge,firewall,dhcp,l3,metadata --compute-driver netns "
                    "--state-dir /var/lib/kumo-agent (the metadata secret as setting "
                    "metadata_proxy_shared_secret, e.g. KUMO_METADATA_PROXY_SHARED_SECRET,"
                    " the controller's <state>/metadata_secret).")
    agent.add_argument("--state-dir", default=argparse.SUPPRESS,
                       help="this agent's state directory (DHCP files, instances; "
                            "default /var/lib/kumo); same as kumo --state-dir")
    agent.add_argument("--controller", help="the controller's base URL, e.g. "
                       "http://127.0.0.1:5000: password auth at <URL>/identity as the "
                       "agents' service user (see --os-*), or KUMO_AGENT_TOKEN; "
                       "endpoints from the catalog")
    agent.add_argument("--host", help="the host name served (ports' binding:host_id; "
                       "default: setting agent_host, else this machine's hostname)")
    agent.add_argument("--cloud", help="authenticate with this clouds.yaml cloud "
                       "(<state>/clouds.yaml first; default kumo-agent there when no "
                       "--controller): the agents' service user kumo up wrote")
    agent.add_argument("--token", help="a token to scope to --os-project-name (with "
                       "--controller)")
    agent.add_argument("--os-username", help="the agent user (with --controller; "
                       "default: setting agent_username, kumo-agent)")
    agent.add_argument("--os-password", help="its password (default: OS_PASSWORD, "
                       "setting agent_password, or <state>/agent_password)")
    agent.add_argument("--os-project-name", help="its project (default: setting "
                       "agent_project_name, service)")
    agent.add_argument("--driver", action="append",
                       help="data-plane drivers (repeatable or comma-separated; default: "
                            "setting agent_drivers): linuxbridge, firewall, dhcp, l3, "
                            "metadata, or fake (nothing in the kernel; ports go ACTIVE)")
    agent.add_argument("--tunneling-ip", metavar="ADDRESS",
                       help="this host's underlay address, the local end of its VXLAN "
                            "tunnels (setting agent_tunneling_ip); needed by linuxbridge "
                            "for every VXLAN network")
    agent.add_argument("--underlay-dev", metavar="DEV",
                       help="the device VXLAN traffic leaves by (setting "
                            "agent_underlay_dev; optional)")
    agent.add_argument("--bridge-mapping", action="append", metavar="PHYSNET:BRIDGE",
                       help="a flat network's bridge (repeatable; setting "
                            "agent_bridge_mappings; default public:br-ex)")
    agent.add_argument("--compute-driver", choices=["", "fake", "netns"],
                       help="also run the compute agent with this driver (setting "
                            "agent_compute_driver; default none): fake (nothing runs) or "
                            "netns (instances are namespaces running the image's init)")
    agent.set_defaults(func=cmd_agent)
    _log_options(agent)
    _console_parser(sub)
    _host_parser(sub)
    _trace_parser(sub)
    args = parser.parse_args(argv)
    setup_logging(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
