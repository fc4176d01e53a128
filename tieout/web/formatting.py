"""How the web app writes amounts, dates and codes for accountants (Jinja filters).

Amounts keep their own currency's decimals (JPY none, USD two, KWD three) and are never added
across currencies; statuses, severities, systems and audit actions read as words, not codes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from tieout.money import Money, currency_exponent

SYSTEM_NAMES = {
    "salesforce": "Salesforce",
    "netsuite": "NetSuite",
    "stripe": "Stripe",
    "metronome": "Metronome",
    "tieout": "tieout",
}
STATUS_NAMES = {"open": "Open", "in_progress": "In progress", "resolved": "Resolved", "ignored": "Ignored"}
ACTION_NAMES = {
    "opened": "Found by reconciliation",
    "reopened": "Reopened",
    "auto_resolved": "Closed: the difference is gone",
    "assigned": "Assigned",
    "resolved": "Resolved",
    "ignored": "Ignored",
    "commented": "Comment",
    "resynced": "Source record pulled again",
    "repushed": "Sent to the target again",
}


def amount(value: Decimal | None, currency: str | None) -> str:
    """1234.5 USD -> '1,234.50'; the currency's own number of decimals."""
    if value is None:
        return ""
    places = currency_exponent(currency) if currency else 2
    return f"{value:,.{places}f}"


def minor_amount(minor: int | None, currency: str | None) -> str:
    if minor is None or currency is None:
        return ""
    return amount(Money.from_minor(minor, currency).amount, currency)


def money(value: Money | None) -> str:
    return "" if value is None else f"{amount(value.amount, value.currency)} {value.currency}"


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def moment(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y %H:%M} UTC"


def system_name(system: str | None) -> str:
    if not system:
        return ""
    return SYSTEM_NAMES.get(system, system[:1].upper() + system[1:])


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status.replace("_", " ").capitalize())


def action_name(action: str) -> str:
    return ACTION_NAMES.get(action, action.replace("_", " ").capitalize())


def words(code: str) -> str:
    """A field name or code as words: 'amount_remaining' -> 'Amount remaining'."""
    return code.replace("_", " ").strip().capitalize()


def duration(seconds: float | None) -> str:
    """A lag in the largest sensible unit: '45 s', '12 min', '3 h 5 min', '2 days'."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = seconds // 86400
    return f"{days} day" if days == 1 else f"{days} days"


FILTERS = {
    "amount": amount,
    "minor_amount": minor_amount,
    "money": money,
    "day": day,
    "moment": moment,
    "system_name": system_name,
    "status_name": status_name,
    "action_name": action_name,
    "words": words,
    "duration": duration,
}
