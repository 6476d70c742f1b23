"""The dashboard's session table, CSRF check, fault messages and redirect targets."""
from __future__ import annotations

import time

from kumo.dashboard import sessions
from kumo.dashboard.auth import _safe_next
from kumo.dashboard.client import fault_message
from kumo.dashboard.sessions import SessionStore


def test_a_session_ends_when_its_token_expires():
    store = SessionStore()
    s = store.new()
    s.token, s.expires = "tok", time.time() + 60
    assert store.get(s.id) is s and s.logged_in
    s.expires = time.time() - 1
    assert store.get(s.id) is None
    assert store.get(s.id) is None  # gone, not just hidden


def test_login_rotates_the_id_and_csrf_token():
    store = SessionStore()
    s = store.new()
    old_id, old_csrf = s.id, s.csrf
    store.rotate(s)
    assert store.get(old_id) is None and store.get(s.id) is s
    assert s.csrf != old_csrf
    assert s.check_csrf(s.csrf)
    assert not s.check_csrf(old_csrf) and not s.check_csrf("") and not s.check_csrf(None)


def test_anonymous_sessions_are_bounded(monkeypatch):
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 10)
    store = SessionStore()
    logged = store.new()
    logged.token, logged.expires = "tok", time.time() + 60
    for _ in range(30):
        store.new()
    assert len(store._sessions) <= 10
    assert store.get(logged.id) is logged  # logins are never pruned for anonymous ones


def test_fault_messages_of_every_service():
    assert fault_message(404, '{"NeutronError": {"type": "X", "message": "net gone"}}') \
        == "net gone"
    assert fault_message(401, '{"error": {"code": 401, "message": "bad pw"}}') == "bad pw"
    assert fault_message(400, '{"badRequest": {"code": 400, "message": "no"}}') == "no"
    assert fault_message(500, "<html>oops</html>") == "<html>oops</html>"
    assert fault_message(500, "") == "HTTP 500"


def test_next_stays_inside_the_dashboard():
    assert _safe_next("/dashboard/project/instances") == "/dashboard/project/instances"
    for bad in ("https://evil.example/", "//evil.example/dashboard/", "/identity/v3",
                "/dashboard/\\evil", None, ""):
        assert _safe_next(bad) == "/dashboard/project/"
