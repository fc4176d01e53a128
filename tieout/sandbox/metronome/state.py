"""The Metronome emulator's in-memory account, and the Python seeding API over it.

`MetronomeState` is one Metronome account. The HTTP app and a scenario generator share it;
every method takes the state's lock, so seeding from another thread while the server runs is
safe. Timestamps come from the injected `SandboxClock`: freeze it at a moment, create records,
move on, and a year of history is written in seconds. Inserts are O(1); nothing is O(n^2).

Seeding API (each returns the record in Metronome's JSON shape; treat it as read-only):
- customers: `create_customer`, `set_ingest_aliases`, `set_customer_name`,
  `update_customer_config`, `archive_customer`
- price book: `create_billable_metric`, `create_product`, `update_product`,
  `create_rate_card`, `add_rate`, `add_rates`
- contracts: `create_contract`, `archive_contract`
- usage: `add_usage_events` (any age, deduplicated), `ingest` (the endpoint's rules)
- invoices: `create_invoice` (DRAFT / FINALIZED / VOID with lines), `update_draft_invoice`,
  `finalize_invoice`, `void_invoice`, `set_external_invoice`, `set_revenue_system_invoices`,
  `finalize_due_invoices`
- webhooks: `configure_webhooks(url, secret)`; deliveries are in `webhooks.deliveries`
"""

from __future__ import annotations

from tieout.sandbox.metronome.base import Record
from tieout.sandbox.metronome.catalog import CatalogMixin
from tieout.sandbox.metronome.contracts import ContractsMixin
from tieout.sandbox.metronome.customers import CustomersMixin
from tieout.sandbox.metronome.usage import UsageMixin
from tieout.sandbox.metronome.wire import parse_time


class MetronomeState(CustomersMixin, CatalogMixin, ContractsMixin, UsageMixin):
    """One Metronome account: customers, price book, contracts, usage and invoices."""

    def configure_webhooks(self, url: str | None, secret: str | None = None) -> None:
        """Send notifications to `url` (None stops them), signed with `secret` if given."""
        self.webhooks.configure(url, secret)

    def customer_billable_metrics(
        self, customer_id: str, *, on_current_plan: bool = False, include_archived: bool = False
    ) -> list[Record]:
        """Billable metrics as listed for a customer, with Metronome's deprecated fields.

        On the current plan means: a USAGE product of that metric has a rate on the rate
        card of a contract of the customer's that is in effect now.
        """
        with self.lock:
            self.customer_record(customer_id)
            wanted = self._metrics_on_plan(customer_id) if on_current_plan else None
            rows: list[Record] = []
            for metric_id in self.metric_order:
                metric = self.metrics[metric_id]
                if "archived_at" in metric and not include_archived:
                    continue
                if wanted is not None and metric_id not in wanted:
                    continue
                row = dict(metric)
                row["aggregate"] = metric["aggregation_type"].lower()
                if "aggregation_key" in metric:
                    row["aggregate_keys"] = [metric["aggregation_key"]]
                row["group_by"] = sorted({key for keys in metric["group_keys"] for key in keys})
                rows.append(row)
            return rows

    def _metrics_on_plan(self, customer_id: str) -> set[str]:
        now = self.now()
        metric_ids: set[str] = set()
        for contract_id in self.contracts_by_customer.get(customer_id, []):
            contract = self.contracts[contract_id]
            end = contract.get("ending_before")
            if contract.get("archived_at") or parse_time(contract["starting_at"], "starting_at") > now:
                continue
            if end is not None and parse_time(end, "ending_before") <= now:
                continue
            for entry in self.rates.get(contract.get("rate_card_id") or "", []):
                metric_id = self.products[entry.product_id]["initial"].get("billable_metric_id")
                if metric_id is not None:
                    metric_ids.add(metric_id)
        return metric_ids
