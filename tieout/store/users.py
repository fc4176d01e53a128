"""Storage of the web app's access: users, their server-side sessions, and login attempts.

A session row is keyed by the SHA-256 of the cookie's token, so a copy of the table logs nobody
in; it carries the session's CSRF token. Login attempts are kept to rate-limit guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from tieout.store.schema import login_attempts, users, web_sessions


@dataclass(frozen=True)
class StoredUser:
    user_id: int
    username: str
    display_name: str | None
    password_hash: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class StoredSession:
    session_hash: str
    user: StoredUser
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


def _user(row: Any) -> StoredUser:
    return StoredUser(
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        password_hash=row.password_hash,
        role=row.role,
        disabled=bool(row.disabled),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


class UserOps:
    connection: Connection

    def add_user(
        self, *, username: str, display_name: str | None, password_hash: str, role: str, at: datetime
    ) -> int | None:
        """Insert a user; None when the username is taken."""
        if self.get_user(username) is not None:
            return None
        return int(
            self.connection.execute(
                users.insert()
                .values(
                    username=username,
                    display_name=display_name,
                    password_hash=password_hash,
                    role=role,
                    disabled=False,
                    created_at=at,
                )
                .returning(users.c.user_id)
            ).scalar_one()
        )

    def get_user(self, username: str) -> StoredUser | None:
        row = self.connection.execute(select(users).where(users.c.username == username)).first()
        return None if row is None else _user(row)

    def list_users(self) -> list[StoredUser]:
        return [_user(row) for row in self.connection.execute(select(users).order_by(users.c.username))]

    def update_user(self, user_id: int, **values: object) -> None:
        """Change a user's role, display name, password hash, disabled flag or last login."""
        allowed = {"role", "display_name", "password_hash", "disabled", "last_login_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a user")
        self.connection.execute(update(users).where(users.c.user_id == user_id).values(**values))

    def create_session(
        self, *, session_hash: str, user_id: int, csrf_token: str, at: datetime, expires_at: datetime
    ) -> None:
        self.connection.execute(
            web_sessions.insert().values(
                session_hash=session_hash,
                user_id=user_id,
                csrf_token=csrf_token,
                created_at=at,
                expires_at=expires_at,
                last_seen_at=at,
            )
        )

    def get_session(self, session_hash: str, *, now: datetime) -> StoredSession | None:
        """The live session with this hash, with its user; None if expired, unknown or disabled."""
        row = self.connection.execute(
            select(web_sessions, users)
            .join(users, users.c.user_id == web_sessions.c.user_id)
            .where(
                web_sessions.c.session_hash == session_hash,
                web_sessions.c.expires_at > now,
                users.c.disabled.is_(False),
            )
        ).first()
        if row is None:
            return None
        return StoredSession(
            session_hash=row.session_hash,
            user=_user(row),
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_seen_at=row.last_seen_at,
        )

    def touch_session(self, session_hash: str, *, at: datetime) -> None:
        self.connection.execute(
            update(web_sessions).where(web_sessions.c.session_hash == session_hash).values(last_seen_at=at)
        )

    def delete_session(self, session_hash: str) -> None:
        self.connection.execute(delete(web_sessions).where(web_sessions.c.session_hash == session_hash))

    def delete_sessions(self, *, user_id: int | None = None, expired_before: datetime | None = None) -> int:
        """End every session of one user, or every session that expired before a time."""
        query = delete(web_sessions)
        if user_id is not None:
            query = query.where(web_sessions.c.user_id == user_id)
        if expired_before is not None:
            query = query.where(web_sessions.c.expires_at < expired_before)
        return int(self.connection.execute(query).rowcount)

    def add_login_attempt(self, *, username: str, client: str, at: datetime, succeeded: bool) -> None:
        self.connection.execute(
            login_attempts.insert().values(
                username=username[:100], client=client[:64], at=at, succeeded=succeeded
            )
        )

    def failed_login_attempts(self, *, username: str, client: str, since: datetime) -> int:
        """Failed attempts since a time naming this user or coming from this client."""
        return int(
            self.connection.execute(
                select(func.count())
                .select_from(login_attempts)
                .where(
                    login_attempts.c.at >= since,
                    login_attempts.c.succeeded.is_(False),
                    or_(login_attempts.c.username == username[:100], login_attempts.c.client == client[:64]),
                )
            ).scalar_one()
        )

    def delete_login_attempts(self, *, before: datetime) -> int:
        return int(
            self.connection.execute(delete(login_attempts).where(login_attempts.c.at < before)).rowcount
        )
