"""The ``openstack image`` commands against Kumo."""
from __future__ import annotations

import os


def test_cli_create_save_set_share(cloud, other, tmp_path, unique):
    name = unique("cli-img")
    src = tmp_path / "in.img"
    src.write_bytes(os.urandom(300_000))
    img = cloud.cli("image", "create", "--file", str(src), "--disk-format", "raw",
                    "--container-format", "bare", name, cloud="kumo")
    assert img["status"] == "active" and img["size"] == 300_000
    out = tmp_path / "out.img"
    cloud.cli("image", "save", "--file", str(out), name, cloud="kumo", parse=False)
    assert out.read_bytes() == src.read_bytes()
    cloud.cli("image", "set", "--property", "kumo_rootfs=tar", "--property", "k=v", name,
              cloud="kumo", parse=False)
    shown = cloud.cli("image", "show", name, cloud="kumo")
    assert shown["properties"]["k"] == "v" and shown["properties"]["kumo_rootfs"] == "tar"
    cloud.cli("image", "add", "project", name, other.project_id_, cloud="kumo")
    env = {"OS_CLOUD": "", "OS_AUTH_URL": cloud.url + "/identity",
           "OS_USERNAME": other.user_name_, "OS_PASSWORD": "s3cret-pass",
           "OS_PROJECT_ID": other.project_id_, "OS_USER_DOMAIN_ID": "default",
           "OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": "RegionOne"}
    listed = _cli_env(cloud, env, "image", "list", "--shared")
    assert name not in [i["Name"] for i in listed]
    _cli_env(cloud, env, "image", "set", "--accept", img["id"], parse=False)
    listed = _cli_env(cloud, env, "image", "list", "--shared")
    assert name in [i["Name"] for i in listed]
    bad = cloud.cli("image", "create", "--disk-format", "floppy", unique("bad"),
                    cloud="kumo", check=False)
    assert bad.returncode != 0
    cloud.cli("image", "delete", name, cloud="kumo", parse=False)


def _cli_env(cloud, env, *args, parse=True):
    import json
    import subprocess

    from tests.conftest import BIN

    cmd = [str(BIN / "openstack"), *args] + (["-f", "json"] if parse else [])
    full = {k: v for k, v in {**cloud.env, **env}.items() if v}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=full)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if parse and proc.stdout.strip() else proc.stdout
