"""OAuth 2.0 client credentials for NetSuite: a JWT assertion (M2M) or HTTP Basic, and the token cache.

The token is fetched on first use, reused until `token_refresh_margin_seconds` before it expires
(by the connector's clock), and fetched again when a request is refused with 401 (`refresh`, once
per stale token, so threads that saw the same 401 share one new token). The token and the client
secrets are registered with the session, so no error text ever carries them. A refusal from the
token endpoint itself is an `AuthenticationError`.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import jwt

from tieout.connectors.http import HttpSession
from tieout.connectors.netsuite.settings import NetSuiteSettings
from tieout.errors import AuthenticationError, ConnectorError, MalformedResponse

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenSource:
    """Issues bearer tokens for one connector; thread-safe."""

    def __init__(
        self, settings: NetSuiteSettings, session: HttpSession, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self.fetched = 0

    def token(self) -> str:
        with self._lock:
            margin = timedelta(seconds=self.settings.token_refresh_margin_seconds)
            if self._token is None or self._expires_at is None or self.clock() >= self._expires_at - margin:
                self._fetch()
            assert self._token is not None
            return self._token

    def refresh(self, stale: str) -> str:
        """A new token after `stale` was refused (unless another thread already replaced it)."""
        with self._lock:
            if self._token is None or self._token == stale:
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        settings = self.settings
        data: dict[str, str] = {"grant_type": "client_credentials"}
        headers: dict[str, str] = {}
        if settings.method == "jwt":
            data["client_assertion_type"] = ASSERTION_TYPE
            data["client_assertion"] = self._assertion()
        else:
            assert settings.client_secret is not None
            pair = f"{settings.client_id}:{settings.client_secret.get_secret_value()}".encode()
            basic = base64.b64encode(pair).decode()
            self.session.add_secret(basic)
            headers["Authorization"] = f"Basic {basic}"
        now = self.clock()
        try:
            body = self.session.json(
                "POST", settings.resolved_token_url, data=data, headers=headers, idempotent=True
            )
        except ConnectorError as exc:
            if exc.status_code == 400:
                raise AuthenticationError(str(exc), system=exc.system, status_code=400) from None
            raise
        token, lifetime = _read_grant(body, self.session.system)
        self.session.add_secret(token)
        self._token = token
        self._expires_at = now + timedelta(seconds=lifetime)
        self.fetched += 1

    def _assertion(self) -> str:
        settings = self.settings
        assert settings.private_key_pem is not None and settings.certificate_id is not None
        issued = int(self.clock().timestamp())
        claims = {
            "iss": settings.client_id,
            "scope": list(settings.scopes),
            "aud": settings.resolved_token_url,
            "iat": issued,
            "exp": issued + settings.assertion_lifetime_seconds,
            "jti": uuid.uuid4().hex,
        }
        try:
            return jwt.encode(
                claims,
                settings.private_key_pem.get_secret_value(),
                algorithm=settings.jwt_algorithm,
                headers={"kid": settings.certificate_id, "typ": "JWT"},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthenticationError(
                f"cannot sign the client assertion with private_key_pem ({type(exc).__name__})",
                system=self.session.system,
            ) from None


def _read_grant(body: Any, system: str) -> tuple[str, int]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        raise MalformedResponse("the token endpoint answered without an access_token", system=system)
    try:
        lifetime = int(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        raise MalformedResponse(
            "the token endpoint answered a non-numeric expires_in", system=system
        ) from None
    return body["access_token"], lifetime
