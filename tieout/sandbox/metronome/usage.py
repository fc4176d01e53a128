"""Usage events in the Metronome emulator: ingest with dedup, and aggregation by billable metric.

Ingest takes 1 to 100 events per call. `transaction_id` is the idempotency key: a repeat
within 34 days of its first acceptance is dropped silently, as Metronome drops it. Events may
be backdated up to 34 days; the sandbox refuses a whole batch with a 400 naming the
transaction ids that are older (Metronome's exact answer to such events is unverified). Events
are kept under the customer id or alias they were sent with and matched to customers when
queried, so usage sent before an alias was set is counted once it is set, as in Metronome.

Aggregation follows the billable metric: the event type filter and property filters select
events, then COUNT counts them, SUM and MAX read the aggregation key as a number, UNIQUE
counts distinct values and LATEST takes the value of the newest event. A window without
events has 0 for COUNT, SUM and UNIQUE and null for MAX and LATEST. Windows run from
`starting_on` in steps of an hour or a day; NONE is the whole range.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, overload

from tieout.sandbox.metronome.base import Record, StateBase, UsageEvent
from tieout.sandbox.metronome.schedules import add_months
from tieout.sandbox.metronome.wire import bad_request, iso, not_found, parse_time

INGEST_LIMIT = 100
DEDUP_WINDOW = timedelta(days=34)
BACKDATE_LIMIT = timedelta(days=34)
WINDOWS = {"HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}
MAX_GROUP_VALUES = 200


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def matches(metric: Record, event: UsageEvent) -> bool:
    """Whether an event passes a billable metric's event type and property filters."""
    type_filter = metric.get("event_type_filter") or {}
    if "in_values" in type_filter and event.event_type not in type_filter["in_values"]:
        return False
    if event.event_type in (type_filter.get("not_in_values") or []):
        return False
    for item in metric.get("property_filters") or []:
        present = item["name"] in event.properties
        if item.get("exists") is True and not present:
            return False
        if item.get("exists") is False and present:
            return False
        value = _text(event.properties[item["name"]]) if present else None
        if "in_values" in item and value not in item["in_values"]:
            return False
        if value is not None and value in (item.get("not_in_values") or []):
            return False
    return True


def aggregate(metric: Record, events: list[UsageEvent]) -> float | None:
    kind = metric["aggregation_type"]
    if kind == "COUNT":
        return len(events)
    key = metric.get("aggregation_key", "")
    present = [e for e in events if key in e.properties]
    if kind == "UNIQUE":
        return len({_text(e.properties[key]) for e in present})
    numbers = [(e.timestamp, n) for e in present if (n := _number(e.properties[key])) is not None]
    if kind == "SUM":
        return sum(n for _, n in numbers)
    if not numbers:
        return None
    if kind == "MAX":
        return max(n for _, n in numbers)
    return max(numbers, key=lambda pair: pair[0])[1]


def windows(start: datetime, end: datetime, window_size: str) -> list[tuple[datetime, datetime]]:
    size = str(window_size).upper()
    if size == "NONE":
        return [(start, end)]
    if size not in WINDOWS:
        raise bad_request("window_size must be HOUR, DAY or NONE")
    step = WINDOWS[size]
    spans: list[tuple[datetime, datetime]] = []
    moment = start
    while moment < end:
        spans.append((moment, min(moment + step, end)))
        moment += step
    return spans


def _timestamp(event: UsageEvent) -> datetime:
    return event.timestamp


def by_span(events: list[UsageEvent], spans: list[tuple[datetime, datetime]]) -> list[list[UsageEvent]]:
    """The events in each [start, end) span, in time order (a stable sort keeps ties in the given order).

    One sort and two binary searches a span, rather than a pass over every event for every span:
    a month of DAY windows over a customer's year of events would otherwise read each event 30 times.
    """
    ordered = sorted(events, key=_timestamp)
    return [
        ordered[bisect_left(ordered, start, key=_timestamp) : bisect_left(ordered, end, key=_timestamp)]
        for start, end in spans
    ]


class UsageRows(Sequence[Record]):
    """The rows of one `/v1/usage` query, customer x metric x window, built only for the slice read.

    A query over every customer's days has hundreds of thousands of rows and is read 100 a
    page; building all of them for each page made a catch-up of a few weeks cost hours.
    """

    def __init__(
        self,
        state: UsageMixin,
        customers: list[str],
        chosen: list[tuple[Record, Record | None]],
        spans: list[tuple[datetime, datetime]],
    ) -> None:
        self.state, self.customers, self.chosen, self.spans = state, customers, chosen, spans

    def __len__(self) -> int:
        return len(self.customers) * len(self.chosen) * len(self.spans)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return self._rows(range(len(self))[index])
        if not -len(self) <= index < len(self):
            raise IndexError("usage row index out of range")
        return self._rows([index % len(self)])[0]

    def _rows(self, positions: Sequence[int]) -> list[Record]:
        per_metric = len(self.spans)
        rows: list[Record] = []
        split: tuple[int, int, list[list[UsageEvent]]] | None = None
        start, end = self.spans[0][0], self.spans[-1][1]  # windows() covers the query's range
        with self.state.lock:
            for position in positions:
                customer, metric_index = divmod(position // per_metric, len(self.chosen))
                if split is None or split[:2] != (customer, metric_index):
                    metric = self.chosen[metric_index][0]
                    events = self.state.customer_events(self.customers[customer], start, end)
                    split = (
                        customer,
                        metric_index,
                        by_span([e for e in events if matches(metric, e)], self.spans),
                    )
                metric, group_by = self.chosen[metric_index]
                span_start, span_end = self.spans[position % per_metric]
                in_span = split[2][position % per_metric]
                row: Record = {
                    "customer_id": self.customers[customer],
                    "billable_metric_id": metric["id"],
                    "billable_metric_name": metric["name"],
                    "start_timestamp": iso(span_start),
                    "end_timestamp": iso(span_end),
                    "value": aggregate(metric, in_span),
                }
                if group_by is not None:
                    row["groups"] = _groups(metric, in_span, group_by)
                rows.append(row)
        return rows


class UsageMixin(StateBase):
    """Usage events and the aggregations read from them."""

    def ingest(self, events: Any) -> int:
        """The ingest endpoint: validate a batch of 1..100 events, drop duplicates, store."""
        if not isinstance(events, list) or not events:
            raise bad_request("request body must be a non-empty array of usage events")
        if len(events) > INGEST_LIMIT:
            raise bad_request(f"at most {INGEST_LIMIT} events can be ingested per request, got {len(events)}")
        parsed = [self._event(e, index) for index, e in enumerate(events)]
        cutoff = self.now() - BACKDATE_LIMIT
        too_old = [e.transaction_id for e in parsed if e.timestamp < cutoff]
        if too_old:
            raise bad_request("events can be backdated at most 34 days; too old: " + ", ".join(too_old[:10]))
        return self._store_events(parsed)

    def add_usage_events(self, events: Iterable[Record]) -> int:
        """Seed events of any age (a scenario's history); dedup by transaction_id still applies."""
        return self._store_events([self._event(e, index) for index, e in enumerate(events)])

    def _event(self, event: Any, index: int) -> UsageEvent:
        if not isinstance(event, dict):
            raise bad_request(f"usage[{index}] must be an object")
        for key in ("transaction_id", "customer_id", "event_type", "timestamp"):
            if not isinstance(event.get(key), str) or not event[key]:
                raise bad_request(f"usage[{index}].{key} is required")
        if len(event["transaction_id"]) > 128:
            raise bad_request(f"usage[{index}].transaction_id must be at most 128 characters")
        properties = event.get("properties") or {}
        if not isinstance(properties, dict):
            raise bad_request(f"usage[{index}].properties must be an object")
        return UsageEvent(
            transaction_id=event["transaction_id"],
            customer_key=event["customer_id"],
            event_type=event["event_type"],
            timestamp=parse_time(event["timestamp"], f"usage[{index}].timestamp"),
            properties=dict(properties),
        )

    def _store_events(self, events: list[UsageEvent]) -> int:
        accepted = 0
        with self.lock:
            now = self.now()
            for event in events:
                seen_at = self.transactions_seen.get(event.transaction_id)
                if seen_at is not None and now - seen_at < DEDUP_WINDOW:
                    continue
                self.transactions_seen[event.transaction_id] = now
                kept = self.events_by_key.setdefault(event.customer_key, [])
                if kept and event.timestamp < kept[-1].timestamp:
                    self.unsorted_event_keys.add(event.customer_key)
                kept.append(event)
                accepted += 1
        return accepted

    def _events_in_time_order(self, key: str) -> list[UsageEvent]:
        events = self.events_by_key.get(key, [])
        if key in self.unsorted_event_keys:
            with self.lock:
                events.sort(key=_timestamp)
                self.unsorted_event_keys.discard(key)
        return events

    def customer_events(self, customer_id: str, start: datetime, end: datetime) -> list[UsageEvent]:
        """The customer's events in [start, end), key by key (id, then aliases), each key's in time order."""
        record = self.customer_record(customer_id)
        found: list[UsageEvent] = []
        for key in dict.fromkeys([customer_id, *record["ingest_aliases"]]):
            events = self._events_in_time_order(key)
            found += events[
                bisect_left(events, start, key=_timestamp) : bisect_left(events, end, key=_timestamp)
            ]
        return found

    def metric_record(self, metric_id: str) -> Record:
        record = self.metrics.get(metric_id)
        if record is None:
            raise not_found(f"billable metric {metric_id} not found")
        return record

    def usage_batch(
        self,
        *,
        starting_on: Any,
        ending_before: Any,
        window_size: str,
        customer_ids: list[str] | None = None,
        billable_metrics: list[Record] | None = None,
    ) -> UsageRows:
        """Every row `/v1/usage` answers, before paging: customer x metric x window."""
        start = parse_time(starting_on, "starting_on")
        end = parse_time(ending_before, "ending_before")
        if end <= start:
            raise bad_request("ending_before must be after starting_on")
        spans = windows(start, end, window_size)
        with self.lock:
            chosen: list[tuple[Record, Record | None]]
            if billable_metrics is None:
                chosen = [
                    (self.metrics[m], None) for m in self.metric_order if "archived_at" not in self.metrics[m]
                ]
            else:
                chosen = [(self.metric_record(str(m.get("id"))), m.get("group_by")) for m in billable_metrics]
            if customer_ids is None:
                customers = [c for c in self.customer_order if self.customer_events(c, start, end)]
            else:
                customers = [self.customer_record(c)["id"] for c in customer_ids]
            for metric, group_by in chosen if customers else ():
                if group_by is not None:
                    _check_group_by(metric, group_by)
        return UsageRows(self, customers, chosen, spans)

    def usage_groups(
        self,
        *,
        customer_id: str,
        billable_metric_id: str,
        window_size: str,
        starting_on: Any = None,
        ending_before: Any = None,
        current_period: bool = False,
        group_key: list[str] | None = None,
        group_filters: dict[str, list[str]] | None = None,
        group_by: Record | None = None,
    ) -> list[Record]:
        """Every row `/v1/usage/groups` answers, before paging: window x group values."""
        with self.lock:
            metric = self.metric_record(billable_metric_id)
            self.customer_record(customer_id)
            if current_period:
                if starting_on is not None or ending_before is not None:
                    raise bad_request("current_period cannot be combined with starting_on or ending_before")
                start, end = self._current_period(customer_id)
            else:
                if starting_on is None or ending_before is None:
                    raise bad_request(
                        "starting_on and ending_before are required unless current_period is true"
                    )
                start = parse_time(starting_on, "starting_on")
                end = parse_time(ending_before, "ending_before")
            keys, filters = _grouping(metric, group_key, group_filters, group_by)
            selected = [e for e in self.customer_events(customer_id, start, end) if matches(metric, e)]
            selected = [
                e
                for e in selected
                if all(not allowed or _text(e.properties.get(k)) in allowed for k, allowed in filters.items())
            ]
            rows: list[Record] = []
            spans = windows(start, end, window_size)
            for (span_start, span_end), in_span in zip(spans, by_span(selected, spans), strict=True):
                buckets: dict[tuple[str | None, ...], list[UsageEvent]] = {}
                for event in in_span:
                    combo = tuple(_text(event.properties[k]) if k in event.properties else None for k in keys)
                    buckets.setdefault(combo, []).append(event)
                if not keys:
                    buckets = {(): in_span}
                for combo, bucket in sorted(buckets.items(), key=lambda item: [v or "" for v in item[0]]):
                    row: Record = {
                        "starting_on": iso(span_start),
                        "ending_before": iso(span_end),
                        "group_key": keys[0] if len(keys) == 1 else None,
                        "group_value": combo[0] if len(keys) == 1 else None,
                        "value": aggregate(metric, bucket),
                    }
                    if keys:
                        row["group"] = {k: v for k, v in zip(keys, combo, strict=True) if v is not None}
                    rows.append(row)
            return rows

    def _current_period(self, customer_id: str) -> tuple[datetime, datetime]:
        now = self.now()
        for contract_id in self.contracts_by_customer.get(customer_id, []):
            contract = self.contracts[contract_id]
            start = parse_time(contract["starting_at"], "starting_at")
            end = contract.get("ending_before")
            if (
                contract.get("archived_at")
                or start > now
                or (end and parse_time(end, "ending_before") <= now)
            ):
                continue
            schedule = contract["usage_statement_schedule"]
            anchor = parse_time(schedule["billing_anchor_date"], "billing_anchor_date")
            months = {"MONTHLY": 1, "QUARTERLY": 3, "ANNUAL": 12}.get(schedule["frequency"])
            period_start = anchor
            step = 0
            while True:
                step += 1
                following = (
                    anchor + timedelta(weeks=step) if months is None else add_months(anchor, step * months)
                )
                if following > now:
                    return max(period_start, start), following
                period_start = following
        raise bad_request("current_period: the customer is currently uncontracted")


def _grouping(
    metric: Record,
    group_key: list[str] | None,
    group_filters: dict[str, list[str]] | None,
    group_by: Record | None,
) -> tuple[list[str], dict[str, list[str]]]:
    metric_keys = [list(keys) for keys in metric.get("group_keys") or []]
    if group_key:
        if not any(set(group_key) == set(keys) for keys in metric_keys):
            raise bad_request("group_key must be one of the billable metric's complete group keys")
        filters = dict(group_filters or {})
        if set(filters) - set(group_key):
            raise bad_request("group_filters keys must be present in group_key")
        return list(group_key), filters
    if group_by is not None:
        key = group_by.get("key")
        if not any(key in keys for keys in metric_keys):
            raise bad_request(f"group_by key {key!r} is not a group key of the billable metric")
        return [str(key)], {str(key): list(group_by.get("values") or [])}
    return [], {}


def _check_group_by(metric: Record, group_by: Record) -> None:
    key = group_by.get("key")
    if not any(key in keys for keys in metric.get("group_keys") or []):
        raise bad_request(f"group_by key {key!r} is not a group key of the billable metric")


def _groups(metric: Record, events: list[UsageEvent], group_by: Record) -> dict[str, float | None]:
    _check_group_by(metric, group_by)
    key = group_by.get("key")
    values = group_by.get("values")
    if not values:
        values = sorted({_text(e.properties[key]) for e in events if key in e.properties})[:MAX_GROUP_VALUES]
    result: dict[str, float | None] = {}
    for value in values:
        bucket = [e for e in events if key in e.properties and _text(e.properties[key]) == value]
        result[value] = aggregate(metric, bucket) if bucket else None
    return result
