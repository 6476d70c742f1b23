"""Non-persistent, encrypted tokens (Keystone's Fernet tokens).

A token is a Fernet message (AES-128-CBC + HMAC-SHA256, from ``cryptography``) whose
plaintext is a msgpack list: format version, user id, auth methods, scope, issue and expiry
times (float seconds since the epoch, UTC, microsecond precision), audit ids and the
application credential id. Validating one needs the key repository only, never a
database row per token. The padding ``=`` is stripped, as Keystone does.

Keys live in ``<state_dir>/fernet-keys/`` as files ``0``, ``1``...: the highest number is
the primary (encrypts), every key decrypts, ``0`` is the staged next primary, exactly as
``keystone-manage fernet_rotate`` lays them out.
"""
from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import msgpack
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from kumo.common import exceptions as exc

FORMAT_VERSION = 1
METHODS = ("password", "token", "application_credential", "totp", "external")


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
        ])
        return self._fernet.encrypt(plain).decode().rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        """Decrypt ``token``; raises 404 (Keystone's "token not found") if it is not ours."""
        try:
            raw = token.encode("ascii")
            raw += b"=" * (-len(raw) % 4)
            plain = self._fernet.decrypt(raw)
            (version, user_id, methods, scope, issued_at, expires_at, audit_ids,
             app_cred) = msgpack.unpackb(plain)
        except (InvalidToken, ValueError, TypeError, UnicodeEncodeError):
            raise exc.NotFound("Failed to validate token") from None
        if version != FORMAT_VERSION:
            raise exc.NotFound("Failed to validate token")
        names = tuple(m for i, m in enumerate(METHODS) if methods & (1 << i))
        return TokenPayload(user_id, names, tuple(scope) if scope else None, issued_at,
                            expires_at, tuple(audit_ids), app_cred)
