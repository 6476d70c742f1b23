"""The default image builder (kumo/image/cirros.py): the tarball's contents and
determinism, shell syntax, and a real boot of its init in network namespaces this test
creates (root only): DHCP from busybox udhcpd, metadata from a Python server on
169.254.169.254, user_data run, SIGTERM stop; every namespace and process removed."""
from __future__ import annotations

import gzip
import json
import os
import secrets
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from kumo.image import cirros

BUSYBOX = next((p for p in cirros.BUSYBOX_PATHS if p.is_file()), None)


def _static_busybox() -> Path:
    try:
        return cirros.find_busybox()
    except cirros.BusyboxNotFound as e:
        pytest.skip(f"busybox-static is not installed: {e}")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    _static_busybox()
    return cirros.build_rootfs(tmp_path_factory.mktemp("cirros") / "cirros.tar.gz")


def _members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name.removeprefix("./").rstrip("/"): m for m in tar.getmembers()}


def test_members_modes_and_symlinks(rootfs):
    m = _members(rootfs)
    bb = m["bin/busybox"]
    assert bb.isfile() and bb.mode == 0o755
    with tarfile.open(rootfs) as tar:
        assert tar.extractfile("./bin/busybox").read() == cirros.find_busybox().read_bytes()
    for name in ("sh", "ash", "cat", "echo", "mkdir", "mount", "umount", "ls", "ps",
                 "sleep", "kill", "grep", "sed", "hostname", "dmesg", "chmod", "rm", "mv",
                 "cp", "ln", "date", "uname", "true", "false", "ping"):
        assert m[f"bin/{name}"].issym() and m[f"bin/{name}"].linkname == "busybox", name
    for name in ("ip", "ifconfig", "route", "udhcpc", "poweroff", "halt", "reboot"):
        assert m[f"sbin/{name}"].issym() and m[f"sbin/{name}"].linkname == "../bin/busybox"
    for name in ("nc", "wget", "awk", "tr", "cut", "head", "tail", "id", "env", "seq",
                 "test", "[", "printf"):
        assert m[f"usr/bin/{name}"].linkname == "../../bin/busybox", name
    assert m["usr/sbin/httpd"].linkname == "../../bin/busybox"
    for script in ("sbin/init", "etc/udhcpc/default.script"):
        assert m[script].isfile() and m[script].mode == 0o755, script
    assert m["usr/share/udhcpc/default.script"].issym()
    assert m["tmp"].isdir() and m["tmp"].mode == 0o1777
    assert m["root"].mode == 0o700
    assert (m["home/cirros"].uid, m["home/cirros"].gid) == (1000, 1000)
    assert m["home/cirros/.ssh"].mode == 0o700 and m["home/cirros/.ssh"].uid == 1000
    assert m["etc/shadow"].mode == 0o640
    for d in ("proc", "sys", "dev", "run", "var/www"):
        assert m[d].isdir(), d
    for info in m.values():
        assert info.mtime == cirros.MTIME and info.uid in (0, 1000) and info.gid == info.uid
    with tarfile.open(rootfs) as tar:
        text = lambda p: tar.extractfile("./" + p).read().decode()  # noqa: E731
        assert "cirros:x:1000:1000:" in text("etc/passwd")
        assert text("etc/passwd").startswith("root:x:0:0:")
        assert "cirros:x:1000:" in text("etc/group")
        assert text("etc/hostname") == "cirros\n"
        assert "localhost" in text("etc/hosts")
        assert text("sbin/init").startswith("#!/bin/sh\n")
    # Parents always come before their children, so any tar extracts it in one pass.
    names = [n for n in m]
    for i, n in enumerate(names):
        if "/" in n:
            assert names.index(n.rsplit("/", 1)[0]) < i, n


def test_two_builds_are_byte_identical_and_idempotent(rootfs, tmp_path):
    again = cirros.build_rootfs(tmp_path / "again.tar.gz")
    assert again.read_bytes() == rootfs.read_bytes()
    raw = rootfs.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"   # gzip, no mtime
    assert not raw[3] & 0x08                                     # no file name
    before = again.stat().st_mtime_ns
    time.sleep(0.01)
    assert cirros.build_rootfs(again) == again
    assert again.stat().st_mtime_ns == before                    # left untouched


def test_ensure_rootfs_builds_once(rootfs, tmp_path):
    first = cirros.ensure_rootfs(tmp_path / "cache")
    assert first.read_bytes() == rootfs.read_bytes()
    assert first.name.startswith("cirros-") and first.name.endswith(".tar.gz")
    before = first.stat().st_mtime_ns
    assert cirros.ensure_rootfs(tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == before
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]


def test_scripts_pass_busybox_syntax_check(rootfs, tmp_path):
    with tarfile.open(rootfs) as tar:
        for member in ("./sbin/init", "./etc/udhcpc/default.script", "./usr/bin/lsblk"):
            script = tmp_path / member.rsplit("/", 1)[1]
            script.write_bytes(tar.extractfile(member).read())
            r = subprocess.run([str(cirros.find_busybox()), "sh", "-n", str(script)],
                               capture_output=True, text=True)
            assert r.returncode == 0, (member, r.stderr)


def test_missing_or_dynamic_busybox_is_refused(tmp_path):
    with pytest.raises(cirros.BusyboxNotFound, match="busybox-static"):
        cirros.build_rootfs(tmp_path / "x.tar.gz", busybox=tmp_path / "nope")
    with pytest.raises(cirros.BusyboxNotFound, match="statically linked"):
        cirros.build_rootfs(tmp_path / "x.tar.gz", busybox=Path(sys.executable).resolve())
    assert not (tmp_path / "x.tar.gz").exists()


def test_image_attributes_follow_the_convention():
    attrs = cirros.image_attributes()
    assert attrs["name"] == "cirros" and attrs["visibility"] == "public"
    assert (attrs["container_format"], attrs["disk_format"]) == ("bare", "raw")
    assert attrs["kumo_rootfs"] == "tar" and attrs["os_distro"] == "cirros"
    assert attrs["min_disk"] >= 1 and attrs["min_ram"] > 0 and attrs["architecture"]


# ---- end to end: boot the init in namespaces -----------------------------------------

METADATA_SERVER = textwrap.dedent("""
    import http.server, sys
    root, ready = sys.argv[1], sys.argv[2]
    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)
        def log_message(self, fmt, *args):
            sys.stderr.write("metadata: " + (fmt % args) + "\\n"); sys.stderr.flush()
    srv = http.server.ThreadingHTTPServer(("169.254.169.254", 80), H)
    open(ready, "w").close()
    srv.serve_forever()
""")


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)}: {r.returncode} {r.stderr.strip()}")
    return r


def _wait_for(pred, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    console = log.read_text(errors="replace") if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n--- console ---\n{console}")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def netns_pair():
    """Two network namespaces joined by a veth: the instance's (eth0) and the server's
    (veth0). Created directly inside them, so the root namespace is never touched;
    deleted even on failure (deleting the namespaces removes the veth)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    _static_busybox()
    tag = secrets.token_hex(4)
    vm, srv = f"kumo-cirros-test-{tag}", f"kumo-cirros-test-{tag}-md"
    made = []
    try:
        for ns in (vm, srv):
            _run("ip", "netns", "add", ns)
            made.append(ns)
        _run("ip", "-n", srv, "link", "add", "veth0", "type", "veth",
             "peer", "name", "eth0", "netns", vm)
        yield tag, vm, srv
    finally:
        for ns in made:
            _run("ip", "netns", "delete", ns, check=False)
        left = _run("ip", "netns", "list").stdout
        assert vm not in left and srv not in left


class Boot:
    """One booted instance of the image: a udhcpd and a metadata server in the server
    namespace, the image's init as PID 1 of new PID/mount/UTS/IPC namespaces in the
    instance namespace; :meth:`close` kills whatever still runs."""

    def __init__(self, vm: str, srv: str, rootfs: Path, tmp: Path) -> None:
        self.vm, self.srv, self.tmp = vm, srv, tmp
        self.root, self.console = tmp / "root", tmp / "console.log"
        self.procs: list[subprocess.Popen] = []
        self.files: list = []
        self.init: subprocess.Popen | None = None
        self.root.mkdir()
        with tarfile.open(rootfs) as tar:
            tar.extractall(self.root, filter="fully_trusted")

    def _spawn(self, cmd: list[str], log: str) -> subprocess.Popen:
        out = open(self.tmp / log, "w")
        self.files.append(out)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def start(self, metadata: dict[str, str]) -> None:
        for cmd in (("link", "set", "lo", "up"), ("link", "set", "veth0", "up"),
                    ("addr", "add", "10.213.0.1/24", "dev", "veth0"),
                    ("addr", "add", "169.254.169.254/32", "dev", "veth0")):
            _run("ip", "-n", self.srv, *cmd)
        conf = self.tmp / "udhcpd.conf"
        conf.write_text(textwrap.dedent(f"""\
            start 10.213.0.10
            end 10.213.0.20
            interface veth0
            lease_file {self.tmp}/udhcpd.leases
            pidfile {self.tmp}/udhcpd.pid
            opt subnet 255.255.255.0
            opt router 10.213.0.1
            opt dns 10.213.0.1
            opt mtu 1400
            opt lease 3600
            opt staticroutes 169.254.169.254/32 10.213.0.1, 0.0.0.0/0 10.213.0.1
            """))
        (self.tmp / "udhcpd.leases").touch()
        md = self.tmp / "md"
        for path, body in metadata.items():
            (md / path).parent.mkdir(parents=True, exist_ok=True)
            (md / path).write_text(body)
        bb = str(cirros.find_busybox())
        self._spawn(["ip", "netns", "exec", self.srv, bb, "udhcpd", "-f", "-a", "100",
                     str(conf)], "udhcpd.log")
        ready = self.tmp / "md.ready"
        self._spawn(["ip", "netns", "exec", self.srv, sys.executable, "-c",
                     METADATA_SERVER, str(md), str(ready)], "metadata.log")
        _wait_for(ready.exists, 10, "the metadata server")
        # --kill-child: if unshare dies, so does init and with it the PID namespace.
        self.init = self._spawn(
            ["env", "--default-signal=HUP",  # as the netns driver: never an ignored HUP
             "ip", "netns", "exec", self.vm, "unshare", "--pid", "--fork", "--kill-child",
             "--mount", "--uts", "--ipc", "--propagation", "private",
             "chroot", str(self.root), "/sbin/init"], "console.log")
        _wait_for(lambda: "cirros-init: boot finished" in self.log()
                  or self.init.poll() is not None, 45, "boot", self.console)
        assert "cirros-init: boot finished" in self.log(), self.log()

    def log(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def init_pid(self) -> int:
        """init's PID in the test's PID namespace (the only child of unshare)."""
        pid = self.init.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def lease_ip(self) -> str:
        return next(w for line in self.log().splitlines() if "udhcpc: lease of" in line
                    for w in line.split() if w.startswith("10.213.0."))

    def close(self) -> None:
        for p in reversed(self.procs):
            _stop(p)
        for f in self.files:
            f.close()


@pytest.fixture
def boot(netns_pair, rootfs, tmp_path):
    tag, vm, srv = netns_pair
    b = Boot(vm, srv, rootfs, tmp_path)
    b.tag = tag
    try:
        yield b
    finally:
        b.close()
        # Nothing of ours runs any more (the netns fixture then deletes the namespaces).
        assert not _run("ip", "netns", "pids", vm).stdout.strip()
        assert not _run("ip", "netns", "pids", srv).stdout.strip()


def test_boot_openstack_metadata_user_data_and_sigterm(boot):
    tag = boot.tag
    hostname, marker = f"kumo-smoke-{tag}", f"KUMO-USERDATA-MARKER-{tag}"
    key = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{tag}test kumo-test-{tag}"
    boot.start({
        "openstack/latest/meta_data.json": json.dumps({
            "uuid": f"0000-{tag}", "name": "smoke", "hostname": f"{hostname}.novalocal",
            "public_keys": {"mykey": key + "\n"},
            "keys": [{"name": "mykey", "type": "ssh", "data": key + "\n"}],
            "launch_index": 0, "availability_zone": "nova", "project_id": "p"}, indent=2),
        "openstack/latest/user_data":
            f"#!/bin/sh\necho {marker} from $(hostname)\necho second line >&2\nexit 3\n",
    })
    text = boot.log()
    assert "udhcpc: lease of 10.213.0." in text and " obtained" in text
    assert f"cirros-init: hostname: {hostname} (from openstack" in text
    assert f"cirros-init: user-data: {marker} from {hostname}" in text
    assert "cirros-init: user-data: second line" in text
    assert "cirros-init: user-data: exited with status 3" in text
    assert "mtu 1400" in text and "169.254.169.254 via 10.213.0.1" in text
    assert "cirros-init: public keys: wrote 1 key(s)" in text
    authorized = boot.root / "home/cirros/.ssh/authorized_keys"
    assert authorized.read_text() == key + "\n"
    assert authorized.stat().st_uid == 1000 and authorized.stat().st_mode & 0o777 == 0o600
    assert "nameserver 10.213.0.1" in (boot.root / "etc/resolv.conf").read_text()
    # It answers ping, and its httpd answers with the hostname.
    bb, ip = str(cirros.find_busybox()), boot.lease_ip()
    _run("ip", "netns", "exec", boot.srv, bb, "ping", "-c", "1", "-W", "2", ip)
    page = _run("ip", "netns", "exec", boot.srv, bb, "wget", "-q", "-O", "-",
                f"http://{ip}/").stdout  # (no -T: busybox-static 1.35's wget -T segfaults)
    assert page.strip() == hostname
    assert os.uname().nodename != hostname          # init had its own UTS namespace

    os.kill(boot.init_pid(), signal.SIGTERM)
    assert boot.init.wait(timeout=15) == 0, boot.log()
    text = boot.log()
    assert "cirros-init: SIGTERM: power off: stopping all processes" in text
    assert "exiting with status 0" in text
    assert "cirros-init: /dev: tmpfs with basic device nodes" in text
    assert not list((boot.root / "dev").iterdir())  # all of it was on init's tmpfs


@pytest.mark.parametrize("command, status, what", [
    ("poweroff", 0, "poweroff"), ("halt", 0, "halt"), ("reboot", 0, "SIGTERM: power off"),
    ("kill -HUP 1", 2, "SIGHUP: reboot"),
    # reboot(2) in a PID namespace: the kernel kills init with SIGHUP (unshare, then
    # passes the signal on), as the namespace compute driver will see it.
    ("reboot -f", -signal.SIGHUP, None)])
def test_boot_ec2_metadata_and_stop_from_inside(boot, command, status, what):
    tag = boot.tag
    key = f"ssh-rsa AAAAB3NzaC1yc2E{tag} ec2-{tag}"
    boot.start({
        "latest/meta-data/instance-id": f"i-{tag}",
        "latest/meta-data/hostname": f"ec2-host-{tag}.example.org",
        "latest/meta-data/public-keys/0/openssh-key": key + "\n",
        # An orphan (reparented to init) asks init to stop after boot (init waits up to
        # 2 s for its output, as it holds the user-data output pipe; 8 s leaves a
        # loaded machine room to finish booting first).
        "latest/user-data": f"#!/bin/sh\necho EC2-{tag}\n(sleep 8; {command}) &\n",
    })
    text = boot.log()
    assert "no openstack metadata" in text and f"instance i-{tag} (ec2 format)" in text
    assert f"cirros-init: hostname: ec2-host-{tag} (from ec2" in text
    assert f"cirros-init: user-data: EC2-{tag}" in text
    assert (boot.root / "home/cirros/.ssh/authorized_keys").read_text() == key + "\n"
    assert (boot.root / "etc/hosts").read_text().count(f"ec2-host-{tag}.example.org") == 1
    # a bound, not a timing: 8 s of sleep, then init stops its services (slow when loaded)
    assert boot.init.wait(timeout=120) == status, boot.log()
    text = boot.log()
    if what:
        assert f"cirros-init: {what}: done, exiting with status {status}" in text
    assert "/sbin/init:" not in text                # no shell errors


# -- the SSH server (kumo/image/dropbear.py) ---------------------------------------------
def test_image_has_dropbear_with_its_libraries(rootfs, tmp_path):
    from kumo.image import dropbear
    m = _members(rootfs)
    with tarfile.open(rootfs) as tar:
        for dest, src in dropbear.BINARIES.items():
            assert m[dest].isfile() and m[dest].mode == 0o755, dest
            assert tar.extractfile("./" + dest).read() == Path(src).read_bytes(), dest
            libs = dropbear.shared_libraries(Path(src))
            assert any("ld-linux" in str(p) or "/ld-" in str(p) for p in libs), libs
            for lib in libs:  # every library ldd names, and the loader, at its path
                key = str(lib).lstrip("/")
                assert m[key].isfile(), key
                assert tar.extractfile("./" + key).read() == lib.resolve().read_bytes()
    assert m["usr/bin/ssh"].issym() and m["usr/bin/ssh"].linkname == "dbclient"
    assert m["etc/dropbear"].isdir() and m["etc/dropbear"].mode == 0o700
    with tarfile.open(rootfs) as tar:
        shadow = tar.extractfile("./etc/shadow").read().decode()
        init = tar.extractfile("./sbin/init").read().decode()
    assert f"cirros:{cirros.CIRROS_PASSWORD_HASH}:" in shadow
    assert "root:*:" in shadow
    assert "dropbearkey -t" in init and "dropbear -F -E -p 22" in init
    if os.geteuid() == 0:  # the copied binaries run in the image's root alone
        root = tmp_path / "root"
        root.mkdir()
        with tarfile.open(rootfs) as tar:
            tar.extractall(root, filter="tar" if hasattr(tarfile, "tar_filter") else None)
        r = subprocess.run(["chroot", str(root), "/usr/bin/dropbearkey", "-t", "ed25519",
                            "-f", "/tmp/key"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "ssh-ed25519 " in r.stdout, r.stdout + r.stderr


def test_password_hash_is_gocubsgo():
    r = subprocess.run(["openssl", "passwd", "-6", "-salt", "kumo.cirros",
                        cirros.CIRROS_PASSWORD], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("no openssl command")
    assert r.stdout.strip() == cirros.CIRROS_PASSWORD_HASH


def test_missing_dropbear_is_refused(tmp_path):
    from kumo.image import dropbear
    with pytest.raises(cirros.DropbearNotFound, match="dropbear-bin"):
        dropbear.files({"usr/sbin/dropbear": str(tmp_path / "nope")})
    assert dropbear.shared_libraries(_static_busybox()) == []
