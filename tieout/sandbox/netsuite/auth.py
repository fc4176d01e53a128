"""OAuth 2.0 client credentials for the emulator, as NetSuite's machine-to-machine flow does it.

`POST /services/rest/auth/oauth2/v1/token` takes `grant_type=client_credentials` with either a
signed JWT (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
`client_assertion`), whose header names a registered certificate (`kid`) and whose claims carry
`iss` (the client id), `scope`, `aud` (the token endpoint), `iat` and `exp` at most an hour apart;
or, for simpler clients, HTTP Basic client id and secret. Tokens are JWTs (as NetSuite's), last `token_lifetime`
seconds by the sandbox clock, and are checked on every record and SuiteQL request.
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tieout.sandbox.clock import SandboxClock

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"  # noqa: S105 (a URL path, not a secret)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
MAX_ASSERTION_SECONDS = 3600


class OAuthError(Exception):
    """An OAuth 2.0 error response: `{"error": code, "error_description": ...}`."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


@dataclass
class Client:
    client_id: str
    client_secret: str | None
    certificates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    """What the default integration record and its certificate give a client."""

    client_id: str
    client_secret: str
    certificate_id: str
    private_key_pem: str


class Authority:
    """Integration records (clients and certificates) and the access tokens they were issued."""

    def __init__(self, clock: SandboxClock, *, token_lifetime: int = 3600) -> None:
        self.clock = clock
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}
        self._certificates: dict[str, str] = {}
        self._tokens: dict[str, datetime] = {}
        self._signing_key = secrets.token_bytes(32)
        key = ec.generate_private_key(ec.SECP256R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        client_id = secrets.token_hex(32)
        client_secret = secrets.token_hex(32)
        certificate_id = secrets.token_urlsafe(32)
        self.register_client(client_id, client_secret)
        self.register_certificate(client_id, certificate_id, key.public_key())
        self.default = Credentials(client_id, client_secret, certificate_id, private_pem)

    def register_client(self, client_id: str, client_secret: str | None = None) -> None:
        with self._lock:
            self._clients[client_id] = Client(client_id, client_secret)

    def register_certificate(self, client_id: str, certificate_id: str, public_key: Any) -> None:
        """Map a certificate id (the JWT `kid`) to a public key object or PEM text for `client_id`."""
        if isinstance(public_key, str | bytes):
            raw = public_key.encode() if isinstance(public_key, str) else public_key
            if b"CERTIFICATE" in raw:
                from cryptography import x509

                public_key = x509.load_pem_x509_certificate(raw).public_key()
            else:
                public_key = serialization.load_pem_public_key(raw)
        with self._lock:
            self._clients[client_id].certificates[certificate_id] = public_key
            self._certificates[certificate_id] = client_id

    def issue(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type} is not supported")
        if form.get("client_assertion_type") is not None or form.get("client_assertion") is not None:
            client_id = self._check_assertion(form)
        else:
            client_id = self._check_basic(authorization)
        issued = self.clock.now()
        expires = issued + timedelta(seconds=self.token_lifetime)
        # NetSuite's access tokens are JWTs; clients treat them as opaque, the emulator keeps a registry.
        claims = {
            "sub": client_id,
            "aud": [client_id],
            "scope": ["rest_webservices", "restlets"],
            "iss": "https://system.netsuite.com",
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(16),
        }
        token = jwt.encode(claims, self._signing_key, algorithm="HS256", headers={"kid": "s.SANDBOX.1"})
        with self._lock:
            self._tokens[token] = expires
        return {"access_token": token, "expires_in": str(self.token_lifetime), "token_type": "bearer"}

    def _check_basic(self, authorization: str | None) -> str:
        if not authorization or not authorization.lower().startswith("basic "):
            raise OAuthError(401, "invalid_client", "client authentication is required")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            client_id, client_secret = decoded.split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "malformed Basic credentials") from None
        with self._lock:
            client = self._clients.get(client_id)
        if client is None or client.client_secret is None:
            raise OAuthError(401, "invalid_client", "unknown client")
        if not secrets.compare_digest(client.client_secret, client_secret):
            raise OAuthError(401, "invalid_client", "client authentication failed")
        return client_id

    def _check_assertion(self, form: dict[str, str]) -> str:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError(400, "invalid_request", "client_assertion_type must be " + ASSERTION_TYPE)
        assertion = form.get("client_assertion") or ""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise OAuthError(400, "invalid_request", "client_assertion is not a JWT") from None
        certificate_id = header.get("kid")
        with self._lock:
            client_id = self._certificates.get(str(certificate_id))
            key = None if client_id is None else self._clients[client_id].certificates[str(certificate_id)]
        if key is None or client_id is None:
            raise OAuthError(401, "invalid_client", "unknown certificate id (kid)")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=ALGORITHMS,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            raise OAuthError(401, "invalid_client", "the assertion signature does not verify") from None
        if claims.get("iss") != client_id:
            raise OAuthError(401, "invalid_client", "iss does not match the certificate's client")
        if not str(claims.get("aud", "")).endswith(TOKEN_PATH):
            raise OAuthError(400, "invalid_grant", "aud must be the token endpoint")
        scope = claims.get("scope", "")
        scopes = scope if isinstance(scope, list) else str(scope).replace(",", " ").split()
        if "rest_webservices" not in scopes:
            raise OAuthError(400, "invalid_scope", "scope must include rest_webservices")
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int | float) or not isinstance(expires, int | float):
            raise OAuthError(400, "invalid_grant", "iat and exp are required")
        now = self.clock.now().timestamp()
        if expires <= now or issued > now + 60:
            raise OAuthError(400, "invalid_grant", "the assertion is expired or not yet valid")
        if expires - issued > MAX_ASSERTION_SECONDS:
            raise OAuthError(400, "invalid_grant", "exp may be at most 60 minutes after iat")
        return client_id

    def check_bearer(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        token = authorization[7:].strip()
        with self._lock:
            expires = self._tokens.get(token)
            if expires is None:
                return False
            if expires <= self.clock.now():
                del self._tokens[token]
                return False
            return True
