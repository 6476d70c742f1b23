"""The agent's client finds every endpoint in its token's service catalog: the compute
and image roots (Kumo's ``/compute/kumo/v1`` feed, image downloads) and the metadata
URL come from the catalog's compute/image entries even when they are on other hosts
and ports than networking's; nothing is derived by editing the networking URL."""
from __future__ import annotations

import datetime
import http.server
import json
import threading

import pytest
from keystoneauth1 import access
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import access as access_plugin

from kumo.agent import client as api
from kumo.agent.compute import ComputeClient
from kumo.agent.metadata import MetadataProxy

TOKEN = "tok-123"


def _catalog(network: str, compute: str, image: str, interface: str = "public") -> list:
    def entry(kind, name, url):
        return {"type": kind, "name": name, "id": f"{kind}-id", "endpoints": [
            {"id": f"{kind}-{i}", "interface": i, "region": "RegionOne",
             "region_id": "RegionOne",
             "url": url if i == interface else f"http://wrong.example/{kind}/{i}"}
            for i in ("public", "internal", "admin")]}
    return [entry("network", "neutron", network), entry("compute", "nova", compute),
            entry("image", "glance", image)]


def catalog_client(network: str = "http://neutron.example:9696/networking",
                   compute: str = "http://nova.example:8774/compute/v2.1",
                   image: str = "http://glance.example:9292",
                   interface: str = "public") -> api.ControllerClient:
    """A :class:`ControllerClient` whose session holds a token with this catalog (no
    Keystone needed)."""
    expires = (datetime.datetime.now(datetime.timezone.utc)
               + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    body = {"token": {
        "methods": ["password"], "expires_at": expires,
        "issued_at": "2024-01-01T00:00:00.000000Z",
        "user": {"id": "u", "name": "kumo-agent", "domain": {"id": "default",
                                                              "name": "Default"}},
        "project": {"id": "p", "name": "service", "domain": {"id": "default",
                                                              "name": "Default"}},
        "roles": [{"id": "r", "name": "service"}],
        "catalog": _catalog(network, compute, image, interface)}}
    ref = access.create(body=body, auth_token=TOKEN)
    session = ks_session.Session(auth=access_plugin.AccessInfoPlugin(ref))
    return api.ControllerClient(session, interface=interface, region_name="RegionOne")


@pytest.mark.parametrize("url, root", [
    ("http://h:5000/compute/v2.1", "http://h:5000/compute"),
    ("http://h:5000/compute/v2.1/", "http://h:5000/compute"),
    ("http://nova:8774/v2.1/0123456789abcdef0123456789abcdef", "http://nova:8774"),
    ("https://h/cloud/networking", "https://h/cloud/networking"),
    ("http://h:9696/", "http://h:9696"),
    ("http://h:9292/v2", "http://h:9292"),
    ("http://h:5000/identity/v3", "http://h:5000/identity"),
])
def test_service_root(url, root):
    assert api.service_root(url) == root


def test_roots_come_from_the_catalog_not_from_networking():
    client = catalog_client()
    assert client.endpoint == "http://neutron.example:9696/networking"
    compute = ComputeClient.from_controller(client)
    assert compute.endpoint == "http://nova.example:8774/compute"
    assert compute.image_url("img") == "http://glance.example:9292/v2/images/img/file"
    assert client.metadata_url() == "http://nova.example:8774/metadata"
    # a compute endpoint at the host's top level: metadata at the top level too
    top = catalog_client(compute="http://nova.example:8774/v2.1")
    assert top.metadata_url() == "http://nova.example:8774/metadata"


def test_the_clients_interface_is_used():
    client = catalog_client(compute="http://10.0.0.9:8774/compute/v2.1",
                            interface="internal")
    assert client.root("compute") == "http://10.0.0.9:8774/compute"
    assert client.root("network") == "http://neutron.example:9696/networking"


def test_a_service_missing_from_the_catalog_is_an_error():
    client = catalog_client()
    with pytest.raises(api.ControllerError) as err:
        client.root("volumev3")
    assert err.value.status == 0
    fixed = api.ControllerClient.from_token("http://h/networking", "t")
    with pytest.raises(api.ControllerError):
        ComputeClient.from_controller(fixed).endpoint


def test_metadata_proxy_target_from_catalog_or_setting():
    client = catalog_client()
    assert MetadataProxy(client, secret="s").metadata_url == \
        "http://nova.example:8774/metadata"

    class Settings:
        agent_metadata_url = "http://meta.example:8775/"

    assert MetadataProxy(client, Settings(), secret="s").metadata_url == \
        "http://meta.example:8775"


class _Recorder(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.seen.append((self.path, self.headers.get("X-Auth-Token")))
        if self.path.startswith("/v2/images/"):
            data = b"image-bytes"
            ctype = "application/octet-stream"
        else:
            data = json.dumps({"revision": 7, "instances": []}).encode()
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def servers():
    """Two loopback HTTP servers: one plays compute, the other image."""
    made = []
    for _ in range(2):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        srv.seen = []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        made.append(srv)
    yield made
    for srv in made:
        srv.shutdown()
        srv.server_close()


def test_calls_go_to_the_catalogs_hosts(servers):
    nova, glance = servers
    client = catalog_client(
        network="http://127.0.0.1:9/networking",  # discard port: never called here
        compute=f"http://127.0.0.1:{nova.server_address[1]}/compute/v2.1",
        image=f"http://127.0.0.1:{glance.server_address[1]}")
    compute = ComputeClient.from_controller(client)
    assert compute.snapshot("h1") == {"revision": 7, "instances": []}
    assert b"".join(compute.download("img")) == b"image-bytes"
    assert nova.seen == [("/compute/kumo/v1/state?host=h1", TOKEN)]
    assert glance.seen == [("/v2/images/img/file", TOKEN)]
