"""Nova's metadata service, served under ``/metadata`` of the app for requests that
come through the data plane's metadata proxy (kumo/agent/metadata.py), which adds
``X-Instance-ID``, ``X-Tenant-ID``, ``X-Forwarded-For`` and ``X-Instance-ID-Signature``
= hex HMAC-SHA256(key=settings.metadata_secret(), msg=instance id).

Answers (Nova's "Metadata service" user guide): the OpenStack format
(``/openstack[/<version>|latest]/{meta_data.json, user_data, network_data.json,
vendor_data.json, vendor_data2.json}``) and the EC2 format (``/<version>|latest/
meta-data/...``, ``/latest/user-data``). 400 without ``X-Instance-ID``, 403 on a
missing or bad signature, 404 for an unknown instance or path. Nothing else a request
says about who sent it (``X-Forwarded-For``...) is trusted: only ``X-Instance-ID``
with its valid ``X-Instance-ID-Signature`` (and ``X-Tenant-ID``, if given, must be the
instance's project).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, Service
from kumo.compute.feed import instance_name

OPENSTACK_VERSIONS = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15",
                      "2016-06-30", "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14"]
EC2_VERSIONS = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
                "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04"]


def _fault(error: exc.KumoError) -> dict:
    return {"message": error.message, "code": error.status}


service = Service("metadata", "/metadata", _fault)


def _text(value: str | bytes, content_type: str = "text/plain; charset=UTF-8") -> Reply:
    body = value if isinstance(value, bytes) else value.encode()
    return Reply(200, body, content_type=content_type)


def _json(value) -> Reply:
    return Reply(200, json.dumps(value).encode(), content_type="application/json")


def _instance(req: Request):
    instance_id = req.headers.get("x-instance-id")
    if not instance_id:
        raise exc.BadRequest("X-Instance-ID header is missing from request.")
    signature = req.headers.get("x-instance-id-signature") or ""
    secret = req.cloud.settings.metadata_secret().encode()
    expected = hmac.new(secret, instance_id.encode(), hashlib.sha256).hexdigest()
    # bytes: compare_digest refuses (TypeError) non-ASCII str, which is no signature
    if not hmac.compare_digest(expected.encode(),
                               signature.encode("utf-8", "surrogateescape")):
        raise exc.Forbidden("Invalid proxy request signature.")
    compute = req.cloud.compute
    with compute.read() as s:
        try:
            row = compute.servers.get(s, None, instance_id)
        except exc.NotFound:
            raise exc.NotFound("Instance not found.") from None
        tenant = req.headers.get("x-tenant-id")
        if tenant and tenant != row.project_id:
            raise exc.NotFound("Instance not found.")
        ports = compute.servers.port_facts(s, [p["port_id"] for p in row.ports])
    return row, [ports[p["port_id"]] for p in row.ports if p["port_id"] in ports]


def meta_data(row) -> dict:
    keys = []
    if row.key_name and row.key_data:
        keys = [{"name": row.key_name, "type": "ssh", "data": row.key_data}]
    return {"uuid": row.id, "meta": dict(row.meta or {}), "hostname": row.hostname,
            "name": row.display_name, "launch_index": row.launch_index,
            "availability_zone": row.availability_zone, "project_id": row.project_id,
            "public_keys": {k["name"]: k["data"] for k in keys}, "keys": keys,
            "devices": [], "dedicated_cpus": [],
            "random_seed": base64.b64encode(os.urandom(512)).decode()}


def network_data(ports: list[dict]) -> dict:
    links, networks = [], []
    for i, p in enumerate(ports):
        link = f"tap{p['id'][:11]}"
        links.append({"id": link, "vif_id": p["id"], "type": "bridge", "mtu": p["mtu"],
                      "ethernet_mac_address": p["mac_address"]})
        for j, ip in enumerate(p["fixed_ips"]):
            networks.append({"id": f"network{len(networks)}", "link": link,
                             "type": "ipv4_dhcp" if ip.get("version", 4) == 4
                             else "ipv6_dhcp", "network_id": p["network_id"]})
    return {"links": links, "networks": networks, "services": []}


def _openstack(row, ports, rest: list[str]) -> Reply:
    if not rest:
        return _text("\n".join(OPENSTACK_VERSIONS + ["latest"]))
    version, rest = rest[0], rest[1:]
    if version != "latest" and version not in OPENSTACK_VERSIONS:
        raise exc.NotFound("The resource could not be found.")
    if not rest:
        items = ["meta_data.json", "password", "vendor_data.json", "network_data.json",
                 "vendor_data2.json"]
        if row.user_data:
            items.append("user_data")
        return _text("\n".join(items))
    name = "/".join(rest)
    if name == "meta_data.json":
        return _json(meta_data(row))
    if name == "user_data":
        if not row.user_data:
            raise exc.NotFound("The resource could not be found.")
        return _text(base64.b64decode(row.user_data), "application/octet-stream")
    if name == "network_data.json":
        return _json(network_data(ports))
    if name in ("vendor_data.json", "vendor_data2.json"):
        return _json({})
    if name == "password":
        return _text("")
    raise exc.NotFound("The resource could not be found.")


def _ec2_tree(row, ports) -> dict:
    ip = next((f["ip_address"] for p in ports for f in p["fixed_ips"]
               if f.get("version", 4) == 4), "")
    tree = {"ami-id": row.image_id, "ami-launch-index": str(row.launch_index),
            "ami-manifest-path": "FIXME", "block-device-mapping": {"ami": "vda",
                                                                   "root": "/dev/vda"},
            "hostname": row.hostname, "instance-action": "none",
            "instance-id": "i-%08x" % row.seq, "instance-type": (row.flavor or {}).get(
                "name", ""), "local-hostname": row.hostname, "local-ipv4": ip,
            "placement": {"availability-zone": row.availability_zone or ""},
            "public-hostname": row.hostname, "public-ipv4": "",
            "reservation-id": row.reservation_id,
            "security-groups": "\n".join(row.security_groups or [])}
    if row.key_name and row.key_data:
        tree["public-keys"] = {f"0={row.key_name}": {"openssh-key": row.key_data}}
    return tree


def _ec2(row, ports, version: str, rest: list[str]) -> Reply:
    if version != "latest" and version not in EC2_VERSIONS:
        raise exc.NotFound("The resource could not be found.")
    if not rest:
        return _text("meta-data/\nuser-data" if row.user_data else "meta-data/")
    if rest[0] == "user-data":
        if not row.user_data:
            raise exc.NotFound("The resource could not be found.")
        return _text(base64.b64decode(row.user_data), "application/octet-stream")
    if rest[0] != "meta-data":
        raise exc.NotFound("The resource could not be found.")
    node = _ec2_tree(row, ports)
    for part in rest[1:]:
        if isinstance(node, dict) and part.split("=")[0] in {
                k.split("=")[0] for k in node}:
            key = next(k for k in node if k.split("=")[0] == part.split("=")[0])
            node = node[key]
        else:
            raise exc.NotFound("The resource could not be found.")
    if isinstance(node, dict):
        return _text("\n".join(k + "/" if isinstance(v, dict) and "=" not in k else k
                               for k, v in node.items()))
    return _text(str(node))


def handle(req: Request) -> Reply:
    parts = [p for p in req.path.split("/") if p]
    if not parts:
        return _text("\n".join(EC2_VERSIONS + ["latest"]))
    row, ports = _instance(req)
    if parts[0] == "openstack":
        return _openstack(row, ports, parts[1:])
    return _ec2(row, ports, parts[0], parts[1:])


#: Nova's ``[api] config_drive_skip_versions`` default: the EC2 versions a config
#: drive leaves out.
CONFIG_DRIVE_SKIP_EC2 = EC2_VERSIONS[:-1]
#: The first OpenStack version with vendor_data.json (Havana), network_data.json
#: (Liberty) and vendor_data2.json (Newton), as Nova's config drive gates them.
_SINCE = {"vendor_data.json": "2013-10-17", "network_data.json": "2015-10-15",
          "vendor_data2.json": "2016-10-06"}


def _ec2_json(node):
    """The EC2 tree as Nova's config drive writes it (``meta-data.json``): a public key
    ``0=<name>`` is the key ``0``."""
    if not isinstance(node, dict):
        return node
    return {k.split("=")[0]: _ec2_json(v) for k, v in node.items()}


def config_drive_files(row, ports: list[dict]) -> dict[str, bytes]:
    """The files of the server's config drive, ``{path: content}`` (paths relative to
    the drive's root), as Nova's ``InstanceMetadata.metadata_for_config_drive``:
    ``ec2/<version>/meta-data.json`` (and ``user-data``) for 2009-04-04 and latest,
    ``openstack/<version>/meta_data.json``, ``user_data`` (if any),
    ``vendor_data.json``, ``network_data.json``, ``vendor_data2.json`` for every
    OpenStack version that has them. The same renderings the metadata service answers
    with (:func:`meta_data`, :func:`network_data`, the EC2 tree); Kumo has no
    personality files, so no ``openstack/content/``."""
    files: dict[str, bytes] = {}
    user_data = base64.b64decode(row.user_data) if row.user_data else None
    ec2 = json.dumps(_ec2_json(_ec2_tree(row, ports))).encode()
    for version in EC2_VERSIONS + ["latest"]:
        if version in CONFIG_DRIVE_SKIP_EC2:
            continue
        files[f"ec2/{version}/meta-data.json"] = ec2
        if user_data is not None:
            files[f"ec2/{version}/user-data"] = user_data
    md = json.dumps(meta_data(row)).encode()
    nd = json.dumps(network_data(ports)).encode()
    for version in OPENSTACK_VERSIONS + ["latest"]:
        base = f"openstack/{version}/"
        files[base + "meta_data.json"] = md
        if user_data is not None:
            files[base + "user_data"] = user_data
        for name, since in _SINCE.items():
            if version == "latest" or version >= since:
                files[base + name] = nd if name == "network_data.json" else b"{}"
    return files


def post_password(req: Request) -> Reply:
    """``POST /openstack/<version>/password``: the guest stores its encrypted password
    once (at most 256 bytes; 409 when one is set), as Nova's metadata service."""
    parts = [p for p in req.path.split("/") if p]
    if len(parts) != 3 or parts[0] != "openstack" or parts[2] != "password" or (
            parts[1] != "latest" and parts[1] not in OPENSTACK_VERSIONS):
        raise exc.NotFound("The resource could not be found.")
    if len(req.body) > 256:
        raise exc.BadRequest("Request is too large.")
    row, _ = _instance(req)
    req.cloud.compute.lifecycle.set_password(row.id, req.body.decode("utf-8", "replace"))
    return _text("")


service.route("POST", "/openstack/{version}/password", authenticated=False)(post_password)

for _depth in range(6):
    service.route("GET", "/" + "/".join("{p%d}" % i for i in range(_depth)),
                  authenticated=False)(handle)

__all__ = ["service", "meta_data", "network_data", "config_drive_files", "instance_name"]
