"""Keystone's security compliance (PCI-DSS) options (kumo/identity/compliance.py)
against a ``kumo up`` of its own with them on: lockout, password history and minimum
age, the password regex, expiry and change upon first use. Driven by openstacksdk,
the ``openstack`` CLI and raw calls (for Keystone's exact fault messages)."""
from __future__ import annotations

import datetime as dt
import subprocess
import time

import httpx
import pytest

from tests.api.helpers import assert_fault
from tests.conftest import BIN, _backends, own_cloud

ATTEMPTS = 2
LOCKOUT_S = 3
UNIQUE = 2
EXPIRES_DAYS = 90
REGEX = r"^(?=.*\d)(?=.*[a-zA-Z]).{7,}$"
REGEX_DESC = "Passwords must contain at least 1 letter, 1 digit, and be at least 7 long"
LOCKED = "The account is locked for user: {}."
EXPIRED = "The password is expired and needs to be changed for user: {}."
NO_CHANGE = {"ignore_change_password_upon_first_use": True}


@pytest.fixture(scope="module", params=_backends())
def sccloud(request, tmp_path_factory):
    """A ``kumo up`` with every security compliance option on (the session cloud keeps
    them off, as Keystone's defaults)."""
    with own_cloud(tmp_path_factory, request.param, "sc", {
        "KUMO_LOCKOUT_FAILURE_ATTEMPTS": str(ATTEMPTS),
        "KUMO_LOCKOUT_DURATION_S": str(LOCKOUT_S),
        "KUMO_UNIQUE_LAST_PASSWORD_COUNT": str(UNIQUE),
        "KUMO_MINIMUM_PASSWORD_AGE_DAYS": "1",
        "KUMO_PASSWORD_REGEX": REGEX,
        "KUMO_PASSWORD_REGEX_DESCRIPTION": REGEX_DESC,
        "KUMO_PASSWORD_EXPIRES_DAYS": str(EXPIRES_DAYS),
        "KUMO_CHANGE_PASSWORD_UPON_FIRST_USE": "true",
        "KUMO_COMPUTE_FAKE_HOSTS": "0"}) as server:
        yield server


@pytest.fixture
def sc_admin(sccloud):
    conn = sccloud.connect("kumo-admin")
    yield conn
    conn.close()


def _token(cloud, user_id: str, password: str) -> httpx.Response:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": user_id, "password": password}}}}}
    return httpx.post(cloud.url + "/identity/v3/auth/tokens", json=body, timeout=60)


def _self_change(cloud, user_id: str, original: str, new: str) -> httpx.Response:
    return httpx.post(cloud.url + f"/identity/v3/users/{user_id}/password", json={
        "user": {"original_password": original, "password": new}}, timeout=60)


def _user_cli(cloud, name: str, password: str, *args: str) -> subprocess.CompletedProcess:
    """``openstack <args>`` as the user ``name`` (unscoped password auth)."""
    env = {k: v for k, v in cloud.env.items() if not k.startswith("OS_")}
    cmd = [str(BIN / "openstack"), "--os-auth-url", cloud.url + "/identity",
           "--os-identity-api-version", "3", "--os-username", name,
           "--os-password", password, "--os-user-domain-id", "default",
           "--os-default-domain", "default", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def _while_locked(cloud, user_id: str, check):
    """Lock the user (ATTEMPTS wrong passwords) and run ``check()``; its result when it
    ended inside the lock (under LOCKOUT_S after the last failure began: the server's
    lock starts no earlier), else lock again and retry (a slow machine can take longer
    than the lockout to start the CLI; a result from after the unlock proves nothing)."""
    for _ in range(5):
        for _ in range(ATTEMPTS):
            began = time.monotonic()
            assert_fault(_token(cloud, user_id, "wrong-1"), 401, "Unauthorized")
        result = check()
        if time.monotonic() - began < LOCKOUT_S:
            return result
        time.sleep(LOCKOUT_S)  # the lock may have ended meanwhile: start over
    pytest.fail(f"no check ended within the {LOCKOUT_S} s lockout in 5 tries")


def test_lockout_after_failed_attempts_and_unlock(sccloud, sc_admin, unique):
    user = sc_admin.identity.create_user(name=unique("lock"), password="Passw0rd1",
                                         options=NO_CHANGE)
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201
    # a success between failures resets the count
    assert_fault(_token(sccloud, user.id, "wrong-1"), 401, "Unauthorized")
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201
    for _ in range(ATTEMPTS):
        msg = assert_fault(_token(sccloud, user.id, "wrong-1"), 401, "Unauthorized")
        assert msg != LOCKED.format(user.id)
    # locked: even the right password is refused with Keystone's message
    msg = _while_locked(sccloud, user.id, lambda: assert_fault(
        _token(sccloud, user.id, "Passw0rd1"), 401, "Unauthorized"))
    assert msg == LOCKED.format(user.id)
    proc = _while_locked(sccloud, user.id, lambda: _user_cli(
        sccloud, user.name, "Passw0rd1", "token", "issue"))
    assert proc.returncode != 0 and "account is locked" in proc.stderr
    # a self-service change is refused while locked and changes nothing
    msg = _while_locked(sccloud, user.id, lambda: assert_fault(
        _self_change(sccloud, user.id, "Passw0rd1", "Another1pw"), 401, "Unauthorized"))
    assert msg == LOCKED.format(user.id)
    # after lockout_duration_s it unlocks (wait it out, no timing asserted)
    time.sleep(LOCKOUT_S + 0.5)
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201


def test_ignore_lockout_option_exempts(sccloud, sc_admin, unique):
    user = sc_admin.identity.create_user(
        name=unique("nolock"), password="Passw0rd1",
        options={**NO_CHANGE, "ignore_lockout_failure_attempts": True})
    for _ in range(ATTEMPTS + 2):
        assert_fault(_token(sccloud, user.id, "wrong-1"), 401, "Unauthorized")
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201


def test_admin_reset_unlocks(sccloud, sc_admin, unique):
    user = sc_admin.identity.create_user(name=unique("reset"), password="Passw0rd1",
                                         options=NO_CHANGE)
    for _ in range(ATTEMPTS):
        _token(sccloud, user.id, "wrong-1")
    assert "locked" in assert_fault(_token(sccloud, user.id, "Passw0rd1"), 401,
                                    "Unauthorized")
    sccloud.cli("user", "set", "--password", "Passw0rd2", user.id, parse=False)
    assert _token(sccloud, user.id, "Passw0rd2").status_code == 201


def test_password_regex(sccloud, sc_admin, unique):
    name = unique("rx")
    resp = httpx.post(sccloud.url + "/identity/v3/users", headers={
        "X-Auth-Token": sc_admin.auth_token}, json={"user": {"name": name,
                                                             "password": "short"}},
        timeout=60)
    msg = assert_fault(resp, 400, "Bad Request")
    assert msg == f"The password does not meet the requirements: {REGEX_DESC}."
    assert not list(sc_admin.identity.users(name=name))
    user = sc_admin.identity.create_user(name=name, password="Passw0rd1", options=NO_CHANGE)
    proc = sccloud.cli("user", "set", "--password", "nodigits", user.id, check=False,
                       parse=False)
    assert proc.returncode != 0 and REGEX_DESC in proc.stderr
    msg = assert_fault(_self_change(sccloud, user.id, "Passw0rd1", "abc"), 400,
                       "Bad Request")
    assert REGEX_DESC in msg
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201


def test_history_and_minimum_age(sccloud, sc_admin, unique):
    user = sc_admin.identity.create_user(name=unique("hist"), password="Passw0rd0",
                                         options=NO_CHANGE)
    name = user.name
    # the current password counts in the history
    proc = _user_cli(sccloud, name, "Passw0rd0", "user", "password", "set",
                     "--original-password", "Passw0rd0", "--password", "Passw0rd0")
    assert proc.returncode != 0 and "cannot be identical to a previous password" in proc.stderr
    proc = _user_cli(sccloud, name, "Passw0rd0", "user", "password", "set",
                     "--original-password", "Passw0rd0", "--password", "Passw0rd1")
    assert proc.returncode == 0, proc.stderr
    # a second self-service change within minimum_password_age_days is refused
    msg = assert_fault(_self_change(sccloud, user.id, "Passw0rd1", "Passw0rd2"), 400,
                       "Bad Request")
    assert msg.startswith("You cannot change your password at this time due to the "
                          "minimum password age. Once you change your password, it must "
                          "be used for 1 day(s) before it can be changed.")
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201
    assert _token(sccloud, user.id, "Passw0rd2").status_code == 401
    # an admin reset bypasses the minimum age (and the history)
    sccloud.cli("user", "set", "--password", "Passw0rd2", user.id, parse=False)
    resp = _self_change(sccloud, user.id, "Passw0rd2", "Passw0rd1")
    msg = assert_fault(resp, 400, "Bad Request")
    assert msg == ("The new password cannot be identical to a previous password. The "
                   f"total number which includes the new password must be unique is "
                   f"{UNIQUE}.")
    # Passw0rd0 is older than the last two: allowed again
    assert _self_change(sccloud, user.id, "Passw0rd2", "Passw0rd0").status_code == 204
    assert _token(sccloud, user.id, "Passw0rd0").status_code == 201


def test_change_upon_first_use_and_expiry(sccloud, sc_admin, unique):
    user = sc_admin.identity.create_user(name=unique("first"), password="Passw0rd1")
    msg = assert_fault(_token(sccloud, user.id, "Passw0rd1"), 401, "Unauthorized")
    assert msg == EXPIRED.format(user.id)
    proc = _user_cli(sccloud, user.name, "Passw0rd1", "token", "issue")
    assert proc.returncode != 0 and "password is expired" in proc.stderr
    # a wrong original password is still a plain 401
    msg = assert_fault(_self_change(sccloud, user.id, "nope", "Passw0rd2"), 401,
                       "Unauthorized")
    assert "expired" not in msg
    assert _self_change(sccloud, user.id, "Passw0rd1", "Passw0rd2").status_code == 204
    assert _token(sccloud, user.id, "Passw0rd2").status_code == 201
    # the new password lasts password_expires_days
    expires = sccloud.cli("user", "show", user.id)["password_expires_at"]
    when = dt.datetime.fromisoformat(expires.rstrip("Z").split(".")[0])
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert dt.timedelta(days=EXPIRES_DAYS - 1) < when - now <= dt.timedelta(days=EXPIRES_DAYS)
    # an admin reset expires it again
    sccloud.cli("user", "set", "--password", "Passw0rd3", user.id, parse=False)
    msg = assert_fault(_token(sccloud, user.id, "Passw0rd3"), 401, "Unauthorized")
    assert msg == EXPIRED.format(user.id)


def test_ignore_first_use_and_expiry_options(sccloud, sc_admin, unique):
    user = sc_admin.identity.create_user(name=unique("ign"), password="Passw0rd1",
                                         options=NO_CHANGE)
    assert _token(sccloud, user.id, "Passw0rd1").status_code == 201
    assert sc_admin.identity.get_user(user.id).password_expires_at is not None
    user2 = sc_admin.identity.create_user(name=unique("ign"), password="Passw0rd1",
                                          options={"ignore_password_expiry": True})
    assert _token(sccloud, user2.id, "Passw0rd1").status_code == 201


def test_options_are_off_by_default(cloud, admin, unique):
    """The session cloud has every option off: failures never lock, no expiry."""
    user = admin.identity.create_user(name=unique("def"), password="a")
    for _ in range(6):
        assert_fault(_token(cloud, user.id, "b"), 401, "Unauthorized")
    assert _token(cloud, user.id, "a").status_code == 201
    assert admin.identity.get_user(user.id).password_expires_at is None
    assert _self_change(cloud, user.id, "a", "a").status_code == 204
    assert _self_change(cloud, user.id, "a", "a").status_code == 204


def test_agents_service_user_is_exempt(sccloud, sc_admin):
    """The agents' service user (bootstrap's ``kumo-agent``) carries the options that
    exempt it, so failed logins never lock the agents out and its password never
    expires; it still logs in after more failures than the lockout allows."""
    agent = next(iter(sc_admin.identity.users(name="kumo-agent")))
    options = sc_admin.identity.get(f"/users/{agent.id}").json()["user"]["options"]
    assert {"ignore_lockout_failure_attempts": True, "ignore_password_expiry": True,
            "ignore_change_password_upon_first_use": True}.items() <= options.items()
    for _ in range(ATTEMPTS + 1):
        assert_fault(_token(sccloud, agent.id, "wrong-1"), 401, "Unauthorized")
    secret = (sccloud.state_dir / "agent_password").read_text().strip()
    assert _token(sccloud, agent.id, secret).status_code == 201
