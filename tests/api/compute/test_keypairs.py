"""Key pairs: import, generate (before 2.92), types, per-user ownership, CLI."""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.api.compute.conftest import assert_fault


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def test_import_list_show_delete(demo, nova, unique):
    name = unique("kp")
    kp = demo.compute.create_keypair(name=name, public_key=_public_key())
    assert kp.fingerprint.count(":") == 15
    assert name in [k.name for k in demo.compute.keypairs()]
    body = nova.request(demo, "GET", f"/os-keypairs/{name}", version="2.2").json()
    assert body["keypair"]["type"] == "ssh" and body["keypair"]["user_id"]
    resp = nova.request(demo, "POST", "/os-keypairs",
                        json={"keypair": {"name": name, "public_key": _public_key()}})
    assert_fault(resp, 409, "conflictingRequest")
    demo.compute.delete_keypair(name)
    assert_fault(nova.request(demo, "GET", f"/os-keypairs/{name}"), 404, "itemNotFound")


def test_generate_before_2_92(demo, nova, unique):
    name = unique("kp")
    resp = nova.request(demo, "POST", "/os-keypairs", json={"keypair": {"name": name}})
    assert resp.status_code == 200
    body = resp.json()["keypair"]
    assert "PRIVATE KEY" in body["private_key"] and body["public_key"].startswith("ssh-rsa")
    assert nova.request(demo, "DELETE", f"/os-keypairs/{name}").status_code == 202
    resp = nova.request(demo, "POST", "/os-keypairs", version="2.92",
                        json={"keypair": {"name": name}})
    assert_fault(resp, 400, "badRequest")


def test_bad_key_and_name(demo, nova, unique):
    resp = nova.request(demo, "POST", "/os-keypairs",
                        json={"keypair": {"name": unique("kp"), "public_key": "ssh-rsa xx"}})
    assert "Keypair data is invalid" in assert_fault(resp, 400, "badRequest")
    resp = nova.request(demo, "POST", "/os-keypairs",
                        json={"keypair": {"name": "bad/name", "public_key": _public_key()}})
    assert_fault(resp, 400, "badRequest")


def test_keypairs_are_per_user(demo, admin, nova, unique):
    name = unique("kp")
    demo.compute.create_keypair(name=name, public_key=_public_key())
    try:
        assert_fault(nova.request(admin, "GET", f"/os-keypairs/{name}"), 404,
                     "itemNotFound")
        demo_user = demo.current_user_id
        resp = nova.request(admin, "GET", f"/os-keypairs/{name}", version="2.10",
                            params={"user_id": demo_user})
        assert resp.status_code == 200
        resp = nova.request(demo, "GET", "/os-keypairs", version="2.10",
                            params={"user_id": admin.current_user_id})
        assert_fault(resp, 403, "forbidden")
    finally:
        demo.compute.delete_keypair(name)


def test_keypair_cli(cloud, unique, tmp_path):
    name = unique("kp")
    path = tmp_path / "id.pub"
    path.write_text(_public_key() + "\n")
    out = cloud.cli("keypair", "create", "--public-key", str(path), name, cloud="kumo")
    assert out["name"] == name
    rows = cloud.cli("keypair", "list", cloud="kumo")
    assert name in [r["Name"] for r in rows]
    cloud.cli("keypair", "delete", name, cloud="kumo", parse=False)


def test_x509_keypair(demo, nova, unique):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kumo")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    kp = unique("x509")
    resp = nova.request(demo, "POST", "/os-keypairs", version="2.2", json={"keypair": {
        "name": kp, "type": "x509", "public_key": pem}})
    assert resp.status_code == 201, resp.text
    body = resp.json()["keypair"]
    assert body["type"] == "x509" and body["fingerprint"].count(":") == 19
    assert nova.request(demo, "DELETE", f"/os-keypairs/{kp}", version="2.2").status_code \
        == 204


def test_x509_keypair_generated(demo, nova, unique):
    """A type x509 keypair without public_key gets a generated self-signed certificate
    and its private key (microversions 2.2-2.91; Tempest's KeyPairsV22 test)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    kp = unique("x509gen")
    resp = nova.request(demo, "POST", "/os-keypairs", version="2.2",
                        json={"keypair": {"name": kp, "type": "x509"}})
    assert resp.status_code == 201, resp.text
    body = resp.json()["keypair"]
    assert body["type"] == "x509" and body["fingerprint"].count(":") == 19
    cert = x509.load_pem_x509_certificate(body["public_key"].encode())
    assert cert.subject == cert.issuer  # self-signed
    key = serialization.load_pem_private_key(body["private_key"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    shown = nova.request(demo, "GET", f"/os-keypairs/{kp}", version="2.2").json()["keypair"]
    assert shown["public_key"] == body["public_key"] and "private_key" not in shown
    assert nova.request(demo, "DELETE", f"/os-keypairs/{kp}", version="2.2").status_code \
        == 204
    # from 2.92 nothing is generated
    assert_fault(nova.request(demo, "POST", "/os-keypairs", version="2.92", json={
        "keypair": {"name": unique("x509new"), "type": "x509"}}), 400, "badRequest")
