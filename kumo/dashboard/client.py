"""The dashboard's client of Kumo's public APIs.

Every call goes through the same :class:`kumo.app.App` the CLI reaches over HTTP, in
process (httpx's ASGI transport: no socket, no second listener), with the user's own
token in ``X-Auth-Token``. So token validation, policy, schemas and fault bodies are
exactly those an ``openstack`` command meets; the dashboard reads no table itself.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

import httpx

#: Where each service's API lives under the one ASGI app.
IDENTITY = "/identity/v3"
NETWORK = "/networking/v2.0"
COMPUTE = "/compute/v2.1"
IMAGE = "/image/v2"

#: The Nova microversion the dashboard speaks (server lists with ``key_name``...).
NOVA_VERSION = "compute 2.47"


class ApiError(Exception):
    """An API answered with an error: ``status`` and the fault's message, whatever the
    service's fault format (Keystone, Neutron, Nova, Glance)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def fault_message(status: int, text: str) -> str:
    """The human message inside any of the services' fault bodies."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:500] or f"HTTP {status}"
    if isinstance(body, dict):
        if "NeutronError" in body:  # Neutron
            return str(body["NeutronError"].get("message", ""))
        if isinstance(body.get("error"), dict):  # Keystone
            return str(body["error"].get("message", ""))
        for value in body.values():  # Nova: {"badRequest": {"code", "message"}}
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
    return f"HTTP {status}"


class Api:
    """Calls into ``app`` (an ASGI callable) as the holder of ``token``."""

    def __init__(self, http: httpx.AsyncClient, token: str | None,
                 request_id: str | None = None):
        self.http = http
        self.token = token
        self.request_id = request_id

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"accept": "application/json"}
        if self.token:
            headers["x-auth-token"] = self.token
        if self.request_id:
            headers["x-openstack-request-id"] = self.request_id
        if extra:
            headers.update(extra)
        return headers

    async def request(self, method: str, path: str, body: Any = None,
                      params: dict | None = None, headers: dict | None = None,
                      content: bytes | AsyncIterator[bytes] | None = None,
                      ok: tuple[int, ...] = ()) -> httpx.Response:
        """One call; raises :class:`ApiError` for any status >= 400 not in ``ok``."""
        extra = dict(headers or {})
        if path.startswith(COMPUTE):
            extra.setdefault("openstack-api-version", NOVA_VERSION)
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        elif content is not None:
            kwargs["content"] = content
        resp = await self.http.request(method, path, params=params,
                                       headers=self._headers(extra), **kwargs)
        if resp.status_code >= 400 and resp.status_code not in ok:
            raise ApiError(resp.status_code, fault_message(resp.status_code, resp.text))
        return resp

    async def get(self, path: str, **params) -> Any:
        resp = await self.request("GET", path, params={k: v for k, v in params.items()
                                                       if v is not None})
        return resp.json() if resp.content else {}

    async def post(self, path: str, body: Any = None, **kw) -> Any:
        resp = await self.request("POST", path, body if body is not None else {}, **kw)
        return resp.json() if resp.content else {}

    async def put(self, path: str, body: Any) -> Any:
        resp = await self.request("PUT", path, body)
        return resp.json() if resp.content else {}

    async def delete(self, path: str, **kw) -> None:
        await self.request("DELETE", path, **kw)


def make_http(app) -> httpx.AsyncClient:
    """An httpx client whose requests ``app`` serves in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 0)),
                             base_url="http://localhost", timeout=120)
