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


def _db(tmp_path):
    from kumo import db as kdb

    url = f"sqlite:///{tmp_path / 'kumo.db'}"
    kdb.upgrade(url)
    return kdb.Database(url, pool_size=2)


def test_first_start_imports_the_on_disk_repository(tmp_path):
    from kumo.identity.tokens import DatabaseKeyRepository

    disk = KeyRepository(tmp_path / "fernet-keys", max_active_keys=3)
    disk.setup()
    disk.rotate()
    token = TokenCodec(disk.keys()).encode(_payload())
    d = _db(tmp_path)
    repo = DatabaseKeyRepository(d, 3, legacy_dir=tmp_path / "fernet-keys")
    assert repo.setup() == "imported"
    assert repo.keys() == disk.keys()
    assert repo.setup() == "present"
    assert TokenCodec(repo.keys()).decode(token).user_id == _payload().user_id
    d.dispose()


def test_database_rotation_promotes_the_staged_key(tmp_path):
    from kumo.identity.tokens import DatabaseKeyRepository

    d = _db(tmp_path)
    repo = DatabaseKeyRepository(d, 3, legacy_dir=tmp_path / "none")
    assert repo.setup() == "created"
    primary, staged = repo.keys()
    old = TokenCodec(repo.keys()).encode(_payload())
    assert repo.rotate() == [0, 1, 2]
    keys = repo.keys()
    assert keys[0] == staged and keys[1] == primary and keys[2] not in (primary, staged)
    assert TokenCodec(keys).decode(old).user_id == _payload().user_id
    assert repo.rotate() == [0, 2, 3]  # three active keys: 1 is gone
    with pytest.raises(exc.NotFound):
        TokenCodec(repo.keys()).decode(old)
    d.dispose()


def test_oauth1_access_token_id_round_trips_with_and_without_a_trust():
    """The optional 10th payload field (OAuth1 access token id) decodes, with or
    without a trust id before it; tokens without it still decode as before."""
    from cryptography.fernet import Fernet

    from kumo.identity.tokens import TokenCodec, TokenPayload

    codec = TokenCodec([Fernet.generate_key()])
    for trust, access in ((None, "acc"), ("tr", "acc"), ("tr", None), (None, None)):
        payload = TokenPayload("u", ("oauth1",), ("project", "p"), 1.5, 2.5, ("a",),
                               None, trust, access)
        assert codec.decode(codec.encode(payload)) == payload
