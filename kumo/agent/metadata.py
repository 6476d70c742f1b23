"""The metadata proxy (Neutron's ``neutron-metadata-agent`` plus the per-namespace
haproxy, in the agent process), and the ``metadata`` driver that heartbeats for it.

An instance asks ``http://169.254.169.254/<path>``; the packet reaches the router's
``qr-`` leg on its network (or, on a network without a router, the DHCP namespace's
``ns-`` leg, through the option-121 route). :class:`MetadataProxy` listens there with
**one socket per tenant-side leg**: bound to ``169.254.169.254:80`` with
``SO_BINDTODEVICE`` to that leg, made *inside* the namespace
(:func:`kumo.agent.dataplane.netns.call`). The address is on the namespace's ``lo`` in
``qrouter-`` (the L3 driver puts it there) and on ``ns-`` in ``qdhcp-`` (the DHCP driver
does). No redirect, no other port: nothing listens on the ``qg-`` (external) side, on
the legs' own addresses, or on any other port.

**Who is asking is what the kernel proves, nothing else**: the socket that accepted the
connection tells the leg, hence the network; the packet's source address on that leg
tells the instance: the port of *that* network holding that fixed IP whose
``device_owner`` is ``compute:*`` (``GET /v2.0/ports?network_id=<net>&fixed_ips=
ip_address=<ip>``); none: ``404``. Client headers that claim an identity
(``X-Forwarded-For``, ``X-Instance-ID``, ``X-Tenant-ID``, ``X-Instance-ID-Signature``,
``X-Neutron-*``...) are never read and never forwarded: only :data:`PASSED_HEADERS`
are. (As in Neutron, an instance able to spoof its source address on its own network
-- port security off -- can pose as a neighbour of that network; the security groups'
anti-spoofing is what prevents it.)

The request is then forwarded to ``<metadata url>/<path>`` (the ``agent_metadata_url``
setting, else ``/metadata`` beside the catalog's compute root) with
``X-Instance-ID`` (the port's ``device_id``), ``X-Tenant-ID`` (its ``project_id``),
``X-Forwarded-For`` (the instance address) and ``X-Instance-ID-Signature`` = hex
HMAC-SHA256(key=``Settings.metadata_secret()``, msg=instance id) -- Nova's scheme; the
status, ``Content-Type`` and body are relayed; ``502`` when the controller cannot be
reached.

One acceptor thread per :class:`MetadataProxy` waits on every listening socket; each
connection is served on its own thread (at most :data:`MAX_CLIENTS` at once, each read
bounded by :data:`CLIENT_TIMEOUT_S`, the whole request by :data:`REQUEST_DEADLINE_S`, so
a guest dribbling bytes cannot hold the slots). :meth:`MetadataProxy.ensure` /
:meth:`MetadataProxy.remove` are what the L3 and DHCP drivers call (idempotent); the
listeners must be removed before the namespace is deleted (a socket keeps the namespace
alive). IPv6 metadata (``fe80::a9fe:a9fe``) is not served.
"""
from __future__ import annotations

import hashlib
import hmac
import http.server
import logging
import selectors
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Mapping

from kumo.agent.dataplane import links
from kumo.agent.dataplane import netns as _netns
from kumo.agent.dataplane.netns import Netns
from kumo.agent.drivers import Driver, register_driver

LOG = logging.getLogger(__name__)
ADDRESS = "169.254.169.254"
PORT = 80
IF_OWNER = "network:router_interface"
#: The tenant-side legs of a namespace: the router's interfaces, the DHCP port.
LEG_PREFIXES = ("qr-", "ns-")
FORWARD_TIMEOUT_S = 30.0
#: Seconds a client may take for each read of its request.
CLIENT_TIMEOUT_S = 10.0
#: Seconds a client may take to send its whole request (headers and body): past it
#: the connection is shut down (a slow sender cannot hold one of the slots).
REQUEST_DEADLINE_S = 30.0
#: Connections served at once per proxy; more are closed at once.
MAX_CLIENTS = 64
#: Largest request body accepted (bytes).
MAX_BODY = 1 << 20
#: The request headers passed on to the metadata service (nothing else is).
PASSED_HEADERS = ("Content-Type", "Accept")


def sign(secret: str, instance_id: str) -> str:
    """``X-Instance-ID-Signature``: hex HMAC-SHA256 of ``instance_id`` keyed by
    ``secret``."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def safe_path(path: str) -> str | None:
    """The request target as a path below ``/metadata`` (with its query), or ``None``
    when it is not an origin-form path or has ``.``/``..`` segments."""
    if not path.startswith("/") or path.startswith("//"):
        return None
    split = urllib.parse.urlsplit(path)
    segments = urllib.parse.unquote(split.path).split("/")
    if any(s in (".", "..") for s in segments) or "\\" in split.path:
        return None
    return split.path.lstrip("/") + (f"?{split.query}" if split.query else "")


@dataclass
class _Listener:
    """One listening socket: ``sock`` bound to ``ADDRESS:port`` on ``device`` (ifindex
    ``index``) of namespace ``ns``, serving network ``network_id``."""

    ns: str
    device: str
    index: int
    network_id: str
    sock: socket.socket


class _Handler(http.server.BaseHTTPRequestHandler):
    """One connection. ``server`` is the accepting :class:`_Listener`'s context: a
    ``(proxy, listener)`` pair exposed as attributes."""

    protocol_version = "HTTP/1.0"
    timeout = CLIENT_TIMEOUT_S

    def log_message(self, fmt, *args):  # noqa: D401 - quiet: the agent logs at debug
        LOG.debug("metadata %s: " + fmt, self.client_address[0], *args)

    def _handle(self) -> None:
        proxy: MetadataProxy = self.server.proxy
        leg: _Listener = self.server.listener
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._reply(400, "text/plain", b"Bad Request\n")
            return
        body = self.rfile.read(length) if length > 0 else None
        if not self.server.request_read():
            return  # cut at the deadline: what came is not the whole request
        # The identity comes from the kernel only: the accepting socket's leg (its
        # network) and the packet's source address; client headers claim nothing.
        status, ctype, data = proxy.handle(
            self.command, self.path, self.client_address[0],
            {k: self.headers[k] for k in PASSED_HEADERS if self.headers.get(k)}, body,
            network_id=leg.network_id)
        self._reply(status, ctype, data)

    def _reply(self, status: int, ctype: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


class _Context:
    def __init__(self, proxy: "MetadataProxy", listener: _Listener, conn=None):
        self.proxy = proxy
        self.listener = listener
        self._lock = threading.Lock()
        self._expired = False
        self.deadline = None
        if conn is not None:
            self.deadline = threading.Timer(REQUEST_DEADLINE_S, self._expire, (conn,))
            self.deadline.daemon = True

    def _expire(self, conn: socket.socket) -> None:
        """End a connection whose request took too long (its reads then fail or
        end)."""
        with self._lock:
            self._expired = True
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def request_read(self) -> bool:
        """The whole request is in: the deadline no longer applies. False when it had
        passed (the connection was cut)."""
        if self.deadline is not None:
            self.deadline.cancel()
        with self._lock:
            return not self._expired


class MetadataProxy:
    """Metadata proxies in namespaces. ``client``: the agent's
    :class:`~kumo.agent.client.ControllerClient` (the service user; port lookups).
    ``secret``: the shared secret (default ``settings.metadata_secret()``).
    ``metadata_url``: where Nova's metadata service is (default: :attr:`metadata_url`). ``port``: the port
    listened on (80; tests may pick another)."""

    def __init__(self, client, settings=None, *, secret: str | None = None,
                 metadata_url: str | None = None, port: int = PORT):
        self.client = client
        self._secret = secret
        self._settings = settings
        self._metadata_url = metadata_url.rstrip("/") if metadata_url else None
        self.port = port
        self._lock = threading.Lock()
        # namespace path -> device -> listener (a namespace served with no leg yet
        # has an empty dict)
        self._ns: dict[str, dict[str, _Listener]] = {}
        self._selector: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._clients = threading.BoundedSemaphore(MAX_CLIENTS)

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = self._settings.metadata_secret() if self._settings else ""
        return self._secret

    @property
    def metadata_url(self) -> str:
        """The ``metadata_url`` given, else the ``agent_metadata_url`` setting, else
        ``/metadata`` beside the catalog's compute root
        (:meth:`kumo.agent.client.ControllerClient.metadata_url`)."""
        if self._metadata_url is None:
            url = getattr(self._settings, "agent_metadata_url", "") or ""
            self._metadata_url = (url or self.client.metadata_url()).rstrip("/")
        return self._metadata_url

    # -- lifecycle -----------------------------------------------------------------
    def ensure(self, ns: Netns, *, router_id: str | None = None,
               network_id: str | None = None,
               legs: Mapping[str, str] | None = None) -> None:
        """Serve metadata in namespace ``ns``: on ``ADDRESS:port`` of each tenant-side
        leg, for that leg's network. ``legs``: ``{device: network_id}``; without it,
        for ``network_id`` (a DHCP namespace) every ``ns-*`` device of ``ns`` serves
        that network, for ``router_id`` the router's interface ports are asked of the
        API (``qr-<port[:11]>`` -> its network). Give ``router_id`` or ``network_id``.
        Idempotent: listeners of legs gone, re-made (another ifindex) or moved to
        another network are replaced, the others kept. Raises ``OSError`` (the leg
        or ``ADDRESS`` is missing in ``ns``: call again once they are there)."""
        if (router_id is None) == (network_id is None):
            raise ValueError("give exactly one of router_id and network_id")
        present = {lk.name: lk.index for lk in links.list_links(ns)}
        if legs is None:
            if network_id is not None:
                legs = {d: network_id for d in present if d.startswith(LEG_PREFIXES[1])}
            else:
                legs = self._router_legs(router_id)
        wanted = {d: (n, present[d]) for d, n in legs.items()
                  if d.startswith(LEG_PREFIXES) and d in present}
        with self._lock:
            cur = self._ns.setdefault(ns.path, {})
            for dev in list(cur):
                lst = cur[dev]
                if wanted.get(dev) != (lst.network_id, lst.index):
                    self._close(cur.pop(dev))
            for dev, (net, index) in sorted(wanted.items()):
                if dev in cur:
                    continue
                sock = _netns.call(ns, self._listen, dev)
                lst = _Listener(ns.path, dev, index, net, sock)
                cur[dev] = lst
                self._start()
                self._selector.register(sock, selectors.EVENT_READ, lst)
                LOG.debug("metadata: serving %s on %s of %s", net, dev, ns.name)

    def _router_legs(self, router_id: str) -> dict[str, str]:
        from kumo.agent.dataplane import names  # noqa: PLC0415
        ports = self.client.list_ports(device_id=router_id, device_owner=IF_OWNER)
        return {names.router_interface(p["id"]): p["network_id"] for p in ports
                if p.get("device_id") == router_id}

    def _listen(self, device: str) -> socket.socket:
        """A listening socket on ``ADDRESS:port`` bound to ``device`` (run inside the
        namespace)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            sock.bind((ADDRESS, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def remove(self, ns: Netns, **_ignored) -> None:
        """Stop serving in ``ns`` (nothing if not served); closes its sockets, so the
        namespace can go."""
        with self._lock:
            for lst in self._ns.pop(ns.path, {}).values():
                self._close(lst)

    def serving(self) -> list[str]:
        """Paths of the namespaces served."""
        with self._lock:
            return sorted(self._ns)

    def listeners(self, ns: Netns) -> dict[str, str]:
        """``{device: network_id}`` of the legs served in ``ns``."""
        with self._lock:
            return {d: lst.network_id for d, lst in self._ns.get(ns.path, {}).items()}

    def stop(self) -> None:
        """Stop every listener and the acceptor thread (a later :meth:`ensure` starts
        them again)."""
        with self._lock:
            for path in list(self._ns):
                for lst in self._ns.pop(path).values():
                    self._close(lst)
            thread, self._thread = self._thread, None
            selector, self._selector = self._selector, None
            stopping, self._stopping = self._stopping, threading.Event()
        stopping.set()
        if thread is not None:
            thread.join(5.0)
        if selector is not None:
            selector.close()

    def _close(self, lst: _Listener) -> None:
        """Unregister and close one listener (under the lock)."""
        if self._selector is not None:
            try:
                self._selector.unregister(lst.sock)
            except (KeyError, ValueError):
                pass
        lst.sock.close()

    # -- accepting -----------------------------------------------------------------
    def _start(self) -> None:
        """The acceptor thread (under the lock)."""
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._accept_loop, args=(
                self._selector, self._stopping), name="metadata-accept", daemon=True)
            self._thread.start()

    def _accept_loop(self, selector: selectors.BaseSelector,
                     stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                events = selector.select(0.5)
            except (OSError, ValueError):  # closed under us: stopping
                return
            for key, _ in events:
                lst: _Listener = key.data
                with self._lock:
                    # a listener closed meanwhile (its fd maybe reused) is skipped
                    if self._ns.get(lst.ns, {}).get(lst.device) is not lst:
                        continue
                    try:
                        conn, peer = lst.sock.accept()
                    except OSError:
                        continue
                if not self._clients.acquire(blocking=False):
                    LOG.warning("metadata: too many clients; dropping %s", peer[0])
                    conn.close()
                    continue
                threading.Thread(target=self._serve, args=(conn, peer, lst),
                                 name=f"metadata:{lst.device}", daemon=True).start()

    def _serve(self, conn: socket.socket, peer, lst: _Listener) -> None:
        # CLIENT_TIMEOUT_S bounds each read only: a client sending a byte now and then
        # would hold its slot for ever without this deadline on the whole request.
        ctx = _Context(self, lst, conn)
        try:
            conn.setblocking(True)
            ctx.deadline.start()
            _Handler(conn, peer, ctx)
        except Exception as e:  # noqa: BLE001 - one client's failure is only logged
            LOG.debug("metadata: client %s on %s: %s", peer[0], lst.device, e)
        finally:
            ctx.deadline.cancel()
            try:
                conn.close()
            finally:
                self._clients.release()

    # -- requests ------------------------------------------------------------------
    def lookup(self, address: str, network_id: str) -> dict | None:
        """The instance port (``device_owner`` ``compute:*``) of network
        ``network_id`` holding fixed IP ``address``, or ``None``."""
        ports = self.client.list_ports(network_id=network_id,
                                       fixed_ips=f"ip_address={address}")
        for port in ports:
            if (port.get("network_id") == network_id and port.get("device_id")
                    and (port.get("device_owner") or "").startswith("compute:")
                    and any(f.get("ip_address") == address
                            for f in port.get("fixed_ips") or [])):
                return port
        return None

    def handle(self, method: str, path: str, address: str, headers: dict,
               body: bytes | None, *, network_id: str) -> tuple[int, str, bytes]:
        """One request from ``address`` (the packet's source) arriving on a leg of
        ``network_id``: ``(status, content type, body)``. ``headers`` are forwarded
        as they are: pass only :data:`PASSED_HEADERS`."""
        target = safe_path(path)
        if target is None:
            return 404, "text/plain", b"Not Found\n"
        try:
            port = self.lookup(address, network_id)
        except Exception as e:  # noqa: BLE001 - the instance gets a 500, we log
            LOG.warning("metadata: port lookup for %s failed: %s", address, e)
            return 500, "text/plain", b"Internal error looking up the instance\n"
        if port is None:
            return 404, "text/plain", b"Not Found\n"
        instance_id = port["device_id"]
        out = {k: v for k, v in headers.items() if k in PASSED_HEADERS}
        out.update({"X-Instance-ID": instance_id,
                    "X-Tenant-ID": port.get("project_id") or port.get("tenant_id") or "",
                    "X-Forwarded-For": address,
                    "X-Instance-ID-Signature": sign(self.secret, instance_id)})
        url = self.metadata_url + "/" + target
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
