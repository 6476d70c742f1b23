"""OAuth1 delegation (Identity API v3 "OS-OAUTH1"): consumers, request tokens,
authorization, access tokens and the ``oauth1`` authentication method.

A consumer asks for a request token on a project (``POST /v3/OS-OAUTH1/request_token``,
signed with its key and secret); a user with roles on that project authorizes it for
some of them (``PUT /v3/OS-OAUTH1/authorize/{id}``, answered with a verifier); the
consumer trades the authorized request token and verifier for an access token
(``POST /v3/OS-OAUTH1/access_token``); with the access token it gets project-scoped
Keystone tokens (``POST /v3/auth/tokens``, method ``oauth1``) carrying the delegated
roles the user still holds. Every OAuth request's HMAC-SHA1 signature, timestamp
(10 minutes) and nonce (no replay within that window, per API process) are checked by
oauthlib's endpoints over :class:`Validator`, as Keystone does. Secrets (consumer,
request and access token) are kept encrypted under the credential keys: HMAC needs them
back.
"""
from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
import uuid

import sqlalchemy as sa
from cryptography.fernet import Fernet, MultiFernet
from oauthlib import oauth1 as oauthlib1

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.identity.manager import new_id
from kumo.identity.models_fed import OAuth1AccessToken, OAuth1RequestToken
from kumo.identity.models_more import OAuth1Consumer

NONCE_WINDOW_S = 600
_NONCES: dict[tuple, float] = {}
_NONCES_LOCK = threading.Lock()
_MAX_NONCES = 100_000


def _fresh_nonce(key: tuple) -> bool:
    """True the first time ``key`` (consumer, token, timestamp, nonce) is seen within
    the timestamp window (oauthlib refuses timestamps further off)."""
    now = time.monotonic()
    with _NONCES_LOCK:
        if len(_NONCES) >= _MAX_NONCES:
            for k in [k for k, seen in _NONCES.items() if now - seen > NONCE_WINDOW_S]:
                del _NONCES[k]
            if len(_NONCES) >= _MAX_NONCES:
                return False  # flooded: refuse rather than forget
        seen = _NONCES.get(key)
        if seen is not None and now - seen <= NONCE_WINDOW_S:
            return False
        _NONCES[key] = now
        return True


class Validator(oauthlib1.RequestValidator):
    """oauthlib's view of Kumo's consumers and tokens (Keystone's OAuthValidator)."""

    def __init__(self, oauth: "OAuth1"):
        super().__init__()
        self.oauth = oauth

    enforce_ssl = False
    client_key_length = (1, 64)
    request_token_length = (1, 64)
    access_token_length = (1, 64)
    nonce_length = (1, 64)
    verifier_length = (1, 64)
    dummy_client = "0" * 32
    dummy_request_token = "0" * 32
    dummy_access_token = "0" * 32

    @property
    def safe_characters(self):
        return set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    @property
    def realms(self):
        return []

    def check_realms(self, realms):
        return True

    def _consumer(self, client_key):
        try:
            return self.oauth.get_consumer(client_key)
        except exc.NotFound:
            return None

    def validate_client_key(self, client_key, request):
        return self._consumer(client_key) is not None

    def get_client_secret(self, client_key, request):
        row = self._consumer(client_key)
        return self.oauth.decrypt(row.encrypted_secret) if row else "dummy"

    def _request_token(self, client_key, token):
        with self.oauth.identity.read() as s:
            row = s.get(OAuth1RequestToken, token)
        if row is None or row.consumer_id != client_key:
            return None
        if row.expires_at is not None and row.expires_at <= utcnow():
            return None
        return row

    def _access_token(self, client_key, token):
        with self.oauth.identity.read() as s:
            row = s.get(OAuth1AccessToken, token)
        if row is None or row.consumer_id != client_key:
            return None
        if row.expires_at is not None and row.expires_at <= utcnow():
            return None
        return row

    def validate_request_token(self, client_key, token, request):
        return self._request_token(client_key, token) is not None

    def validate_access_token(self, client_key, token, request):
        return self._access_token(client_key, token) is not None

    def get_request_token_secret(self, client_key, token, request):
        row = self._request_token(client_key, token)
        return self.oauth.decrypt(row.encrypted_secret) if row else "dummy"

    def get_access_token_secret(self, client_key, token, request):
        row = self._access_token(client_key, token)
        return self.oauth.decrypt(row.encrypted_secret) if row else "dummy"

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request,
                                     request_token=None, access_token=None):
        return _fresh_nonce((client_key, request_token, access_token, timestamp, nonce))

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        return True  # Keystone's delegation is out of band ("oob")

    def validate_requested_realms(self, client_key, realms, request):
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True

    def get_default_realms(self, client_key, request):
        return []

    def get_realms(self, token, request):
        return []

    def validate_verifier(self, client_key, token, verifier, request):
        row = self._request_token(client_key, token)
        return bool(row and row.verifier and secrets.compare_digest(row.verifier, verifier))

    def verify_request_token(self, token, request):
        return True

    def verify_realms(self, token, realms, request):
        return True

    def save_request_token(self, token, request):
        pass  # Kumo makes its own tokens once the request is valid

    def save_access_token(self, token, request):
        pass

    def invalidate_request_token(self, client_key, request_token, request):
        pass  # deleted when the access token is made

    def save_verifier(self, token, verifier, request):
        pass


class OAuth1:
    def __init__(self, identity):
        self.identity = identity

    # -- secrets ----------------------------------------------------------------
    def encrypt(self, secret: str) -> str:
        keys = self.identity.credentials._keys()
        return Fernet(keys[0]).encrypt(secret.encode()).decode()

    def decrypt(self, blob: str) -> str:
        keys = self.identity.credentials._keys()
        return MultiFernet([Fernet(k) for k in keys]).decrypt(blob.encode()).decode()

    # -- consumers ------------------------------------------------------------
    def create_consumer(self, description: str | None, extra: dict
                        ) -> tuple[OAuth1Consumer, str]:
        secret = uuid.uuid4().hex
        row = OAuth1Consumer(id=new_id(), description=description,
                             encrypted_secret=self.encrypt(secret), extra=extra)
        with self.identity.write() as s:
            s.add(row)
        return row, secret

    def consumer_secret(self, row: OAuth1Consumer) -> str:
        return self.decrypt(row.encrypted_secret)

    def get_consumer(self, consumer_id: str) -> OAuth1Consumer:
        with self.identity.read() as s:
            row = s.get(OAuth1Consumer, consumer_id)
        if row is None:
            raise exc.NotFound(resource="consumer", id=consumer_id)
        return row

    def list_consumers(self) -> list[OAuth1Consumer]:
        with self.identity.read() as s:
            return list(s.scalars(sa.select(OAuth1Consumer).order_by(OAuth1Consumer.id)))

    def update_consumer(self, consumer_id: str, changes: dict) -> OAuth1Consumer:
        with self.identity.write() as s:
            row = s.get(OAuth1Consumer, consumer_id)
            if row is None:
                raise exc.NotFound(resource="consumer", id=consumer_id)
            if "description" in changes:
                row.description = changes["description"]
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k != "description"})
            row.extra = extra
            return row

    def delete_consumer(self, consumer_id: str) -> None:
        """Delete the consumer with its request and access tokens (tokens issued
        with them stop validating)."""
        with self.identity.write() as s:
            for table in (OAuth1AccessToken, OAuth1RequestToken):
                s.execute(sa.delete(table).where(table.consumer_id == consumer_id))
            if s.execute(sa.delete(OAuth1Consumer).where(OAuth1Consumer.id == consumer_id)
                         ).rowcount == 0:
                raise exc.NotFound(resource="consumer", id=consumer_id)

    # -- the delegation flow --------------------------------------------------
    @staticmethod
    def _check(endpoint, method: str, uri: str, headers: dict, body: str) -> None:
        try:
            _, _, status = getattr(endpoint, method)(uri, http_method="POST", body=body or None,
                                                     headers=headers)
        except ValueError:
            status = 400
        if status != 200:
            raise exc.Unauthorized("The OAuth signature or parameters are invalid.")

    @staticmethod
    def oauth_params(headers) -> dict:
        """The ``oauth_*`` parameters of the request's ``Authorization: OAuth``."""
        value = headers.get("authorization") or ""
        if not value.lower().startswith("oauth "):
            return {}
        from oauthlib.oauth1.rfc5849.utils import parse_authorization_header
        try:
            return dict(parse_authorization_header(value))
        except (ValueError, IndexError):
            return {}

    def create_request_token(self, uri: str, headers: dict, body: str,
                             project_id: str | None) -> tuple[OAuth1RequestToken, str]:
        """A request token for the signed request's consumer on ``project_id`` (the
        ``Requested-Project-Id`` header); 401 for a bad signature."""
        if not project_id:
            raise exc.ValidationError("The Requested-Project-Id header is required.")
        self._check(oauthlib1.RequestTokenEndpoint(Validator(self)),
                    "create_request_token_response", uri, headers, body)
        params = self.oauth_params(headers)
        self.identity.resources.get_project(project_id)
        secret = uuid.uuid4().hex
        ttl = self.identity.settings.oauth1_request_token_duration_s
        row = OAuth1RequestToken(
            id=new_id(), encrypted_secret=self.encrypt(secret),
            consumer_id=params["oauth_consumer_key"], requested_project_id=project_id,
            expires_at=utcnow() + dt.timedelta(seconds=ttl) if ttl else None)
        with self.identity.write() as s:
            s.add(row)
        return row, secret

    def authorize(self, request_token_id: str, user_id: str, roles: list[dict]) -> str:
        """The user authorizes the request token for ``roles`` (``{"id"}`` or
        ``{"name"}``, held on the requested project); returns the verifier."""
        assignments = self.identity.assignments
        with self.identity.read() as s:
            row = s.get(OAuth1RequestToken, request_token_id)
        if row is None:
            raise exc.NotFound(resource="request_token", id=request_token_id)
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise exc.Unauthorized("The request token has expired.")
        if row.authorizing_user_id is not None:
            raise exc.Unauthorized("The request token has already been authorized.")
        held = set(assignments.effective_role_ids(user_id,
                                                  ("project", row.requested_project_id)))
        role_ids = []
        for ref in roles:
            if ref.get("id"):
                role = assignments.get_role(ref["id"])
            else:
                role = assignments.find_role(ref.get("name") or "")
            if role.id not in held:
                raise exc.Unauthorized("The user does not hold the role being delegated "
                                       "on the requested project.")
            role_ids.append(role.id)
        verifier = secrets.token_hex(4)
        with self.identity.write() as s:
            fresh = s.get(OAuth1RequestToken, request_token_id, with_for_update=True)
            if fresh is None or fresh.authorizing_user_id is not None:
                raise exc.Unauthorized("The request token has already been authorized.")
            fresh.authorizing_user_id = user_id
            fresh.role_ids = list(dict.fromkeys(role_ids))
            fresh.verifier = verifier
        return verifier

    def create_access_token(self, uri: str, headers: dict, body: str
                            ) -> tuple[OAuth1AccessToken, str]:
        """Trade an authorized request token and its verifier for an access token;
        401 for a bad signature, an unauthorized or used request token."""
        params = self.oauth_params(headers)
        with self.identity.read() as s:
            request_token = s.get(OAuth1RequestToken, params.get("oauth_token") or "")
        if request_token is None or request_token.authorizing_user_id is None:
            raise exc.Unauthorized("The request token is unknown or not authorized.")
        self._check(oauthlib1.AccessTokenEndpoint(Validator(self)),
                    "create_access_token_response", uri, headers, body)
        secret = uuid.uuid4().hex
        ttl = self.identity.settings.oauth1_access_token_duration_s
        row = OAuth1AccessToken(
            id=new_id(), encrypted_secret=self.encrypt(secret),
            consumer_id=request_token.consumer_id,
            authorizing_user_id=request_token.authorizing_user_id,
            project_id=request_token.requested_project_id,
            role_ids=list(request_token.role_ids or []),
            expires_at=utcnow() + dt.timedelta(seconds=ttl) if ttl else None)
        with self.identity.write() as s:
            # one use: the request token goes (a concurrent trade finds nothing)
            if s.execute(sa.delete(OAuth1RequestToken).where(
                    OAuth1RequestToken.id == request_token.id)).rowcount != 1:
                raise exc.Unauthorized("The request token was already used.")
            s.add(row)
        return row, secret

    def authenticate(self, uri: str, headers: dict, body: str) -> OAuth1AccessToken:
        """The access token of a signed ``oauth1`` authentication request; 401 for a
        bad signature or an expired or unknown access token."""
        params = self.oauth_params(headers)
        row = self.get_access_token(params.get("oauth_token") or "", none_ok=True)
        if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
            raise exc.Unauthorized("The access token is invalid or has expired.")
        endpoint = oauthlib1.ResourceEndpoint(Validator(self))
        try:
            valid, _ = endpoint.validate_protected_resource_request(
                uri, http_method="POST", body=body or None, headers=headers)
        except ValueError:
            valid = False
        if not valid:
            raise exc.Unauthorized("The OAuth signature or parameters are invalid.")
        return row

    # -- access tokens --------------------------------------------------------
    def get_access_token(self, access_token_id: str, none_ok: bool = False):
        def load():
            with self.identity.read() as s:
                return s.get(OAuth1AccessToken, access_token_id)
        row = self.identity.cache.get(("oauth1-access", access_token_id), load)
        if row is None and not none_ok:
            raise exc.NotFound(resource="access_token", id=access_token_id)
        return row

    def list_access_tokens(self, user_id: str) -> list[OAuth1AccessToken]:
        with self.identity.read() as s:
            return list(s.scalars(sa.select(OAuth1AccessToken).where(
                OAuth1AccessToken.authorizing_user_id == user_id
            ).order_by(OAuth1AccessToken.id)))

    def delete_access_token(self, user_id: str, access_token_id: str) -> None:
        """Delete it; tokens issued with it stop validating at once."""
        with self.identity.write() as s:
            if s.execute(sa.delete(OAuth1AccessToken).where(
                    OAuth1AccessToken.id == access_token_id,
                    OAuth1AccessToken.authorizing_user_id == user_id)).rowcount == 0:
                raise exc.NotFound(resource="access_token", id=access_token_id)


def user_access_token(oauth: OAuth1, user_id: str, access_token_id: str
                      ) -> OAuth1AccessToken:
    """The user's access token, 404 if it is not theirs."""
    row = oauth.get_access_token(access_token_id)
    if row.authorizing_user_id != user_id:
        raise exc.NotFound(resource="access_token", id=access_token_id)
    return row
