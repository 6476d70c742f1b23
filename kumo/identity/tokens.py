"""Non-persistent, encrypted tokens (Keystone's Fernet tokens).

A token is a Fernet message (AES-128-CBC + HMAC-SHA256, from ``cryptography``) whose
plaintext is a msgpack list: format version, user id, auth methods, scope, issue and expiry
times (float seconds since the epoch, UTC, microsecond precision), audit ids and the
application credential id. Validating one needs the key repository only, never a
database row per token. The padding ``=`` is stripped, as Keystone does.

Keys live in the database (table ``identity_fernet_key``, :class:`DatabaseKeyRepository`)
so every API process on one database shares them, numbered as
``keystone-manage fernet_rotate`` lays out its directory: the highest number is the
primary (encrypts), every key decrypts, ``0`` is the staged next primary. A rotation is
one transaction that also bumps the ``identity`` revision, so every process reloads the
keys within ``cache_recheck_s``; since the new primary was the staged key every process
already held, a token issued with it by one process validates on all the others even
before they reload. :class:`KeyRepository` is the older on-disk layout
(``<state_dir>/fernet-keys/``), imported into the database on the first start.
"""
from __future__ import annotations

import base64
import logging
import os
import tempfile
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

import msgpack
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from kumo.common import exceptions as exc

LOG = logging.getLogger(__name__)
FORMAT_VERSION = 1
#: Bit positions of the auth methods in a token (append only: tokens carry the mask).
METHODS = ("password", "token", "application_credential", "totp", "external",
           "ec2credential", "oauth1", "mapped")


@dataclass(frozen=True)
class TokenPayload:
    """What a token says about itself.

    ``scope`` is ``("project", id)``, ``("domain", id)``, ``("system", "all")`` or
    ``None`` (unscoped). Times are float seconds since the epoch (UTC).
    ``audit_ids`` is ``[own]`` or ``[own, chain]`` (the token it was rescoped from).
    """

    user_id: str
    methods: tuple[str, ...]
    scope: tuple[str, str] | None
    issued_at: float
    expires_at: float
    audit_ids: tuple[str, ...]
    application_credential_id: str | None = None
    #: The trust of a trust-scoped token (``OS-TRUST:trust``).
    trust_id: str | None = None
    #: The OAuth1 access token of an ``oauth1`` token (``OS-OAUTH1``).
    access_token_id: str | None = None


def new_audit_id() -> str:
    """A 22-character URL-safe random id (Keystone's audit id shape)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


class KeyRepository:
    """The Fernet key directory: create, load and rotate keys."""

    def __init__(self, directory: Path, max_active_keys: int = 3):
        self.directory = Path(directory)
        self.max_active_keys = max(2, max_active_keys)

    def keys(self) -> list[bytes]:
        """Keys, primary first. Raises ``FileNotFoundError`` if none were set up."""
        found = {}
        for path in self.directory.glob("*"):
            if path.name.isdigit():
                found[int(path.name)] = path.read_bytes().strip()
        if not found:
            raise FileNotFoundError(f"no Fernet keys in {self.directory}")
        return [found[i] for i in sorted(found, reverse=True)]

    def setup(self) -> None:
        """Create keys ``0`` (staged) and ``1`` (primary) if the repository is empty."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if any(p.name.isdigit() for p in self.directory.iterdir()):
            return
        self._write(0, Fernet.generate_key())
        self._write(1, Fernet.generate_key())

    def rotate(self) -> None:
        """Promote the staged key to primary, stage a new one, drop the oldest extra."""
        indexes = sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())
        staged = (self.directory / "0").read_bytes()
        self._write(indexes[-1] + 1, staged)
        self._write(0, Fernet.generate_key())
        secondaries = [i for i in indexes if i != 0]
        while len(secondaries) + 2 > self.max_active_keys:
            (self.directory / str(secondaries.pop(0))).unlink()

    def _write(self, index: int, key: bytes) -> None:
        path = self.directory / str(index)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        tmp.replace(path)


class DatabaseKeyRepository:
    """The Fernet keys in table ``identity_fernet_key``, shared by every API process
    on the database ``db`` (see the module doc). ``legacy_dir``: an on-disk
    repository imported by :meth:`setup` when the table is empty."""

    def __init__(self, db, max_active_keys: int = 3, legacy_dir: Path | None = None,
                 model=None):
        self.db = db
        #: The key table's model: ``FernetKey`` (tokens) unless given, e.g.
        #: ``CredentialKey`` (the credential provider's own repository).
        self._model = model
        self.max_active_keys = max(2, max_active_keys)
        self.legacy_dir = Path(legacy_dir) if legacy_dir else None

    @property
    def model(self):
        if self._model is None:
            from kumo.identity.models import FernetKey
            return FernetKey
        return self._model

    def keys(self) -> list[bytes]:
        """Keys, primary first. Raises ``LookupError`` if none were set up."""
        FernetKey = self.model
        with self.db.session(readonly=True) as s:
            rows = s.execute(sa.select(FernetKey.idx, FernetKey.key)
                             .order_by(FernetKey.idx.desc())).all()
        if not rows:
            raise LookupError("no Fernet keys in the database (table "
                              f"{FernetKey.__tablename__})")
        return [key.encode() for _, key in rows]

    def setup(self) -> str:
        """Fill an empty repository: import ``legacy_dir``'s keys if it has any, else
        create keys ``0`` (staged) and ``1`` (primary). Returns ``"present"``,
        ``"imported"`` or ``"created"``. Safe when several processes start at once
        (the ``identity`` revision row serializes them)."""
        from kumo.db import retrying

        try:
            return retrying(self._setup)()
        except sa.exc.IntegrityError:  # another process filled it at the same moment
            self.keys()
            return "present"

    def _setup(self) -> str:
        from kumo.common.timeutils import utcnow
        from kumo.identity.manager import AREA, bump

        FernetKey = self.model
        with self.db.session() as s:
            if s.scalar(sa.select(FernetKey.idx).limit(1)) is not None:
                return "present"
            bump(s, AREA)  # takes the revision row: concurrent setups queue here
            if s.scalar(sa.select(FernetKey.idx).limit(1)) is not None:
                return "present"
            found: dict[int, bytes] = {}
            if self.legacy_dir is not None and self.legacy_dir.is_dir():
                try:
                    keys = KeyRepository(self.legacy_dir).keys()
                    indexes = sorted((int(p.name) for p in self.legacy_dir.iterdir()
                                      if p.name.isdigit()), reverse=True)
                    found = dict(zip(indexes, keys))
                except (FileNotFoundError, ValueError):
                    found = {}
            how = "imported" if found else "created"
            if not found:
                found = {0: Fernet.generate_key(), 1: Fernet.generate_key()}
            now = utcnow()
            for idx, key in found.items():
                Fernet(key)  # refuse a malformed key file rather than store it
                s.add(FernetKey(idx=idx, key=key.decode(), created_at=now))
        if how == "imported":
            LOG.warning("imported the Fernet keys of %s into the database; that directory "
                        "is no longer read", self.legacy_dir)
        return how

    def rotate(self) -> list[int]:
        """Promote the staged key to primary, stage a new one, drop the oldest
        secondaries beyond ``max_active_keys``: one transaction, which also bumps the
        ``identity`` revision so every API process reloads the keys. Returns the key
        numbers now in the repository."""
        from kumo.db import retrying

        return retrying(self._rotate)()

    def _rotate(self) -> list[int]:
        from kumo.common.timeutils import utcnow
        from kumo.identity.manager import AREA, bump

        FernetKey = self.model
        with self.db.session() as s:
            bump(s, AREA)  # first: concurrent rotations queue on the revision row
            rows = {r.idx: r for r in s.scalars(sa.select(FernetKey))}
            if 0 not in rows:
                raise LookupError("no staged Fernet key (0) in the database")
            now = utcnow()
            top = max(rows)
            s.add(FernetKey(idx=top + 1, key=rows[0].key, created_at=now))
            rows[0].key = Fernet.generate_key().decode()
            rows[0].created_at = now
            secondaries = sorted(i for i in rows if i != 0)
            while len(secondaries) + 2 > self.max_active_keys:
                s.delete(rows[secondaries.pop(0)])
            return sorted([0, *secondaries, top + 1])


METADATA_SECRET = "metadata_secret"


def share_metadata_secret(db, settings) -> str:
    """Make this process use the cloud's one metadata secret: with the
    ``metadata_proxy_shared_secret`` setting, that (nothing is stored); else the
    database's (written into ``<state_dir>/metadata_secret`` for this machine's
    agents when the file differs), and when the database has none yet, this process's
    file (created if absent) is stored there. Returns the secret."""
    from kumo.db.models import SharedSecret

    if settings.metadata_proxy_shared_secret:
        return settings.metadata_proxy_shared_secret
    with db.session(readonly=True) as s:
        row = s.get(SharedSecret, METADATA_SECRET)
        shared = row.value if row is not None else None
    if shared is None:
        local = settings.metadata_secret()
        try:
            with db.session() as s:
                s.add(SharedSecret(name=METADATA_SECRET, value=local))
            return local
        except sa.exc.IntegrityError:  # another process stored one first
            with db.session(readonly=True) as s:
                shared = s.get(SharedSecret, METADATA_SECRET).value
    path = Path(settings.state_dir) / "metadata_secret"
    try:
        current = path.read_text().strip()
    except FileNotFoundError:
        current = None
    if current != shared:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a temporary file of its own (mkstemp: unique, 0600), so processes starting
        # together never share one nor inherit a stale file's mode
        fd, tmp = tempfile.mkstemp(prefix=".metadata_secret.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(shared)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return shared


class TokenCodec:
    """Encrypts :class:`TokenPayload` into token strings and back."""

    def __init__(self, keys: list[bytes]):
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encode(self, payload: TokenPayload) -> str:
        methods = sum(1 << METHODS.index(m) for m in payload.methods)
        scope = list(payload.scope) if payload.scope else None
        plain = msgpack.packb([
            FORMAT_VERSION, payload.user_id, methods, scope, payload.issued_at,
            payload.expires_at, list(payload.audit_ids), payload.application_credential_id,
        ] + ([payload.trust_id] if payload.trust_id or payload.access_token_id else [])
            + ([payload.access_token_id] if payload.access_token_id else []))
        return self._fernet.encrypt(plain).decode().rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        """Decrypt ``token``; raises 404 (Keystone's "token not found") if it is not ours."""
        try:
            raw = token.encode("ascii")
            raw += b"=" * (-len(raw) % 4)
            plain = self._fernet.decrypt(raw)
            fields = msgpack.unpackb(plain)
            (version, user_id, methods, scope, issued_at, expires_at, audit_ids,
             app_cred) = fields[:8]
            trust_id = fields[8] if len(fields) > 8 else None
            access_token_id = fields[9] if len(fields) > 9 else None
        except (InvalidToken, ValueError, TypeError, UnicodeEncodeError):
            raise exc.NotFound("Failed to validate token") from None
        if version != FORMAT_VERSION:
            raise exc.NotFound("Failed to validate token")
        names = tuple(m for i, m in enumerate(METHODS) if methods & (1 << i))
        return TokenPayload(user_id, names, tuple(scope) if scope else None, issued_at,
                            expires_at, tuple(audit_ids), app_cred, trust_id,
                            access_token_id)
