"""Identity resources rendered as the Identity API v3 reference shows them."""
from __future__ import annotations

from kumo.common.http import Request
from kumo.common.timeutils import from_timestamp, isotime
from kumo.identity import models
from kumo.identity.auth import AuthToken


def links(req: Request, path: str) -> dict:
    return {"self": req.url(path)}


def collection(req: Request, key: str, items: list, limit: int = 0) -> dict:
    """A list body with Keystone's ``links`` and, past ``list_limit``, ``truncated``."""
    body = {key: items, "links": {"self": req.url(req.path), "previous": None, "next": None}}
    if limit and len(items) > limit:
        body[key] = items[:limit]
        body["truncated"] = True
    return body


def domain(req, d: models.Domain) -> dict:
    return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": list(d.tags or []), "options": dict(d.options or {}),
            "links": links(req, f"/v3/domains/{d.id}")}


def project(req, p: models.Project) -> dict:
    body = dict(p.extra or {})
    body.update({"id": p.id, "name": p.name, "description": p.description,
                 "domain_id": p.domain_id, "enabled": p.enabled,
                 "parent_id": p.parent_id or p.domain_id, "is_domain": False,
                 "tags": list(p.tags or []), "options": dict(p.options or {}),
                 "links": links(req, f"/v3/projects/{p.id}")})
    return body


def domain_project(req, d: models.Domain) -> dict:
    """A domain seen as a project acting as a domain (``is_domain`` true)."""
    return {"id": d.id, "name": d.name, "description": d.description,
            "domain_id": None, "enabled": d.enabled, "parent_id": None, "is_domain": True,
            "tags": list(d.tags or []), "options": dict(d.options or {}),
            "links": links(req, f"/v3/projects/{d.id}")}


def user(req, u: models.User) -> dict:
    body = dict(u.extra or {})
    body.update({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
                 "password_expires_at": isotime(u.password_expires_at),
                 "options": dict(u.options or {}),
                 "links": links(req, f"/v3/users/{u.id}")})
    if u.default_project_id:
        body["default_project_id"] = u.default_project_id
    federated = req.cloud.identity.federation.federated_objects().get(u.id)
    if federated:  # a shadow user: where it comes from, as Keystone shows it
        body["federated"] = federated
    return body


def group(req, g: models.Group) -> dict:
    return {"id": g.id, "name": g.name, "domain_id": g.domain_id,
            "description": g.description, "links": links(req, f"/v3/groups/{g.id}")}


def role(req, r: models.Role) -> dict:
    domain_id = None if r.domain_id == models.NULL_DOMAIN_ID else r.domain_id
    return {"id": r.id, "name": r.name, "domain_id": domain_id,
            "description": r.description, "options": dict(r.options or {}),
            "links": links(req, f"/v3/roles/{r.id}")}


def role_ref(req, r: models.Role) -> dict:
    return {"id": r.id, "name": r.name, "links": links(req, f"/v3/roles/{r.id}")}


def region(req, r: models.Region) -> dict:
    return {"id": r.id, "description": r.description,
            "parent_region_id": r.parent_region_id,
            "links": links(req, f"/v3/regions/{r.id}")}


def service(req, s: models.Service) -> dict:
    return {"id": s.id, "type": s.type, "name": s.name, "description": s.description,
            "enabled": s.enabled, "links": links(req, f"/v3/services/{s.id}")}


def endpoint(req, e: models.Endpoint) -> dict:
    return {"id": e.id, "interface": e.interface, "region": e.region_id,
            "region_id": e.region_id, "service_id": e.service_id, "url": e.url,
            "enabled": e.enabled, "links": links(req, f"/v3/endpoints/{e.id}")}


def application_credential(req, c: models.ApplicationCredential, roles: dict,
                           secret: str | None = None) -> dict:
    body = {
        "id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
        "project_id": c.project_id,
        # Keystone shows the stored UTC time as Python's isoformat (no "Z", with the
        # microseconds given): what a client sent comes back as it sent it
        "expires_at": (c.expires_at.replace(tzinfo=None).isoformat()
                       if c.expires_at else None),
        "unrestricted": c.unrestricted, "access_rules": list(c.access_rules or []),
        "system": c.system,
        "roles": [{"id": rid, "name": roles[rid].name,
                   "domain_id": None if roles[rid].domain_id == models.NULL_DOMAIN_ID
                   else roles[rid].domain_id}
                  for rid in c.roles if rid in roles],
        "links": links(req, f"/v3/users/{c.user_id}/application_credentials/{c.id}"),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def access_rule(req, r) -> dict:
    return {"id": r.id, "service": r.service, "path": r.path, "method": r.method,
            "links": links(req, f"/v3/users/{r.user_id}/access_rules/{r.id}")}


def token(req, t: AuthToken, role_names: dict, catalog: list | None) -> dict:
    """The ``token`` object of ``POST``/``GET /v3/auth/tokens``."""
    p = t.payload
    body = {
        "methods": list(p.methods),
        "user": {"id": t.user.id, "name": t.user.name,
                 "domain": {"id": t.user_domain.id, "name": t.user_domain.name},
                 "password_expires_at": isotime(t.user.password_expires_at)},
        "audit_ids": list(p.audit_ids),
        "expires_at": isotime(from_timestamp(p.expires_at)),
        "issued_at": isotime(from_timestamp(p.issued_at)),
    }
    if t.federation is not None:
        f = t.federation
        body["user"]["OS-FEDERATION"] = {
            "identity_provider": {"id": f["idp_id"]}, "protocol": {"id": f["protocol_id"]},
            "groups": [{"id": g} for g in f["group_ids"]]}
    if t.project is not None:
        body["project"] = {"id": t.project.id, "name": t.project.name,
                           "domain": {"id": t.project_domain.id,
                                      "name": t.project_domain.name}}
        body["is_domain"] = False
    elif t.domain is not None:
        body["domain"] = {"id": t.domain.id, "name": t.domain.name}
    elif t.system:
        body["system"] = {"all": True}
    if p.scope:
        body["roles"] = [{"id": rid, "name": role_names[rid]}
                         for rid in t.role_ids if rid in role_names]
        if catalog is not None:
            body["catalog"] = catalog
    if t.trust is not None:
        tr = t.trust
        body["OS-TRUST:trust"] = {"id": tr.id, "impersonation": tr.impersonation,
                                  "trustee_user": {"id": tr.trustee_user_id},
                                  "trustor_user": {"id": tr.trustor_user_id}}
    if t.access_token is not None:
        body["OS-OAUTH1"] = {"access_token_id": t.access_token.id,
                             "consumer_id": t.access_token.consumer_id}
    if t.application_credential is not None:
        c = t.application_credential
        body["application_credential"] = {"id": c.id, "name": c.name,
                                          "restricted": not c.unrestricted}
        if c.access_rules:  # Keystone shows them only when the credential has some
            body["application_credential"]["access_rules"] = [
                dict(r) for r in c.access_rules]
    return body


def credential(req, c, blob: str) -> dict:
    body = dict(c.extra or {})
    body.update({"id": c.id, "user_id": c.user_id, "project_id": c.project_id,
                 "type": c.type, "blob": blob, "links": links(req, f"/v3/credentials/{c.id}")})
    return body


def ec2_credential(req, c, blob: dict) -> dict:
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob["access"],
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": links(req, f"/v3/users/{c.user_id}/credentials/OS-EC2/"
                                f"{blob['access']}")}


def trust(req, t, roles: dict) -> dict:
    return {
        "id": t.id, "trustor_user_id": t.trustor_user_id,
        "trustee_user_id": t.trustee_user_id, "project_id": t.project_id,
        "impersonation": t.impersonation, "expires_at": isotime(t.expires_at),
        "remaining_uses": t.remaining_uses, "allow_redelegation": t.allow_redelegation,
        "redelegation_count": t.redelegation_count,
        "redelegated_trust_id": t.redelegated_trust_id,
        "roles": [role(req, roles[r]) for r in t.roles if r in roles],
        "roles_links": {"self": req.url(f"/v3/OS-TRUST/trusts/{t.id}/roles"),
                        "previous": None, "next": None},
        "links": links(req, f"/v3/OS-TRUST/trusts/{t.id}"),
    }
