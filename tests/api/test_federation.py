"""Federation (``/v3/OS-FEDERATION``): identity providers, mappings, protocols and
service providers with the ``openstack`` CLI and openstacksdk's session; the ``mapped``
authentication with httpx, refused unless the request comes from the operator's trusted
front proxy (a server of its own trusts 127.0.0.2 only)."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.api.helpers import assert_fault
from tests.conftest import _backends, own_cloud

FED = "/v3/OS-FEDERATION"
PROXY = "127.0.0.2"  # the trusted proxy's address (all of 127/8 is loopback)


def _rules_file(tmp_path, rules) -> str:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    return str(path)


def test_identity_provider_mapping_protocol_sp_with_the_cli(cloud, api, admin, unique,
                                                            tmp_path, make_user):
    person = make_user()
    idp = unique("idp")
    remote = f"https://{idp}.example/idp"
    created = cloud.cli("identity", "provider", "create", "--remote-id", remote,
                        "--description", "corp IdP", "--enable", idp)
    assert created["id"] == idp and created["enabled"] is True
    assert created["remote_ids"] == [remote]
    # Without a domain, one named after the provider was created for its users.
    domain = admin.identity.get_domain(created["domain_id"])
    assert domain.name == idp
    shown = api.get(f"{FED}/identity_providers/{idp}", conn=admin).json()["identity_provider"]
    assert shown["links"]["protocols"].endswith(f"/identity_providers/{idp}/protocols")
    assert idp in [p["ID"] for p in cloud.cli("identity", "provider", "list")]

    # remote ids are unique across providers: 409, and nothing is created.
    other = unique("idp")
    resp = api.put(f"{FED}/identity_providers/{other}", conn=admin, json={
        "identity_provider": {"remote_ids": [remote], "enabled": True}})
    assert_fault(resp, 409, "Conflict")
    assert api.get(f"{FED}/identity_providers/{other}", conn=admin).status_code == 404
    assert not list(admin.identity.domains(name=other))
    # unknown attributes and bad types are 400
    resp = api.put(f"{FED}/identity_providers/{other}", conn=admin, json={
        "identity_provider": {"remote_ids": "x"}})
    assert_fault(resp, 400, "Bad Request")
    resp = api.put(f"{FED}/identity_providers/{idp}", conn=admin, json={
        "identity_provider": {}})
    assert_fault(resp, 409, "Conflict")

    cloud.cli("identity", "provider", "set", "--description", "changed", idp, parse=False)
    assert cloud.cli("identity", "provider", "show", idp)["description"] == "changed"

    # mappings: rules checked on create and update
    rules = [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "REMOTE_USER"}]}]
    mapping = unique("map")
    made = cloud.cli("mapping", "create", "--rules", _rules_file(tmp_path, rules), mapping)
    assert made["id"] == mapping and made["rules"] == rules
    bad = [{"local": [{"user": {"name": "{3}"}}], "remote": [{"type": "REMOTE_USER"}]}]
    proc = cloud.cli("mapping", "create", "--rules", _rules_file(tmp_path, bad),
                     unique("map"), check=False)
    assert proc.returncode != 0 and "400" in proc.stderr
    resp = api.patch(f"{FED}/mappings/{mapping}", conn=admin, json={"mapping": {
        "rules": [{"local": [], "remote": []}]}})
    assert_fault(resp, 400, "Bad Request")
    assert mapping in [m["ID"] for m in cloud.cli("mapping", "list")]

    # protocols: the mapping must exist
    proto = cloud.cli("federation", "protocol", "create", "--identity-provider", idp,
                      "--mapping", mapping, "openid")
    assert proto["id"] == "openid" and proto["mapping"] == mapping
    resp = api.put(f"{FED}/identity_providers/{idp}/protocols/saml2", conn=admin,
                   json={"protocol": {"mapping_id": "no-such-mapping"}})
    assert_fault(resp, 400, "Bad Request")
    resp = api.put(f"{FED}/identity_providers/nope/protocols/saml2", conn=admin,
                   json={"protocol": {"mapping_id": mapping}})
    assert_fault(resp, 404, "Not Found")
    listed = cloud.cli("federation", "protocol", "list", "--identity-provider", idp)
    assert [p["id"] for p in listed] == ["openid"]
    body = api.get(f"{FED}/identity_providers/{idp}/protocols/openid",
                   conn=admin).json()["protocol"]
    assert body["links"]["identity_provider"].endswith(f"/identity_providers/{idp}")

    # service providers
    sp = unique("sp")
    made = cloud.cli("service", "provider", "create", "--auth-url",
                     "https://sp.example/v3/OS-FEDERATION/identity_providers/x/protocols/"
                     "saml2/auth", "--service-provider-url",
                     "https://sp.example/Shibboleth.sso/SAML2/ECP", "--enable", sp)
    assert made["id"] == sp and made["relay_state_prefix"] == "ss:mem:"
    # enabled service providers are listed in scoped tokens, next to the catalog
    _, token = api.token(person.name, person.password, {"project": {"id": person.project_id}})
    assert {"id": sp, "auth_url": made["auth_url"], "sp_url": made["sp_url"]} in \
        token["service_providers"]
    resp = api.put(f"{FED}/service_providers/{unique('sp')}", conn=admin,
                   json={"service_provider": {"auth_url": "https://a"}})
    assert_fault(resp, 400, "Bad Request")

    # a non-admin may not touch any of it
    token, _ = api.token(person.name, person.password,
                         {"project": {"id": person.project_id}})
    for path in ("identity_providers", "mappings", "service_providers"):
        assert_fault(api.get(f"{FED}/{path}", token=token), 403, "Forbidden")

    # deletion: the provider takes its protocols with it
    cloud.cli("service", "provider", "delete", sp, parse=False)
    cloud.cli("identity", "provider", "delete", idp, parse=False)
    assert api.get(f"{FED}/identity_providers/{idp}/protocols/openid",
                   conn=admin).status_code == 404
    cloud.cli("mapping", "delete", mapping, parse=False)
    assert api.get(f"{FED}/mappings/{mapping}", conn=admin).status_code == 404


def _setup_federation(admin_api, admin, unique, remote_id_attribute=None):
    """An enabled provider with a protocol whose mapping makes REMOTE_USER a user,
    puts members of OIDC-groups "eng" in a new group (member on a new project) and
    auto-provisions a project "home-<user>"; returns the names."""
    idp, group_name = unique("idp"), unique("eng")
    project = admin.identity.create_project(name=unique("fedproj"), domain_id="default")
    group = admin.identity.create_group(name=group_name, domain_id="default")
    member = next(iter(admin.identity.roles(name="member"))).id
    admin.identity.assign_project_role_to_group(project.id, group.id, member)
    remote = f"https://{idp}.example"
    assert admin_api.put(f"{FED}/identity_providers/{idp}", conn=admin, json={
        "identity_provider": {"enabled": True, "remote_ids": [remote]}}).status_code == 201
    rules = [
        {"local": [{"user": {"name": "{0}", "email": "{0}@example.org"}}],
         "remote": [{"type": "REMOTE_USER"}]},
        {"local": [{"group": {"name": group_name, "domain": {"id": "default"}}}],
         "remote": [{"type": "OIDC-groups", "any_one_of": ["eng"]}]},
        {"local": [{"projects": [{"name": "home-{0}", "roles": [{"name": "reader"}]}]}],
         "remote": [{"type": "REMOTE_USER"}]},
    ]
    assert admin_api.put(f"{FED}/mappings/{idp}-map", conn=admin,
                         json={"mapping": {"rules": rules}}).status_code == 201
    proto = {"mapping_id": f"{idp}-map"}
    if remote_id_attribute:
        proto["remote_id_attribute"] = remote_id_attribute
    assert admin_api.put(f"{FED}/identity_providers/{idp}/protocols/openid", conn=admin,
                         json={"protocol": proto}).status_code == 201
    return {"idp": idp, "remote": remote, "project": project, "group": group}


def test_mapped_auth_is_refused_without_a_trusted_proxy(cloud, api, admin, unique):
    """The default: no trusted proxy configured, so the headers are never honoured,
    whatever the client sends (X-Forwarded-For included); no user is created."""
    fed = _setup_federation(api, admin, unique)
    url = f"{cloud.url}/identity{FED}/identity_providers/{fed['idp']}/protocols/openid/auth"
    who = unique("mallory")
    for method in ("GET", "POST"):
        resp = httpx.request(method, url, headers={
            "REMOTE_USER": who, "OIDC-groups": "eng", "X-Forwarded-For": PROXY,
            "Forwarded": f"for={PROXY}"}, timeout=30)
        assert_fault(resp, 401, "Unauthorized")
        assert "X-Subject-Token" not in resp.headers
    assert not list(admin.identity.users(name=who))
    assert not list(admin.identity.projects(name=f"home-{who}"))


@pytest.fixture(scope="module", params=_backends())
def fedcloud(request, tmp_path_factory):
    """A ``kumo up`` of its own that trusts the front proxy at 127.0.0.2 only, with a
    trusted dashboard for WebSSO."""
    with own_cloud(tmp_path_factory, request.param, "fed", {
        "KUMO_FEDERATION_TRUSTED_PROXIES": f"{PROXY}/32",
        "KUMO_FEDERATION_TRUSTED_DASHBOARDS": "https://dash.example/auth/websso/",
        "KUMO_FEDERATION_REMOTE_ID_ATTRIBUTE": "OIDC-iss",
        "KUMO_COMPUTE_FAKE_HOSTS": "0"}) as server:
        yield server


@pytest.fixture
def fed_admin(fedcloud):
    conn = fedcloud.connect("kumo-admin")
    yield conn
    conn.close()


def _identity_revision(cloud) -> int:
    import sqlalchemy as sa

    from tests.api.helpers import db_engine
    engine = db_engine(cloud)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT value FROM kumo_revision WHERE name = 'identity'")).scalar()
    finally:
        engine.dispose()


def _from_proxy():
    return httpx.Client(transport=httpx.HTTPTransport(local_address=PROXY), timeout=30)


def test_mapped_auth_through_the_trusted_proxy(fedcloud, fed_admin, unique):
    from tests.api.helpers import Api
    admin = fed_admin
    api = Api(fedcloud.url + "/identity", admin.session)
    fed = _setup_federation(api, admin, unique, remote_id_attribute="OIDC-iss")
    base = f"{fedcloud.url}/identity"
    auth = f"{base}{FED}/identity_providers/{fed['idp']}/protocols/openid/auth"
    who = unique("alice")
    headers = {"REMOTE_USER": who, "OIDC-groups": "staff;eng", "OIDC-iss": fed["remote"]}

    # From any other address the same headers are refused, X-Forwarded-For or not.
    resp = httpx.post(auth, headers={**headers, "X-Forwarded-For": PROXY}, timeout=30)
    assert_fault(resp, 401, "Unauthorized")
    assert not list(admin.identity.users(name=who))

    with _from_proxy() as proxy:
        # the provider's remote id must match the protocol's remote_id_attribute
        resp = proxy.post(auth, headers={**headers, "OIDC-iss": "https://evil.example"})
        assert_fault(resp, 403, "Forbidden")
        # no rule maps anybody without REMOTE_USER
        resp = proxy.post(auth, headers={"OIDC-iss": fed["remote"]})
        assert_fault(resp, 401, "Unauthorized")
        # an attribute header given twice is ambiguous: refused
        resp = proxy.post(auth, headers=[("REMOTE_USER", who), ("remote_user", "root"),
                                         ("OIDC-iss", fed["remote"])])
        assert_fault(resp, 401, "Unauthorized")

        resp = proxy.post(auth, headers=headers)
        assert resp.status_code == 201, resp.text
        unscoped = resp.headers["X-Subject-Token"]
        token = resp.json()["token"]
        assert token["methods"] == ["mapped"]
        assert "project" not in token and "roles" not in token
        user = token["user"]
        assert user["name"] == who
        idp_row = api.get(f"{FED}/identity_providers/{fed['idp']}", conn=admin).json()
        assert user["domain"]["id"] == idp_row["identity_provider"]["domain_id"]
        assert user["OS-FEDERATION"] == {
            "identity_provider": {"id": fed["idp"]}, "protocol": {"id": "openid"},
            "groups": [{"id": fed["group"].id}]}
        shadow = admin.identity.get_user(user["id"])
        assert shadow.name == who and shadow.email == f"{who}@example.org"
        shown = api.get(f"/v3/users/{user['id']}", conn=admin).json()["user"]
        assert shown["federated"] == [{"idp_id": fed["idp"], "protocols": [
            {"protocol_id": "openid", "unique_id": who}]}]

        # The same login again changes nothing, so writes nothing (the identity
        # revision, which empties every process's identity caches, stays).
        revision = _identity_revision(fedcloud)
        again = proxy.post(auth, headers=headers)
        assert again.status_code == 201, again.text
        assert again.json()["token"]["user"]["id"] == user["id"]
        assert _identity_revision(fedcloud) == revision

        # the projects the mapping granted: through the group, and auto-provisioned
        projects = httpx.get(f"{base}/v3/auth/projects", timeout=30,
                             headers={"X-Auth-Token": unscoped}).json()["projects"]
        names = {p["name"] for p in projects}
        assert names == {fed["project"].name, f"home-{who}"}
        alias = httpx.get(f"{base}{FED}/projects", timeout=30,
                          headers={"X-Auth-Token": unscoped}).json()["projects"]
        assert {p["name"] for p in alias} == names

        # scope the federated token to the group's project
        resp = httpx.post(f"{base}/v3/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": fed["project"].id}}}})
        assert resp.status_code == 201, resp.text
        scoped = resp.json()["token"]
        assert {r["name"] for r in scoped["roles"]} == {"member", "reader"}
        assert scoped["user"]["OS-FEDERATION"]["identity_provider"]["id"] == fed["idp"]
        assert "mapped" in scoped["methods"]

        # A later login without the group drops the membership (and its project).
        resp = proxy.post(auth, headers={"REMOTE_USER": who, "OIDC-groups": "staff",
                                         "OIDC-iss": fed["remote"]})
        assert resp.status_code == 201, resp.text
        assert resp.json()["token"]["user"]["OS-FEDERATION"]["groups"] == []
        again = resp.headers["X-Subject-Token"]
        projects = httpx.get(f"{base}/v3/auth/projects", timeout=30,
                             headers={"X-Auth-Token": again}).json()["projects"]
        assert {p["name"] for p in projects} == {f"home-{who}"}
        resp = httpx.post(f"{base}/v3/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["token"], "token": {"id": again}},
            "scope": {"project": {"id": fed["project"].id}}}})
        assert_fault(resp, 401, "Unauthorized")

        # A disabled provider refuses logins.
        assert api.patch(f"{FED}/identity_providers/{fed['idp']}", conn=admin, json={
            "identity_provider": {"enabled": False}}).status_code == 200
        assert_fault(proxy.post(auth, headers=headers), 403, "Forbidden")

        # WebSSO posts the token to a trusted dashboard only.
        api.patch(f"{FED}/identity_providers/{fed['idp']}", conn=admin, json={
            "identity_provider": {"enabled": True}})
        sso = f"{base}/v3/auth/OS-FEDERATION/identity_providers/{fed['idp']}/protocols/" \
              "openid/websso"
        resp = proxy.get(sso, params={"origin": "https://evil.example/"}, headers=headers)
        assert_fault(resp, 401, "Unauthorized")
        resp = proxy.get(sso, params={"origin": "https://dash.example/auth/websso/"},
                         headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/html")
        assert 'action="https://dash.example/auth/websso/"' in resp.text
        assert 'name="token"' in resp.text
        # the provider found by its remote id (the remote_id_attribute header)
        resp = proxy.get(f"{base}/v3/auth/OS-FEDERATION/websso/openid",
                         params={"origin": "https://dash.example/auth/websso/"},
                         headers=headers)
        assert resp.status_code == 200, resp.text
        resp = proxy.get(f"{base}/v3/auth/OS-FEDERATION/websso/openid",
                         params={"origin": "https://dash.example/auth/websso/"},
                         headers={**headers, "OIDC-iss": "https://unknown.example"})
        assert_fault(resp, 404, "Not Found")
    # WebSSO is refused outside the proxy too
    resp = httpx.get(f"{base}/v3/auth/OS-FEDERATION/websso/openid", timeout=30,
                     params={"origin": "https://dash.example/auth/websso/"}, headers=headers)
    assert_fault(resp, 401, "Unauthorized")
    # Deleting the provider removes its shadow users.
    assert api.delete(f"{FED}/identity_providers/{fed['idp']}", conn=admin).status_code == 204
    assert not list(admin.identity.users(name=who))


def test_x509_client_certificate_maps_to_a_local_user(fedcloud, fed_admin, unique):
    """The X.509 way: the TLS-terminating proxy passes SSL_CLIENT_* headers; a mapping
    of type ``local`` names an existing user, whose own project roles then apply."""
    from tests.api.helpers import PASSWORD, Api
    admin = fed_admin
    api = Api(fedcloud.url + "/identity", admin.session)
    idp, ca = unique("x509"), "CN=Kumo Test CA"
    user = admin.identity.create_user(name=unique("cert-user"), password=PASSWORD,
                                      domain_id="default")
    project = admin.identity.create_project(name=unique("p"), domain_id="default")
    member = next(iter(admin.identity.roles(name="member"))).id
    admin.identity.assign_project_role_to_user(project.id, user.id, member)
    assert api.put(f"{FED}/identity_providers/{idp}", conn=admin, json={
        "identity_provider": {"enabled": True, "remote_ids": [ca]}}).status_code == 201
    rules = [{"local": [{"user": {"name": "{0}", "domain": {"id": "default"},
                                  "type": "local"}}],
              "remote": [{"type": "SSL_CLIENT_S_DN_CN"},
                         {"type": "SSL_CLIENT_I_DN", "any_one_of": [ca]}]}]
    assert api.put(f"{FED}/mappings/{idp}", conn=admin,
                   json={"mapping": {"rules": rules}}).status_code == 201
    assert api.put(f"{FED}/identity_providers/{idp}/protocols/x509", conn=admin, json={
        "protocol": {"mapping_id": idp, "remote_id_attribute": "SSL_CLIENT_I_DN"}}
    ).status_code == 201
    auth = f"{fedcloud.url}/identity{FED}/identity_providers/{idp}/protocols/x509/auth"
    with _from_proxy() as proxy:
        resp = proxy.post(auth, headers={"SSL_CLIENT_S_DN_CN": user.name,
                                         "SSL_CLIENT_I_DN": ca})
        assert resp.status_code == 201, resp.text
        body = resp.json()["token"]
        assert body["user"]["id"] == user.id  # the local user, no shadow user
        unscoped = resp.headers["X-Subject-Token"]
        # a certificate naming nobody known is refused
        resp = proxy.post(auth, headers={"SSL_CLIENT_S_DN_CN": unique("nobody"),
                                         "SSL_CLIENT_I_DN": ca})
        assert_fault(resp, 401, "Unauthorized")
    resp = httpx.post(f"{fedcloud.url}/identity/v3/auth/tokens", timeout=30, json={
        "auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                 "scope": {"project": {"id": project.id}}}})
    assert resp.status_code == 201, resp.text
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"member", "reader"}
    api.delete(f"{FED}/identity_providers/{idp}", conn=admin)
    assert admin.identity.get_user(user.id).id == user.id  # a local user stays

