"""Contracts of the Metronome emulator: create, get and list (v2 shape), archive, balances.

A contract binds a customer to a rate card for a period, with overrides, commits, credits and
scheduled charges. Reusing a `uniqueness_key` is Metronome's 409, the guard that makes contract
provisioning idempotent; the sandbox scopes keys to the whole account. Balances and
ledgers on request come from `balances`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tieout.sandbox.metronome.balances import with_balances
from tieout.sandbox.metronome.base import CREATED_BY, Record
from tieout.sandbox.metronome.catalog import validate_rate
from tieout.sandbox.metronome.invoices import InvoicesMixin
from tieout.sandbox.metronome.schedules import access_schedule, point_schedule
from tieout.sandbox.metronome.wire import (
    USD_CENTS_ID,
    bad_request,
    conflict,
    credit_type,
    iso,
    not_found,
    optional_time,
    parse_time,
)

UNSUPPORTED_FIELDS = (
    "discounts",
    "professional_services",
    "recurring_commits",
    "recurring_credits",
    "reseller_royalties",
    "subscriptions",
    "hierarchy_configuration",
    "spend_threshold_configuration",
    "prepaid_balance_threshold_configuration",
    "spend_trackers",
    "transition",
    "package_id",
    "package_alias",
)
PASSTHROUGH_FIELDS = (
    "name",
    "netsuite_sales_order_id",
    "salesforce_opportunity_id",
    "total_contract_value",
    "multiplier_override_prioritization",
    "scheduled_charges_on_usage_invoices",
    "uniqueness_key",
)
COMMIT_OPTIONAL = (
    "name",
    "description",
    "priority",
    "rate_type",
    "applicable_product_ids",
    "applicable_product_tags",
    "specifiers",
    "custom_fields",
    "netsuite_sales_order_id",
    "rollover_fraction",
)


class ContractsMixin(InvoicesMixin):
    """Contract records and what hangs off them."""

    def create_contract(self, customer_id: str, starting_at: Any, **fields: Any) -> Record:
        """Create a contract from the create endpoint's fields; returns the v2 contract shape."""
        for name in UNSUPPORTED_FIELDS:
            if fields.get(name):
                raise bad_request(f"{name} on contracts is not supported by the tieout sandbox")
        start = parse_time(starting_at, "starting_at")
        end = optional_time(fields.get("ending_before"), "ending_before")
        if end is not None and end <= start:
            raise bad_request("ending_before must be after starting_at")
        with self.lock:
            customer = self.customer_record(customer_id)
            if customer["archived_at"] is not None:
                raise bad_request(f"customer {customer_id} is archived")
            key = fields.get("uniqueness_key")
            if key is not None and key in self.contract_uniqueness_keys:
                raise conflict(f"A contract with uniqueness_key {key!r} already exists")
            contract_id = self.new_id()
            now = self.now_iso()
            rate_card_id = self._contract_rate_card(fields, start)
            fiat_id = (
                self.rate_cards[rate_card_id]["fiat_credit_type"]["id"] if rate_card_id else USD_CENTS_ID
            )
            record: Record = {
                "id": contract_id,
                "customer_id": customer_id,
                "starting_at": iso(start),
                "created_at": now,
                "created_by": CREATED_BY,
                "commits": [self._commit(c, contract_id, fiat_id, now) for c in fields.get("commits") or []],
                "credits": [self._credit(c, contract_id, fiat_id, now) for c in fields.get("credits") or []],
                "overrides": [self._override(o, now) for o in fields.get("overrides") or []],
                "scheduled_charges": [
                    self._charge(c, fiat_id) for c in fields.get("scheduled_charges") or []
                ],
                "transitions": [],
                "usage_filter": self._usage_filter(fields.get("usage_filter"), start),
                "usage_statement_schedule": _statement_schedule(
                    fields.get("usage_statement_schedule"), start
                ),
                "recurring_commits": [],
                "recurring_credits": [],
                "subscriptions": [],
                "custom_fields": dict(fields.get("custom_fields") or {}),
            }
            if end is not None:
                record["ending_before"] = iso(end)
            if rate_card_id is not None:
                record["rate_card_id"] = rate_card_id
            if fields.get("net_payment_terms_days") is not None:
                record["net_payment_terms_days"] = fields["net_payment_terms_days"]
            for name in PASSTHROUGH_FIELDS:
                if fields.get(name) is not None:
                    record[name] = fields[name]
            self._attach_configurations(record, fields, start)
            self.contracts[contract_id] = record
            self.contracts_by_customer.setdefault(customer_id, []).append(contract_id)
            if key is not None:
                self.contract_uniqueness_keys[key] = contract_id
            self.audit("contract", contract_id, "create")
            return record

    def contract_record(self, customer_id: str, contract_id: str) -> Record:
        record = self.contracts.get(contract_id)
        if record is None or record["customer_id"] != customer_id:
            raise not_found(f"contract {contract_id} not found")
        return record

    def get_contract(
        self,
        customer_id: str,
        contract_id: str,
        *,
        include_balance: bool = False,
        include_ledgers: bool = False,
    ) -> Record:
        with self.lock:
            self.customer_record(customer_id)
            return self.contract_view(
                self.contract_record(customer_id, contract_id), include_balance, include_ledgers
            )

    def list_contracts(
        self,
        customer_id: str,
        *,
        covering_date: datetime | None = None,
        starting_at: datetime | None = None,
        include_archived: bool = False,
        include_balance: bool = False,
        include_ledgers: bool = False,
    ) -> list[Record]:
        if covering_date is not None and starting_at is not None:
            raise bad_request("covering_date and starting_at cannot both be provided")
        with self.lock:
            self.customer_record(customer_id)
            rows: list[Record] = []
            for contract_id in self.contracts_by_customer.get(customer_id, []):
                record = self.contracts[contract_id]
                if record.get("archived_at") is not None and not include_archived:
                    continue
                start = parse_time(record["starting_at"], "starting_at")
                end = optional_time(record.get("ending_before"), "ending_before")
                if covering_date is not None and not (
                    start <= covering_date and (end is None or covering_date < end)
                ):
                    continue
                if starting_at is not None and start < starting_at:
                    continue
                rows.append(self.contract_view(record, include_balance, include_ledgers))
            return rows

    def archive_contract(self, customer_id: str, contract_id: str, *, void_invoices: bool) -> Record:
        with self.lock:
            record = self.contract_record(customer_id, contract_id)
            record.setdefault("archived_at", self.now_iso())
            self.audit("contract", contract_id, "archive")
            if void_invoices:
                for invoice_id in list(self.invoices_by_customer.get(customer_id, [])):
                    invoice = self.invoices[invoice_id]
                    if invoice.get("contract_id") == contract_id and invoice["status"] != "VOID":
                        self.set_invoice_status(invoice_id, "VOID")
            return record

    def contract_view(self, record: Record, include_balance: bool, include_ledgers: bool) -> Record:
        if not include_balance and not include_ledgers:
            return record
        invoices = [self.invoices[i] for i in self.invoices_by_customer.get(record["customer_id"], [])]
        return with_balances(record, invoices, self.now(), include_balance, include_ledgers)

    def _contract_rate_card(self, fields: Record, start: datetime) -> str | None:
        rate_card_id = fields.get("rate_card_id")
        alias = fields.get("rate_card_alias")
        if rate_card_id is not None:
            if rate_card_id not in self.rate_cards:
                raise bad_request(f"rate card {rate_card_id} not found")
            return str(rate_card_id)
        if alias is not None:
            for card in self.rate_cards.values():
                for entry in card.get("aliases", []):
                    begins = optional_time(entry.get("starting_at"), "starting_at")
                    ends = optional_time(entry.get("ending_before"), "ending_before")
                    if (
                        entry["name"] == alias
                        and (begins is None or begins <= start)
                        and (ends is None or start < ends)
                    ):
                        return str(card["id"])
            raise bad_request(f"no rate card has alias {alias!r} at the contract start")
        return None

    def _product_ref(self, product_id: Any, field: str) -> Record:
        product = self.products.get(str(product_id))
        if product is None:
            raise bad_request(f"{field}: product {product_id} not found")
        return {"id": product["id"], "name": product["initial"]["name"]}

    def _commit(self, commit: Record, contract_id: str, fiat_id: str, now: str) -> Record:
        kind = commit.get("type")
        if kind not in {"PREPAID", "POSTPAID"}:
            raise bad_request("commits: type must be PREPAID or POSTPAID")
        record: Record = {
            "id": self.new_id(),
            "type": kind,
            "product": self._product_ref(commit.get("product_id"), "commits"),
            "created_at": now,
            "contract": {"id": contract_id},
        }
        if commit.get("access_schedule") is None:
            raise bad_request("commits: access_schedule is required")
        record["access_schedule"] = access_schedule(commit["access_schedule"], fiat_id, self.new_id)
        if commit.get("invoice_schedule") is not None:
            record["invoice_schedule"] = point_schedule(
                commit["invoice_schedule"], "commits.invoice_schedule", fiat_id, self.new_id
            )
        elif kind == "POSTPAID":
            raise bad_request("commits: POSTPAID commits need an invoice_schedule")
        for key in COMMIT_OPTIONAL:
            if commit.get(key) is not None:
                record[key] = commit[key]
        return record

    def _credit(self, credit: Record, contract_id: str, fiat_id: str, now: str) -> Record:
        if credit.get("access_schedule") is None:
            raise bad_request("credits: access_schedule is required")
        record: Record = {
            "id": self.new_id(),
            "type": "CREDIT",
            "product": self._product_ref(credit.get("product_id"), "credits"),
            "created_at": now,
            "contract": {"id": contract_id},
            "access_schedule": access_schedule(credit["access_schedule"], fiat_id, self.new_id),
        }
        for key in COMMIT_OPTIONAL:
            if key != "rollover_fraction" and credit.get(key) is not None:
                record[key] = credit[key]
        return record

    def _override(self, override: Record, now: str) -> Record:
        start = parse_time(override.get("starting_at"), "overrides.starting_at")
        end = optional_time(override.get("ending_before"), "overrides.ending_before")
        if end is not None and end <= start:
            raise bad_request("overrides: ending_before must be after starting_at")
        given = [k for k in ("overwrite_rate", "multiplier", "tiers") if override.get(k) is not None]
        kind = override.get("type") or {
            "overwrite_rate": "OVERWRITE",
            "multiplier": "MULTIPLIER",
            "tiers": "TIERED",
        }.get(given[0] if given else "")
        if len(given) != 1 or kind not in {"OVERWRITE", "MULTIPLIER", "TIERED"}:
            raise bad_request("overrides: give exactly one of overwrite_rate, multiplier or tiers")
        record: Record = {"id": self.new_id(), "created_at": now, "starting_at": iso(start), "type": kind}
        if end is not None:
            record["ending_before"] = iso(end)
        if override.get("product_id") is not None:
            record["product"] = self._product_ref(override["product_id"], "overrides")
        if kind == "OVERWRITE":
            rate = dict(override["overwrite_rate"])
            validate_rate(rate.get("rate_type"), rate, "overrides.overwrite_rate")
            rate["credit_type"] = credit_type(rate.pop("credit_type_id", None))
            record["overwrite_rate"] = rate
        elif kind == "MULTIPLIER":
            record["multiplier"] = override["multiplier"]
        else:
            record["override_tiers"] = override["tiers"]
        for key in (
            "applicable_product_tags",
            "override_specifiers",
            "entitled",
            "priority",
            "target",
            "is_commit_specific",
        ):
            if override.get(key) is not None:
                record[key] = override[key]
        return record

    def _charge(self, charge: Record, fiat_id: str) -> Record:
        record: Record = {
            "id": self.new_id(),
            "product": self._product_ref(charge.get("product_id"), "scheduled_charges"),
            "schedule": point_schedule(
                charge.get("schedule"), "scheduled_charges.schedule", fiat_id, self.new_id
            ),
        }
        for key in ("name", "custom_fields", "netsuite_sales_order_id"):
            if charge.get(key) is not None:
                record[key] = charge[key]
        return record

    def _usage_filter(self, usage_filter: Any, start: datetime) -> list[Record]:
        if usage_filter is None:
            return []
        if not isinstance(usage_filter.get("group_key"), str) or not isinstance(
            usage_filter.get("group_values"), list
        ):
            raise bad_request("usage_filter needs group_key and group_values")
        begins = optional_time(usage_filter.get("starting_at"), "usage_filter.starting_at") or start
        return [
            {
                "group_key": usage_filter["group_key"],
                "group_values": usage_filter["group_values"],
                "starting_at": iso(begins),
            }
        ]

    def _attach_configurations(self, record: Record, fields: Record, start: datetime) -> None:
        lookup = fields.get("billing_provider_configuration")
        if lookup is not None:
            config = _find_config(
                self.billing_configs.get(record["customer_id"], []),
                lookup,
                "billing_provider",
                "billing_provider_configuration_id",
            )
            record["customer_billing_provider_configuration"] = config
            record["billing_provider_configuration_schedule"] = [
                {"billing_provider_configuration": config, "effective_at": iso(start)}
            ]
        revenue = fields.get("revenue_system_configuration")
        if revenue is not None:
            config = _find_config(
                self.revenue_configs.get(record["customer_id"], []),
                revenue,
                "provider",
                "revenue_system_configuration_id",
            )
            record["revenue_system_configuration_schedule"] = [
                {"revenue_system_configuration": config, "effective_at": iso(start)}
            ]


def _find_config(configs: list[Record], lookup: Record, provider_key: str, id_key: str) -> Record:
    """The customer's active configuration named by id, or by provider and delivery method."""
    wanted_id = lookup.get(id_key)
    for config in configs:
        if config["archived_at"] is not None:
            continue
        if wanted_id is not None and config["id"] == wanted_id:
            return config
        if (
            wanted_id is None
            and config[provider_key] == lookup.get(provider_key)
            and (lookup.get("delivery_method") in (None, config["delivery_method"]))
        ):
            return config
    raise bad_request(f"the customer has no configuration matching {id_key.removesuffix('_id')}")


def _statement_schedule(schedule: Any, start: datetime) -> Record:
    schedule = schedule or {}
    frequency = schedule.get("frequency", "MONTHLY")
    if frequency not in {"MONTHLY", "QUARTERLY", "ANNUAL", "WEEKLY"}:
        raise bad_request("usage_statement_schedule.frequency must be MONTHLY, QUARTERLY, ANNUAL or WEEKLY")
    day = schedule.get("day", "FIRST_OF_MONTH")
    if day == "CUSTOM_DATE" or schedule.get("billing_anchor_date") is not None:
        anchor = parse_time(
            schedule.get("billing_anchor_date"), "usage_statement_schedule.billing_anchor_date"
        )
    elif day == "CONTRACT_START":
        anchor = start
    elif day == "FIRST_OF_MONTH":
        anchor = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        raise bad_request(
            "usage_statement_schedule.day must be FIRST_OF_MONTH, CONTRACT_START or CUSTOM_DATE"
        )
    return {"billing_anchor_date": iso(anchor), "frequency": frequency}
