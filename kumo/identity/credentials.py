"""Credentials and EC2 credentials (Identity API v3: "Credentials"; "OS-EC2").

A credential's ``blob`` is encrypted at rest with Fernet under the credential
provider's own key repository (table ``identity_credential_key``; never the token
keys), as Keystone's ``fernet`` credential provider does: ``key_hash`` is the SHA-1 of
the primary key that encrypted it. EC2 credentials are credentials of type ``ec2``
whose blob is ``{"access", "secret", "trust_id"}`` and whose id is the SHA-256 of the
access key; ``/v3/ec2tokens`` checks a request signed with the secret and issues a
token scoped to the credential's project.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from kumo.common import exceptions as exc
from kumo.common import filters
from kumo.identity import ec2sign
from kumo.identity.manager import new_id
from kumo.identity.models_more import Credential, CredentialKey
from kumo.identity.tokens import DatabaseKeyRepository

#: A signed request's ``Timestamp`` may be this far from now (Keystone's ``auth_ttl``).
EC2_TIMESTAMP_WINDOW_S = 15 * 60


def ec2_credential_id(access: str) -> str:
    return hashlib.sha256(access.encode()).hexdigest()


class Credentials:
    def __init__(self, identity):
        self.identity = identity
        self.keys = DatabaseKeyRepository(identity.db, identity.settings.fernet_max_active_keys,
                                          model=CredentialKey)

    # -- encryption -----------------------------------------------------------
    def _keys(self) -> list[bytes]:
        return self.identity.cache.get("credential-keys", self._load_keys)

    def _load_keys(self) -> list[bytes]:
        try:
            return self.keys.keys()
        except LookupError:
            self.keys.setup()
            return self.keys.keys()

    def encrypt(self, blob: str) -> tuple[str, str]:
        """``(encrypted_blob, key_hash)`` under the primary credential key."""
        keys = self._keys()
        token = Fernet(keys[0]).encrypt(blob.encode()).decode()
        return token, hashlib.sha1(keys[0]).hexdigest()

    def decrypt(self, row: Credential) -> str:
        try:
            return MultiFernet([Fernet(k) for k in self._keys()]).decrypt(
                row.encrypted_blob.encode()).decode()
        except InvalidToken:
            raise exc.KumoError("The credential's blob cannot be decrypted with the "
                                "credential keys.") from None

    # -- CRUD -----------------------------------------------------------------
    def create(self, ref: dict, trust_id: str | None = None) -> Credential:
        """Create from ``ref`` (user_id, type, blob, project_id); ec2 blobs are checked
        and give the id."""
        self.identity.users.get_user(ref["user_id"])
        cred_id = self._id_for(ref, trust_id)
        with self.identity.write() as s:
            if s.get(Credential, cred_id) is not None:
                raise exc.Conflict(resource="credential", details=f"Duplicate ID, {cred_id}.")
            blob, key_hash = self.encrypt(ref["blob"])
            extra = {k: v for k, v in ref.items()
                     if k not in ("id", "user_id", "project_id", "type", "blob")}
            row = Credential(id=cred_id, user_id=ref["user_id"],
                             project_id=ref.get("project_id"), type=ref["type"],
                             encrypted_blob=blob, key_hash=key_hash, extra=extra)
            s.add(row)
        return row

    def _id_for(self, ref: dict, trust_id: str | None) -> str:
        if ref["type"] != "ec2":
            return new_id()
        blob = _ec2_blob(ref["blob"])
        if not ref.get("project_id"):
            raise exc.ValidationError("Invalid input for field 'project_id': credentials of "
                                      "type ec2 need a project_id.")
        if trust_id and blob.get("trust_id") is None:
            blob["trust_id"] = trust_id
            ref["blob"] = json.dumps(blob)
        return ec2_credential_id(blob["access"])

    def get(self, credential_id: str) -> Credential:
        with self.identity.read() as s:
            row = s.get(Credential, credential_id)
        if row is None:
            raise exc.NotFound(resource="credential", id=credential_id)
        return row

    def list(self, query: dict[str, list[str]]) -> list[Credential]:
        stmt = filters.apply(sa.select(Credential).order_by(Credential.id), query,
                             {"user_id": Credential.user_id, "type": Credential.type})
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update(self, credential_id: str, changes: dict) -> Credential:
        if "user_id" in changes:  # outside the write session (a cached row)
            self.identity.users.get_user(changes["user_id"])
        with self.identity.write() as s:
            row = s.get(Credential, credential_id)
            if row is None:
                raise exc.NotFound(resource="credential", id=credential_id)
            new_type = changes.get("type", row.type)
            if new_type == "ec2":
                blob = _ec2_blob(changes["blob"] if "blob" in changes else self.decrypt(row))
                if row.type == "ec2":
                    # Keystone: a blob's scope can not be changed or unset. The access
                    # key may change; the id stays, so ec2tokens (which finds the row by
                    # the access key's hash and then compares the blob's access) no
                    # longer accepts the old key or finds the new one, as in Keystone.
                    old = _ec2_blob(self.decrypt(row))
                    for key in ("trust_id", "app_cred_id", "access_token_id", "access_id"):
                        if old.get(key) != blob.get(key):
                            raise exc.ValidationError(f"{key} can not be updated for "
                                                      "credential")
                if not changes.get("project_id", row.project_id):
                    raise exc.ValidationError("Invalid input for field 'project_id': "
                                              "credentials of type ec2 need a project_id.")
            for key in ("user_id", "project_id", "type"):
                if key in changes:
                    setattr(row, key, changes[key])
            if "blob" in changes:
                row.encrypted_blob, row.key_hash = self.encrypt(changes["blob"])
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items()
                          if k not in ("id", "user_id", "project_id", "type", "blob")})
            row.extra = extra
            return row

    def delete(self, credential_id: str) -> None:
        with self.identity.write() as s:
            if s.execute(sa.delete(Credential).where(Credential.id == credential_id)
                         ).rowcount == 0:
                raise exc.NotFound(resource="credential", id=credential_id)

    def rotate_keys(self) -> list[int]:
        """Rotate the credential keys and re-encrypt every blob with the new primary
        (``keystone-manage credential_rotate`` + ``credential_migrate``)."""
        numbers = self.keys.rotate()
        self.identity.cache.invalidate()
        with self.identity.write() as s:
            for row in s.scalars(sa.select(Credential)):
                row.encrypted_blob, row.key_hash = self.encrypt(self.decrypt(row))
        return numbers

    # -- EC2 ------------------------------------------------------------------
    def create_ec2(self, user_id: str, project_id: str, trust_id: str | None = None
                   ) -> tuple[Credential, dict]:
        self.identity.resources.get_project(project_id)
        blob = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": trust_id}
        row = self.create({"user_id": user_id, "project_id": project_id, "type": "ec2",
                           "blob": json.dumps(blob)})
        return row, blob

    def list_ec2(self, user_id: str) -> list[tuple[Credential, dict]]:
        rows = self.list({"user_id": [user_id], "type": ["ec2"]})
        return [(r, _ec2_blob(self.decrypt(r))) for r in rows]

    def get_ec2(self, user_id: str, access: str) -> tuple[Credential, dict]:
        try:
            row = self.get(ec2_credential_id(access))
        except exc.NotFound:
            row = None
        if row is None or row.type != "ec2" or row.user_id != user_id:
            raise exc.NotFound(resource="credential", id=access)
        return row, _ec2_blob(self.decrypt(row))

    def delete_ec2(self, user_id: str, access: str) -> None:
        row, _ = self.get_ec2(user_id, access)
        self.delete(row.id)

    def ec2_authenticate(self, credentials: dict):
        """Check the signed request ``credentials`` (``access``, ``signature``,
        ``host``, ``verb``, ``path``, ``params``, ``headers``, ``body_hash``) and issue a
        token scoped to the credential's project; 401 if the access key is unknown or
        the signature does not match."""
        access = credentials.get("access")
        sent = credentials.get("signature")
        if not isinstance(access, str) or not isinstance(sent, str):
            raise exc.ValidationError("Invalid input for field 'credentials': 'access' and "
                                      "'signature' are required.")
        try:
            row = self.get(ec2_credential_id(access))
            if row.type != "ec2":
                raise exc.NotFound()
        except exc.NotFound:
            raise exc.Unauthorized("EC2 access key not found.") from None
        blob = _ec2_blob(self.decrypt(row))
        if not hmac.compare_digest(str(blob["access"]), access):
            raise exc.Unauthorized("EC2 access key not found.")
        if not self._signature_ok(blob["secret"], credentials, sent):
            raise exc.Unauthorized("EC2 signature not supplied or invalid.")
        _check_timestamp(credentials.get("params") or {})
        user = self.identity.users.get_user(row.user_id)
        if not user.enabled:
            raise exc.Unauthorized("The request you have made requires authentication.")
        trust_id = blob.get("trust_id")
        scope = ("project", row.project_id)
        return self.identity.auth.issue(user, scope, ("ec2credential",), trust_id=trust_id)

    @staticmethod
    def _signature_ok(secret: str, credentials: dict, sent: str) -> bool:
        try:
            expected = ec2sign.signature(secret, credentials)
        except (ValueError, TypeError, AttributeError):
            raise exc.Unauthorized("EC2 signature not supplied or invalid.") from None
        if hmac.compare_digest(expected.encode(), sent.encode()):
            return True
        host = credentials.get("host") or ""
        if ":" in host:  # clients that sign without the port (as Keystone retries)
            retry = {**credentials, "host": host.rsplit(":", 1)[0]}
            return hmac.compare_digest(ec2sign.signature(secret, retry).encode(),
                                       sent.encode())
        return False


def _ec2_blob(text) -> dict:
    try:
        blob = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        blob = None
    if not isinstance(blob, dict):
        raise exc.ValidationError("Invalid blob in credential: an ec2 blob is a JSON "
                                  "object.")
    if not isinstance(blob.get("access"), str) or not blob["access"]:
        raise exc.ValidationError("Invalid input for field 'access': an ec2 blob needs "
                                  "an 'access' key.")
    return blob


def _check_timestamp(params: dict) -> None:
    from kumo.common.timeutils import parse_isotime, to_timestamp

    stamp = params.get("Timestamp")
    if not stamp:
        return
    try:
        when = to_timestamp(parse_isotime(stamp))
    except (ValueError, TypeError):
        raise exc.Unauthorized("EC2 signature not supplied or invalid.") from None
    if abs(time.time() - when) > EC2_TIMESTAMP_WINDOW_S:
        raise exc.Unauthorized("Credential has expired.")
