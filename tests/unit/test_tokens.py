"""Fernet token codec and key repository (no server)."""
import time

import pytest

from kumo.common import exceptions as exc
from kumo.identity.tokens import KeyRepository, TokenCodec, TokenPayload, new_audit_id


def _payload(**kw):
    now = time.time()
    base = dict(user_id="u" * 32, methods=("password",), scope=("project", "p" * 32),
                issued_at=now, expires_at=now + 3600, audit_ids=(new_audit_id(),))
    base.update(kw)
    return TokenPayload(**base)


def test_round_trip_keeps_every_field(tmp_path):
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    codec = TokenCodec(repo.keys())
    payload = _payload(methods=("token", "password"), audit_ids=("a" * 22, "b" * 22),
                       application_credential_id="c" * 32)
    token = codec.encode(payload)
    assert "=" not in token
    decoded = codec.decode(token)
    # Methods travel as a bitmask (as in Keystone): the set survives, not the order.
    assert set(decoded.methods) == set(payload.methods)
    assert decoded == TokenPayload(**{**payload.__dict__, "methods": decoded.methods})


def test_unscoped_and_system_scope(tmp_path):
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    codec = TokenCodec(repo.keys())
    for scope in (None, ("system", "all"), ("domain", "default")):
        assert codec.decode(codec.encode(_payload(scope=scope))).scope == scope


def test_tampered_or_foreign_token_is_not_found(tmp_path):
    repo = KeyRepository(tmp_path / "a")
    repo.setup()
    other = KeyRepository(tmp_path / "b")
    other.setup()
    token = TokenCodec(repo.keys()).encode(_payload())
    with pytest.raises(exc.NotFound):
        TokenCodec(other.keys()).decode(token)
    with pytest.raises(exc.NotFound):
        TokenCodec(repo.keys()).decode(token[:-4] + "AAAA")
    with pytest.raises(exc.NotFound):
        TokenCodec(repo.keys()).decode("not a token é")


def test_rotation_keeps_old_tokens_valid_until_key_drops_out(tmp_path):
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repo.setup()
    old = TokenCodec(repo.keys()).encode(_payload())
    repo.rotate()
    assert TokenCodec(repo.keys()).decode(old).user_id == "u" * 32
    new = TokenCodec(repo.keys()).encode(_payload())
    assert TokenCodec(repo.keys()).decode(new)
    repo.rotate()
    repo.rotate()
    assert len(repo.keys()) == 3
    with pytest.raises(exc.NotFound):
        TokenCodec(repo.keys()).decode(old)


def test_setup_is_idempotent(tmp_path):
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    keys = repo.keys()
    repo.setup()
    assert repo.keys() == keys
