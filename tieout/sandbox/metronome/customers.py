"""Customers of the Metronome emulator: create, list, get, archive, aliases, names, configs.

Ingest aliases are unique among active customers (a clash is Metronome's 409); archiving a
customer frees its aliases. `external_id` is the deprecated first alias: given on create it
becomes the first ingest alias, and without aliases it is the customer's own id.
Billing-provider and revenue-system configurations are kept per customer, so contracts and
the crosswalk (`stripe_customer_id`, `netsuite_customer_id`) can read them back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from tieout.sandbox.metronome.base import Record, StateBase
from tieout.sandbox.metronome.wire import bad_request, conflict, decode_cursor, encode_cursor

BILLING_PROVIDERS = {"aws_marketplace", "azure_marketplace", "gcp_marketplace", "stripe", "netsuite"}
LEGACY_BILLING_PROVIDERS = BILLING_PROVIDERS | {
    "custom",
    "quickbooks_online",
    "workday",
    "metronome",
}
DELIVERY_METHODS = {"direct_to_billing_provider", "aws_sqs", "tackle", "aws_sns"}
_DELIVERY_NAMESPACE = uuid.UUID("0d3c1e8e-2f57-4b8e-a7a4-7c1b7f0c9e55")


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise bad_request(f"{field} must be an object of string values")
    return dict(value)


def _aliases(values: Any, field: str = "ingest_aliases") -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > 2000:
        raise bad_request(f"{field} must be an array of at most 2000 strings")
    aliases: list[str] = []
    for alias in values:
        if not isinstance(alias, str) or not 1 <= len(alias) <= 128:
            raise bad_request(f"{field}: each alias must be a string of 1 to 128 characters")
        if alias not in aliases:
            aliases.append(alias)
    return aliases


class CustomersMixin(StateBase):
    """Customer records and their billing-provider configurations."""

    def create_customer(
        self,
        name: str,
        *,
        ingest_aliases: list[str] | None = None,
        external_id: str | None = None,
        custom_fields: dict[str, str] | None = None,
        salesforce_account_id: str | None = None,
        billing_provider_configurations: list[Record] | None = None,
        revenue_system_configurations: list[Record] | None = None,
        billing_config: Record | None = None,
    ) -> Record:
        """Create a customer; returns the full customer (GET shape)."""
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name is required")
        aliases = _aliases(ingest_aliases)
        if external_id is not None:
            if not isinstance(external_id, str) or not 1 <= len(external_id) <= 128:
                raise bad_request("external_id must be a string of 1 to 128 characters")
            aliases = [external_id, *[a for a in aliases if a != external_id]]
        fields = _string_map(custom_fields, "custom_fields")
        with self.lock:
            self._check_aliases_free(aliases, owner=None)
            customer_id = self.new_id()
            now = self.now_iso()
            record: Record = {
                "id": customer_id,
                "external_id": aliases[0] if aliases else customer_id,
                "ingest_aliases": aliases,
                "name": name[:160],
                "customer_config": {"salesforce_account_id": salesforce_account_id},
                "custom_fields": fields,
                "created_at": now,
                "updated_at": now,
                "archived_at": None,
            }
            configs = [
                self._billing_config(customer_id, c, now) for c in billing_provider_configurations or []
            ]
            if billing_config is not None:
                configs.append(self._legacy_billing_config(customer_id, billing_config))
            revenue = [self._revenue_config(customer_id, c) for c in revenue_system_configurations or []]
            self.customers[customer_id] = record
            self.customer_position[customer_id] = len(self.customer_order)
            self.customer_order.append(customer_id)
            for alias in aliases:
                self.alias_owner[alias] = customer_id
            self.billing_configs[customer_id] = configs
            self.revenue_configs[customer_id] = revenue
            self.audit("customer", customer_id, "create")
            return record

    def get_customer(self, customer_id: str) -> Record:
        with self.lock:
            return self.customer_record(customer_id)

    def list_customers(
        self,
        *,
        limit: int = 100,
        next_page: str | None = None,
        customer_ids: list[str] | None = None,
        ingest_alias: str | None = None,
        only_archived: bool = False,
        salesforce_account_ids: list[str] | None = None,
    ) -> tuple[list[Record], str | None]:
        """One page of customers in creation order, and the cursor of the next page."""
        if customer_ids is not None and len(customer_ids) > 100:
            raise bad_request("customer_ids: up to 100 ids can be provided")
        if salesforce_account_ids is not None and len(salesforce_account_ids) > 100:
            raise bad_request("salesforce_account_ids: up to 100 ids can be provided")
        start = int(decode_cursor(next_page)["position"]) if next_page else 0
        wanted_salesforce = set(salesforce_account_ids) if salesforce_account_ids is not None else None
        with self.lock:
            positions = self._candidate_positions(start, customer_ids, ingest_alias)
            page: list[Record] = []
            for position in positions:
                record = self.customers[self.customer_order[position]]
                if (record["archived_at"] is not None) != only_archived:
                    continue
                if ingest_alias is not None and ingest_alias not in record["ingest_aliases"]:
                    continue
                salesforce_id = record["customer_config"]["salesforce_account_id"]
                if wanted_salesforce is not None and salesforce_id not in wanted_salesforce:
                    continue
                if len(page) == limit:
                    return page, encode_cursor({"position": position})
                page.append(record)
            return page, None

    def _candidate_positions(
        self, start: int, customer_ids: list[str] | None, ingest_alias: str | None
    ) -> Iterator[int]:
        if customer_ids is not None:
            found = {self.customer_position[c] for c in customer_ids if c in self.customer_position}
            return iter(sorted(p for p in found if p >= start))
        if ingest_alias is not None and ingest_alias in self.alias_owner:
            position = self.customer_position[self.alias_owner[ingest_alias]]
            return iter([position] if position >= start else [])
        return iter(range(start, len(self.customer_order)))

    def archive_customer(self, customer_id: str) -> Record:
        with self.lock:
            record = self.customer_record(customer_id)
            if record["archived_at"] is None:
                now = self.now_iso()
                record["archived_at"] = now
                record["updated_at"] = now
                for alias in record["ingest_aliases"]:
                    if self.alias_owner.get(alias) == customer_id:
                        del self.alias_owner[alias]
                self.audit("customer", customer_id, "archive")
            return record

    def set_ingest_aliases(self, customer_id: str, ingest_aliases: list[str]) -> Record:
        aliases = _aliases(ingest_aliases)
        with self.lock:
            record = self.customer_record(customer_id)
            self._check_aliases_free(aliases, owner=customer_id)
            for alias in record["ingest_aliases"]:
                if self.alias_owner.get(alias) == customer_id:
                    del self.alias_owner[alias]
            if record["archived_at"] is None:
                for alias in aliases:
                    self.alias_owner[alias] = customer_id
            record["ingest_aliases"] = aliases
            record["external_id"] = aliases[0] if aliases else customer_id
            record["updated_at"] = self.now_iso()
            self.audit("customer", customer_id, "setIngestAliases")
            return record

    def set_customer_name(self, customer_id: str, name: str) -> Record:
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name is required")
        with self.lock:
            record = self.customer_record(customer_id)
            record["name"] = name[:160]
            record["updated_at"] = self.now_iso()
            self.audit("customer", customer_id, "setName")
            return record

    def update_customer_config(self, customer_id: str, *, salesforce_account_id: str | None) -> Record:
        with self.lock:
            record = self.customer_record(customer_id)
            record["customer_config"] = {"salesforce_account_id": salesforce_account_id}
            record["updated_at"] = self.now_iso()
            self.audit("customer", customer_id, "updateConfig")
            return record

    def customer_billing_configurations(
        self, customer_id: str, *, include_archived: bool = False
    ) -> list[Record]:
        with self.lock:
            self.customer_record(customer_id)
            configs = self.billing_configs.get(customer_id, [])
            return [c for c in configs if include_archived or c["archived_at"] is None]

    def _check_aliases_free(self, aliases: Iterable[str], owner: str | None) -> None:
        for alias in aliases:
            holder = self.alias_owner.get(alias)
            if holder is not None and holder != owner:
                raise conflict(f"A customer with ingest alias {alias!r} already exists")

    def _delivery_method_id(self, method: str) -> str:
        # Delivery methods are account-level objects in Metronome; one stable id per method.
        if method not in self.delivery_methods:
            self.delivery_methods[method] = str(uuid.uuid5(_DELIVERY_NAMESPACE, method))
        return self.delivery_methods[method]

    def _delivery(self, config: Record) -> tuple[str, str]:
        method = config.get("delivery_method")
        method_id = config.get("delivery_method_id")
        if method is None and method_id is None:
            raise bad_request("either delivery_method or delivery_method_id must be provided")
        if method is not None:
            if method not in DELIVERY_METHODS:
                raise bad_request(f"delivery_method {method!r} is not supported")
            return str(method), self._delivery_method_id(str(method))
        for known, known_id in self.delivery_methods.items():
            if known_id == method_id:
                return known, known_id
        raise bad_request(f"delivery method {method_id} not found")

    def _billing_config(self, customer_id: str, config: Record, now: str) -> Record:
        provider = config.get("billing_provider")
        if provider not in BILLING_PROVIDERS:
            raise bad_request(f"billing_provider {provider!r} is not supported")
        method, method_id = self._delivery(config)
        tax_provider = config.get("tax_provider")
        if tax_provider is not None and (
            provider != "stripe" or tax_provider not in {"anrok", "avalara", "stripe"}
        ):
            raise bad_request("tax_provider is only supported for stripe billing provider configurations")
        configuration = dict(config.get("configuration") or {})
        if tax_provider is not None:
            configuration["tax_provider"] = tax_provider
        return {
            "id": self.new_id(),
            "billing_provider": provider,
            "configuration": configuration,
            "customer_id": customer_id,
            "delivery_method": method,
            "delivery_method_id": method_id,
            "delivery_method_configuration": {},
            "archived_at": None,
        }

    def _legacy_billing_config(self, customer_id: str, config: Record) -> Record:
        provider = config.get("billing_provider_type")
        provider_customer_id = config.get("billing_provider_customer_id")
        if provider not in LEGACY_BILLING_PROVIDERS or not isinstance(provider_customer_id, str):
            raise bad_request("billing_config needs billing_provider_type and billing_provider_customer_id")
        configuration: Record = {f"{provider}_customer_id": provider_customer_id}
        for key, value in config.items():
            if key not in {"billing_provider_type", "billing_provider_customer_id"}:
                configuration[key] = value
        return {
            "id": self.new_id(),
            "billing_provider": provider,
            "configuration": configuration,
            "customer_id": customer_id,
            "delivery_method": "direct_to_billing_provider",
            "delivery_method_id": self._delivery_method_id("direct_to_billing_provider"),
            "delivery_method_configuration": {},
            "archived_at": None,
        }

    def _revenue_config(self, customer_id: str, config: Record) -> Record:
        if config.get("provider") != "netsuite":
            raise bad_request("revenue system provider must be netsuite")
        method, method_id = self._delivery(config)
        return {
            "id": self.new_id(),
            "provider": "netsuite",
            "configuration": dict(config.get("configuration") or {}),
            "customer_id": customer_id,
            "delivery_method": method,
            "delivery_method_id": method_id,
            "delivery_method_configuration": {},
            "archived_at": None,
        }
