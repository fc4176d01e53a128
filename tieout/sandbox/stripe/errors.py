"""Stripe's error object: the exception the emulator raises and the JSON body and status it renders.

Stripe answers every failure with `{"error": {"type", "code", "message", "param", "doc_url"}}`;
stripe-python picks its exception class from the status code and `type` (400/404 ->
InvalidRequestError, 401 -> AuthenticationError, 402 -> CardError, 429 -> RateLimitError,
`idempotency_error` -> IdempotencyError), so both must be right.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.faults import ErrorResponse, FaultKind
from tieout.sandbox.stripe.ids import request_id

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API failure, rendered as Stripe's error object."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def missing(object_name: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(
        f"No such {object_name}: '{object_id}'", status=status, code="resource_missing", param=param
    )


def missing_param(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(message, code=code, param=param)


def render_fault(kind: FaultKind, retry_after_seconds: float) -> ErrorResponse:
    """Stripe-shaped bodies for the faults the shared FaultMiddleware injects."""
    retry_after = str(max(1, round(retry_after_seconds)))
    if kind in ("rate_limited", "concurrency_limited"):
        return ErrorResponse(
            429,
            {
                "error": {
                    "code": "rate_limit",
                    "doc_url": DOC_BASE + "rate-limit",
                    "message": "Request rate limit exceeded. Learn more about rate limits here "
                    "https://stripe.com/docs/rate-limits.",
                    "type": "invalid_request_error",
                }
            },
            {
                "Retry-After": retry_after,
                "Stripe-Should-Retry": "true",
                "Stripe-Version": "2024-04-10",
                "Request-Id": request_id(),
            },
        )
    return ErrorResponse(
        500,
        {
            "error": {
                "message": "An unknown error occurred",
                "type": "api_error",
            }
        },
        {"Stripe-Should-Retry": "true", "Stripe-Version": "2024-04-10", "Request-Id": request_id()},
    )
