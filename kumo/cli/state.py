"""The state directory of the ``kumo`` commands: the settings a command runs with, the
directory's permissions, its lock, and the ``clouds.yaml`` files ``kumo up`` writes."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from kumo import config


def load_settings(args) -> config.Settings:
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


def lock_state(settings: config.Settings):
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



def has_cloud(path: Path, name: str) -> bool:
    """Whether the clouds.yaml at ``path`` has the cloud ``name`` (False when unreadable)."""
    try:
        return name in ((yaml.safe_load(path.read_text()) or {}).get("clouds") or {})
    except (OSError, yaml.YAMLError, AttributeError):
        return False
