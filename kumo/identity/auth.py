"""Authentication, token issue and validation, and revocation (Identity API v3:
"Authentication and token management").

Methods: ``password``, ``token`` (rescoping) and ``application_credential``. Scopes:
unscoped, project, domain and system (``{"system": {"all": true}}``). Tokens are
Fernet-encrypted (:mod:`kumo.identity.tokens`); validation re-reads the user, scope and
roles (cached per identity revision) so a disabled user or a removed role takes effect
at once, and checks Keystone-style revocation events for explicit revocations.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import from_timestamp, to_timestamp, utcnow
from kumo.identity import models
from kumo.identity.tokens import (DatabaseKeyRepository, TokenCodec, TokenPayload,
                                  new_audit_id)

#: Revocation events older than the token lifetime plus this margin (s) are pruned.
REVOCATION_MARGIN_S = 600
UNAUTHORIZED = "The request you have made requires authentication."


@dataclass
class AuthToken:
    """A validated token and everything its response body shows."""

    id: str
    payload: TokenPayload
    user: models.User
    user_domain: models.Domain
    project: models.Project | None
    project_domain: models.Domain | None
    domain: models.Domain | None
    role_ids: list[str]
    application_credential: models.ApplicationCredential | None = None
    #: The trust of a trust-scoped token (a ``kumo.identity.models_more.Trust``).
    trust: object | None = None
    #: A federated (``mapped``) token's ``{"idp_id", "protocol_id", "group_ids"}``.
    federation: dict | None = None
    #: The OAuth1 access token of an ``oauth1`` token.
    access_token: object | None = None

    @property
    def system(self) -> bool:
        return bool(self.payload.scope and self.payload.scope[0] == "system")

    @property
    def expires_at(self) -> float:
        return self.payload.expires_at


class Auth:
    def __init__(self, identity):
        self.identity = identity
        settings = identity.settings
        self.keys = DatabaseKeyRepository(identity.db, settings.fernet_max_active_keys,
                                          legacy_dir=settings.fernet_key_dir)

    def load_keys(self) -> None:
        """Set up the key repository if it is empty (importing an on-disk one) and
        check the keys load."""
        self.keys.setup()
        self.identity.credentials.keys.setup()  # the credential provider's own keys
        self.identity.cache.invalidate()
        self.codec  # noqa: B018  (raises if the keys do not load)

    @property
    def codec(self) -> TokenCodec:
        """The codec over the current keys, reloaded whenever the identity revision
        changes (a rotation bumps it, in any process)."""
        return self.identity.cache.get("fernet-codec",
                                       lambda: TokenCodec(self.keys.keys()))

    # -- issue ----------------------------------------------------------------
    def authenticate(self, auth: dict, oauth1_request: tuple | None = None) -> AuthToken:
        """Authenticate the ``auth`` object of ``POST /v3/auth/tokens`` and issue a token.

        Raises 401 for bad credentials (without telling whether the user exists), for a
        scope the user has no role on, or for a disabled user, project or domain.
        Re-reads the identity revision first (at most every ``cache_recheck_s``), as
        :meth:`validate` does: a process that only issues tokens must still see another
        process's key rotation (else it encrypts with a retired primary) and role changes.
        """
        self.identity.cache.refresh()
        identity = auth["identity"]
        methods = identity["methods"]
        parent: AuthToken | None = None
        cred = None
        if "oauth1" in methods:
            if oauth1_request is None:
                raise exc.Unauthorized(UNAUTHORIZED)
            return self._oauth1_token(oauth1_request)
        if "application_credential" in methods:
            user, cred = self._application_credential(identity.get("application_credential"))
        elif "password" in methods:
            user = self._password(identity.get("password"))
        elif "token" in methods:
            ref = identity.get("token") or {}
            try:
                parent = self.validate(ref.get("id") or "")
            except exc.NotFound:
                try:
                    self.codec.decode(ref.get("id") or "")
                except exc.NotFound:
                    raise exc.Unauthorized(UNAUTHORIZED) from None
                # One of ours no longer valid (revoked, expired, its user gone): 404,
                # Keystone's TokenNotFound (Tempest's test_user_update_own_password).
                raise
            if parent.application_credential is not None:
                raise exc.Forbidden("Unable to rescope a token created with an "
                                    "application credential.")
            if parent.trust is not None:
                raise exc.Forbidden("Rescoping a trust-scoped token is not allowed.")
            if parent.access_token is not None:
                raise exc.Forbidden("Cannot create a token with an OAuth-based token.")
            scope = auth.get("scope")
            if parent.system and isinstance(scope, dict) and ("project" in scope
                                                              or "domain" in scope):
                raise exc.Forbidden("Using a system-scoped token to create a project-scoped "
                                    "or domain-scoped token is not allowed.")
            user = parent.user
        else:
            raise exc.Unauthorized("Attempted to authenticate with an unsupported method.")

        requested = auth.get("scope")
        if isinstance(requested, dict) and "OS-TRUST:trust" in requested:
            if cred is not None:
                raise exc.Forbidden("Application credentials cannot request a trust scope.")
            return self._trust_token(requested["OS-TRUST:trust"], user, methods, parent)
        scope = self._scope(requested, user, cred)
        now = time.time()
        expires_at = now + self.identity.settings.token_expiration_s
        audit_ids = (new_audit_id(),)
        method_names = tuple(dict.fromkeys(methods))
        if parent is not None:
            expires_at = parent.expires_at
            audit_ids = (audit_ids[0], parent.payload.audit_ids[-1])
            method_names = tuple(dict.fromkeys(("token",) + parent.payload.methods))
        if cred is not None and cred.expires_at is not None:
            expires_at = min(expires_at, to_timestamp(cred.expires_at))
        payload = TokenPayload(user.id, method_names, scope, now, expires_at, audit_ids,
                               cred.id if cred else None)
        token_id = self.codec.encode(payload)
        try:
            return self._build(token_id, payload)
        except exc.NotFound as e:
            raise exc.Unauthorized(e.message) from None

    def issue(self, user: models.User, scope: tuple[str, str] | None,
              methods: tuple[str, ...], trust_id: str | None = None) -> AuthToken:
        """Issue a new token for ``user`` (already authenticated by ``methods``)."""
        now = time.time()
        payload = TokenPayload(user.id, tuple(methods), scope, now,
                               now + self.identity.settings.token_expiration_s,
                               (new_audit_id(),), None, trust_id)
        try:
            return self._build(self.codec.encode(payload), payload)
        except exc.NotFound as e:
            raise exc.Unauthorized(e.message) from None

    def _oauth1_token(self, request: tuple) -> AuthToken:
        """A project-scoped token for the signed ``oauth1`` request ``(uri, headers,
        body)``: the authorizing user on the access token's project, with its roles."""
        access = self.identity.oauth1.authenticate(*request)
        user = self.identity.users.get_user(access.authorizing_user_id)
        now = time.time()
        expires_at = now + self.identity.settings.token_expiration_s
        if access.expires_at is not None:
            expires_at = min(expires_at, to_timestamp(access.expires_at))
        payload = TokenPayload(user.id, ("oauth1",), ("project", access.project_id), now,
                               expires_at, (new_audit_id(),), None, None, access.id)
        try:
            return self._build(self.codec.encode(payload), payload)
        except exc.NotFound as e:
            raise exc.Unauthorized(e.message) from None

    def _trust_token(self, ref, user: models.User, methods, parent) -> AuthToken:
        """A trust-scoped token (``"scope": {"OS-TRUST:trust": {"id"}}``): only the
        trustee may ask; it consumes a use; with impersonation the token's user is the
        trustor."""
        trusts = self.identity.trusts
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise exc.ValidationError("Invalid input for field 'scope/OS-TRUST:trust': "
                                      "an id is required.")
        trust = trusts.get(ref["id"])
        if user.id != trust.trustee_user_id:
            raise exc.Forbidden("The user is not the trustee of the trust.")
        trustor = self.identity.users.get_user(trust.trustor_user_id)
        if not trustor.enabled:
            raise exc.Forbidden("The trustor is disabled.")
        trusts.consume(trust.id)
        token_user = trustor if trust.impersonation else user
        scope = ("project", trust.project_id) if trust.project_id else None
        names = tuple(dict.fromkeys(methods))
        if parent is not None:
            names = tuple(dict.fromkeys(("token",) + parent.payload.methods))
        return self.issue(token_user, scope, names, trust_id=trust.id)

    def _password(self, ref: dict | None) -> models.User:
        ref = (ref or {}).get("user") or {}
        password = ref.get("password")
        if not isinstance(password, str) or not (ref.get("id") or ref.get("name")):
            raise exc.ValidationError("Invalid input for field 'identity/password/user': "
                                      "a user id or name and a password are required.")
        try:
            user = self.identity.users.find_user(ref)
        except exc.NotFound:
            self.identity.check_secret(password, None)
            raise exc.Unauthorized(UNAUTHORIZED) from None
        self.identity.compliance.check_password(user, password)
        return user

    def _application_credential(self, ref: dict | None):
        ref = ref or {}
        secret = ref.get("secret")
        if not isinstance(secret, str):
            raise exc.ValidationError("Invalid input for field 'application_credential': "
                                      "'secret' is a required property.")
        try:
            if ref.get("id"):
                cred = self.identity.app_creds.get(ref["id"])
            else:
                user = self.identity.users.find_user(ref.get("user") or {})
                cred = self.identity.app_creds.find(user.id, ref.get("name"))
            user = self.identity.users.get_user(cred.user_id)
        except exc.NotFound:
            self.identity.check_secret(secret, None)
            raise exc.Unauthorized(UNAUTHORIZED) from None
        if not self.identity.check_secret(secret, cred.secret_hash) or not user.enabled:
            raise exc.Unauthorized(UNAUTHORIZED)
        if cred.expires_at is not None and cred.expires_at <= utcnow():
            raise exc.Unauthorized("Application credential has expired.")
        return user, cred

    def _scope(self, scope, user: models.User, cred) -> tuple[str, str] | None:
        resources = self.identity.resources
        if cred is not None:
            if scope not in (None, "unscoped") and (scope.get("project") or {}).get("id") \
                    not in (None, cred.project_id):
                raise exc.Unauthorized("Application credentials cannot request a scope.")
            return ("project", cred.project_id)
        if scope is None:
            if user.default_project_id:
                try:
                    project = resources.get_project(user.default_project_id)
                    if project.enabled and self.identity.assignments.effective_role_ids(
                            user.id, ("project", project.id)):
                        return ("project", project.id)
                except exc.NotFound:
                    pass
            return None
        if scope == "unscoped":
            return None
        if not isinstance(scope, dict):
            raise exc.ValidationError("Invalid input for field 'scope'.")
        if sum(kind in scope for kind in ("project", "domain", "system")) != 1:
            raise exc.ValidationError("Invalid input for field 'scope': exactly one of "
                                      "project, domain or system is required.")
        try:
            if "project" in scope:
                project = resources.find_project(scope["project"])
                if not project.enabled:
                    raise exc.Unauthorized(f"Project {project.id} is disabled.")
                return ("project", project.id)
            if "domain" in scope:
                domain = resources.find_domain(scope["domain"])
                if not domain.enabled:
                    raise exc.Unauthorized(f"Domain {domain.id} is disabled.")
                return ("domain", domain.id)
        except exc.NotFound as e:
            raise exc.Unauthorized(e.message) from None
        if "system" in scope:
            if scope["system"] != {"all": True}:
                raise exc.ValidationError("Invalid input for field 'scope.system'.")
            return ("system", "all")
        raise exc.ValidationError("Invalid input for field 'scope'.")

    # -- validate -------------------------------------------------------------
    def validate(self, token_id: str, allow_expired: bool = False,
                 refresh: bool = True) -> AuthToken:
        """The token's current state; 404 ("Could not find token") if it is invalid,
        expired, revoked, or its user, scope or roles are gone.

        ``refresh=False`` skips the revision check when this request already did it.
        """
        cache = self.identity.cache
        if refresh:
            cache.refresh()
        token = cache.get(("token", token_id), lambda: self._build_or_none(token_id))
        if token is None:
            raise exc.NotFound(f"Could not find token: {token_id[:16]}...")
        if not allow_expired and token.payload.expires_at <= time.time():
            raise exc.NotFound("The token has expired.")
        return token

    def _build_or_none(self, token_id: str) -> AuthToken | None:
        try:
            payload = self.codec.decode(token_id)
            token = self._build(token_id, payload)
        except exc.NotFound:
            return None
        if self.is_revoked(token):
            return None
        return token

    def _build(self, token_id: str, payload: TokenPayload) -> AuthToken:
        identity = self.identity
        user = identity.users.get_user(payload.user_id)
        user_domain = identity.resources.get_domain(user.domain_id)
        if not user.enabled or not user_domain.enabled:
            raise exc.NotFound(f"User {user.id} is disabled.")
        project = project_domain = domain = cred = trust = None
        role_ids: list[str] = []
        if payload.trust_id:
            trust = identity.trusts.get(payload.trust_id, used_up_ok=True)
            for uid in (trust.trustor_user_id, trust.trustee_user_id):
                if not identity.users.get_user(uid).enabled:
                    raise exc.NotFound(f"User {uid} of trust {trust.id} is disabled.")
        if payload.scope:
            kind, target = payload.scope
            if kind == "project":
                project = identity.resources.get_project(target)
                project_domain = identity.resources.get_domain(project.domain_id)
                if not project.enabled or not project_domain.enabled:
                    raise exc.NotFound(f"Project {project.id} is disabled.")
            elif kind == "domain":
                domain = identity.resources.get_domain(target)
                if not domain.enabled:
                    raise exc.NotFound(f"Domain {domain.id} is disabled.")
            if trust is not None:
                role_ids = identity.assignments.effective_role_ids(trust.trustor_user_id,
                                                                   payload.scope)
                delegated = set(identity.assignments.expand(trust.roles))
                role_ids = [r for r in role_ids if r in delegated]
            else:
                role_ids = identity.assignments.effective_role_ids(user.id, payload.scope)
            role_ids = identity.assignments.global_only(role_ids)
            if payload.access_token_id:
                access = identity.oauth1.get_access_token(payload.access_token_id)
                if access.expires_at is not None and access.expires_at <= utcnow():
                    raise exc.NotFound("The OAuth access token has expired.")
                delegated = set(identity.assignments.expand(access.role_ids))
                role_ids = [r for r in role_ids if r in delegated]
            if payload.application_credential_id:
                cred = identity.app_creds.get(payload.application_credential_id)
                delegated = set(identity.assignments.expand(cred.roles))
                role_ids = [r for r in role_ids if r in delegated]
            if not role_ids:
                raise exc.NotFound(f"User {user.id} has no access to {kind} {target}.")
        federation = None
        if "mapped" in payload.methods:
            federation = identity.federation.federated_info(user.id)
        access_token = None
        if payload.access_token_id:
            access_token = identity.oauth1.get_access_token(payload.access_token_id)
        return AuthToken(token_id, payload, user, user_domain, project, project_domain,
                         domain, role_ids, cred, trust, federation, access_token)

    def role_names(self, token: AuthToken) -> list[str]:
        roles = self.identity.assignments.roles_by_id()
        return [roles[r].name for r in token.role_ids if r in roles]

    # -- revocation -----------------------------------------------------------
    def revoke_token(self, token: AuthToken) -> None:
        """Revoke one token (and nothing else): an event on its audit id."""
        with self.identity.write() as s:
            self.revoke(s, audit_id=token.payload.audit_ids[0])

    def revoke(self, session, **fields) -> None:
        """Record a revocation event inside ``session``: tokens issued until now that
        match every given field (user_id, project_id, domain_id, role_id, audit_id,
        audit_chain_id, application_credential_id) are revoked."""
        now = utcnow()
        session.add(models.RevocationEvent(issued_before=now, revoked_at=now, **fields))

    def events(self) -> list[models.RevocationEvent]:
        """Unexpired revocation events, cached; older ones are pruned on load."""
        def load():
            horizon = from_timestamp(time.time() - self.identity.settings.token_expiration_s
                                     - REVOCATION_MARGIN_S)
            with self.identity.read() as s:
                return list(s.scalars(sa.select(models.RevocationEvent).where(
                    models.RevocationEvent.revoked_at > horizon)))
        return self.identity.cache.get("revocation-events", load)

    def prune_events(self) -> int:
        """Delete expired revocation events; returns how many."""
        horizon = from_timestamp(time.time() - self.identity.settings.token_expiration_s
                                 - REVOCATION_MARGIN_S)
        with self.identity.db.session() as s:
            return s.execute(sa.delete(models.RevocationEvent).where(
                models.RevocationEvent.revoked_at <= horizon)).rowcount

    def is_revoked(self, token: AuthToken) -> bool:
        p = token.payload
        project_id = token.project.id if token.project else None
        domains = {token.user_domain.id}
        if token.project_domain:
            domains.add(token.project_domain.id)
        if token.domain:
            domains.add(token.domain.id)
        for e in self.events():
            if p.issued_at > to_timestamp(e.issued_before):
                continue
            if e.audit_id is not None and e.audit_id != p.audit_ids[0]:
                continue
            if e.audit_chain_id is not None and e.audit_chain_id != p.audit_ids[-1]:
                continue
            if e.user_id is not None and e.user_id != p.user_id:
                continue
            if e.project_id is not None and e.project_id != project_id:
                continue
            if e.domain_id is not None and e.domain_id not in domains:
                continue
            if e.role_id is not None and e.role_id not in token.role_ids:
                continue
            if e.application_credential_id is not None and \
                    e.application_credential_id != p.application_credential_id:
                continue
            return True
        return False
