"""Dashboard sessions: kept on the server, named by a random id in a cookie.

The browser holds only ``kumo_dashboard`` (256 random bits, ``HttpOnly``,
``SameSite=Strict``, ``Path=/dashboard``, ``Secure`` over HTTPS); the Keystone tokens
(the unscoped one from the password login and the project-scoped one in use) stay in
this process's memory. A session ends when its token expires, at logout (both tokens
revoked), or when an API call answers 401. Each session has its CSRF token: every
state-changing request must carry it (form field ``csrf_token`` or header
``X-CSRF-Token``) or is refused with 403.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "kumo_dashboard"
#: How long a session without a login (the login form's CSRF token) is kept.
ANONYMOUS_TTL_S = 3600
#: Most sessions kept; past it the oldest anonymous ones go first.
MAX_SESSIONS = 10000


@dataclass
class Session:
    id: str
    csrf: str
    created: float = field(default_factory=time.time)
    #: Logged in: the user, the unscoped token (to re-scope) and the scoped one.
    user_id: str | None = None
    user_name: str | None = None
    domain_name: str | None = None
    unscoped_token: str | None = None
    token: str | None = None
    #: When the tokens expire (epoch seconds): the session ends then.
    expires: float = 0.0
    project_id: str | None = None
    project_name: str | None = None
    roles: list[str] = field(default_factory=list)
    #: The user's projects ``[{"id", "name"}]`` (the project switch).
    projects: list[dict] = field(default_factory=list)
    #: One message shown on the next page (after a redirect).
    flash: list[tuple[str, str]] = field(default_factory=list)

    @property
    def logged_in(self) -> bool:
        return self.token is not None and time.time() < self.expires

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def check_csrf(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.csrf.encode())


class SessionStore:
    """Sessions by id, in memory (one ``kumo up`` process serves the dashboard)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def new(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._prune()
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            now = time.time()
            if session.token is not None and now >= session.expires:
                del self._sessions[session_id]  # the token expired: so did the session
                return None
            if session.token is None and now - session.created > ANONYMOUS_TTL_S:
                del self._sessions[session_id]
                return None
            return session

    def rotate(self, session: Session) -> Session:
        """The same session under a new id and CSRF token (at login: a session id
        known before the login is worth nothing after it)."""
        with self._lock:
            self._sessions.pop(session.id, None)
            session.id = secrets.token_urlsafe(32)
            session.csrf = secrets.token_urlsafe(32)
            self._sessions[session.id] = session
        return session

    def drop(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def _prune(self) -> None:
        now = time.time()
        for sid, s in list(self._sessions.items()):
            if (s.token is not None and now >= s.expires) or \
                    (s.token is None and now - s.created > ANONYMOUS_TTL_S):
                del self._sessions[sid]
        if len(self._sessions) >= MAX_SESSIONS:
            anonymous = sorted((s.created, sid) for sid, s in self._sessions.items()
                               if s.token is None)
            for _, sid in anonymous[:max(1, len(anonymous) // 2)]:
                del self._sessions[sid]
