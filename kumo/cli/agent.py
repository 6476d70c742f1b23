"""``kumo agent``: the data-plane agent of one host (:mod:`kumo.agent.agent`), and its
compute agent (:mod:`kumo.agent.compute`) with a compute driver, authenticated as the
agents' service user."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from kumo import config
from kumo.cli.state import AGENT_CLOUD, has_cloud, secure_state_dir


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
    if not args.cloud and not args.controller and has_cloud(state_clouds, AGENT_CLOUD):
        args.cloud = AGENT_CLOUD
    if args.cloud and has_cloud(state_clouds, args.cloud):
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

def cmd_agent(args) -> int:
    from kumo.agent import agent as agent_mod

    settings = config.load(args.state_dir)
    secure_state_dir(settings.state_dir)
    if args.driver:
        settings.agent_drivers = [d for arg in args.driver for d in arg.split(",") if d]
    if args.tunneling_ip:
        settings.agent_tunneling_ip = args.tunneling_ip
    if getattr(args, "agent_mode", None):
        settings.agent_mode = args.agent_mode
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
