"""Keystone's security compliance (PCI-DSS) rules for local users' passwords
(Keystone's ``[security_compliance]`` section; admin guide "Security compliance and
PCI-DSS"). Every rule is off unless its setting (kumo/config.py) is set.

- Lockout: ``lockout_failure_attempts`` consecutive failed password checks (login or
  self-service change) lock the user for ``lockout_duration_s`` (401 "The account is
  locked for user: <id>."); a success resets the count. User option
  ``ignore_lockout_failure_attempts`` exempts.
- Expiry: a password set lasts ``password_expires_days`` (``password_expires_at`` in
  the user body); an expired one is a 401 at login ("The password is expired and
  needs to be changed for user: <id>."), but may still be changed by its user. Option
  ``ignore_password_expiry`` exempts.
- First use: with ``change_password_upon_first_use`` a password set by an admin (user
  create or reset) expires at once, so the user must change it before getting a token.
  Option ``ignore_change_password_upon_first_use`` exempts.
- New passwords must match ``password_regex`` (400 with
  ``password_regex_description``); a self-service change may not reuse one of the last
  ``unique_last_password_count`` passwords (the current one included) and may not come
  sooner than ``minimum_password_age_days`` after the previous self-service change.
"""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.identity import models

IGNORE_LOCKOUT = "ignore_lockout_failure_attempts"
IGNORE_EXPIRY = "ignore_password_expiry"
IGNORE_FIRST_USE = "ignore_change_password_upon_first_use"


def _opt(user: models.User, name: str) -> bool:
    return (user.options or {}).get(name) is True


class AccountLocked(exc.Unauthorized):
    def __init__(self, user_id: str):
        super().__init__(f"The account is locked for user: {user_id}.")


class PasswordExpired(exc.Unauthorized):
    def __init__(self, user_id: str):
        super().__init__(
            f"The password is expired and needs to be changed for user: {user_id}.")


class Compliance:
    """The rules over one identity's settings; called by ``Auth`` and ``Users``."""

    def __init__(self, identity):
        self.identity = identity

    @property
    def settings(self):
        return self.identity.settings

    # -- authentication ------------------------------------------------------------
    # The failure count lives in the user's row but is written and read outside the
    # identity revision: a wrong password must not empty every process's identity
    # caches (anyone could flush them at will by failing logins), and a cached user
    # must not hide a lockout another process counted. So the count is read from the
    # database at each password check, and written without a revision bump.
    def _failures(self, user_id: str) -> tuple[int, dt.datetime | None]:
        with self.identity.read() as s:
            row = s.execute(sa.select(models.User.failed_auth_count,
                                      models.User.failed_auth_at)
                            .where(models.User.id == user_id)).first()
        return (row[0] or 0, row[1]) if row is not None else (0, None)

    def _locked(self, user: models.User, count: int, at: dt.datetime | None) -> bool:
        attempts = self.settings.lockout_failure_attempts
        if not attempts or _opt(user, IGNORE_LOCKOUT) or count < attempts:
            return False
        duration = self.settings.lockout_duration_s
        if not duration or at is None:
            return True
        return at + dt.timedelta(seconds=duration) > utcnow()

    def locked(self, user: models.User) -> bool:
        """Whether the user is locked out now (Keystone's ``_is_account_locked``), from
        the failure count in the database (not the possibly cached ``user``)."""
        if not self.settings.lockout_failure_attempts or _opt(user, IGNORE_LOCKOUT):
            return False
        return self._locked(user, *self._failures(user.id))

    def check_password(self, user: models.User, password: str,
                       allow_expired: bool = False) -> None:
        """Check ``password`` for ``user`` with lockout and expiry; 401 with Keystone's
        messages, counting failures. ``allow_expired`` for a self-service change."""
        counting = bool(self.settings.lockout_failure_attempts
                        and not _opt(user, IGNORE_LOCKOUT))
        count, at = self._failures(user.id) if counting else (0, None)
        if counting and self._locked(user, count, at):
            raise AccountLocked(user.id)
        if not self.identity.check_secret(password, user.password_hash):
            if counting:
                self._record_failure(user)
            raise exc.Unauthorized()
        if not user.enabled:
            raise exc.Unauthorized()
        if not allow_expired and self.expired(user):
            raise PasswordExpired(user.id)
        if count:
            self._set_failures(user.id, 0, None)

    def expired(self, user: models.User) -> bool:
        return (user.password_expires_at is not None and not _opt(user, IGNORE_EXPIRY)
                and user.password_expires_at <= utcnow())

    def _record_failure(self, user: models.User) -> None:
        """One more failure, in one statement (concurrent failures all count); a count
        whose lockout has passed starts afresh. No identity revision bump."""
        attempts, duration = (self.settings.lockout_failure_attempts,
                              self.settings.lockout_duration_s)
        now = utcnow()
        count = sa.func.coalesce(models.User.failed_auth_count, 0)
        expired = sa.false()
        if duration:
            expired = sa.and_(models.User.failed_auth_at.is_not(None),
                              models.User.failed_auth_at
                              <= now - dt.timedelta(seconds=duration))
        with self.identity.db.session() as s:
            s.execute(sa.update(models.User).where(models.User.id == user.id).values(
                failed_auth_count=sa.case((sa.and_(count >= attempts, expired), 1),
                                          else_=count + 1),
                failed_auth_at=now))

    def _set_failures(self, user_id: str, count: int, at) -> None:
        """Set the failure count (a success resets it; an admin reset clears it)."""
        with self.identity.db.session() as s:
            s.execute(sa.update(models.User).where(models.User.id == user_id)
                      .values(failed_auth_count=count, failed_auth_at=at))

    # -- setting passwords -----------------------------------------------------------
    def validate_new(self, password: str) -> None:
        """400 when ``password`` does not match ``password_regex``."""
        pattern = self.settings.password_regex
        if pattern and not re.match(pattern, password):
            raise exc.ValidationError(
                "The password does not meet the requirements: "
                f"{self.settings.password_regex_description}.")

    def check_self_service(self, user_id: str, password: str) -> None:
        """The self-service rules: minimum age, history. Reads in its own session and
        runs before the write transaction: the history's bcrypt checks (one per kept
        password) must not hold the identity revision row, which every identity write
        waits for."""
        with self.identity.read() as s:
            user = s.get(models.User, user_id)
            if user is None:
                return
            rows = list(s.scalars(sa.select(models.PasswordHistory).where(
                models.PasswordHistory.user_id == user_id).order_by(
                models.PasswordHistory.id.desc())))
        min_days = self.settings.minimum_password_age_days
        if min_days and rows and rows[0].self_service and user.password_created_at:
            until = user.password_created_at + dt.timedelta(days=min_days)
            now = utcnow()
            if now < until:
                raise exc.ValidationError(
                    "You cannot change your password at this time due to the minimum "
                    "password age. Once you change your password, it must be used for "
                    f"{min_days} day(s) before it can be changed. Please try again in "
                    f"{(until - now).days} day(s) or contact your administrator to reset "
                    "your password.")
        count = self.settings.unique_last_password_count
        if count > 0:
            hashes = [r.password_hash for r in rows[:count]] or [user.password_hash]
            if any(h and self.identity.check_secret(password, h) for h in hashes):
                raise exc.ValidationError(
                    "The new password cannot be identical to a previous password. The "
                    "total number which includes the new password must be unique is "
                    f"{count}.")

    def set_password(self, s, user: models.User, password_hash: str, *,
                     self_service: bool, by_admin: bool) -> None:
        """Store a new password hash with its expiry and history row."""
        now = utcnow()
        user.password_hash = password_hash
        user.password_created_at = now
        user.failed_auth_count = 0
        user.failed_auth_at = None
        expires = None
        if (by_admin and self.settings.change_password_upon_first_use
                and not _opt(user, IGNORE_FIRST_USE)):
            expires = now
        elif self.settings.password_expires_days and not _opt(user, IGNORE_EXPIRY):
            expires = now + dt.timedelta(days=self.settings.password_expires_days)
        user.password_expires_at = expires
        s.add(models.PasswordHistory(user_id=user.id, password_hash=password_hash,
                                     created_at=now, self_service=self_service))
