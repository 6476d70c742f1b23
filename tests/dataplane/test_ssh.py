"""Ways into a server (issue 15), end to end in a simulated machine
(:class:`kumo.sim.SimulatedMachine`: ``kumo up`` with the real data plane and the netns
compute driver in its own network and mount namespaces, as in test_quickstart.py):

- the default ``cirros`` image runs Dropbear: a server booted with a key pair accepts
  ``ssh -i key cirros@<floating ip>`` from the host and ``cirros@<fixed ip>`` from the
  router's namespace (running ``id``), refuses another key, accepts CirrOS's password;
  ``openstack server ssh`` reaches it too;
- ``kumo console <server> -- cat /etc/hostname`` prints the server's hostname, passes the
  command's exit status through, and without a command gives a shell.

OpenSSH's client (Debian's openssh-client) with host key checking off. Teardown (the
machine's) deletes everything through the API, then kills and removes whatever is left
in the machine's namespaces, pass or fail; every wait is bounded.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kumo.sim import BIN
from tests.dataplane.machines import started, wait_for

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"]


@pytest.fixture
def machine(tmp_path, tag):
    if not Path("/usr/sbin/dropbear").is_file():
        pytest.skip("needs dropbear-bin (the cirros image's SSH server)")
    with started(tmp_path, f"{tag}-machine", "sshhost", needs=("ssh", "ssh-keygen")) as m:
        yield m


def ssh(key: Path, *args: str, batch: bool = True) -> list[str]:
    """``ssh -i key <test options> args...`` (args: more options, target, command)."""
    return ["ssh", "-i", str(key), *SSH_OPTS, "-o", f"BatchMode={'yes' if batch else 'no'}",
            *args]


def test_ssh_and_kumo_console(machine, tmp_path):
    m = machine
    key, wrong = tmp_path / "key", tmp_path / "wrong"
    for k in (key, wrong):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k.name,
                        "-f", str(k)], check=True, timeout=30)
    m.openstack("keypair", "create", "--public-key", f"{key}.pub", "k1")
    m.openstack("network", "create", "ssh-net")
    m.openstack("subnet", "create", "ssh-subnet", "--network", "ssh-net",
                "--subnet-range", "192.168.60.0/24")
    m.openstack("router", "create", "ssh-router")
    m.openstack("router", "set", "ssh-router", "--external-gateway", "public")
    m.openstack("router", "add", "subnet", "ssh-router", "ssh-subnet")
    m.openstack("security", "group", "rule", "create", "default", "--protocol", "tcp",
                "--dst-port", "22")
    m.openstack("server", "create", "--image", "cirros", "--flavor", "m1.tiny",
                "--network", "ssh-net", "--key-name", "k1", "--wait", "vm1")
    fip = m.json("floating", "ip", "create", "public")["floating_ip_address"]
    m.openstack("server", "add", "floating", "ip", "vm1", fip)
    fixed = m.json("server", "show", "vm1")["addresses"]["ssh-net"][0]
    router = m.json("router", "show", "ssh-router")["id"]

    # from the host, through br-ex and the router's DNAT, once the server's sshd is up
    last = []

    def try_ssh():
        last[:] = [m.run(ssh(key, f"cirros@{fip}", "id"), check=False, timeout=30,
                         input="")]
        return last[0].returncode == 0 and last[0].stdout
    try:
        out = wait_for(try_ssh, f"ssh cirros@{fip} id")
    except AssertionError:
        log = m.openstack("console", "log", "show", "vm1", check=False).stdout
        inside = m.run(str(BIN / "kumo"), "console", "vm1", "--", "sh", "-c",
                       "ls -lan /home /home/cirros /home/cirros/.ssh; "
                       "cat /home/cirros/.ssh/authorized_keys", check=False)
        raise AssertionError(
            f"ssh never worked: {last[0].stderr}\nconsole:\n{log}\ninside:\n"
            f"{inside.stdout}{inside.stderr}\nkey: {Path(f'{key}.pub').read_text()}") \
            from None
    assert "uid=1000(cirros)" in out
    # from the router's namespace to the fixed IP
    out = m.run("ip", "netns", "exec", f"qrouter-{router}",
                *ssh(key, f"cirros@{fixed}", "id", "-un"), input="", timeout=60).stdout
    assert out.strip() == "cirros"
    # another key is refused
    bad = m.run(ssh(wrong, f"cirros@{fip}", "id"), check=False, timeout=60, input="")
    assert bad.returncode == 255 and "Permission denied" in bad.stderr, bad
    # CirrOS's password (OpenSSH reads it from SSH_ASKPASS; no terminal needed)
    askpass = tmp_path / "askpass.sh"
    askpass.write_text("#!/bin/sh\necho gocubsgo\n")
    askpass.chmod(0o700)
    pw = m.run(ssh(wrong, "-oPreferredAuthentications=password", f"cirros@{fip}",
                   "hostname", batch=False), check=False, timeout=60,
               input="", env={"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
                              "DISPLAY": ":0"})
    assert pw.returncode == 0 and pw.stdout.strip() == "vm1", pw
    # the CLI's `server ssh` (its default address type is the floating IP)
    out = m.openstack("server", "ssh", "vm1", "--", "-l", "cirros", "-i", str(key),
                      *SSH_OPTS, "-o", "BatchMode=yes", "id").stdout
    assert "uid=1000(cirros)" in out

    # kumo console, on the machine, as root: a command, its status, a shell
    kumo = str(BIN / "kumo")
    out = m.run(kumo, "console", "vm1", "--", "cat", "/etc/hostname").stdout
    assert out.strip() == "vm1"
    # / is a root filesystem's 0755 (not the 0700 of Kumo's umask: sshd reads
    # authorized_keys as the user, who must traverse /)
    assert m.run(kumo, "console", "vm1", "--", "stat", "-c", "%a", "/").stdout.strip() \
        == "755"
    vm_id = m.json("server", "show", "vm1")["id"]
    assert m.run(kumo, "console", vm_id, "--", "sh", "-c", "exit 3",
                 check=False).returncode == 3
    shell = m.run(kumo, "console", "vm1", input="id -u\nhostname\nexit 4\n", check=False)
    assert shell.returncode == 4 and shell.stdout.split()[-2:] == ["0", "vm1"], shell
    missing = m.run(kumo, "console", "nope", "--", "true", check=False)
    assert missing.returncode == 1 and "no server 'nope'" in missing.stderr
    # the API still answers Nova's error for a console URL (not a 404)
    proc = m.openstack("console", "url", "show", "vm1", check=False)
    assert proc.returncode != 0 and "Unavailable console type novnc." in proc.stderr
