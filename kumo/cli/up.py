"""``kumo up``: the all-in-one cloud in the foreground, with the machine's own agents in
process (data plane and compute), fake compute hosts and simulated hosts
(:mod:`kumo.hosts`); ``--reset``, and what it prints once ready and when stopping."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from kumo import config
from kumo.cli.server import prepare, serve
from kumo.cli.state import load_settings, lock_state, secure_state_dir, write_clouds_yaml


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
    settings = load_settings(args)
    if args.fake_dataplane:
        settings.dataplane = "fake"
    elif args.dataplane:
        settings.dataplane = args.dataplane
    lock = lock_state(settings)
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
        modes = _layout(settings, sim, args.hosts)
        try:
            for name, mode in zip(sim, modes[1:]):
                sim_hosts.create(settings, name, mode)
        except sim_hosts.HostError as e:
            print(f"kumo: {e}", file=sys.stderr)
            lock.release()
            return 1
    if args.fake_compute_hosts is not None:
        settings.compute_fake_hosts = args.fake_compute_hosts
    if not net_drivers and (settings.dataplane or "auto").lower() == "auto":
        print(local.api_only_message(local.unavailable() or "no data plane",
                                     int(settings.compute_fake_hosts)), flush=True)
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


def _layout(settings: config.Settings, sim: list[str], count: int | None) -> list[str]:
    """The L3 agents' modes (:func:`kumo.hosts.layout`), the machine's first; sets the
    machine's ``agent_mode`` unless the operator set one. Recorded hosts keep theirs
    (a cloud brought back without ``--hosts`` keeps its layout)."""
    from kumo import hosts as sim_hosts

    recorded = {h.name: h.agent_mode for h in sim_hosts.load(settings)}
    modes = sim_hosts.layout(max(count or 0, len(sim) + 1))
    if any(m in ("dvr", "dvr_snat") for m in recorded.values()):
        modes[0] = "dvr_snat"
    if settings.agent_mode == "legacy" and "KUMO_AGENT_MODE" not in os.environ:
        settings.agent_mode = modes[0]
    return [modes[0]] + [recorded.get(n) or (modes[i + 1] if i + 1 < len(modes) else "dvr")
                         for i, n in enumerate(sim)]


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
              "kumo:   openstack server list",
              f"kumo: web dashboard: {settings.base_url}/dashboard (user demo or admin)"]
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

