"""The queue's filters, sort and page as URL parameters: a view is its URL, so it can be saved.

`QueueView.from_params` reads what the filter form (or a bookmarked link) sends; values that
are not a known status, severity, rule, age or sort are dropped rather than trusted, and every
filter reaches the database as a bound parameter through `ExceptionQuery`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from tieout.store import ExceptionQuery
from tieout.store.queue import EXCEPTION_STATUSES, OPEN_STATUSES

SEVERITIES = ("critical", "high", "medium", "low")
SORTS = {"amount": "Largest amount at risk", "age": "Oldest first", "newest": "Newest first"}
# Age bands by when tieout first found the difference: (label, at least days, less than days).
AGES: dict[str, tuple[str, int, int | None]] = {
    "week": ("Found in the last 7 days", 0, 7),
    "month": ("7 to 30 days old", 7, 30),
    "quarter": ("30 to 90 days old", 30, 90),
    "older": ("More than 90 days old", 90, None),
}
PAGE_SIZES = (25, 50, 100, 200)
UNASSIGNED = "!none"


def _one(params: QueryParams, name: str, allowed: Iterable[str] | None = None) -> str | None:
    value = (params.get(name) or "").strip()
    if not value or (allowed is not None and value not in allowed):
        return None
    return value[:200]


def _many(params: QueryParams, name: str, allowed: Iterable[str]) -> tuple[str, ...]:
    known = set(allowed)
    return tuple(dict.fromkeys(value for value in params.getlist(name) if value in known))


def _number(params: QueryParams, name: str, default: int) -> int:
    try:
        return int(params.get(name) or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class QueueView:
    statuses: tuple[str, ...] = OPEN_STATUSES
    rules: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    assignee: str | None = None
    unassigned: bool = False
    customer: str | None = None
    subsidiary: str | None = None
    currency: str | None = None
    age: str | None = None
    sort: str = "amount"
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_params(cls, params: QueryParams, rule_codes: Iterable[str]) -> QueueView:
        statuses = _many(params, "status", EXCEPTION_STATUSES)
        per_page = _number(params, "per_page", 50)
        currency = _one(params, "currency")
        assignee = _one(params, "assignee")
        return cls(
            statuses=statuses or OPEN_STATUSES,
            rules=_many(params, "rule", rule_codes),
            severities=_many(params, "severity", SEVERITIES),
            assignee=None if assignee == UNASSIGNED else assignee,
            unassigned=assignee == UNASSIGNED,
            customer=_one(params, "customer"),
            subsidiary=_one(params, "subsidiary"),
            currency=currency.upper() if currency else None,
            age=_one(params, "age", AGES),
            sort=_one(params, "sort", SORTS) or "amount",
            page=max(1, _number(params, "page", 1)),
            per_page=per_page if per_page in PAGE_SIZES else 50,
        )

    def query(
        self, now: datetime, *, page_size: int | None = None, offset: int | None = None
    ) -> ExceptionQuery:
        before = after = None
        if self.age is not None:
            _, at_least, less_than = AGES[self.age]
            before = now - timedelta(days=at_least) if at_least else None
            after = now - timedelta(days=less_than) if less_than is not None else None
        return ExceptionQuery(
            statuses=self.statuses,
            rule_codes=self.rules,
            severities=self.severities,
            assignee=self.assignee,
            unassigned=self.unassigned,
            customer=self.customer,
            subsidiary_id=self.subsidiary,
            currency=self.currency,
            first_seen_before=before,
            first_seen_after=after,
            sort=self.sort,
            limit=page_size or self.per_page,
            offset=(self.page - 1) * self.per_page if offset is None else offset,
        )

    def params(self) -> list[tuple[str, str]]:
        """This view as URL parameters, defaults left out so links stay short."""
        pairs: list[tuple[str, str]] = []
        if self.statuses != OPEN_STATUSES:
            pairs += [("status", value) for value in self.statuses]
        pairs += [("rule", value) for value in self.rules]
        pairs += [("severity", value) for value in self.severities]
        single: dict[str, Any] = {
            "assignee": UNASSIGNED if self.unassigned else self.assignee,
            "customer": self.customer,
            "subsidiary": self.subsidiary,
            "currency": self.currency,
            "age": self.age,
            "sort": self.sort if self.sort != "amount" else None,
            "per_page": self.per_page if self.per_page != 50 else None,
            "page": self.page if self.page != 1 else None,
        }
        pairs += [(name, str(value)) for name, value in single.items() if value is not None]
        return pairs

    def url(self, path: str = "/queue", **changes: Any) -> str:
        """The URL of this view with some settings changed (changing a filter goes back to page 1)."""
        if changes and "page" not in changes:
            changes["page"] = 1
        view = replace(self, **changes) if changes else self
        encoded = urlencode(view.params())
        return f"{path}?{encoded}" if encoded else path

    def export_url(self, export_format: str) -> str:
        pairs = [*replace(self, page=1).params(), ("format", export_format)]
        return "/queue/export?" + urlencode(pairs)

    @property
    def filtered(self) -> bool:
        return replace(self, sort="amount", page=1, per_page=50) != QueueView()


def preset_views(username: str) -> list[tuple[str, str]]:
    """Views the AR team uses every day, as (label, URL)."""
    return [
        ("All open", QueueView().url()),
        ("Assigned to me", QueueView(assignee=username).url()),
        ("Unassigned", QueueView(unassigned=True).url()),
        ("Critical and high", QueueView(severities=("critical", "high")).url()),
        ("Older than 90 days", QueueView(age="older").url()),
        ("Resolved", QueueView(statuses=("resolved",), sort="newest").url()),
    ]
