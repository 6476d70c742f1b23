"""The metadata service under /metadata for requests signed as the agents' metadata
proxy signs them."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import requests

from tests.api.compute.conftest import wait_status


def secret(cloud) -> bytes:
    # Any /metadata request makes the server create its secret if it has none yet.
    requests.get(cloud.url + "/metadata/latest/meta-data/",
                 headers={"X-Instance-ID": "x", "X-Instance-ID-Signature": "y"},
                 timeout=10)
    return (cloud.state_dir / "metadata_secret").read_text().strip().encode()


def get(cloud, path, instance_id, project_id, signature=None):
    sig = signature or hmac.new(secret(cloud), instance_id.encode(),
                                hashlib.sha256).hexdigest()
    return requests.get(cloud.url + "/metadata" + path, timeout=10, headers={
        "X-Instance-ID": instance_id, "X-Tenant-ID": project_id,
        "X-Forwarded-For": "10.77.0.5", "X-Instance-ID-Signature": sig})


def test_openstack_metadata(cloud, demo, nova, boot, net, unique):
    key = demo.compute.create_keypair(name=unique("kp"))
    try:
        data = base64.b64encode(b"#!/bin/sh\necho from-user-data\n").decode()
        made = boot("md-srv", key_name=key.name, user_data=data, metadata={"m": "v"})
        body = wait_status(nova, demo, made["id"], "ACTIVE")
        project = body["tenant_id"]
        meta = get(cloud, "/openstack/latest/meta_data.json", made["id"], project).json()
        assert meta["uuid"] == made["id"] and meta["name"] == "md-srv"
        assert meta["hostname"] == "md-srv" and meta["meta"] == {"m": "v"}
        assert meta["public_keys"] == {key.name: key.public_key}
        assert meta["availability_zone"] == "nova"
        resp = get(cloud, "/openstack/latest/user_data", made["id"], project)
        assert resp.content == b"#!/bin/sh\necho from-user-data\n"
        netdata = get(cloud, "/openstack/2018-08-27/network_data.json", made["id"],
                      project).json()
        (port,) = demo.network.ports(device_id=made["id"])
        assert netdata["links"][0]["ethernet_mac_address"] == port.mac_address
        assert netdata["links"][0]["id"] == "tap" + port.id[:11]
        assert netdata["networks"][0]["type"] == "ipv4_dhcp"
        assert get(cloud, "/openstack/latest/vendor_data.json", made["id"],
                   project).json() == {}
        listing = get(cloud, "/openstack", made["id"], project).text.split("\n")
        assert listing[-1] == "latest" and "2012-08-10" in listing
        assert "user_data" in get(cloud, "/openstack/latest", made["id"], project).text
        ec2 = get(cloud, "/latest/meta-data/", made["id"], project).text.split("\n")
        assert "instance-id" in ec2 and "placement/" in ec2
        assert get(cloud, "/latest/meta-data/local-ipv4", made["id"], project).text == \
            port.fixed_ips[0]["ip_address"]
        assert get(cloud, "/latest/meta-data/placement/availability-zone", made["id"],
                   project).text == "nova"
        keys = get(cloud, "/latest/meta-data/public-keys/0/openssh-key", made["id"],
                   project)
        assert keys.text == key.public_key
        assert get(cloud, "/latest/user-data", made["id"], project).content.startswith(
            b"#!/bin/sh")
    finally:
        demo.compute.delete_keypair(key)


def test_metadata_errors(cloud, demo, nova, boot):
    made = boot("md-err")
    project = demo.current_project_id
    assert get(cloud, "/openstack/latest/meta_data.json", made["id"], project,
               signature="0" * 64).status_code == 403
    unknown = "00000000-0000-0000-0000-000000000000"
    assert get(cloud, "/openstack/latest/meta_data.json", unknown,
               project).status_code == 404
    assert get(cloud, "/openstack/latest/meta_data.json", made["id"],
               "other-project").status_code == 404
    assert get(cloud, "/openstack/latest/user_data", made["id"], project).status_code \
        == 404
    assert get(cloud, "/openstack/latest/nothing", made["id"], project).status_code == 404
    resp = requests.get(cloud.url + "/metadata/openstack/latest/meta_data.json",
                        timeout=10)
    assert resp.status_code == 400
    assert json.loads(resp.text)["code"] == 400


def test_metadata_refuses_unsigned_and_mis_signed(cloud, demo, nova, boot):
    """Only a valid HMAC of X-Instance-ID under the shared secret opens an instance's
    metadata; nothing else in the request counts."""
    made = boot("md-sig")
    other = boot("md-sig2")
    project = demo.current_project_id
    path = cloud.url + "/metadata/openstack/latest/meta_data.json"
    key = secret(cloud)

    def status(headers):
        return requests.get(path, headers=headers, timeout=10).status_code

    base = {"X-Instance-ID": made["id"], "X-Tenant-ID": project,
            "X-Forwarded-For": "10.77.0.5"}
    assert status(base) == 403  # no signature at all
    assert status({**base, "X-Instance-ID-Signature": ""}) == 403
    wrong = {
        "another instance's": hmac.new(key, other["id"].encode(),
                                       hashlib.sha256).hexdigest(),
        "another key's": hmac.new(b"not-the-secret", made["id"].encode(),
                                  hashlib.sha256).hexdigest(),
        "an unkeyed hash": hashlib.sha256(made["id"].encode()).hexdigest(),
        "a truncated one": hmac.new(key, made["id"].encode(),
                                    hashlib.sha256).hexdigest()[:32],
        "a non-ASCII one": "\u00e9" * 64,
    }
    for what, sig in wrong.items():
        assert status({**base, "X-Instance-ID-Signature": sig}) == 403, what
    # the signed request works, whatever X-Forwarded-For says
    good = hmac.new(key, made["id"].encode(), hashlib.sha256).hexdigest()
    resp = requests.get(path, timeout=10, headers={
        **base, "X-Instance-ID-Signature": good, "X-Forwarded-For": "10.1.1.1"})
    assert resp.status_code == 200 and resp.json()["uuid"] == made["id"]
    # ... and only for the instance it signs
    assert status({**base, "X-Instance-ID": other["id"],
                   "X-Instance-ID-Signature": good}) == 403
