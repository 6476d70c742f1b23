"""``kumo host add|remove|list``: the simulated hosts of a running ``kumo up --hosts``
(:mod:`kumo.hosts`)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kumo import config


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


def host_parser(sub) -> None:
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
