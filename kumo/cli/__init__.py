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

The commands live in submodules: :mod:`kumo.cli.state` (settings, the state
directory, its lock, clouds.yaml), :mod:`kumo.cli.server` (prepare, serve; api, db,
bootstrap, fernet), :mod:`kumo.cli.up`, :mod:`kumo.cli.agent`, :mod:`kumo.cli.hosts`
and :mod:`kumo.cli.ops` (down, console, trace). :func:`main` builds the parser here and
looks the command functions up in this module when it runs (``monkeypatch.setattr(cli,
"cmd_up", ...)`` works for the commands whose parser is built here).
"""
from __future__ import annotations

import argparse
import os

from kumo.cli.agent import cmd_agent
from kumo.cli.hosts import (cmd_host_add, cmd_host_list, cmd_host_remove,
                            host_parser)
from kumo.cli.ops import cmd_console, cmd_down, cmd_trace, console_parser, trace_parser
from kumo.cli.server import (START, cmd_api, cmd_bootstrap, cmd_db_upgrade,
                             cmd_fernet_rotate, prepare, serve)
from kumo.cli.state import (AGENT_CLOUD, SECRET_FILES, clouds_yaml, load_settings,
                            lock_state, secure_state_dir, write_clouds_yaml)
from kumo.cli.up import cmd_up, next_steps, reset, stopping_message

__all__ = [
    "AGENT_CLOUD", "DESCRIPTION", "EPILOG", "SECRET_FILES", "START", "clouds_yaml",
    "cmd_agent", "cmd_api", "cmd_bootstrap", "cmd_console", "cmd_db_upgrade", "cmd_down",
    "cmd_fernet_rotate", "cmd_host_add", "cmd_host_list", "cmd_host_remove", "cmd_trace",
    "cmd_up", "load_settings", "lock_state", "main", "next_steps", "prepare", "reset",
    "secure_state_dir", "serve", "setup_logging", "stopping_message", "version",
    "write_clouds_yaml",
]


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
                            "setting agent_drivers): linuxbridge, firewall, dhcp, l3, qos, "
                            "taas, trunk, metadata, or fake (nothing in the kernel; ports go ACTIVE)")
    agent.add_argument("--agent-mode", choices=["legacy", "dvr", "dvr_snat"],
                       help="the L3 agent's mode (setting agent_mode; default legacy): "
                            "dvr on compute hosts, dvr_snat on network hosts for "
                            "distributed routers")
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
    console_parser(sub)
    host_parser(sub)
    trace_parser(sub)
    args = parser.parse_args(argv)
    setup_logging(args)
    return args.func(args)
