"""Helpers for the web app's tests: a small known queue, a settable clock, logging in through the form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from argon2 import PasswordHasher
from httpx import Response
from starlette.testclient import TestClient

from tieout.findings import Finding, Severity
from tieout.money import Money
from tieout.store import Store

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
# Argon2 at its cheapest: these tests are about access rules, not the hash's cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def finding(
    number: int,
    *,
    rule: str = "INVOICE_TOTAL_DIFFERS",
    amount: str = "10",
    currency: str = "USD",
    customer: str = "Acme Corp",
    customer_ref: str | None = None,
    subsidiary: str = "1",
    severity: Severity = Severity.HIGH,
) -> Finding:
    return Finding(
        rule_code=rule,
        title=f"Finding {number}",
        explanation=f"Explanation of finding {number}.",
        severity=severity,
        record_ids=(f"stripe:invoice:in_{number}", f"netsuite:invoice:{number}"),
        details={
            "systems": ["stripe", "netsuite"],
            "fields": [
                {"field": "total", "values": [amount, str(Decimal(amount) + 1)], "differs": True},
                {"field": "currency", "values": [currency, currency], "differs": False},
            ],
            "records": {"stripe": f"in_{number}", "netsuite": str(number)},
        },
        customer_ref=customer_ref or f"cus_{number}",
        customer_name=customer,
        subsidiary_id=subsidiary,
        amount_at_risk=Money(amount=Decimal(amount), currency=currency),
    )


def seed_queue(store: Store, clock: Clock) -> None:
    """Five exceptions: two rules, three currencies, two subsidiaries, one filed 100 days earlier."""
    with store.transaction() as tx:
        tx.file_findings(
            [finding(1, amount="500", customer="Acme Corp", customer_ref="cus_acme")],
            at=clock.now - timedelta(days=100),
            run_id=None,
        )
        tx.file_findings(
            [
                finding(
                    2,
                    amount="20",
                    rule="PAYMENT_MISSING_IN_NETSUITE",
                    customer="Globex 100% GmbH",
                    currency="EUR",
                    subsidiary="3",
                ),
                finding(3, amount="3000", currency="JPY", severity=Severity.LOW, subsidiary="4"),
                finding(4, amount="900", customer="Acme Corp", customer_ref="cus_acme"),
                finding(5, amount="75", rule="PAYMENT_MISSING_IN_NETSUITE", severity=Severity.CRITICAL),
            ],
            at=clock.now - timedelta(days=2),
            run_id=None,
        )


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def post_login(
    client: TestClient, username: str, password: str = PASSWORD, next_url: str = "/queue"
) -> Response:
    """Submit the login form as a browser would (with the form's CSRF token); no redirect followed."""
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": login_token(client),
            "next": next_url,
        },
        follow_redirects=False,
    )


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token, read from a page."""
    response = post_login(client, username, password)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/queue").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)
