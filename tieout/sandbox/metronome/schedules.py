"""Commit and charge schedules for the Metronome emulator's contracts.

An access schedule grants amounts over time windows; a point-in-time schedule (a commit's
invoice schedule, a scheduled charge) bills amounts at instants. A recurring invoice schedule
is expanded into its items here, as Metronome expands it on create: one item per period from
`starting_at` until `ending_before`, with the amount `EACH` time, `DIVIDED` evenly, or
`DIVIDED_ROUNDED` to whole units with the remainder on the last item.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tieout.sandbox.metronome.wire import bad_request, credit_type, iso, parse_time

Record = dict[str, Any]
MONTHS_PER_PERIOD = {"MONTHLY": 1, "QUARTERLY": 3, "SEMI_ANNUAL": 6, "ANNUAL": 12}


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the end of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{field} must be a number")
    return value


def access_schedule(schedule: Any, default_credit_type_id: str, new_id: Callable[[], str]) -> Record:
    if not isinstance(schedule, dict) or not isinstance(schedule.get("schedule_items"), list):
        raise bad_request("access_schedule.schedule_items is required")
    items: list[Record] = []
    for item in schedule["schedule_items"]:
        starting_at = parse_time(item.get("starting_at"), "access_schedule.starting_at")
        ending_before = parse_time(item.get("ending_before"), "access_schedule.ending_before")
        if ending_before <= starting_at:
            raise bad_request("access_schedule: ending_before must be after starting_at")
        items.append(
            {
                "id": new_id(),
                "amount": _number(item.get("amount"), "access_schedule.amount"),
                "starting_at": iso(starting_at),
                "ending_before": iso(ending_before),
            }
        )
    body: Record = {
        "credit_type": credit_type(schedule.get("credit_type_id") or default_credit_type_id),
        "schedule_items": items,
    }
    if schedule.get("access_type") is not None:
        if schedule["access_type"] not in {"SPEND", "QUANTITY"}:
            raise bad_request("access_schedule.access_type must be SPEND or QUANTITY")
        body["access_type"] = schedule["access_type"]
    return body


def _priced(item: Record, field: str) -> tuple[float, float, float]:
    """(amount, quantity, unit_price) of a schedule item given either amount or both others."""
    quantity, unit_price, amount = item.get("quantity"), item.get("unit_price"), item.get("amount")
    if quantity is not None and unit_price is not None:
        q, u = _number(quantity, f"{field}.quantity"), _number(unit_price, f"{field}.unit_price")
        return q * u, q, u
    if amount is not None and quantity is None and unit_price is None:
        a = _number(amount, f"{field}.amount")
        return a, 1, a
    raise bad_request(f"{field}: provide amount, or quantity and unit_price")


def point_schedule(
    schedule: Any, field: str, default_credit_type_id: str, new_id: Callable[[], str]
) -> Record:
    if not isinstance(schedule, dict):
        raise bad_request(f"{field} must be an object")
    items: list[Record] = []
    for item in schedule.get("schedule_items") or []:
        amount, quantity, unit_price = _priced(item, field)
        timestamp = parse_time(item.get("timestamp"), f"{field}.timestamp")
        items.append(_item(new_id(), amount, quantity, unit_price, timestamp))
    recurring = schedule.get("recurring_schedule")
    if recurring is not None:
        items.extend(_expand(recurring, field, new_id))
    if not items:
        raise bad_request(f"{field}: schedule_items or recurring_schedule is required")
    body: Record = {
        "credit_type": credit_type(schedule.get("credit_type_id") or default_credit_type_id),
        "schedule_items": sorted(items, key=lambda i: str(i["timestamp"])),
    }
    if schedule.get("do_not_invoice") is not None:
        body["do_not_invoice"] = bool(schedule["do_not_invoice"])
    return body


def _item(item_id: str, amount: float, quantity: float, unit_price: float, at: datetime) -> Record:
    return {
        "id": item_id,
        "amount": amount,
        "quantity": quantity,
        "unit_price": unit_price,
        "timestamp": iso(at),
    }


def _expand(recurring: Record, field: str, new_id: Callable[[], str]) -> list[Record]:
    frequency = recurring.get("frequency")
    if frequency not in MONTHS_PER_PERIOD:
        raise bad_request(
            f"{field}.recurring_schedule.frequency must be one of {', '.join(MONTHS_PER_PERIOD)}"
        )
    distribution = recurring.get("amount_distribution")
    if distribution not in {"DIVIDED", "DIVIDED_ROUNDED", "EACH"}:
        raise bad_request(
            f"{field}.recurring_schedule.amount_distribution must be DIVIDED, DIVIDED_ROUNDED or EACH"
        )
    starting_at = parse_time(recurring.get("starting_at"), f"{field}.recurring_schedule.starting_at")
    ending_before = parse_time(recurring.get("ending_before"), f"{field}.recurring_schedule.ending_before")
    if ending_before <= starting_at:
        raise bad_request(f"{field}.recurring_schedule: ending_before must be after starting_at")
    amount, quantity, unit_price = _priced(recurring, f"{field}.recurring_schedule")
    moments: list[datetime] = []
    step = 0
    while (moment := add_months(starting_at, step * MONTHS_PER_PERIOD[frequency])) < ending_before:
        moments.append(moment)
        step += 1
    count = len(moments)
    if distribution == "EACH":
        return [_item(new_id(), amount, quantity, unit_price, m) for m in moments]
    if distribution == "DIVIDED":
        share = amount / count
        return [_item(new_id(), share, 1, share, m) for m in moments]
    share = float(round(amount / count))
    shares = [share] * (count - 1) + [amount - share * (count - 1)]
    return [_item(new_id(), s, 1, s, m) for s, m in zip(shares, moments, strict=True)]
