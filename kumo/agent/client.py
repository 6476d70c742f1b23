"""The agent's HTTP client for the controller's data-plane API (Kumo's own routes under
the ``network`` service's endpoint, all admin only).

Authentication is a keystoneauth1 session: password auth from a ``clouds.yaml`` cloud
(:meth:`ControllerClient.from_cloud`), explicit password settings
(:meth:`ControllerClient.from_password`), or a fixed admin token and endpoint
(:meth:`ControllerClient.from_token`). The endpoint is the catalog's entry for service
type ``network`` (interface ``public``) unless given.

Errors: :class:`Gone` (410, the revision is older than the retained history: relist),
:class:`ControllerUnavailable` (connection refused/reset, timeouts, 5xx: retry with
backoff), :class:`ControllerError` (any other unexpected status; ``status`` attribute).
"""
from __future__ import annotations

import logging
from typing import Any

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


class ControllerClient:
    """Calls the data-plane feed, heartbeat and status routes. Thread-safe enough for the
    agent's use (one keystoneauth session; its connection pool is shared)."""

    def __init__(self, session: ks_session.Session, endpoint: str | None = None,
                 interface: str = "public", region_name: str | None = None):
        self.session = session
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._interface = interface
        self._region = region_name

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
    def from_token(cls, endpoint: str, token: str) -> "ControllerClient":
        """A fixed token and the networking endpoint (``http://host:port/networking``)."""
        from keystoneauth1 import token_endpoint

        return cls(ks_session.Session(auth=token_endpoint.Token(endpoint, token)), endpoint)

    # -- transport ---------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict | None = None,
              params: dict | None = None, timeout: float = 30.0) -> Any:
        kwargs: dict = {"raise_exc": False, "timeout": timeout, "params": params}
        if body is not None:
            kwargs["json"] = body
        if self._endpoint:
            url = self._endpoint + path
        else:
            url = path
            kwargs["endpoint_filter"] = {"service_type": "network",
                                         "interface": self._interface,
                                         "region_name": self._region}
        try:
            resp = self.session.request(url, method, **kwargs)
        except (ks_exc.ConnectionError, ks_exc.RequestTimeout, ks_exc.EndpointNotFound,
                ks_exc.DiscoveryFailure) as e:
            raise ControllerUnavailable(str(e)) from e
        except ks_exc.http.HttpError as e:  # from the auth plugin (token requests)
            if e.http_status >= 500:
                raise ControllerUnavailable(str(e), e.http_status) from e
            raise ControllerError(e.http_status, str(e)) from e
        except ks_exc.ClientException as e:
            raise ControllerUnavailable(str(e)) from e
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
        return self._call("GET", "/kumo/v1/state", params={"host": host}, timeout=120.0)

    def fetch(self, host: str, keys) -> dict:
        """``GET /kumo/v1/state?host=H&keys=ports:ID,...`` for ``keys`` (``(collection,
        id)`` pairs), :data:`FETCH_CHUNK` keys per request (the request line stays
        under the API's 8 KiB): ``{"revision": R, <collection>: [...]}`` with the
        objects of ``host``'s desired state among ``keys`` (a key not answered is not
        in it). Chunks may answer at different revisions (R is the lowest)."""
        keys = sorted(keys)
        body: dict = {"revision": None}
        for i in range(0, len(keys), FETCH_CHUNK):
            part = self._call("GET", "/kumo/v1/state", timeout=120.0, params={
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
        return self._call("GET", "/kumo/v1/changes",
                          params={"since": int(since), "host": host, "wait": wait},
                          timeout=wait + SLACK_S)

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
        return self._call("POST", "/kumo/v1/agents/heartbeat", {"agent": agent})["agent"]

    def report_port_status(self, port_id: str, status: str) -> None:
        """``POST /kumo/v1/ports/{id}/status`` with ``ACTIVE``, ``DOWN`` or ``ERROR``
        (a permanent driver error names the port). Raises
        :class:`NotFound` when the port is gone."""
        self._call("POST", f"/kumo/v1/ports/{port_id}/status", {"status": status})

    def report_floatingip_status(self, fip_id: str, status: str) -> None:
        """``POST /kumo/v1/floatingips/{id}/status`` with ``ACTIVE``/``DOWN``/``ERROR``."""
        self._call("POST", f"/kumo/v1/floatingips/{fip_id}/status", {"status": status})


def connect(controller: str | None = None, cloud: str | None = None,
            token: str | None = None, password: str | None = None,
            username: str = "admin", project_name: str = "admin") -> ControllerClient:
    """The client ``kumo agent`` uses: the ``clouds.yaml`` cloud ``cloud`` if given
    (endpoint from its catalog, or ``<controller>/networking`` when ``controller`` is
    also given); else a fixed ``token`` with ``<controller>/networking``; else password
    auth as ``username`` in ``project_name`` at ``<controller>/identity``. ``ValueError``
    when neither ``cloud`` nor ``controller`` is given."""
    base = controller.rstrip("/") if controller else None
    if cloud:
        return ControllerClient.from_cloud(cloud, endpoint=base + "/networking" if base
                                           else None)
    if not base:
        raise ValueError("give --controller URL or --cloud NAME")
    if token:
        return ControllerClient.from_token(base + "/networking", token)
    return ControllerClient.from_password(base + "/identity", username, password or "",
                                          project_name)
