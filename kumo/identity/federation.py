"""Federation (Identity API v3 "OS-FEDERATION"): identity providers, mappings,
protocols, service providers, and the ``mapped`` authentication.

``mapped`` authentication trusts what a front proxy (Apache with mod_auth_openidc /
mod_shib / mod_ssl, nginx...) says about the user: the proxy authenticates the client,
then passes the user's attributes as request headers (``REMOTE_USER``,
``OIDC-email``, ``SSL_CLIENT_S_DN_CN``...). Those headers are honoured only from the
addresses in the ``federation_trusted_proxies`` setting (empty by default: the route
refuses every request with 401), so a client can never claim an identity by sending a
header itself. The protocol's mapping turns the attributes into a user (a shadow user
in the provider's domain, or an existing ``local`` user), group memberships (kept
until the next login through the provider, or its ``authorization_ttl``) and
auto-provisioned projects with roles.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.identity import mapping as rule_engine
from kumo.identity import models
from kumo.identity.manager import new_id
from kumo.identity.models_fed import (ExpiringGroupMembership, FederatedUser,
                                      FederationMapping, FederationProtocol,
                                      IdentityProvider, IdPRemoteId, ServiceProvider)

#: Headers never part of an assertion (they are the request's own, not the proxy's).
NOT_ASSERTED = frozenset({"host", "content-length", "content-type", "x-auth-token",
                          "cookie", "authorization", "connection", "accept",
                          "accept-encoding", "user-agent", "x-subject-token"})


def trusted_proxy(settings, client: str | None) -> bool:
    """Whether ``client`` (the peer address of the connection) is one of the
    operator's trusted front proxies (``federation_trusted_proxies``: addresses or
    networks). Always false when the setting is empty (the default)."""
    proxies = settings.federation_trusted_proxies or []
    if not client or not proxies:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:  # a dual-stack socket's view
        address = address.ipv4_mapped
    for entry in proxies:
        try:
            if address in ipaddress.ip_network(str(entry), strict=False):
                return True
        except ValueError:
            continue
    return False


class Federation:
    def __init__(self, identity):
        self.identity = identity

    # -- identity providers --------------------------------------------------
    def create_idp(self, idp_id: str, attrs: dict) -> tuple[IdentityProvider, list[str]]:
        """Create an identity provider; without ``domain_id`` a domain named after it
        is created, as Keystone does. 409 for a taken id or remote id."""
        remote_ids = list(dict.fromkeys(attrs.get("remote_ids") or []))
        with self.identity.write() as s:
            if s.get(IdentityProvider, idp_id) is not None:
                raise exc.Conflict(resource="identity_provider",
                                   details=f"Duplicate ID, {idp_id}.")
            self._check_remote_ids(s, remote_ids, idp_id)
            domain_id = attrs.get("domain_id")
            if domain_id:
                if s.get(models.Domain, domain_id) is None:
                    raise exc.ValidationError(f"Invalid domain_id: domain {domain_id} "
                                              "does not exist.")
            else:
                if s.scalar(sa.select(models.Domain.id).where(models.Domain.name == idp_id)):
                    raise exc.Conflict(resource="domain",
                                       details=f"Duplicate entry found with name {idp_id}.")
                domain_id = new_id()
                s.add(models.Domain(id=domain_id, name=idp_id,
                                    description="Auto generated federated domain",
                                    enabled=True, tags=[], options={}, extra={}))
                s.flush()
            row = IdentityProvider(id=idp_id, enabled=attrs.get("enabled", False) is True,
                                   description=attrs.get("description"),
                                   domain_id=domain_id,
                                   authorization_ttl=attrs.get("authorization_ttl"))
            s.add(row)
            s.flush()
            for rid in remote_ids:
                s.add(IdPRemoteId(remote_id=rid, idp_id=idp_id))
            return row, remote_ids

    @staticmethod
    def _check_remote_ids(s, remote_ids: list[str], idp_id: str) -> None:
        if not remote_ids:
            return
        taken = s.scalar(sa.select(IdPRemoteId.remote_id).where(
            IdPRemoteId.remote_id.in_(remote_ids), IdPRemoteId.idp_id != idp_id).limit(1))
        if taken is not None:
            raise exc.Conflict(resource="identity_provider",
                               details=f"Duplicate remote ID: {taken}")

    def get_idp(self, idp_id: str) -> tuple[IdentityProvider, list[str]]:
        def load():
            with self.identity.read() as s:
                row = s.get(IdentityProvider, idp_id)
                if row is None:
                    return None
                return row, sorted(s.scalars(sa.select(IdPRemoteId.remote_id).where(
                    IdPRemoteId.idp_id == idp_id)))
        found = self.identity.cache.get(("idp", idp_id), load)
        if found is None:
            raise exc.NotFound(resource="identity_provider", id=idp_id)
        return found

    def list_idps(self, query: dict[str, list[str]]) -> list[tuple[IdentityProvider, list]]:
        stmt = sa.select(IdentityProvider.id).order_by(IdentityProvider.id)
        if query.get("id"):
            stmt = stmt.where(IdentityProvider.id == query["id"][-1])
        if query.get("enabled"):
            stmt = stmt.where(IdentityProvider.enabled.is_(
                query["enabled"][-1].lower() in ("true", "1", "yes")))
        with self.identity.read() as s:
            ids = list(s.scalars(stmt))
        return [self.get_idp(i) for i in ids]

    def update_idp(self, idp_id: str, changes: dict) -> tuple[IdentityProvider, list[str]]:
        with self.identity.write() as s:
            row = s.get(IdentityProvider, idp_id)
            if row is None:
                raise exc.NotFound(resource="identity_provider", id=idp_id)
            for key in ("enabled", "description", "authorization_ttl"):
                if key in changes:
                    setattr(row, key, changes[key])
            if "remote_ids" in changes:
                remote_ids = list(dict.fromkeys(changes["remote_ids"] or []))
                self._check_remote_ids(s, remote_ids, idp_id)
                s.execute(sa.delete(IdPRemoteId).where(IdPRemoteId.idp_id == idp_id))
                s.flush()
                for rid in remote_ids:
                    s.add(IdPRemoteId(remote_id=rid, idp_id=idp_id))
            if changes.get("enabled") is False:
                for uid in s.scalars(sa.select(FederatedUser.user_id).where(
                        FederatedUser.idp_id == idp_id).distinct()):
                    self.identity.auth.revoke(s, user_id=uid)
        return self.get_idp(idp_id)

    def delete_idp(self, idp_id: str) -> None:
        """Delete the provider, its protocols and remote ids, and its shadow users
        (their tokens are revoked), as Keystone does."""
        with self.identity.write() as s:
            row = s.get(IdentityProvider, idp_id)
            if row is None:
                raise exc.NotFound(resource="identity_provider", id=idp_id)
            users = set(s.scalars(sa.select(FederatedUser.user_id).where(
                FederatedUser.idp_id == idp_id)))
            for table in (ExpiringGroupMembership, FederatedUser, FederationProtocol,
                          IdPRemoteId):
                s.execute(sa.delete(table).where(table.idp_id == idp_id))
            s.delete(row)
            s.flush()
            others = set(s.scalars(sa.select(FederatedUser.user_id).where(
                FederatedUser.user_id.in_(users)))) if users else set()
            for uid in users - others:
                self.identity.assignments.delete_actor_grants(s, [uid])
                s.execute(sa.delete(models.UserGroupMembership).where(
                    models.UserGroupMembership.user_id == uid))
                s.execute(sa.delete(models.User).where(models.User.id == uid))
                self.identity.auth.revoke(s, user_id=uid)

    # -- mappings -------------------------------------------------------------
    def create_mapping(self, mapping_id: str, body: dict) -> FederationMapping:
        rule_engine.check_rules(body)
        with self.identity.write() as s:
            if s.get(FederationMapping, mapping_id) is not None:
                raise exc.Conflict(resource="mapping", details=f"Duplicate ID, {mapping_id}.")
            row = FederationMapping(id=mapping_id, rules=body["rules"],
                                    schema_version=body.get("schema_version") or "1.0")
            s.add(row)
            return row

    def get_mapping(self, mapping_id: str) -> FederationMapping:
        def load():
            with self.identity.read() as s:
                return s.get(FederationMapping, mapping_id)
        row = self.identity.cache.get(("mapping", mapping_id), load)
        if row is None:
            raise exc.NotFound(resource="mapping", id=mapping_id)
        return row

    def list_mappings(self) -> list[FederationMapping]:
        with self.identity.read() as s:
            return list(s.scalars(sa.select(FederationMapping).order_by(FederationMapping.id)))

    def update_mapping(self, mapping_id: str, body: dict) -> FederationMapping:
        rule_engine.check_rules(body)
        with self.identity.write() as s:
            row = s.get(FederationMapping, mapping_id)
            if row is None:
                raise exc.NotFound(resource="mapping", id=mapping_id)
            row.rules = body["rules"]
            if body.get("schema_version"):
                row.schema_version = body["schema_version"]
            return row

    def delete_mapping(self, mapping_id: str) -> None:
        with self.identity.write() as s:
            if s.execute(sa.delete(FederationMapping).where(
                    FederationMapping.id == mapping_id)).rowcount == 0:
                raise exc.NotFound(resource="mapping", id=mapping_id)

    # -- protocols ------------------------------------------------------------
    def create_protocol(self, idp_id: str, protocol_id: str, attrs: dict
                        ) -> FederationProtocol:
        self.get_idp(idp_id)
        self._check_mapping(attrs["mapping_id"])
        with self.identity.write() as s:
            if s.get(FederationProtocol, (protocol_id, idp_id)) is not None:
                raise exc.Conflict(resource="protocol",
                                   details=f"Duplicate ID, {protocol_id}.")
            row = FederationProtocol(id=protocol_id, idp_id=idp_id,
                                     mapping_id=attrs["mapping_id"],
                                     remote_id_attribute=attrs.get("remote_id_attribute"))
            s.add(row)
            return row

    def _check_mapping(self, mapping_id: str) -> None:
        try:
            self.get_mapping(mapping_id)
        except exc.NotFound:
            raise exc.ValidationError(f"Invalid input for field 'mapping_id': mapping "
                                      f"{mapping_id} does not exist.") from None

    def get_protocol(self, idp_id: str, protocol_id: str) -> FederationProtocol:
        self.get_idp(idp_id)

        def load():
            with self.identity.read() as s:
                return s.get(FederationProtocol, (protocol_id, idp_id))
        row = self.identity.cache.get(("protocol", idp_id, protocol_id), load)
        if row is None:
            raise exc.NotFound(resource="protocol", id=protocol_id)
        return row

    def list_protocols(self, idp_id: str) -> list[FederationProtocol]:
        self.get_idp(idp_id)
        with self.identity.read() as s:
            return list(s.scalars(sa.select(FederationProtocol).where(
                FederationProtocol.idp_id == idp_id).order_by(FederationProtocol.id)))

    def update_protocol(self, idp_id: str, protocol_id: str, attrs: dict
                        ) -> FederationProtocol:
        self.get_protocol(idp_id, protocol_id)
        if "mapping_id" in attrs:
            self._check_mapping(attrs["mapping_id"])
        with self.identity.write() as s:
            row = s.get(FederationProtocol, (protocol_id, idp_id))
            for key in ("mapping_id", "remote_id_attribute"):
                if key in attrs:
                    setattr(row, key, attrs[key])
            return row

    def delete_protocol(self, idp_id: str, protocol_id: str) -> None:
        self.get_protocol(idp_id, protocol_id)
        with self.identity.write() as s:
            s.execute(sa.delete(FederationProtocol).where(
                FederationProtocol.idp_id == idp_id, FederationProtocol.id == protocol_id))

    # -- service providers ----------------------------------------------------
    def create_sp(self, sp_id: str, attrs: dict) -> ServiceProvider:
        with self.identity.write() as s:
            if s.get(ServiceProvider, sp_id) is not None:
                raise exc.Conflict(resource="service_provider",
                                   details=f"Duplicate ID, {sp_id}.")
            row = ServiceProvider(
                id=sp_id, enabled=attrs.get("enabled", False) is True,
                description=attrs.get("description"), auth_url=attrs["auth_url"],
                sp_url=attrs["sp_url"],
                relay_state_prefix=attrs.get("relay_state_prefix")
                or self.identity.settings.federation_relay_state_prefix)
            s.add(row)
            return row

    def get_sp(self, sp_id: str) -> ServiceProvider:
        with self.identity.read() as s:
            row = s.get(ServiceProvider, sp_id)
        if row is None:
            raise exc.NotFound(resource="service_provider", id=sp_id)
        return row

    def list_sps(self, query: dict[str, list[str]]) -> list[ServiceProvider]:
        stmt = sa.select(ServiceProvider).order_by(ServiceProvider.id)
        if query.get("id"):
            stmt = stmt.where(ServiceProvider.id == query["id"][-1])
        if query.get("enabled"):
            stmt = stmt.where(ServiceProvider.enabled.is_(
                query["enabled"][-1].lower() in ("true", "1", "yes")))
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def enabled_sps(self) -> list[dict]:
        """``[{"id", "auth_url", "sp_url"}]`` of the enabled service providers (the
        ``service_providers`` of scoped tokens), cached."""
        def load():
            with self.identity.read() as s:
                return [{"id": r.id, "auth_url": r.auth_url, "sp_url": r.sp_url}
                        for r in s.scalars(sa.select(ServiceProvider).where(
                            ServiceProvider.enabled.is_(True)).order_by(ServiceProvider.id))]
        return self.identity.cache.get("service-providers", load)

    def update_sp(self, sp_id: str, changes: dict) -> ServiceProvider:
        with self.identity.write() as s:
            row = s.get(ServiceProvider, sp_id)
            if row is None:
                raise exc.NotFound(resource="service_provider", id=sp_id)
            for key in ("enabled", "description", "auth_url", "sp_url",
                        "relay_state_prefix"):
                if key in changes:
                    setattr(row, key, changes[key])
            return row

    def delete_sp(self, sp_id: str) -> None:
        with self.identity.write() as s:
            if s.execute(sa.delete(ServiceProvider).where(
                    ServiceProvider.id == sp_id)).rowcount == 0:
                raise exc.NotFound(resource="service_provider", id=sp_id)

    # -- the mapped authentication -------------------------------------------
    def federated_info(self, user_id: str) -> dict | None:
        """``{"idp_id", "protocol_id", "group_ids"}`` of a federated (shadow) user,
        for the ``OS-FEDERATION`` object of its tokens; None for a local user."""
        def load():
            with self.identity.read() as s:
                row = s.scalars(sa.select(FederatedUser).where(
                    FederatedUser.user_id == user_id).order_by(FederatedUser.id.desc())
                ).first()
                if row is None:
                    return None
                groups = tuple(s.execute(sa.select(ExpiringGroupMembership.group_id,
                                                   ExpiringGroupMembership.expires_at)
                                         .where(ExpiringGroupMembership.user_id == user_id,
                                                ExpiringGroupMembership.idp_id == row.idp_id)
                                         ).all())
                return row.idp_id, row.protocol_id, groups
        found = self.identity.cache.get(("federated", user_id), load)
        if found is None:
            return None
        idp_id, protocol_id, groups = found
        now = utcnow()
        return {"idp_id": idp_id, "protocol_id": protocol_id,
                "group_ids": sorted(g for g, until in groups if until is None or until > now)}

    def federated_objects(self) -> dict[str, list[dict]]:
        """user id -> Keystone's ``federated`` attribute of a shadow user
        (``[{"idp_id", "protocols": [{"protocol_id", "unique_id"}]}]``), cached."""
        def load():
            out: dict[str, dict[str, list]] = {}
            with self.identity.read() as s:
                for row in s.scalars(sa.select(FederatedUser).order_by(FederatedUser.id)):
                    out.setdefault(row.user_id, {}).setdefault(row.idp_id, []).append(
                        {"protocol_id": row.protocol_id, "unique_id": row.unique_id})
            return {uid: [{"idp_id": idp, "protocols": protos}
                          for idp, protos in idps.items()] for uid, idps in out.items()}
        return self.identity.cache.get("federated-objects", load)

    def authenticate(self, idp_id: str, protocol_id: str, client: str | None,
                     headers) -> models.User:
        """The user a trusted front proxy's headers name through ``protocol_id`` of
        ``idp_id``. 401 unless ``client`` is a trusted proxy; 404 for an unknown
        provider or protocol; 403 for a disabled provider or a remote id it does not
        own; 401 when the mapping maps nobody."""
        settings = self.identity.settings
        if not trusted_proxy(settings, client):
            raise exc.Unauthorized("Federated authentication needs a trusted front proxy; "
                                   "this request did not come through one.")
        idp, remote_ids = self.get_idp(idp_id)
        protocol = self.get_protocol(idp_id, protocol_id)
        if not idp.enabled:
            raise exc.Forbidden("The identity provider is disabled.")
        lowered: dict[str, str] = {}
        for name, value in headers.items():
            name = name.lower()
            if name in NOT_ASSERTED:
                continue
            if name in lowered:  # which one did the proxy set? refuse to guess
                raise exc.Unauthorized(f"The attribute header {name} was given twice.")
            lowered[name] = value
        remote_attr = protocol.remote_id_attribute or settings.federation_remote_id_attribute
        if remote_attr and remote_ids:
            remote = lowered.get(remote_attr.lower())
            if remote is None:
                raise exc.Unauthorized("The identity provider's remote id attribute "
                                       f"{remote_attr} was not given.")
            if remote not in remote_ids:
                raise exc.Forbidden("Incoming identity provider identifier not included "
                                    "among the accepted identifiers.")
        mapping = self.get_mapping(protocol.mapping_id)
        # remote types name the proxy's attributes; headers arrive case-insensitive
        assertion = rule_engine.parse_assertion(lowered)
        rules = [{"local": r["local"],
                  "remote": [dict(c, type=c["type"].lower()) for c in r["remote"]]}
                 for r in mapping.rules]
        mapped = rule_engine.process(rules, assertion)
        try:
            return self._apply(idp, protocol_id, mapped, lowered)
        except sa.exc.IntegrityError:
            # the same user's first login in two requests at once: the other one made
            # the rows; apply again on top of them
            return self._apply(idp, protocol_id, mapped, lowered)

    def _resolve_groups(self, s, mapped: dict) -> list[str]:
        ids = []
        for gid in mapped["group_ids"]:
            if s.get(models.Group, gid) is None:
                raise exc.ValidationError(f"Group {gid} returned by the mapping was not "
                                          "found.")
            ids.append(gid)
        for ref in mapped["group_names"]:
            domain = ref["domain"]
            domain_id = domain.get("id") or s.scalar(sa.select(models.Domain.id).where(
                models.Domain.name == domain.get("name")))
            gid = s.scalar(sa.select(models.Group.id).where(
                models.Group.name == ref["name"], models.Group.domain_id == domain_id))
            if gid is None:
                raise exc.ValidationError(f"Group {ref['name']} returned by the mapping "
                                          "was not found.")
            ids.append(gid)
        return list(dict.fromkeys(ids))

    def _apply(self, idp: IdentityProvider, protocol_id: str, mapped: dict,
               attributes: dict) -> models.User:
        user_ref = mapped["user"]
        name = user_ref.get("name") or attributes.get("remote_user")
        if user_ref.get("type") == "local":
            try:
                user = self.identity.users.find_user(
                    {"name": user_ref.get("name"), "id": user_ref.get("id"),
                     "domain": user_ref.get("domain") or {"id": "default"}})
            except exc.NotFound:
                raise exc.Unauthorized("The mapped local user does not exist.") from None
            if not user.enabled:
                raise exc.Unauthorized("The mapped local user is disabled.")
        if not name and not user_ref.get("id"):
            raise exc.Unauthorized("Could not map user: the mapping names no user and no "
                                   "REMOTE_USER was given.")
        unique_id = user_ref.get("id") or name
        ttl = idp.authorization_ttl
        if ttl is None:
            ttl = self.identity.settings.federation_default_authorization_ttl
        now = utcnow()
        expires = now + dt.timedelta(minutes=ttl) if ttl else None
        local_id = user.id if user_ref.get("type") == "local" else None
        unchanged = self._unchanged(idp, protocol_id, unique_id, name or unique_id,
                                    user_ref.get("email"), local_id, mapped, ttl, now)
        if unchanged is not None:
            return self.identity.users.get_user(unchanged)
        with self.identity.write() as s:
            if user_ref.get("type") == "local":
                user_id = user.id
            else:
                user_id = self._shadow(s, idp, protocol_id, unique_id, name or unique_id,
                                       user_ref.get("email"))
            group_ids = self._resolve_groups(s, mapped)
            s.execute(sa.delete(ExpiringGroupMembership).where(
                ExpiringGroupMembership.user_id == user_id,
                ExpiringGroupMembership.idp_id == idp.id))
            s.flush()
            for gid in group_ids:
                s.add(ExpiringGroupMembership(user_id=user_id, group_id=gid, idp_id=idp.id,
                                              last_verified=now, expires_at=expires))
            self._provision_projects(s, idp, user_id, mapped["projects"])
        return self.identity.users.get_user(user_id)

    def _unchanged(self, idp, protocol_id: str, unique_id: str, display_name: str,
                   email: str | None, local_id: str | None, mapped: dict, ttl: int,
                   now: dt.datetime) -> str | None:
        """The user id when this login would write nothing (the user, its federated
        row, its memberships from this provider and its mapped project grants are as
        mapped, and memberships with an expiry have more than half of it left); None
        when a write is needed. A login that changes nothing does not bump the identity
        revision, so it does not empty every process's identity caches."""
        with self.identity.read() as s:
            if local_id is not None:
                user_id = local_id
            else:
                user_id = hashlib.sha256(f"{idp.id}\0{unique_id}".encode()).hexdigest()
                user = s.get(models.User, user_id)
                if user is None or not user.enabled or user.name != display_name or \
                        (user.extra or {}).get("email", email) != email:
                    return None
                if s.scalar(sa.select(FederatedUser.id).where(
                        FederatedUser.idp_id == idp.id,
                        FederatedUser.protocol_id == protocol_id,
                        FederatedUser.unique_id == unique_id)) is None:
                    return None
            group_ids = set(self._resolve_groups(s, mapped))
            rows = s.execute(sa.select(ExpiringGroupMembership.group_id,
                                       ExpiringGroupMembership.expires_at).where(
                ExpiringGroupMembership.user_id == user_id,
                ExpiringGroupMembership.idp_id == idp.id)).all()
            if {g for g, _ in rows} != group_ids:
                return None
            for _, until in rows:
                if (until is None) != (not ttl):
                    return None
                if until is not None and until - now < dt.timedelta(minutes=ttl) / 2:
                    return None
            for ref in mapped["projects"] or []:
                domain = ref.get("domain") or {"id": idp.domain_id}
                if "id" not in domain:
                    return None
                project_id = s.scalar(sa.select(models.Project.id).where(
                    models.Project.name == ref["name"],
                    models.Project.domain_id == domain["id"]))
                if project_id is None:
                    return None
                for role_ref in ref["roles"]:
                    role_id = s.scalar(sa.select(models.Role.id).where(
                        models.Role.name == role_ref["name"],
                        models.Role.domain_id == models.NULL_DOMAIN_ID))
                    if role_id is None or s.get(models.RoleAssignment, (
                            "UserProject", user_id, project_id, role_id, False)) is None:
                        return None
        return user_id

    def _shadow(self, s, idp: IdentityProvider, protocol_id: str, unique_id: str,
                display_name: str, email: str | None) -> str:
        """The shadow user of ``unique_id`` (made on the first login): id = SHA-256 of
        the provider and the unique id, in the provider's domain."""
        user_id = hashlib.sha256(f"{idp.id}\0{unique_id}".encode()).hexdigest()
        user = s.get(models.User, user_id)
        if user is None:
            if s.scalar(sa.select(models.User.id).where(
                    models.User.domain_id == idp.domain_id,
                    models.User.name == display_name)):
                raise exc.Conflict(resource="user", details=(
                    f"Duplicate entry found with name {display_name} at domain ID "
                    f"{idp.domain_id}."))
            user = models.User(id=user_id, name=display_name, domain_id=idp.domain_id,
                               enabled=True, options={}, created_at=utcnow(),
                               extra={"email": email} if email else {})
            s.add(user)
            s.flush()
        elif not user.enabled:
            raise exc.Unauthorized("The federated user is disabled.")
        else:
            if user.name != display_name:
                user.name = display_name
            if email and (user.extra or {}).get("email") != email:
                user.extra = {**(user.extra or {}), "email": email}
        if s.scalar(sa.select(FederatedUser.id).where(
                FederatedUser.idp_id == idp.id, FederatedUser.protocol_id == protocol_id,
                FederatedUser.unique_id == unique_id)) is None:
            s.add(FederatedUser(user_id=user_id, idp_id=idp.id, protocol_id=protocol_id,
                                unique_id=unique_id, display_name=display_name))
        return user_id

    def _provision_projects(self, s, idp: IdentityProvider, user_id: str,
                            projects: list) -> None:
        """Keystone's auto-provisioning: each mapped project (in the provider's
        domain unless it names one) is created if missing; the user is granted its
        roles there (a role that does not exist is a 400)."""
        for ref in projects or []:
            domain = ref.get("domain") or {"id": idp.domain_id}
            domain_id = domain.get("id") or s.scalar(sa.select(models.Domain.id).where(
                models.Domain.name == domain.get("name")))
            if domain_id is None or s.get(models.Domain, domain_id) is None:
                raise exc.ValidationError("The mapped project's domain does not exist.")
            project = s.scalars(sa.select(models.Project).where(
                models.Project.name == ref["name"], models.Project.domain_id == domain_id)
            ).first()
            if project is None:
                project = models.Project(id=new_id(), name=ref["name"], domain_id=domain_id,
                                         parent_id=None, description="", enabled=True,
                                         tags=[], options={}, extra={})
                s.add(project)
                s.flush()
            for role_ref in ref["roles"]:
                role_id = s.scalar(sa.select(models.Role.id).where(
                    models.Role.name == role_ref["name"],
                    models.Role.domain_id == models.NULL_DOMAIN_ID))
                if role_id is None:
                    raise exc.ValidationError(f"Role {role_ref['name']} returned by the "
                                              "mapping was not found.")
                if s.get(models.RoleAssignment, ("UserProject", user_id, project.id,
                                                 role_id, False)) is None:
                    s.add(models.RoleAssignment(type="UserProject", actor_id=user_id,
                                                target_id=project.id, role_id=role_id,
                                                inherited=False))
