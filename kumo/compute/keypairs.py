"""Key pairs (Compute API "Keypairs (keypairs)"): import an SSH public key or an X.509
certificate, or (before microversion 2.92) have one generated (RSA 2048 with
``cryptography``: an SSH key, or for type ``x509`` a self-signed certificate as Nova's
``crypto.generate_x509_cert`` makes; the private key is returned once and never
stored)."""
from __future__ import annotations

import base64
import hashlib

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute.models import KeyPair


class KeyPairNotFound(exc.NotFound):
    message = "Keypair %(name)s not found for user %(user_id)s"


def _colon_hex(digest: bytes) -> str:
    return ":".join("%02x" % b for b in digest)


def fingerprint(public_key: str, key_type: str) -> str:
    """MD5 of the SSH key blob, or SHA-1 of an X.509 certificate (as Nova computes
    them); 400 if the key does not parse."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        if key_type == "x509":
            cert = x509.load_pem_x509_certificate(public_key.encode())
            return _colon_hex(cert.fingerprint(__import__(
                "cryptography.hazmat.primitives.hashes", fromlist=["SHA1"]).SHA1()))
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1])
        return _colon_hex(hashlib.md5(blob).digest())
    except Exception:
        raise exc.BadRequest("Keypair data is invalid: failed to generate "
                             "fingerprint") from None


def generate() -> tuple[str, str]:
    """A new RSA 2048 key: ``(private_key_pem, public_key_openssh)``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + " Generated-by-Nova"


def generate_x509(user_id: str, project_id: str) -> tuple[str, str]:
    """A new RSA 2048 key and a self-signed certificate for it, valid ten years, with
    Nova's subject (C=US, ST=California, O=OpenStack, OU=NovaDev, CN=<project>-<user>-
    <time>, ids cut to 16 characters): ``(private_key_pem, certificate_pem)``."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    cn = f"{project_id[:16]}-{user_id[:16]}-{now.strftime('%Y-%m-%dT%H:%M:%S')}"
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenStack"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "NovaDev"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return private, cert.public_bytes(serialization.Encoding.PEM).decode()


class KeyPairs:
    def __init__(self, compute):
        self.compute = compute

    def create(self, user_id: str, project_id: str, name: str, public_key: str | None,
               key_type: str = "ssh") -> tuple[KeyPair, str | None]:
        """Import or generate; returns ``(keypair, private_key or None)``. 409 if the
        user has the name already, 403 over the ``key_pairs`` quota."""
        private = None
        if public_key is None and key_type == "x509":
            private, public_key = generate_x509(user_id, project_id)
        elif public_key is None:
            private, public_key = generate()
        fp = fingerprint(public_key, key_type)
        with self.compute.db.session() as s:
            count = s.scalar(sa.select(sa.func.count()).select_from(KeyPair).where(
                KeyPair.user_id == user_id)) or 0
            limit = self.compute.quotas.limit(s, project_id, "key_pairs")
            if 0 <= limit <= count:
                raise exc.Forbidden("Quota exceeded, too many key pairs.")
            if s.scalar(sa.select(KeyPair.id).where(KeyPair.user_id == user_id,
                                                    KeyPair.name == name)) is not None:
                raise exc.Conflict(f"Key pair '{name}' already exists.")
            row = KeyPair(user_id=user_id, name=name, type=key_type,
                          public_key=public_key, fingerprint=fp, created_at=utcnow())
            s.add(row)
        return row, private

    def get(self, user_id: str, name: str, session=None) -> KeyPair:
        with self.compute.db.session(readonly=session is None) as s:
            row = s.scalar(sa.select(KeyPair).where(KeyPair.user_id == user_id,
                                                    KeyPair.name == name))
            if row is None:
                raise KeyPairNotFound(name=name, user_id=user_id)
            return row

    def delete(self, user_id: str, name: str) -> None:
        with self.compute.db.session() as s:
            s.delete(self.get(user_id, name, s))
