"""The agent's HTTP client for the controller: Kumo's own data-plane routes under each
service's root, and the public APIs the drivers call (ports, image data).

Authentication is a keystoneauth1 session: password auth from a ``clouds.yaml`` cloud
(:meth:`ControllerClient.from_cloud`; ``kumo up`` writes the agents' cloud ``kumo-agent``
into ``<state>/clouds.yaml``), explicit password settings
(:meth:`ControllerClient.from_password`), or a fixed token and explicit endpoints
(:meth:`ControllerClient.from_token`, for tests). The agents log in as the service
user (role ``service``, not ``admin``): the feed, status and heartbeat routes allow it,
and so do the port rules Neutron's ``service_api`` opens (see
:mod:`kumo.common.policy`).

**Endpoints come from the service catalog** of the session's token
(``session.get_endpoint(service_type=..., interface=..., region_name=...)``), never from
editing another service's URL. A service's *root* is its catalog endpoint without a
trailing API version (:func:`service_root`: ``http://h/compute/v2.1`` ->
``http://h/compute``; Kumo's network and image endpoints carry none, as Neutron's and
Glance's): Kumo's own routes are under ``<root>/kumo/v1`` (network: state, changes,
status, heartbeat; compute: ``<compute root>/kumo/v1/...``), the public ones under
``<root>/v2.0`` (network) and ``<root>/v2`` (image). Nova's metadata API, which is in no
catalog (Neutron's metadata agent is given ``nova_metadata_host``), is the
``agent_metadata_url`` setting or, by default, ``/metadata`` beside the compute root
(:meth:`ControllerClient.metadata_url`: ``http://h/compute`` -> ``http://h/metadata``),
where Kumo serves it. The endpoints are looked up on first use (so an agent may start
before the controller) and kept.

Errors: :class:`Gone` (410, the revision is older than the retained history: relist),
:class:`ControllerUnavailable` (connection refused/reset, timeouts, 5xx, no catalog yet:
retry with backoff), :class:`ControllerError` (any other unexpected status; ``status``
attribute; 0 for a service missing from the catalog).
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

LOG = logging.getLogger(__name__)
#: Seconds allowed for a request on top of the long-poll wait it asks for.
SLACK_S = 15.0
#: Keys per incremental fetch request (``collection:uuid`` is at most ~52 bytes).
FETCH_CHUNK = 100


class ControllerError(Exception):
    """The controller answered with an unexpected status."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(f"{status}: {message}" if message else str(status))
        self.status = status


class Gone(ControllerError):
    """410: the watched revision is older than the retained change history."""

    def __init__(self, message: str = ""):
        super().__init__(410, message)


class NotFound(ControllerError):
    """404: the object the report is about no longer exists."""

    def __init__(self, message: str = ""):
        super().__init__(404, message)


class ControllerUnavailable(ControllerError):
    """The controller could not be reached, timed out or failed (5xx)."""

    def __init__(self, message: str = "", status: int = 0):
        super().__init__(status, message)


#: A trailing API version (``/v2.1``, ``/v2.0``, ``/v3``), optionally followed by a
#: project id (Nova's legacy ``/v2.1/<project_id>`` endpoints).
_VERSION_TAIL = re.compile(r"/v\d+(\.\d+)?(/[0-9a-fA-F-]{32,36})?/*$")


def service_root(url: str) -> str:
    """A catalog endpoint without its trailing API version (and Nova's legacy project
    id): ``http://h/compute/v2.1`` -> ``http://h/compute``; ``http://h:9696/`` ->
    ``http://h:9696``; an unversioned endpoint is returned as is (without a trailing
    ``/``)."""
    parts = urlsplit(url)
    path = _VERSION_TAIL.sub("", parts.path.rstrip("/") + "/").rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class ControllerClient:
    """Calls one service of the controller (``service_type``, default ``network``):
    ``call(method, path)`` goes to ``<root><path>``, the root being ``endpoint`` when
    given, else the catalog's (see the module doc). :meth:`for_service` gives a client
    of another service on the same session. Thread-safe enough for the agent's use
    (one keystoneauth session; its connection pool is shared)."""

    def __init__(self, session: ks_session.Session, endpoint: str | None = None,
                 interface: str = "public", region_name: str | None = None,
                 service_type: str = "network",
                 endpoints: dict[str, str] | None = None):
        self.session = session
        self.service_type = service_type
        self._interface = interface or "public"
        self._region = region_name
        #: service type -> root given by the caller as an endpoint (no catalog lookup
        #: for them; a trailing version is dropped as from the catalog's)
        self._overrides = {k: service_root(v) for k, v in (endpoints or {}).items() if v}
        if endpoint:
            self._overrides[service_type] = service_root(endpoint)
        self._lock = threading.Lock()
        self._roots: dict[str, str] = dict(self._overrides)

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_password(cls, auth_url: str, username: str, password: str,
                      project_name: str, user_domain_name: str = "Default",
                      project_domain_name: str = "Default", endpoint: str | None = None,
                      region_name: str | None = None, interface: str = "public"
                      ) -> "ControllerClient":
        """Password auth against Keystone v3 at ``auth_url`` (``.../identity``)."""
        auth = v3.Password(auth_url=auth_url, username=username, password=password,
                           project_name=project_name, user_domain_name=user_domain_name,
                           project_domain_name=project_domain_name)
        return cls(ks_session.Session(auth=auth), endpoint, interface, region_name)

    @classmethod
    def from_settings(cls, settings) -> "ControllerClient":
        """The agents' service user (``agent_username`` in ``agent_project_name``, the
        password :meth:`~kumo.config.Settings.agent_secret`) at this server's
        ``base_url``: what ``kumo up``'s in-process agents use."""
        return cls.from_password(settings.base_url + "/identity", settings.agent_username,
                                 settings.agent_secret(), settings.agent_project_name,
                                 region_name=settings.region)

    @classmethod
    def from_cloud(cls, cloud: str, config_files: list[str] | None = None,
                   endpoint: str | None = None) -> "ControllerClient":
        """Auth from the ``clouds.yaml`` entry ``cloud`` (``OS_CLIENT_CONFIG_FILE`` and
        the usual locations, or ``config_files``). Raises openstack's
        ``OpenStackConfigException`` when the cloud is unknown."""
        import openstack.config

        kwargs = {"config_files": config_files} if config_files else {}
        region = openstack.config.OpenStackConfig(**kwargs).get_one(cloud)
        return cls(region.get_session(), endpoint, region.get_interface() or "public",
                   region.get_region_name())

    @classmethod
    def from_token(cls, endpoint: str, token: str,
                   endpoints: dict[str, str] | None = None) -> "ControllerClient":
        """A fixed token with no catalog: the networking endpoint ``endpoint``
        (``http://host:port/networking``) and other services' endpoints in
        ``endpoints`` (``{"compute": "http://host:port/compute/v2.1", ...}``), taken as
        the catalog's would be; a service not given raises :class:`ControllerError`
        when used."""
        from keystoneauth1 import token_endpoint

        return cls(ks_session.Session(auth=token_endpoint.Token(endpoint, token)),
                   endpoint, endpoints=endpoints)

    def for_service(self, service_type: str,
                    endpoint: str | None = None) -> "ControllerClient":
        """A client of ``service_type`` on the same session, interface and region (and
        the same overrides); ``endpoint`` (e.g. ``http://h:5000/compute``) replaces
        the catalog's for it."""
        return ControllerClient(self.session, endpoint, self._interface, self._region,
                                service_type, self._overrides)

    # -- endpoints ---------------------------------------------------------------
    def root(self, service_type: str | None = None) -> str:
        """The root URL of ``service_type`` (default this client's): the override, else
        :func:`service_root` of the catalog's endpoint for this interface and region,
        looked up once. :class:`ControllerUnavailable` when the catalog cannot be had
        (auth failed to reach Keystone...), :class:`ControllerError` (status 0) when
        the service is not in it."""
        service_type = service_type or self.service_type
        with self._lock:
            known = self._roots.get(service_type)
        if known:
            return known
        if getattr(getattr(self.session, "auth", None), "get_access", None) is None:
            # a fixed token (token_endpoint.Token answers its one URL for any service)
            raise ControllerError(0, f"no {service_type} endpoint given (no catalog)")
        try:
            url = self.session.get_endpoint(service_type=service_type,
                                            interface=self._interface,
                                            region_name=self._region)
        except (ks_exc.ConnectionError, ks_exc.RequestTimeout,
                ks_exc.DiscoveryFailure) as e:
            raise ControllerUnavailable(str(e)) from e
        except ks_exc.EndpointNotFound as e:
            raise ControllerError(0, str(e)) from e
        except ks_exc.http.HttpError as e:
            if e.http_status >= 500:
                raise ControllerUnavailable(str(e), e.http_status) from e
            raise ControllerError(e.http_status, str(e)) from e
        except ks_exc.ClientException as e:
            raise ControllerUnavailable(str(e)) from e
        if not url:
            raise ControllerError(0, f"no {service_type} endpoint ({self._interface}) "
                                     "in the catalog")
        root = service_root(url)
        with self._lock:
            self._roots[service_type] = root
        return root

    @property
    def endpoint(self) -> str:
        """This client's service root (see :meth:`root`)."""
        return self.root()

    def metadata_url(self) -> str:
        """Where Kumo serves Nova's metadata API: ``/metadata`` beside the compute
        root (``http://h:5000/compute`` -> ``http://h:5000/metadata``; a compute root
        at a host's top level -> ``<root>/metadata``). The ``agent_metadata_url``
        setting replaces this where the two are apart."""
        parts = urlsplit(self.root("compute"))
        parent = parts.path.rstrip("/").rsplit("/", 1)[0]
        return urlunsplit((parts.scheme, parts.netloc, parent + "/metadata", "", ""))

    # -- transport ---------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs):
        """The raw keystoneauth response of ``method <root><path>`` (``raise_exc`` off);
        connection problems are :class:`ControllerUnavailable`."""
        url = self.root() + path
        try:
            return self.session.request(url, method, raise_exc=False, **kwargs)
        except (ks_exc.ConnectionError, ks_exc.RequestTimeout, ks_exc.EndpointNotFound,
                ks_exc.DiscoveryFailure) as e:
            raise ControllerUnavailable(str(e)) from e
        except ks_exc.http.HttpError as e:  # from the auth plugin (token requests)
            if e.http_status >= 500:
                raise ControllerUnavailable(str(e), e.http_status) from e
            raise ControllerError(e.http_status, str(e)) from e
        except ks_exc.ClientException as e:
            raise ControllerUnavailable(str(e)) from e

    def call(self, method: str, path: str, body: dict | None = None,
             params: dict | None = None, timeout: float = 30.0) -> Any:
        """``method <root><path>`` with the JSON ``body`` and query ``params``; the
        decoded JSON answer (None when empty). :class:`Gone` (410), :class:`NotFound`
        (404), :class:`ControllerUnavailable` (5xx, connection), else
        :class:`ControllerError` for any status >= 300. The transport of the typed
        methods below and of clients built on this one
        (:class:`kumo.agent.compute.ComputeClient`); drivers use the typed methods."""
        kwargs: dict = {"timeout": timeout, "params": params}
        if body is not None:
            kwargs["json"] = body
        resp = self.request(method, path, **kwargs)
        if resp.status_code == 410:
            raise Gone(resp.text[:300])
        if resp.status_code == 404:
            raise NotFound(resp.text[:300])
        if resp.status_code >= 500:
            raise ControllerUnavailable(resp.text[:300], resp.status_code)
        if resp.status_code >= 300:
            raise ControllerError(resp.status_code, resp.text[:300])
        return resp.json() if resp.content else None

    # -- the data-plane API ------------------------------------------------------
    def snapshot(self, host: str) -> dict:
        """``GET /kumo/v1/state?host=H`` -> ``{"revision": R, "networks": [...],
        "subnets", "ports", "routers", "floatingips", "security_groups", ...}``: the
        desired state for ``host`` consistent with revision R."""
        return self.call("GET", "/kumo/v1/state", params={"host": host}, timeout=120.0)

    def fetch(self, host: str, keys) -> dict:
        """``GET /kumo/v1/state?host=H&keys=ports:ID,...`` for ``keys`` (``(collection,
        id)`` pairs), :data:`FETCH_CHUNK` keys per request (the request line stays
        under the API's 8 KiB): ``{"revision": R, <collection>: [...]}`` with the
        objects of ``host``'s desired state among ``keys`` (a key not answered is not
        in it). Chunks may answer at different revisions (R is the lowest)."""
        keys = sorted(keys)
        body: dict = {"revision": None}
        for i in range(0, len(keys), FETCH_CHUNK):
            part = self.call("GET", "/kumo/v1/state", timeout=120.0, params={
                "host": host, "keys": ",".join(f"{c}:{k}" for c, k in keys[i:i + FETCH_CHUNK])})
            for name, value in part.items():
                if name == "revision":
                    body["revision"] = value if body["revision"] is None else min(
                        body["revision"], value)
                elif isinstance(value, list):
                    body.setdefault(name, []).extend(value)
        return body

    def changes(self, since: int, host: str, wait: float = 0.0) -> dict:
        """``GET /kumo/v1/changes?since=R&host=H&wait=S`` -> ``{"revision": R2,
        "changes": [{"revision", "resource_type", "resource_id", "op", "host"}]}``,
        long-polling up to ``wait`` seconds. :class:`Gone` when ``since`` is too old."""
        return self.call("GET", "/kumo/v1/changes",
                          params={"since": int(since), "host": host, "wait": wait},
                          timeout=wait + SLACK_S)

    def report_ha_states(self, host: str, states: dict[str, str]) -> dict:
        """``POST /kumo/v1/routers/ha_states``: the VRRP state (``active``/``standby``)
        of HA routers on ``host`` (``{router_id: state}``) -> ``{"updated": n}``."""
        return self.call("POST", "/kumo/v1/routers/ha_states",
                          {"host": host, "states": states})

    def heartbeat(self, host: str, agent_type: str, binary: str | None = None,
                  configurations: dict | None = None, start_flag: bool = False,
                  availability_zone: str | None = None) -> dict:
        """``POST /kumo/v1/agents/heartbeat``: creates or refreshes the agent row of
        ``agent_type`` on ``host``; returns the agent as ``GET /v2.0/agents/{id}``."""
        agent: dict = {"host": host, "agent_type": agent_type, "start_flag": start_flag}
        if binary:
            agent["binary"] = binary
        if configurations is not None:
            agent["configurations"] = configurations
        if availability_zone is not None:
            agent["availability_zone"] = availability_zone
        return self.call("POST", "/kumo/v1/agents/heartbeat", {"agent": agent})["agent"]

    def report_port_status(self, port_id: str, status: str) -> None:
        """``POST /kumo/v1/ports/{id}/status`` with ``ACTIVE``, ``DOWN`` or ``ERROR``
        (a permanent driver error names the port). Raises
        :class:`NotFound` when the port is gone."""
        self.call("POST", f"/kumo/v1/ports/{port_id}/status", {"status": status})

    def report_floatingip_status(self, fip_id: str, status: str) -> None:
        """``POST /kumo/v1/floatingips/{id}/status`` with ``ACTIVE``/``DOWN``/``ERROR``."""
        self.call("POST", f"/kumo/v1/floatingips/{fip_id}/status", {"status": status})

    def report_statuses(self, kind: str, statuses: dict[str, str]) -> list[str]:
        """``POST /kumo/v1/{kind}/status`` (``kind``: ``ports`` or ``floatingips``) with
        ``{kind: [{"id", "status"}...]}``: many reports in one request (at most 5,000);
        returns the ids the API does not know (deleted meanwhile)."""
        body = {kind: [{"id": i, "status": s} for i, s in statuses.items()]}
        return self.call("POST", f"/kumo/v1/{kind}/status", body)["not_found"]

    # -- the public networking API the drivers need (Neutron v2.0 ports) ----------
    def list_ports(self, **filters: str) -> list[dict]:
        """``GET /v2.0/ports`` with ``filters`` as the query (Neutron's filters:
        ``network_id=``, ``device_id=``, ``device_owner=``, ``fixed_ips=ip_address=A``
        ...) -> the ports (the API's rendering). The caller checks what it relies on:
        a filter the API ignores widens the answer, never narrows it."""
        return self.call("GET", "/v2.0/ports", params=filters)["ports"]

    def create_port(self, port: dict) -> dict:
        """``POST /v2.0/ports`` with ``{"port": port}`` -> the created port.
        :class:`ControllerError` 400/409 when the API refuses it (no free address...)."""
        return self.call("POST", "/v2.0/ports", {"port": port})["port"]

    def update_port(self, port_id: str, changes: dict) -> dict:
        """``PUT /v2.0/ports/{id}`` with ``{"port": changes}`` -> the updated port;
        :class:`NotFound` when it is gone."""
        return self.call("PUT", f"/v2.0/ports/{port_id}", {"port": changes})["port"]

    def delete_port(self, port_id: str) -> bool:
        """``DELETE /v2.0/ports/{id}``; False when it was already gone (404)."""
        try:
            self.call("DELETE", f"/v2.0/ports/{port_id}")
        except NotFound:
            return False
        return True


def connect(controller: str | None = None, cloud: str | None = None,
            token: str | None = None, password: str | None = None,
            username: str = "kumo-agent", project_name: str = "service",
            config_files: list[str] | None = None, region_name: str | None = None,
            user_domain_name: str = "Default",
            project_domain_name: str = "Default") -> ControllerClient:
    """The client ``kumo agent`` uses: the ``clouds.yaml`` cloud ``cloud`` if given
    (looked up in ``config_files`` when given); else password auth as ``username`` in
    ``project_name`` at ``<controller>/identity``, or with ``token`` a token scoped to
    ``project_name`` from it. Every endpoint comes from the token's catalog.
    ``ValueError`` when neither ``cloud`` nor ``controller`` is given."""
    if cloud:
        return ControllerClient.from_cloud(cloud, config_files=config_files)
    if not controller:
        raise ValueError("give --controller URL or --cloud NAME")
    auth_url = controller.rstrip("/") + "/identity"
    if token:
        auth = v3.Token(auth_url=auth_url, token=token, project_name=project_name,
                        project_domain_name=project_domain_name)
        return ControllerClient(ks_session.Session(auth=auth), region_name=region_name)
    return ControllerClient.from_password(auth_url, username, password or "", project_name,
                                          user_domain_name=user_domain_name,
                                          project_domain_name=project_domain_name,
                                          region_name=region_name)
