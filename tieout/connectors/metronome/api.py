"""metronome-sdk behind tieout's rules: settings, one request at a time, retries, budget, errors.

The SDK client is built with `max_retries=0` and strict response validation, so tieout owns the
retries (tenacity, jittered exponential backoff, a server's Retry-After always wins, idempotent
requests only) and every attempt is one `CallBudget.spend()`. Requests go through the SDK's
`with_raw_response` methods: the answer is validated against the SDK's models (a shape the SDK
rejects is `MalformedResponse`, except a listing whose envelope is sound: its records go on to
tieout's mappings, which file any record they cannot read on its own) and then read from the
wire as JSON with Decimal numbers, so no amount passes through a float. SDK exceptions become `tieout.errors` here and nowhere else:
401 AuthenticationError, 403 PermissionDenied, 404 NotFoundError, 409 ConflictError, 429
RateLimited (with Retry-After), 5xx ServerError, timeouts and connection failures
TransportError, invalid bodies MalformedResponse; other 4xx are ConnectorError with the status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field, SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

import metronome
from tieout import jsonutil
from tieout.connectors.base import CallBudget, ConnectorSettings
from tieout.connectors.http import error_for_status, redact, retry_wait, tls_verify
from tieout.errors import ConnectorError, MalformedResponse, RetriableError, TransportError

SYSTEM = "metronome"


class MetronomeSettings(ConnectorSettings):
    bearer_token: SecretStr
    base_url: str = "https://api.metronome.com"
    ca_bundle: str | None = None
    """A PEM file of CAs to trust instead of the system's (the sandbox's own CA)."""
    page_size: int = Field(default=100, ge=1, le=100)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)


def _message(body: object) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def _sound_listing(content: bytes) -> dict[str, Any] | None:
    """A list answer whose envelope holds: a JSON object whose `data` is a list of objects."""
    try:
        body = jsonutil.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return None
    next_page = body.get("next_page")
    return body if next_page is None or isinstance(next_page, str) else None


class MetronomeApi:
    """The SDK client plus `call`, the only way the connector reaches Metronome."""

    def __init__(
        self, settings: MetronomeSettings, budget: CallBudget, *, http_client: httpx.Client | None = None
    ) -> None:
        token = settings.bearer_token.get_secret_value()
        self.secrets = [token]
        self.budget = budget
        self.max_attempts = settings.max_attempts
        self._wait = retry_wait(settings.backoff_base_seconds, settings.backoff_max_seconds)
        verify = tls_verify(settings.ca_bundle)
        self.http = http_client or httpx.Client(verify=verify, timeout=settings.timeout_seconds)
        self.sdk = metronome.Metronome(
            bearer_token=token,
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.timeout_seconds,
            http_client=self.http,
            _strict_response_validation=True,
        )

    def call(self, what: str, send: Callable[..., Any], *, idempotent: bool = True, **params: Any) -> Any:
        """`send(**params)` (an SDK `with_raw_response` method); the body as JSON, Decimal numbers.

        `what` names the request in errors ("GET /v1/customers"). Only idempotent requests are
        retried, on 429, 5xx and transport failures.
        """
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts if idempotent else 1),
            reraise=True,
            sleep=time.sleep,
        )
        return retrying(self._once, what, send, params)

    def _once(self, what: str, send: Callable[..., Any], params: dict[str, Any]) -> Any:
        self.budget.spend()
        try:
            response = send(**params)
            response.parse()
            content = response.http_response.content
            return jsonutil.loads(content) if content else None
        except metronome.APIStatusError as exc:
            detail = _message(exc.body) or exc.response.text[:300]
            message = redact(f"{what} answered {exc.status_code}: {detail}", self.secrets)
            error = error_for_status(SYSTEM, exc.status_code, message, exc.response.headers)
            raise (error or ConnectorError(message, system=SYSTEM, status_code=exc.status_code)) from None
        except metronome.APITimeoutError:
            raise TransportError(f"{what} timed out", system=SYSTEM) from None
        except metronome.APIConnectionError as exc:
            cause = exc.__cause__
            detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            raise TransportError(redact(f"{what} failed: {detail}", self.secrets), system=SYSTEM) from None
        except metronome.APIResponseValidationError as exc:
            listed = _sound_listing(exc.response.content)
            if listed is not None:
                # The SDK judges a listing as a whole; one odd record must not hide the rest.
                # The envelope is sound, so the records go on and tieout's mappings judge each
                # one, filing those they cannot read as that record's problem.
                return listed
            raise MalformedResponse(
                redact(f"{what} answered in a shape the Metronome SDK rejects: {exc}", self.secrets),
                system=SYSTEM,
                status_code=exc.status_code,
            ) from None
        except ValueError as exc:
            raise MalformedResponse(
                redact(f"{what} answered with a body that is not JSON: {exc}", self.secrets), system=SYSTEM
            ) from None

    def close(self) -> None:
        self.sdk.close()
        self.http.close()
