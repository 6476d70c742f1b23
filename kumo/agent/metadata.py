"""The metadata proxy (Neutron's ``neutron-metadata-agent`` plus the per-namespace
haproxy, in the agent process), and the ``metadata`` driver that heartbeats for it.

An instance asks ``http://169.254.169.254/<path>``; the router (or DHCP) namespace
redirects TCP 169.254.169.254:80 to :data:`PORT` (9697) on itself, where
:class:`MetadataProxy` listens. The listening socket is made *inside* the namespace
(:func:`kumo.agent.dataplane.netns.call`) and served by threads of the agent process
(one accept loop per namespace, one thread per request), so no helper process runs.

For each request the proxy:

1. takes the client address (the instance's fixed IP; the first ``X-Forwarded-For``
   entry if a proxy in front set it) and finds its port with ``GET
   /v2.0/ports?fixed_ips=ip_address=<ip>`` restricted to the networks the namespace
   serves: the router's interface networks (``router_id``; ``GET
   /v2.0/ports?device_id=<router>&device_owner=network:router_interface``) or the one
   ``network_id`` of an isolated network;
2. no such port: ``404``; else forwards the method, path, query and body to
   ``<controller>/metadata/<path>`` with ``X-Instance-ID`` (the port's ``device_id``),
   ``X-Tenant-ID`` (its ``project_id``), ``X-Forwarded-For`` (the instance address) and
   ``X-Instance-ID-Signature`` = hex HMAC-SHA256(key=``Settings.metadata_secret()``,
   msg=instance id) -- Nova's scheme;
3. relays the status, ``Content-Type`` and body; ``502`` when the controller cannot be
   reached.

:meth:`MetadataProxy.ensure` / :meth:`MetadataProxy.remove` are what the L3 and DHCP
drivers call; a proxy must be removed before its namespace is deleted (a listening
socket keeps the namespace alive).
"""
from __future__ import annotations

import hashlib
import hmac
import http.server
import logging
import socket
import socketserver
import threading
import urllib.error
import urllib.parse
import urllib.request

from kumo.agent.dataplane import netns as _netns
from kumo.agent.dataplane.netns import Netns
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)
ADDRESS = "169.254.169.254"
PORT = 9697
IF_OWNER = "network:router_interface"
FORWARD_TIMEOUT_S = 30.0
#: The request headers passed on to the metadata service.
PASSED_HEADERS = ("Content-Type", "Accept")


def sign(secret: str, instance_id: str) -> str:
    """``X-Instance-ID-Signature``: hex HMAC-SHA256 of ``instance_id`` keyed by
    ``secret``."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def controller_base(client) -> str:
    """The Kumo app's base URL (``http://host:port``) from a
    :class:`~kumo.agent.client.ControllerClient`: its networking endpoint without the
    trailing ``/networking``."""
    endpoint = getattr(client, "_endpoint", None)
    if not endpoint:
        endpoint = client.session.get_endpoint(
            service_type="network", interface=getattr(client, "_interface", "public"))
    endpoint = endpoint.rstrip("/")
    for suffix in ("/v2.0", "/networking"):
        if endpoint.endswith(suffix):
            endpoint = endpoint[:-len(suffix)]
    return endpoint


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, sock: socket.socket, proxy: "MetadataProxy", router_id: str | None,
                 network_id: str | None):
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.proxy = proxy
        self.router_id = router_id
        self.network_id = network_id


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # noqa: D401 - quiet: the agent logs at debug
        LOG.debug("metadata %s: " + fmt, self.client_address[0], *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        forwarded = (self.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
        status, ctype, data = self.server.proxy.handle(
            self.command, self.path, forwarded or self.client_address[0],
            {k: self.headers[k] for k in PASSED_HEADERS if self.headers.get(k)}, body,
            router_id=self.server.router_id, network_id=self.server.network_id)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class MetadataProxy:
    """Metadata proxies in namespaces. ``client``: the agent's
    :class:`~kumo.agent.client.ControllerClient` (admin; port lookups). ``secret``: the
    shared secret (default ``settings.metadata_secret()``). ``metadata_url``: where
    Nova's metadata service is (default ``<controller>/metadata``)."""

    def __init__(self, client, settings=None, *, secret: str | None = None,
                 metadata_url: str | None = None, port: int = PORT):
        self.client = client
        self._secret = secret
        self._settings = settings
        self._metadata_url = metadata_url.rstrip("/") if metadata_url else None
        self.port = port
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[_Server, threading.Thread]] = {}

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = self._settings.metadata_secret() if self._settings else ""
        return self._secret

    @property
    def metadata_url(self) -> str:
        if self._metadata_url is None:
            self._metadata_url = controller_base(self.client) + "/metadata"
        return self._metadata_url

    # -- lifecycle -----------------------------------------------------------------
    def ensure(self, ns: Netns, *, router_id: str | None = None,
               network_id: str | None = None) -> None:
        """Serve metadata in namespace ``ns`` on ``0.0.0.0:<port>`` for the networks of
        router ``router_id`` or the network ``network_id`` (exactly one). Idempotent;
        a running proxy for ``ns`` with other ids is replaced."""
        if (router_id is None) == (network_id is None):
            raise ValueError("give exactly one of router_id and network_id")
        with self._lock:
            cur = self._servers.get(ns.path)
            if cur is not None:
                if (cur[0].router_id, cur[0].network_id) == (router_id, network_id) \
                        and cur[1].is_alive():
                    return
                self._close(ns.path)

            def listen() -> socket.socket:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", self.port))
                sock.listen(128)
                return sock

            sock = _netns.call(ns, listen)
            server = _Server(sock, self, router_id, network_id)
            thread = threading.Thread(target=server.serve_forever, kwargs={
                "poll_interval": 0.5}, name=f"metadata:{ns.name}", daemon=True)
            thread.start()
            self._servers[ns.path] = (server, thread)

    def remove(self, ns: Netns, **_ignored) -> None:
        """Stop serving in ``ns`` (nothing if not served); closes the socket, so the
        namespace can go."""
        with self._lock:
            self._close(ns.path)

    def serving(self) -> list[str]:
        """Paths of the namespaces served."""
        with self._lock:
            return sorted(self._servers)

    def stop(self) -> None:
        """Stop every proxy."""
        with self._lock:
            for path in list(self._servers):
                self._close(path)

    def _close(self, path: str) -> None:
        entry = self._servers.pop(path, None)
        if entry is None:
            return
        server, thread = entry
        server.shutdown()
        server.server_close()
        thread.join(5.0)

    # -- requests ------------------------------------------------------------------
    def networks(self, router_id: str | None, network_id: str | None) -> set[str]:
        """The network ids a namespace serves."""
        if network_id is not None:
            return {network_id}
        ports = self.client._call("GET", "/v2.0/ports", params={
            "device_id": router_id, "device_owner": IF_OWNER})["ports"]
        return {p["network_id"] for p in ports}

    def lookup(self, address: str, router_id: str | None,
               network_id: str | None) -> dict | None:
        """The port holding fixed IP ``address`` on a network the namespace serves."""
        ports = self.client._call("GET", "/v2.0/ports", params={
            "fixed_ips": f"ip_address={address}"})["ports"]
        if not ports:
            return None
        nets = self.networks(router_id, network_id)
        for port in ports:
            if port["network_id"] in nets and port.get("device_id"):
                return port
        return None

    def handle(self, method: str, path: str, address: str, headers: dict,
               body: bytes | None, *, router_id: str | None = None,
               network_id: str | None = None) -> tuple[int, str, bytes]:
        """One request from ``address``: ``(status, content type, body)``."""
        try:
            port = self.lookup(address, router_id, network_id)
        except Exception as e:  # noqa: BLE001 - the instance gets a 500, we log
            LOG.warning("metadata: port lookup for %s failed: %s", address, e)
            return 500, "text/plain", b"Internal error looking up the instance\n"
        if port is None:
            return 404, "text/plain", b"Not Found\n"
        instance_id = port["device_id"]
        out = dict(headers)
        out.update({"X-Instance-ID": instance_id,
                    "X-Tenant-ID": port.get("project_id") or port.get("tenant_id") or "",
                    "X-Forwarded-For": address,
                    "X-Instance-ID-Signature": sign(self.secret, instance_id)})
        url = self.metadata_url + "/" + path.lstrip("/")
        req = urllib.request.Request(url, data=body, headers=out, method=method)
        try:
            with urllib.request.urlopen(req, timeout=FORWARD_TIMEOUT_S) as resp:
                return (resp.status, resp.headers.get("Content-Type") or "text/plain",
                        resp.read())
        except urllib.error.HTTPError as e:
            return (e.code, e.headers.get("Content-Type") or "text/plain", e.read())
        except (urllib.error.URLError, OSError) as e:
            LOG.warning("metadata: forwarding %s for %s failed: %s", path, instance_id, e)
            return 502, "text/plain", b"Bad Gateway\n"


@register_driver("metadata")
class MetadataDriver(Driver):
    """Heartbeats as the ``Metadata agent``; the proxies themselves are run by the L3
    (and DHCP) drivers through :class:`MetadataProxy`. Reconciles nothing."""

    name = "metadata"
    agent_type = "Metadata agent"
    binary = "neutron-metadata-agent"
    kinds: tuple[str, ...] = ()

    def __init__(self, host: str, settings=None, **_):
        self.host = host

    def configurations(self) -> dict:
        return {"metadata_proxy": "in-process", "metadata_port": PORT}

    def reconcile(self, desired: dict, revision: int):
        return None

    def cleanup_orphans(self, desired: dict) -> None:
        return None
