"""The policies API (``/v3/policies``: stored blobs Keystone never interprets),
domain-specific configuration (``/v3/domains/{id}/config``, stored data for the
``identity`` and ``ldap`` groups) and unified limits (``/v3/registered_limits``,
``/v3/limits``, the ``flat`` enforcement model)."""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.identity import models
from kumo.identity.manager import new_id
from kumo.identity.models_more import DomainConfig, Limit, Policy, RegisteredLimit


class Policies:
    def __init__(self, identity):
        self.identity = identity

    def create(self, ref: dict) -> Policy:
        extra = {k: v for k, v in ref.items() if k not in ("id", "type", "blob")}
        row = Policy(id=new_id(), type=ref["type"], blob=ref["blob"], extra=extra)
        with self.identity.write() as s:
            s.add(row)
        return row

    def get(self, policy_id: str) -> Policy:
        with self.identity.read() as s:
            row = s.get(Policy, policy_id)
        if row is None:
            raise exc.NotFound(resource="policy", id=policy_id)
        return row

    def list(self, type_: str | None = None) -> list[Policy]:
        stmt = sa.select(Policy).order_by(Policy.id)
        if type_:
            stmt = stmt.where(Policy.type == type_)
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update(self, policy_id: str, changes: dict) -> Policy:
        with self.identity.write() as s:
            row = s.get(Policy, policy_id)
            if row is None:
                raise exc.NotFound(resource="policy", id=policy_id)
            for key in ("type", "blob"):
                if key in changes:
                    setattr(row, key, changes[key])
            extra = dict(row.extra or {})
            extra.update({k: v for k, v in changes.items() if k not in ("id", "type", "blob")})
            row.extra = extra
            return row

    def delete(self, policy_id: str) -> None:
        with self.identity.write() as s:
            if s.execute(sa.delete(Policy).where(Policy.id == policy_id)).rowcount == 0:
                raise exc.NotFound(resource="policy", id=policy_id)


#: The options a domain may set per group (Keystone's whitelisted and sensitive ones;
#: sensitive options are stored but never shown).
OPTIONS = {
    "identity": {"driver", "list_limit"},
    "ldap": {"url", "user", "suffix", "query_scope", "page_size", "alias_dereferencing",
             "debug_level", "chase_referrals", "user_tree_dn", "user_filter",
             "user_objectclass", "user_id_attribute", "user_name_attribute",
             "user_mail_attribute", "user_description_attribute", "user_pass_attribute",
             "user_enabled_attribute", "user_enabled_invert", "user_enabled_mask",
             "user_enabled_default", "user_attribute_ignore",
             "user_default_project_id_attribute", "user_enabled_emulation",
             "user_enabled_emulation_dn", "user_enabled_emulation_use_group_config",
             "user_additional_attribute_mapping", "group_tree_dn", "group_filter",
             "group_objectclass", "group_id_attribute", "group_name_attribute",
             "group_member_attribute", "group_members_are_ids", "group_desc_attribute",
             "group_attribute_ignore", "group_additional_attribute_mapping",
             "tls_cacertfile", "tls_cacertdir", "use_tls", "tls_req_cert", "use_pool",
             "pool_size", "pool_retry_max", "pool_retry_delay", "pool_connection_timeout",
             "pool_connection_lifetime", "use_auth_pool", "auth_pool_size",
             "auth_pool_connection_lifetime", "password"},
}
SENSITIVE = {("ldap", "password")}
#: Defaults shown by ``GET /v3/domains/config/default`` (Keystone's, for these groups).
DEFAULTS = {"identity": {"driver": "sql", "list_limit": None},
            "ldap": {"url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
                     "query_scope": "one", "page_size": 0, "user_tree_dn": None,
                     "user_filter": None, "user_objectclass": "inetOrgPerson",
                     "user_id_attribute": "cn", "user_name_attribute": "sn",
                     "group_tree_dn": None, "group_filter": None,
                     "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
                     "group_name_attribute": "ou", "use_tls": False}}


def _check_config(config: dict) -> None:
    for group, options in config.items():
        if group not in OPTIONS:
            raise exc.Forbidden(f"Invalid domain specific configuration: group {group} "
                                "is not supported.")
        if not isinstance(options, dict) or not options:
            raise exc.ValidationError(f"Invalid input for field 'config/{group}': an "
                                      "object of options is required.")
        for option in options:
            if option not in OPTIONS[group]:
                raise exc.Forbidden(f"Invalid domain specific configuration: option "
                                    f"{option} in group {group} is not supported.")


class DomainConfigs:
    def __init__(self, identity):
        self.identity = identity

    def get(self, domain_id: str, group: str | None = None, option: str | None = None,
            sensitive: bool = False) -> dict:
        """The domain's configuration (``{group: {option: value}}``), one group's
        options or one option's ``{option: value}``; 404 if nothing is set there."""
        self.identity.resources.get_domain(domain_id)
        self._check_names(group, option)
        stmt = sa.select(DomainConfig).where(DomainConfig.domain_id == domain_id)
        if group:
            stmt = stmt.where(DomainConfig.group == group)
        if option:
            stmt = stmt.where(DomainConfig.option == option)
        with self.identity.read() as s:
            rows = list(s.scalars(stmt))
        out: dict = {}
        for row in rows:
            if not sensitive and (row.group, row.option) in SENSITIVE:
                continue
            out.setdefault(row.group, {})[row.option] = row.value
        if not out:
            what = f"{group}/{option}" if option else (group or "")
            raise exc.NotFound(f"Could not find Domain Config: {domain_id}"
                               + (f" {what}" if what else "") + ".")
        if option:
            return out[group]
        if group:
            return {group: out[group]}
        return out

    @staticmethod
    def _check_names(group, option) -> None:
        if group is not None and group not in OPTIONS:
            raise exc.NotFound(f"Could not find Domain Config group: {group}.")
        if option is not None and option not in OPTIONS[group]:
            raise exc.NotFound(f"Could not find Domain Config option: {option}.")

    def replace(self, domain_id: str, config: dict) -> bool:
        """Set the whole configuration; returns whether one existed before."""
        self.identity.resources.get_domain(domain_id)
        _check_config(config)
        with self.identity.write() as s:
            existed = s.execute(sa.delete(DomainConfig).where(
                DomainConfig.domain_id == domain_id)).rowcount > 0
            for group, options in config.items():
                for option, value in options.items():
                    s.add(DomainConfig(domain_id=domain_id, group=group, option=option,
                                       value=value))
        return existed

    def update(self, domain_id: str, config: dict, group: str | None = None,
               option: str | None = None) -> dict:
        """Merge ``config`` in; with ``group``/``option``, the body must name only
        them (400 otherwise); 404 if the domain has no configuration there."""
        self.get(domain_id, group, option, sensitive=True)
        if group and set(config) != {group}:
            raise exc.ValidationError(f"Invalid input for field 'config': the body names "
                                      f"groups other than {group}.")
        if option and set(config[group]) != {option}:
            raise exc.ValidationError(f"Invalid input for field 'config': the body names "
                                      f"options other than {option}.")
        _check_config(config)
        with self.identity.write() as s:
            for grp, options in config.items():
                for opt, value in options.items():
                    row = s.get(DomainConfig, (domain_id, grp, opt))
                    if row is None:
                        s.add(DomainConfig(domain_id=domain_id, group=grp, option=opt,
                                           value=value))
                    else:
                        row.value = value
        return self.get(domain_id)

    def delete(self, domain_id: str, group: str | None = None,
               option: str | None = None) -> None:
        self.get(domain_id, group, option, sensitive=True)
        stmt = sa.delete(DomainConfig).where(DomainConfig.domain_id == domain_id)
        if group:
            stmt = stmt.where(DomainConfig.group == group)
        if option:
            stmt = stmt.where(DomainConfig.option == option)
        with self.identity.write() as s:
            s.execute(stmt)

    def default(self, group: str | None = None, option: str | None = None) -> dict:
        self._check_names(group, option)
        if option:
            return {option: DEFAULTS[group].get(option)}
        if group:
            return {group: dict(DEFAULTS[group])}
        return {g: dict(v) for g, v in DEFAULTS.items()}


class Limits:
    """Registered limits (a default per service, region and resource) and project or
    domain limits overriding them; Keystone's ``flat`` model."""

    MODEL = {"name": "flat",
             "description": "Limit enforcement and validation does not take project "
                            "hierarchy into consideration."}

    def __init__(self, identity):
        self.identity = identity

    # -- registered limits ---------------------------------------------------------
    def _check_refs(self, service_id: str, region_id: str | None) -> None:
        try:
            self.identity.catalog.get_service(service_id)
        except exc.NotFound:
            raise exc.ValidationError(f"Invalid input for field 'service_id': service "
                                      f"{service_id} not found.") from None
        if region_id:
            try:
                self.identity.catalog.get_region(region_id)
            except exc.NotFound:
                raise exc.ValidationError(f"Invalid input for field 'region_id': region "
                                          f"{region_id} not found.") from None

    def create_registered(self, refs: list[dict]) -> list[RegisteredLimit]:
        # Lookups first: a cached row read inside the write session would be expired
        # by its commit.
        for ref in refs:
            self._check_refs(ref["service_id"], ref.get("region_id"))
        rows = []
        with self.identity.write() as s:
            for ref in refs:
                key = (ref["service_id"], ref.get("region_id"), ref["resource_name"])
                if self._find_registered(s, *key) is not None or key in {
                        (r.service_id, r.region_id, r.resource_name) for r in rows}:
                    raise exc.Conflict(resource="registered_limit",
                                       details=f"Duplicate entry for {ref['resource_name']}.")
                row = RegisteredLimit(id=new_id(), service_id=ref["service_id"],
                                      region_id=ref.get("region_id"),
                                      resource_name=ref["resource_name"],
                                      default_limit=ref["default_limit"],
                                      description=ref.get("description"))
                s.add(row)
                rows.append(row)
        return rows

    @staticmethod
    def _find_registered(s, service_id, region_id, resource_name):
        stmt = sa.select(RegisteredLimit).where(
            RegisteredLimit.service_id == service_id,
            RegisteredLimit.resource_name == resource_name)
        stmt = stmt.where(RegisteredLimit.region_id.is_(None) if region_id is None
                          else RegisteredLimit.region_id == region_id)
        return s.scalar(stmt)

    def get_registered(self, limit_id: str) -> RegisteredLimit:
        with self.identity.read() as s:
            row = s.get(RegisteredLimit, limit_id)
        if row is None:
            raise exc.NotFound(resource="registered limit", id=limit_id)
        return row

    def list_registered(self, query: dict) -> list[RegisteredLimit]:
        stmt = sa.select(RegisteredLimit).order_by(RegisteredLimit.id)
        for key in ("service_id", "region_id", "resource_name"):
            if query.get(key):
                stmt = stmt.where(getattr(RegisteredLimit, key) == query[key])
        with self.identity.read() as s:
            return list(s.scalars(stmt))

    def update_registered(self, limit_id: str, changes: dict) -> RegisteredLimit:
        current = self.get_registered(limit_id)
        if {"service_id", "region_id"} & set(changes):
            self._check_refs(changes.get("service_id", current.service_id),
                             changes.get("region_id", current.region_id))
        with self.identity.write() as s:
            row = s.get(RegisteredLimit, limit_id)
            if row is None:
                raise exc.NotFound(resource="registered limit", id=limit_id)
            key_change = {"service_id", "region_id", "resource_name"} & set(changes)
            if key_change and s.scalar(sa.select(Limit.id).where(
                    Limit.registered_limit_id == limit_id).limit(1)):
                raise exc.Forbidden("Cannot change the service, region or resource of a "
                                    "registered limit that project limits reference.")
            new = {k: changes.get(k, getattr(row, k))
                   for k in ("service_id", "region_id", "resource_name")}
            if key_change:
                other = self._find_registered(s, new["service_id"], new["region_id"],
                                              new["resource_name"])
                if other is not None and other.id != row.id:
                    raise exc.Conflict(resource="registered_limit",
                                       details=f"Duplicate entry for {new['resource_name']}.")
            for key in ("service_id", "region_id", "resource_name", "default_limit",
                        "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            return row

    def delete_registered(self, limit_id: str) -> None:
        with self.identity.write() as s:
            row = s.get(RegisteredLimit, limit_id)
            if row is None:
                raise exc.NotFound(resource="registered limit", id=limit_id)
            if s.scalar(sa.select(Limit.id).where(
                    Limit.registered_limit_id == limit_id).limit(1)):
                raise exc.Forbidden("Cannot delete a registered limit that project limits "
                                    "reference.")
            s.delete(row)

    # -- limits --------------------------------------------------------------------
    def create(self, refs: list[dict]) -> list[tuple[Limit, RegisteredLimit]]:
        for ref in refs:  # lookups outside the write session (cached rows)
            if bool(ref.get("project_id")) == bool(ref.get("domain_id")):
                raise exc.ValidationError("Invalid input for field 'limits': exactly "
                                          "one of project_id and domain_id is needed.")
            if ref.get("project_id"):
                self.identity.resources.get_project(ref["project_id"])
            else:
                self.identity.resources.get_domain(ref["domain_id"])
        out = []
        with self.identity.write() as s:
            for ref in refs:
                reg = self._find_registered(s, ref["service_id"], ref.get("region_id"),
                                            ref["resource_name"])
                if reg is None:
                    raise exc.Forbidden(f"No registered limit for {ref['resource_name']} "
                                        f"of service {ref['service_id']}.")
                dup = s.scalar(sa.select(Limit.id).where(
                    Limit.registered_limit_id == reg.id,
                    Limit.project_id == ref.get("project_id") if ref.get("project_id")
                    else Limit.domain_id == ref.get("domain_id")))
                if dup or any(r.registered_limit_id == reg.id and
                              (r.project_id, r.domain_id) == (ref.get("project_id"),
                                                              ref.get("domain_id"))
                              for r, _ in out):
                    raise exc.Conflict(resource="limit",
                                       details=f"Duplicate entry for {ref['resource_name']}.")
                row = Limit(id=new_id(), registered_limit_id=reg.id,
                            project_id=ref.get("project_id"), domain_id=ref.get("domain_id"),
                            resource_limit=ref["resource_limit"],
                            description=ref.get("description"))
                s.add(row)
                out.append((row, reg))
        return out

    def get(self, limit_id: str) -> tuple[Limit, RegisteredLimit]:
        with self.identity.read() as s:
            row = s.get(Limit, limit_id)
            reg = s.get(RegisteredLimit, row.registered_limit_id) if row else None
        if row is None:
            raise exc.NotFound(resource="limit", id=limit_id)
        return row, reg

    def list(self, query: dict) -> list[tuple[Limit, RegisteredLimit]]:
        stmt = sa.select(Limit, RegisteredLimit).join(
            RegisteredLimit, Limit.registered_limit_id == RegisteredLimit.id).order_by(Limit.id)
        for key in ("service_id", "region_id", "resource_name"):
            if query.get(key):
                stmt = stmt.where(getattr(RegisteredLimit, key) == query[key])
        for key in ("project_id", "domain_id"):
            if query.get(key):
                stmt = stmt.where(getattr(Limit, key) == query[key])
        with self.identity.read() as s:
            return [tuple(r) for r in s.execute(stmt).all()]

    def update(self, limit_id: str, changes: dict) -> tuple[Limit, RegisteredLimit]:
        with self.identity.write() as s:
            row = s.get(Limit, limit_id)
            if row is None:
                raise exc.NotFound(resource="limit", id=limit_id)
            for key in ("resource_limit", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            reg = s.get(RegisteredLimit, row.registered_limit_id)
            return row, reg

    def delete(self, limit_id: str) -> None:
        with self.identity.write() as s:
            if s.execute(sa.delete(Limit).where(Limit.id == limit_id)).rowcount == 0:
                raise exc.NotFound(resource="limit", id=limit_id)


__all__ = ["DomainConfigs", "Limits", "Policies", "models"]
