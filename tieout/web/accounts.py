"""Local users of the web app: roles, argon2 password hashes, server-side sessions, login limits.

Roles are ordered: a viewer reads the queue, the dashboard and exports; a resolver also works
exceptions (assign, resolve, ignore, reopen, comment, resync, re-push); an admin also reads
/metrics when the app is not bound to loopback. The cookie holds a random token; the store keeps
only its SHA-256, with the session's CSRF token. Failed logins are counted per username and per
client over the last minute, and refused once `login_attempts_per_minute` is reached.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tieout.errors import AccessError, LoginRefused, TooManyLoginAttempts
from tieout.store import Store, StoredUser

ROLES = ("viewer", "resolver", "admin")
MIN_PASSWORD_LENGTH = 10
_USERNAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")


def _now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class WebUser:
    """The logged-in user of one request, with the session's CSRF token."""

    username: str
    display_name: str
    role: str
    csrf_token: str
    session_hash: str

    def can(self, needed: str) -> bool:
        return role_allows(self.role, needed)


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        session_hours: int = 12,
        attempts_per_minute: int = 5,
        clock: Callable[[], datetime] = _now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.session_hours = session_hours
        self.attempts_per_minute = attempts_per_minute
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        # Verifying against this when the username is unknown keeps the answer as slow as for a
        # known user, so response times do not reveal which usernames exist.
        self._decoy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def add_user(self, username: str, password: str, role: str, *, display_name: str | None = None) -> None:
        username = username.strip().lower()
        if not username or not set(username) <= _USERNAME_CHARACTERS or len(username) > 100:
            raise AccessError(
                f"username {username!r}: use lower-case letters, digits and . _ - @ (at most 100)"
            )
        if role not in ROLES:
            raise AccessError(f"role {role!r}: choose one of {', '.join(ROLES)}")
        check_password(password)
        with self.store.transaction() as tx:
            added = tx.add_user(
                username=username,
                display_name=display_name,
                password_hash=self.hasher.hash(password),
                role=role,
                at=self.clock(),
            )
        if added is None:
            raise AccessError(f"user {username!r} already exists")

    def list_users(self) -> list[StoredUser]:
        with self.store.transaction() as tx:
            return tx.list_users()

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        """Disable (or enable) a user; disabling ends every session the user has."""
        with self.store.transaction() as tx:
            user = tx.get_user(username.strip().lower())
            if user is None:
                raise AccessError(f"no user {username!r}")
            tx.update_user(user.user_id, disabled=disabled)
            if disabled:
                tx.delete_sessions(user_id=user.user_id)

    def set_password(self, username: str, password: str) -> None:
        check_password(password)
        with self.store.transaction() as tx:
            user = tx.get_user(username.strip().lower())
            if user is None:
                raise AccessError(f"no user {username!r}")
            tx.update_user(user.user_id, password_hash=self.hasher.hash(password))
            tx.delete_sessions(user_id=user.user_id)

    def log_in(self, username: str, password: str, *, client: str) -> NewSession:
        """Check the password and open a session; every attempt is recorded for the rate limit."""
        username = username.strip().lower()
        now = self.clock()
        with self.store.transaction() as tx:
            failures = tx.failed_login_attempts(
                username=username, client=client, since=now - timedelta(minutes=1)
            )
            if failures >= self.attempts_per_minute:
                raise TooManyLoginAttempts("too many failed logins: wait a minute and try again")
            user = tx.get_user(username)
        valid = self._verify(user.password_hash if user else self._decoy_hash, password)
        if user is None or user.disabled or not valid:
            with self.store.transaction() as tx:
                tx.add_login_attempt(username=username, client=client, at=now, succeeded=False)
            raise LoginRefused("wrong username or password")
        with self.store.transaction() as tx:
            tx.add_login_attempt(username=username, client=client, at=now, succeeded=True)
            token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires_at = now + timedelta(hours=self.session_hours)
            tx.create_session(
                session_hash=token_hash(token),
                user_id=user.user_id,
                csrf_token=csrf_token,
                at=now,
                expires_at=expires_at,
            )
            changes: dict[str, object] = {"last_login_at": now}
            if self.hasher.check_needs_rehash(user.password_hash):
                changes["password_hash"] = self.hasher.hash(password)
            tx.update_user(user.user_id, **changes)
            tx.delete_sessions(expired_before=now)
            tx.delete_login_attempts(before=now - timedelta(days=1))
        return NewSession(token=token, csrf_token=csrf_token, expires_at=expires_at)

    def session_user(self, token: str) -> WebUser | None:
        """The user behind a session cookie; None when the session is unknown, expired or disabled."""
        if not token:
            return None
        now = self.clock()
        session_hash = token_hash(token)
        with self.store.transaction() as tx:
            session = tx.get_session(session_hash, now=now)
            if session is None:
                return None
            # Writing on every request would serialize readers behind the store's writer lock.
            if now - session.last_seen_at > timedelta(minutes=5):
                tx.touch_session(session_hash, at=now)
        return WebUser(
            username=session.user.username,
            display_name=session.user.display_name or session.user.username,
            role=session.user.role,
            csrf_token=session.csrf_token,
            session_hash=session_hash,
        )

    def log_out(self, session_hash: str) -> None:
        with self.store.transaction() as tx:
            tx.delete_session(session_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
