"""The price book of the Metronome emulator: billable metrics, products, rate cards and rates.

Products are versioned as Metronome versions them: `initial` is the state at creation, each
update is appended to `updates` with its `starting_at`, and `current` is the initial state with
every update whose `starting_at` has passed applied. Rates live on a rate card in the order
added; where two rates for the same product, pricing group values and billing frequency
overlap, the later one wins from its `starting_at`, as an added rate supersedes the schedule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tieout.sandbox.metronome.base import CREATED_BY, RateEntry, Record, StateBase
from tieout.sandbox.metronome.wire import (
    FIAT_CREDIT_TYPES,
    bad_request,
    credit_type,
    iso,
    not_found,
    optional_time,
    parse_time,
)

AGGREGATIONS = {"COUNT", "LATEST", "MAX", "SUM", "UNIQUE"}
PRODUCT_TYPES = {"FIXED", "USAGE", "COMPOSITE", "SUBSCRIPTION", "PROFESSIONAL_SERVICE", "PRO_SERVICE"}
RATE_TYPES = {"FLAT", "PERCENTAGE", "SUBSCRIPTION", "TIERED", "TIERED_PERCENTAGE", "CUSTOM"}
FREQUENCIES = {"MONTHLY", "QUARTERLY", "ANNUAL", "WEEKLY"}
PRODUCT_STATE_FIELDS = (
    "name",
    "billable_metric_id",
    "composite_product_ids",
    "composite_tags",
    "exclude_free_usage",
    "include_composite_spend",
    "is_refundable",
    "netsuite_internal_item_id",
    "netsuite_overage_item_id",
    "presentation_group_key",
    "pricing_group_key",
    "quantity_conversion",
    "quantity_rounding",
    "tags",
)


def _filter(value: Any, field: str) -> Record | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be an object")
    for key in ("in_values", "not_in_values"):
        if key in value and (not isinstance(value[key], list) or not value[key]):
            raise bad_request(f"{field}.{key} must be a non-empty array when present")
    return dict(value)


def validate_rate(rate_type: Any, values: Record, field: str = "rate") -> None:
    if rate_type not in RATE_TYPES:
        raise bad_request(f"{field}.rate_type must be one of {', '.join(sorted(RATE_TYPES))}")
    if rate_type in {"FLAT", "SUBSCRIPTION", "PERCENTAGE"} and not isinstance(
        values.get("price"), int | float
    ):
        raise bad_request(f"{field}: price is required for {rate_type} rates")
    if rate_type in {"TIERED", "TIERED_PERCENTAGE"}:
        tiers = values.get("tiers")
        if not isinstance(tiers, list) or not tiers:
            raise bad_request(f"{field}: tiers are required for {rate_type} rates")
        for index, tier in enumerate(tiers):
            if not isinstance(tier, dict) or not isinstance(tier.get("price"), int | float):
                raise bad_request(f"{field}: every tier needs a price")
            if index < len(tiers) - 1 and not isinstance(tier.get("size"), int | float):
                raise bad_request(f"{field}: every tier but the last needs a size")
    if rate_type == "CUSTOM" and not isinstance(values.get("custom_rate"), dict):
        raise bad_request(f"{field}: custom_rate is required for CUSTOM rates")


def rate_body(rate_type: str, values: Record, credit: dict[str, str]) -> Record:
    """The `Rate` shape: type, credit type and whichever price fields the rate uses."""
    body: Record = {"rate_type": rate_type, "credit_type": credit}
    for key in ("price", "tiers", "is_prorated", "quantity", "pricing_group_values", "custom_rate"):
        if values.get(key) is not None:
            body[key] = values[key]
    return body


class CatalogMixin(StateBase):
    """Billable metrics, products, rate cards and rates."""

    def create_billable_metric(
        self,
        name: str,
        *,
        aggregation_type: str | None = None,
        aggregation_key: str | None = None,
        event_type_filter: Record | None = None,
        property_filters: list[Record] | None = None,
        group_keys: list[list[str]] | None = None,
        custom_fields: dict[str, str] | None = None,
        sql: str | None = None,
    ) -> Record:
        if not isinstance(name, str) or not name:
            raise bad_request("name is required")
        if sql is not None:
            raise bad_request("SQL billable metrics are not supported by the tieout sandbox")
        aggregation = (aggregation_type or "").upper()
        if aggregation not in AGGREGATIONS:
            raise bad_request(f"aggregation_type must be one of {', '.join(sorted(AGGREGATIONS))}")
        filters = [dict(f) for f in property_filters or []]
        filter_names = set()
        for item in filters:
            if not isinstance(item.get("name"), str):
                raise bad_request("property_filters: every filter needs a name")
            _filter(item, f"property_filters[{item['name']}]")
            filter_names.add(item["name"])
        if aggregation != "COUNT":
            if not aggregation_key:
                raise bad_request(f"aggregation_key is required for {aggregation} billable metrics")
            if aggregation_key not in filter_names:
                raise bad_request("aggregation_key must be one of the property filter names")
        for keys in group_keys or []:
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise bad_request("group_keys must be an array of arrays of property names")
        record: Record = {"name": name, "aggregation_type": aggregation}
        if aggregation_key is not None:
            record["aggregation_key"] = aggregation_key
        record["event_type_filter"] = _filter(event_type_filter, "event_type_filter") or {}
        record["property_filters"] = filters
        record["group_keys"] = [list(keys) for keys in group_keys or []]
        record["custom_fields"] = dict(custom_fields or {})
        with self.lock:
            record = {"id": self.new_id(), **record}
            self.metrics[record["id"]] = record
            self.metric_order.append(record["id"])
            return record

    def get_billable_metric(self, metric_id: str) -> Record:
        with self.lock:
            record = self.metrics.get(metric_id)
            if record is None:
                raise not_found(f"billable metric {metric_id} not found")
            return record

    def archive_billable_metric(self, metric_id: str) -> Record:
        with self.lock:
            record = self.get_billable_metric(metric_id)
            record.setdefault("archived_at", self.now_iso())
            return record

    def create_product(self, name: str, type: str, **attributes: Any) -> Record:
        """Create a product; `attributes` are the create endpoint's optional fields."""
        if not isinstance(name, str) or not name:
            raise bad_request("name is required")
        if type not in PRODUCT_TYPES:
            raise bad_request(f"type must be one of {', '.join(sorted(PRODUCT_TYPES))}")
        product_type = "PRO_SERVICE" if type == "PROFESSIONAL_SERVICE" else type
        unknown = set(attributes) - set(PRODUCT_STATE_FIELDS) - {"custom_fields", "sql_breakdown_granularity"}
        if unknown:
            raise bad_request(f"unknown product field(s): {', '.join(sorted(unknown))}")
        with self.lock:
            self._check_product_state(product_type, attributes)
            now = self.now_iso()
            state: Record = {"created_at": now, "created_by": CREATED_BY, "name": name}
            for key in PRODUCT_STATE_FIELDS[1:]:
                if attributes.get(key) is not None:
                    state[key] = attributes[key]
            record: Record = {
                "id": self.new_id(),
                "type": product_type,
                "initial": state,
                "current": state,
                "updates": [],
                "custom_fields": dict(attributes.get("custom_fields") or {}),
            }
            self.products[record["id"]] = record
            self.product_order.append(record["id"])
            return record

    def _check_product_state(self, product_type: str, attributes: Record) -> None:
        metric_id = attributes.get("billable_metric_id")
        if product_type == "USAGE":
            if metric_id is None:
                raise bad_request("billable_metric_id is required for USAGE products")
            if metric_id not in self.metrics:
                raise bad_request(f"billable metric {metric_id} not found")
        elif metric_id is not None:
            raise bad_request("billable_metric_id is only valid for USAGE products")
        if product_type == "COMPOSITE" and not (
            attributes.get("composite_product_ids") or attributes.get("composite_tags")
        ):
            raise bad_request("COMPOSITE products need composite_product_ids or composite_tags")
        for key in (
            "quantity_conversion",
            "quantity_rounding",
            "pricing_group_key",
            "presentation_group_key",
        ):
            if attributes.get(key) is not None and product_type != "USAGE":
                raise bad_request(f"{key} is only valid for USAGE products")

    def update_product(self, product_id: str, starting_at: Any, **changes: Any) -> Record:
        """Append a product update effective at `starting_at` (a change with history)."""
        effective = parse_time(starting_at, "starting_at")
        unknown = set(changes) - set(PRODUCT_STATE_FIELDS) - {"sql_breakdown_granularity"}
        if unknown:
            raise bad_request(f"unknown product field(s): {', '.join(sorted(unknown))}")
        with self.lock:
            record = self.product_record(product_id)
            update: Record = {
                "created_at": self.now_iso(),
                "created_by": CREATED_BY,
                "starting_at": iso(effective),
            }
            update.update({k: v for k, v in changes.items() if v is not None})
            merged = {**record["current"], **update}
            self._check_product_state(record["type"], merged)
            record["updates"].append(update)
            return record

    def product_view(self, record: Record) -> Record:
        """The product with `current` as of the clock: initial plus the updates already started."""
        now = self.now()
        current = dict(record["initial"])
        for update in sorted(record["updates"], key=lambda u: u["starting_at"]):
            if parse_time(update["starting_at"], "starting_at") <= now:
                current.update({k: v for k, v in update.items() if k != "starting_at"})
        return {**record, "current": current}

    def archive_product(self, product_id: str) -> Record:
        with self.lock:
            record = self.product_record(product_id)
            record.setdefault("archived_at", self.now_iso())
            return record

    def create_rate_card(
        self,
        name: str,
        *,
        description: str | None = None,
        fiat_credit_type_id: str | None = None,
        aliases: list[Record] | None = None,
        credit_type_conversions: list[Record] | None = None,
        custom_fields: dict[str, str] | None = None,
    ) -> Record:
        if not isinstance(name, str) or not name:
            raise bad_request("name is required")
        if credit_type_conversions:
            raise bad_request("custom credit type not found: the sandbox has fiat credit types only")
        fiat = credit_type(fiat_credit_type_id)
        alias_records: list[Record] = []
        for alias in aliases or []:
            if not isinstance(alias, dict) or not isinstance(alias.get("name"), str):
                raise bad_request("aliases: every alias needs a name")
            entry: Record = {"name": alias["name"]}
            for key in ("starting_at", "ending_before"):
                moment = optional_time(alias.get(key), f"aliases.{key}")
                if moment is not None:
                    entry[key] = iso(moment)
            alias_records.append(entry)
        with self.lock:
            taken = {a["name"] for card in self.rate_cards.values() for a in card.get("aliases", [])}
            for alias in alias_records:
                if alias["name"] in taken:
                    raise bad_request(f"rate card alias {alias['name']!r} is already in use")
            record: Record = {
                "id": self.new_id(),
                "name": name,
                "created_at": self.now_iso(),
                "created_by": CREATED_BY,
                "fiat_credit_type": fiat,
                "aliases": alias_records,
                "credit_type_conversions": [],
                "custom_fields": dict(custom_fields or {}),
            }
            if description is not None:
                record["description"] = description
            self.rate_cards[record["id"]] = record
            self.rate_card_order.append(record["id"])
            self.rates[record["id"]] = []
            return record

    def rate_card_record(self, rate_card_id: str) -> Record:
        record = self.rate_cards.get(rate_card_id)
        if record is None:
            raise not_found(f"rate card {rate_card_id} not found")
        return record

    def archive_rate_card(self, rate_card_id: str) -> Record:
        with self.lock:
            record = self.rate_card_record(rate_card_id)
            record.setdefault("archived_at", self.now_iso())
            return record

    def add_rate(self, rate_card_id: str, **values: Any) -> Record:
        """Add one rate (the addRate body's fields); returns the rate as the API echoes it."""
        with self.lock:
            entry = self._rate_entry(rate_card_id, values)
            self.rates[rate_card_id].append(entry)
            body = {**entry.rate}
            if entry.commit_rate is not None:
                body["commit_rate"] = entry.commit_rate
            return body

    def add_rates(self, rate_card_id: str, rates: list[Record]) -> None:
        """Add several rates at once: all are checked before any is added."""
        with self.lock:
            entries = [self._rate_entry(rate_card_id, dict(values)) for values in rates]
            self.rates[rate_card_id].extend(entries)

    def _rate_entry(self, rate_card_id: str, values: Record) -> RateEntry:
        card = self.rate_card_record(rate_card_id)
        product = self.products.get(str(values.get("product_id")))
        if product is None:
            raise bad_request(f"product {values.get('product_id')} not found")
        if not isinstance(values.get("entitled"), bool):
            raise bad_request("entitled is required")
        rate_type = values.get("rate_type")
        validate_rate(rate_type, values)
        if rate_type == "SUBSCRIPTION" and product["type"] != "SUBSCRIPTION":
            raise bad_request("SUBSCRIPTION rates are only valid for SUBSCRIPTION products")
        frequency = values.get("billing_frequency")
        if frequency is not None and frequency not in FREQUENCIES:
            raise bad_request(f"billing_frequency must be one of {', '.join(sorted(FREQUENCIES))}")
        starting_at = parse_time(values.get("starting_at"), "starting_at")
        ending_before = optional_time(values.get("ending_before"), "ending_before")
        if ending_before is not None and ending_before <= starting_at:
            raise bad_request("ending_before must be after starting_at")
        credit_id = values.get("credit_type_id") or card["fiat_credit_type"]["id"]
        if credit_id not in FIAT_CREDIT_TYPES:
            raise bad_request(f"credit type {credit_id} not found")
        commit_rate = values.get("commit_rate")
        if commit_rate is not None:
            validate_rate(commit_rate.get("rate_type"), commit_rate, "commit_rate")
        return RateEntry(
            product_id=product["id"],
            starting_at=starting_at,
            ending_before=ending_before,
            entitled=values["entitled"],
            rate=rate_body(str(rate_type), values, credit_type(credit_id)),
            pricing_group_values=values.get("pricing_group_values"),
            billing_frequency=frequency,
            commit_rate=commit_rate,
        )

    def rates_at(
        self, rate_card_id: str, at: datetime, selectors: list[Record] | None = None
    ) -> list[Record]:
        """The rates in effect at `at`, one per product / pricing group / frequency."""
        with self.lock:
            self.rate_card_record(rate_card_id)
            chosen: dict[tuple[str, str, str | None], RateEntry] = {}
            for entry in self.rates[rate_card_id]:
                if entry.starting_at <= at and (entry.ending_before is None or at < entry.ending_before):
                    key = (
                        entry.product_id,
                        repr(sorted((entry.pricing_group_values or {}).items())),
                        entry.billing_frequency,
                    )
                    chosen.pop(key, None)
                    chosen[key] = entry
            rows = [self._rate_row(entry) for entry in chosen.values()]
            if selectors:
                rows = [row for row in rows if any(_selected(row, s) for s in selectors)]
            return rows

    def _rate_row(self, entry: RateEntry) -> Record:
        product = self.product_view(self.products[entry.product_id])
        row: Record = {
            "entitled": entry.entitled,
            "product_custom_fields": product["custom_fields"],
            "product_id": entry.product_id,
            "product_name": product["current"]["name"],
            "product_tags": product["current"].get("tags", []),
            "rate": entry.rate,
            "starting_at": iso(entry.starting_at),
        }
        if entry.ending_before is not None:
            row["ending_before"] = iso(entry.ending_before)
        if entry.pricing_group_values is not None:
            row["pricing_group_values"] = entry.pricing_group_values
        if entry.billing_frequency is not None:
            row["billing_frequency"] = entry.billing_frequency
        if entry.commit_rate is not None:
            row["commit_rate"] = entry.commit_rate
        return row


def _selected(row: Record, selector: Record) -> bool:
    if selector.get("product_id") and selector["product_id"] != row["product_id"]:
        return False
    if selector.get("product_tags") and not set(selector["product_tags"]) <= set(row["product_tags"]):
        return False
    if selector.get("billing_frequency") and selector["billing_frequency"] != row.get("billing_frequency"):
        return False
    values = row.get("pricing_group_values") or {}
    if selector.get("pricing_group_values") is not None and selector["pricing_group_values"] != values:
        return False
    partial = selector.get("partial_pricing_group_values") or {}
    return all(values.get(k) == v for k, v in partial.items())
