"""Write a ``tempest.conf`` for a running Kumo (used by ``scripts/tempest.sh``, ``make
tempest``).

:func:`discover` asks the cloud (only the given loopback URL) for what Tempest must be
told: the ``cirros`` image's id (and a copy of it, made once, as the alternate
image), two flavors, the external ``public`` network, the
Networking extension aliases and the compute/volume microversion ranges.
:func:`render` turns those values into the configuration text; it does no I/O, so the
unit test checks it directly.

Run: ``python -m kumo.tools.tempest_conf --url http://127.0.0.1:5000 --password secret
--out DIR/etc/tempest.conf`` (``--url`` must be a loopback address: Tempest talks only
to the endpoints in this cloud's catalog, and those are the same host).
"""
from __future__ import annotations

import argparse
import configparser
import dataclasses
import io
import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from kumo import config

#: The image Kumo registers on first start (:mod:`kumo.image.cirros`).
IMAGE_NAME = "cirros"
#: A second image with the same data (``image_ref_alt``: Tempest's filter-by-image tests
#: need two distinct images); :func:`discover` uploads it once.
ALT_IMAGE_NAME = "cirros-tempest-alt"
#: Image attributes copied to the alternate image.
_COPIED = ("container_format", "disk_format", "min_disk", "min_ram", "kumo_rootfs",
           "os_distro", "os_type", "architecture")
#: Flavors Tempest boots with (the smallest two of Kumo's defaults, migration 0008).
FLAVORS = ("m1.nano", "m1.micro")


@dataclasses.dataclass
class CloudFacts:
    """What :func:`render` needs; every field a plain value."""

    url: str  # the cloud's public URL, e.g. http://127.0.0.1:5000
    admin_password: str
    image_ref: str
    image_ref_alt: str
    flavor_ref: str
    flavor_ref_alt: str
    public_network_id: str
    network_extensions: list[str]
    compute_max_microversion: str = "2.1"
    volume_max_microversion: str = "3.0"
    region: str = "RegionOne"
    log_file: str = ""
    #: Whether the servers Tempest boots run for real (the netns driver) or only turn
    #: ACTIVE (the fake driver): console output is only real with the former.
    real_servers: bool = False
    #: Kumo's security compliance settings as Tempest's ``[identity] user_lockout_*``
    #: and ``user_unique_last_password_count`` (:func:`compliance_from_settings`); empty:
    #: ``security_compliance = false``.
    security_compliance: dict = dataclasses.field(default_factory=dict)
    #: Compute hosts the cloud lists (``os-hypervisors``): Tempest's multinode tests
    #: (``min_compute_nodes``) and live migration need two.
    compute_hosts: int = 1
    #: Whether the servers Tempest boots can read a config drive as Tempest does
    #: (``mount_config_drive``: mount the ``config-2`` cdrom): real servers, a host
    #: that builds drives and a kernel with iso9660 (:func:`config_drive_usable`).
    config_drive: bool = False


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The ``cirros`` image's login (:mod:`kumo.image.cirros`: Dropbear, CirrOS's user).
SSH_USER = "cirros"
SSH_PASSWORD = "gocubsgo"


def validation_section(real_servers: bool) -> dict[str, str]:
    """tempest.conf's ``[validation]`` options.

    With the fake data plane (``real_servers`` false) nothing runs inside a server, so
    Tempest must never reach into one: no ssh, no ping, no validation resources. With
    real (netns) servers Tempest validates them as on a real cloud: per test class a key
    pair (Nova-generated RSA: ``ssh_key_type = rsa``), a security group allowing ssh and
    ping, and a floating IP from ``public`` (``connect_method = floating``: 172.24.4.x,
    routed to Kumo's own ``br-ex`` bridge on this machine, never the uplink); it then
    logs in as ``cirros`` with the key (``auth_method = keypair``) and runs commands
    such as ``hostname`` and ``grep -c ^processor /proc/cpuinfo``. Timeouts in seconds.
    """
    if not real_servers:
        return {"run_validation": "false", "connect_method": "fixed",
                "auth_method": "keypair", "ip_version_for_ssh": "4"}
    return {"run_validation": "true", "security_group": "true",
            "security_group_rules": "true", "connect_method": "floating",
            "auth_method": "keypair", "ip_version_for_ssh": "4",
            "ssh_key_type": "rsa", "image_ssh_user": SSH_USER,
            "image_ssh_password": SSH_PASSWORD, "image_alt_ssh_user": SSH_USER,
            "image_alt_ssh_password": SSH_PASSWORD, "network_for_ssh": "public",
            "ping_timeout": "120", "connect_timeout": "30", "ssh_timeout": "180"}


def render(f: CloudFacts) -> str:
    """The tempest.conf text for the cloud ``f`` describes.

    Choices: dynamic credentials (Tempest creates a project and user per test class with
    the admin account), isolated networks per class, validation (ssh into servers
    through floating IPs) only with real servers (:func:`validation_section`), and the
    feature flags set to what Kumo serves (no Swift, Heat, Placement; no VNC/SPICE/serial consoles)."""
    base = f.url.rstrip("/")
    c = configparser.ConfigParser(interpolation=None)
    c.optionxform = str  # keep option names as written
    c["DEFAULT"] = {"debug": "false", "use_stderr": "false"}
    if f.log_file:
        c["DEFAULT"]["log_file"] = f.log_file
    c["auth"] = {
        "use_dynamic_credentials": "true", "create_isolated_networks": "true",
        "admin_username": "admin", "admin_password": f.admin_password,
        "admin_project_name": "admin", "admin_domain_name": "Default",
        "admin_user_domain_name": "Default", "admin_project_domain_name": "Default",
        "default_credentials_domain_name": "Default", "tempest_roles": "member",
    }
    c["identity"] = {
        "uri_v3": f"{base}/identity/v3", "auth_version": "v3", "region": f.region,
        "v3_endpoint_type": "public", "disable_ssl_certificate_validation": "true",
    }
    c["identity-feature-enabled"] = {
        "api_v3": "true", "api_v2": "false", "trust": "true", "access_rules": "true",
        "security_compliance": "true" if f.security_compliance else "false",
        "domain_specific_drivers": "false",
    }
    c["identity"].update(f.security_compliance)
    c["compute"] = {
        "image_ref": f.image_ref, "image_ref_alt": f.image_ref_alt,
        "flavor_ref": f.flavor_ref, "flavor_ref_alt": f.flavor_ref_alt,
        "region": f.region, "endpoint_type": "publicURL",
        "min_microversion": "2.1", "max_microversion": f.compute_max_microversion,
        "build_timeout": "120", "build_interval": "1",
        "min_compute_nodes": str(max(1, f.compute_hosts)),
    }
    # stable_rescue: Kumo's rescue keeps the server's own root (mounted in the rescue
    # guest) and its volumes attached, and rescues volume-backed servers from 2.87, as
    # Nova's stable device rescue; hw_rescue_device/bus mean nothing to its drivers.
    # Live migration: the fake driver moves a running server at once (Kumo's
    # LIVE_MIGRATION_DRIVERS); between netns hosts it is a move by stop and restart
    # (the guest reboots), which Tempest's live migration tests do not expect.
    live = f.compute_hosts >= 2 and not f.real_servers
    c["compute-feature-enabled"] = {
        "disk_config": "true", "change_password": "false",
        "console_output": "true" if f.real_servers else "false",
        "resize": "true", "pause": "true", "shelve": "true", "suspend": "true",
        "cold_migration": "true",
        "live_migration": "true" if live else "false", "metadata_service": "true",
        "vnc_console": "false", "spice_console": "false", "serial_console": "false",
        "rescue": "true", "stable_rescue": "true", "enable_instance_password": "true", "interface_attach": "true",
        "snapshot": "true", "personality": "false", "attach_encrypted_volume": "false",
        "config_drive": "true" if f.config_drive else "false", "swap_volume": "false",
        "volume_multiattach": "false",
        "ide_bus": "false", "unified_limits": "false",
    }
    c["placement"] = {}
    c["image"] = {"region": f.region, "endpoint_type": "public",
                  "build_timeout": "120", "build_interval": "1",
                  "container_formats": "bare,ami,ari,aki,ovf,ova",
                  "disk_formats": "raw,qcow2,ami,ari,aki,vhd,vmdk,vdi,iso"}
    c["image-feature-enabled"] = {"api_v2": "true", "import_image": "true",
                                  "os_glance_reserved": "true",
                                  # Kumo, like Glance before 2024.2, does not inspect
                                  # uploaded data against disk_format
                                  "image_format_enforcement": "false"}
    c["network"] = {
        "region": f.region, "endpoint_type": "public",
        "public_network_id": f.public_network_id, "floating_network_name": "public",
        "project_network_cidr": "10.100.0.0/16", "project_network_mask_bits": "28",
        "project_networks_reachable": "false", "build_timeout": "120",
        "build_interval": "1", "shared_physical_network": "false",
    }
    c["network-feature-enabled"] = {
        "ipv6": "true", "api_extensions": ",".join(sorted(f.network_extensions)) or "None",
        "ipv6_subnet_attributes": "true", "port_admin_state_change": "true",
        "port_security": "true", "floating_ips": "true",
    }
    c["volume"] = {
        "catalog_type": "block-storage", "region": f.region, "endpoint_type": "public",
        "build_timeout": "120", "build_interval": "1", "volume_size": "1",
        "min_microversion": "3.0", "max_microversion": f.volume_max_microversion,
        "backend_names": "file-1,file-2", "storage_protocol": "file",
        "vendor_name": "Kumo",  # the pools' and capabilities' vendor_name
        "disk_format": "raw,qcow2",
    }
    c["volume-feature-enabled"] = {
        "backup": "true", "snapshot": "true", "clone": "true", "multi_backend": "true",
        "manage_snapshot": "false", "manage_volume": "true", "replication": "false",
        "extend_attached_volume": "true", "api_extensions": "all",
    }
    c["validation"] = validation_section(f.real_servers)
    c["scenario"] = {}
    c["service_available"] = {
        "keystone": "true", "nova": "true", "neutron": "true", "glance": "true",
        "cinder": "true", "swift": "false", "heat": "false", "horizon": "false",
        "ceilometer": "false", "aodh": "false", "designate": "false",
        "barbican": "false", "octavia": "false", "ironic": "false",
        "placement": "false", "manila": "false",
    }
    out = io.StringIO()
    c.write(out)
    return out.getvalue()


def _get(client: httpx.Client, url: str, token: str, **headers) -> dict:
    r = client.get(url, headers={"X-Auth-Token": token, **headers})
    r.raise_for_status()
    return r.json()


def _alt_image(client: httpx.Client, base: str, token: str, image: dict) -> str:
    """The id of :data:`ALT_IMAGE_NAME` (active), made from ``image``'s data if it
    does not exist yet."""
    found = _get(client, f"{base}/image/v2/images?name={ALT_IMAGE_NAME}", token)["images"]
    active = [i for i in found if i["status"] == "active"]
    if active:
        return active[0]["id"]
    headers = {"X-Auth-Token": token}
    body = {"name": ALT_IMAGE_NAME, "visibility": "public",
            **{k: image[k] for k in _COPIED if image.get(k) is not None}}
    r = client.post(f"{base}/image/v2/images", json=body, headers=headers)
    r.raise_for_status()
    alt = r.json()["id"]
    data = client.get(f"{base}/image/v2/images/{image['id']}/file", headers=headers)
    data.raise_for_status()
    r = client.put(f"{base}/image/v2/images/{alt}/file", content=data.content,
                   headers={**headers, "Content-Type": "application/octet-stream"})
    r.raise_for_status()
    return alt


def config_drive_usable() -> bool:
    """Whether a netns server on this machine can use its config drive as a guest
    does: the host builds them (genisoimage) and the kernel, which the servers share,
    mounts iso9660 (built in, or the ``isofs`` module). Many container and microVM
    kernels have neither iso9660 nor vfat: there the drive exists, but no guest
    mounts it, so Tempest's config drive checks are off."""
    from kumo.agent.virt import configdrive
    if not configdrive.available():
        return False
    try:
        if "iso9660" in Path("/proc/filesystems").read_text().split():
            return True
    except OSError:
        return False
    mods = Path("/lib/modules") / os.uname().release / "kernel" / "fs" / "isofs"
    return mods.is_dir() and any(mods.glob("isofs.ko*"))


def discover(url: str, admin_password: str, *, log_file: str = "",
             real_servers: bool = False) -> CloudFacts:
    """Read :class:`CloudFacts` from the cloud at ``url`` (loopback only; ValueError
    otherwise, or when the cirros image, a flavor or the ``public`` network is
    missing)."""
    if not _loopback(url):
        raise ValueError(f"{url}: Tempest is run only against a loopback address")
    base = url.rstrip("/")
    with httpx.Client(timeout=30) as client:
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        r = client.post(f"{base}/identity/v3/auth/tokens", json=auth)
        r.raise_for_status()
        token = r.headers["X-Subject-Token"]
        images = _get(client, f"{base}/image/v2/images?name={IMAGE_NAME}", token)["images"]
        if not images:
            raise ValueError(f"no '{IMAGE_NAME}' image in this cloud")
        alt = _alt_image(client, base, token, images[0])
        flavors = {fl["name"]: fl["id"] for fl in _get(
            client, f"{base}/compute/v2.1/flavors", token)["flavors"]}
        missing = [n for n in FLAVORS if n not in flavors]
        if missing:
            raise ValueError(f"flavors missing: {', '.join(missing)}")
        nets = _get(client, f"{base}/networking/v2.0/networks?name=public"
                    "&router:external=true", token)["networks"]
        if not nets:
            raise ValueError("no external network 'public' in this cloud")
        exts = [e["alias"] for e in _get(
            client, f"{base}/networking/v2.0/extensions", token)["extensions"]]
        compute_max = _get(client, f"{base}/compute/v2.1/", token)["version"]["version"]
        hosts = len(_get(client, f"{base}/compute/v2.1/os-hypervisors", token)[
            "hypervisors"])
        volume_max = "3.0"
        try:
            v = _get(client, f"{base}/volume/v3/", token)
            volume_max = (v.get("version") or v["versions"][0])["version"] or "3.0"
        except (httpx.HTTPError, KeyError, IndexError):
            pass
    return CloudFacts(url=base, admin_password=admin_password,
                      image_ref=images[0]["id"], image_ref_alt=alt, flavor_ref=flavors[FLAVORS[0]],
                      flavor_ref_alt=flavors[FLAVORS[1]], public_network_id=nets[0]["id"],
                      network_extensions=exts, compute_max_microversion=compute_max,
                      volume_max_microversion=volume_max, log_file=log_file,
                      real_servers=real_servers, compute_hosts=hosts,
                      config_drive=real_servers and config_drive_usable())


def compliance_from_settings(settings=None) -> dict:
    """Tempest's ``[identity]`` security compliance options from the cloud's settings
    (``lockout_failure_attempts``, ``lockout_duration_s``,
    ``unique_last_password_count``), as :func:`kumo.config.load` reads them (its
    ``kumo.yaml``, then ``KUMO_*`` variables) when ``settings`` is not given; empty
    unless lockout and password history are both on (Tempest's tests need both)."""
    if settings is None:
        settings = config.load()
    attempts = int(settings.lockout_failure_attempts or 0)
    unique = int(settings.unique_last_password_count or 0)
    if not (attempts and unique):
        return {}
    return {"user_lockout_failure_attempts": str(attempts),
            "user_lockout_duration": str(int(settings.lockout_duration_s)),
            "user_unique_last_password_count": str(unique)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kumo.tools.tempest_conf",
                                description="write a tempest.conf for a running Kumo")
    p.add_argument("--url", required=True, help="the cloud's URL (loopback)")
    p.add_argument("--password", required=True, help="the admin password")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--log-file", default="", help="Tempest's own log file")
    p.add_argument("--real-servers", action="store_true",
                   help="servers really run (console output can be tested)")
    p.add_argument("--state-dir", default=None,
                   help="the cloud's state directory, whose kumo.yaml (with the KUMO_* "
                        "environment) gives its security compliance settings; default "
                        "KUMO_STATE_DIR or Kumo's default")
    a = p.parse_args(argv)
    try:
        facts = discover(a.url, a.password, log_file=a.log_file,
                         real_servers=a.real_servers)
    except (ValueError, httpx.HTTPError) as e:
        print(f"tempest_conf: {e}", file=sys.stderr)
        return 1
    try:
        facts.security_compliance = compliance_from_settings(config.load(a.state_dir))
    except ValueError as e:  # kumo.yaml names an unknown setting, or a bad value
        print(f"tempest_conf: {e}", file=sys.stderr)
        return 1
    with open(a.out, "w") as fh:
        fh.write(render(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
