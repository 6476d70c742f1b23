"""The operator's commands on this machine: ``kumo down`` (remove what ``kumo up`` made,
:mod:`kumo.agent.teardown`), ``kumo console`` (enter a server,
:mod:`kumo.agent.virt.console`) and ``kumo trace`` (the troubleshooting workflow,
:mod:`kumo.trace`)."""
from __future__ import annotations

import sys
from pathlib import Path

from kumo import config
from kumo.cli.state import load_settings


def cmd_down(args) -> int:
    from kumo.agent import teardown

    settings = load_settings(args)
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


def console_parser(sub) -> None:
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


def cmd_trace(args) -> int:
    from kumo import trace

    return trace.main(args)


def trace_parser(sub) -> None:
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
