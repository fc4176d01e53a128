"""Checking that a webhook delivery comes from Stripe or Metronome, and recently.

Stripe signs `"{t}.{body}"` with HMAC-SHA256 and sends `Stripe-Signature: t=...,v1=...`; the
signature is checked by the stripe library (`stripe.WebhookSignature`). Metronome signs the
delivery's date header, a newline and the body with HMAC-SHA256 and sends the hex digest in
`Metronome-Webhook-Signature`. Either way a timestamp further than the tolerance from now (in
the past: a captured delivery replayed; in the future: a clock or a forger) is refused as stale,
after the signature, so an unsigned request never learns more than "forged".
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import stripe

from tieout.errors import WebhookRejected

METRONOME_SIGNATURE_HEADER = "metronome-webhook-signature"
# Metronome's documentation names the Date header; its newer SDKs send the same value as
# X-Metronome-Date, which a proxy cannot rewrite. Either is accepted; the signature covers it.
METRONOME_DATE_HEADERS = ("x-metronome-date", "date")
STRIPE_SIGNATURE_HEADER = "stripe-signature"


def _check_age(signed_at: datetime, now: datetime, tolerance_seconds: int) -> None:
    age = now - signed_at
    if abs(age) > timedelta(seconds=tolerance_seconds):
        raise WebhookRejected(
            "stale",
            f"signed at {signed_at.isoformat()}, {int(age.total_seconds())} s from now "
            f"(tolerance {tolerance_seconds} s)",
        )


def _stripe_timestamp(header: str) -> datetime:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
    raise WebhookRejected("forged", "the Stripe-Signature header has no timestamp")


def verify_stripe(
    body: bytes, header: str | None, secret: str, *, tolerance_seconds: int, now: datetime
) -> None:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=None)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected("forged", str(exc).split(". ")[0]) from None
    except UnicodeDecodeError:
        raise WebhookRejected(
            "forged", "the body is not UTF-8, so it cannot carry a Stripe signature"
        ) from None
    assert header is not None  # verify_header refuses a missing header
    _check_age(_stripe_timestamp(header), now, tolerance_seconds)


def metronome_signature(secret: str, date: str, body: bytes) -> str:
    """The hex HMAC-SHA256 Metronome sends for `body` delivered with this date header."""
    return hmac.new(secret.encode(), date.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def _parse_date(value: str) -> datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise WebhookRejected("malformed", f"the date header {value[:64]!r} is not a date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def verify_metronome(
    body: bytes,
    headers: dict[str, str],
    secret: str,
    *,
    tolerance_seconds: int,
    now: datetime,
) -> None:
    """`headers` with lower-case names. Raises WebhookRejected when the delivery is not Metronome's."""
    signature = headers.get(METRONOME_SIGNATURE_HEADER)
    date = next((headers[name] for name in METRONOME_DATE_HEADERS if headers.get(name)), None)
    if not signature or not date:
        raise WebhookRejected("forged", "the Metronome-Webhook-Signature or date header is missing")
    expected = metronome_signature(secret, date, body).encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace")):
        raise WebhookRejected("forged", "the signature does not match the body and date")
    _check_age(_parse_date(date), now, tolerance_seconds)
