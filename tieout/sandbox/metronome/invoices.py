"""Invoices of the Metronome emulator: seeding, lifecycle, listing and webhooks.

The scenario generator computes invoices and hands them over with their lines; the emulator
does not rate usage. Amounts are in the invoice's credit type (USD cents for the default fiat
type, so `total: 14392` is $143.92); a line's total defaults to quantity x unit price. The
invoice total is the sum of its lines, except postpaid-commit applications, which Metronome
shows on the invoice but leaves out of the total.

Lifecycle: a DRAFT changes while its period runs, then becomes FINALIZED `finalize_grace`
after its period ends (24 hours, Metronome's default grace period) and is frozen from then on;
VOID is reachable through the API. Finalizing sends the signed `invoice.finalized` webhook;
recording a billing-provider error on the external invoice sends
`invoice.billing_provider_error`.
"""

from __future__ import annotations

import heapq
from typing import Any

from tieout.sandbox.metronome.base import InvoiceIndex, Record, StateBase
from tieout.sandbox.metronome.invoice_lines import build_line, excluded_from_total, external_invoice_record
from tieout.sandbox.metronome.wire import (
    FIAT_CREDIT_TYPES,
    USD_CENTS_ID,
    bad_request,
    credit_type,
    decode_cursor,
    encode_cursor,
    iso,
    not_found,
    optional_time,
    parse_time,
)

INVOICE_TYPES = {"USAGE", "USAGE_CONSOLIDATED", "SCHEDULED"}
STATUSES = {"DRAFT", "FINALIZED", "VOID"}
INVOICE_PASSTHROUGH = (
    "custom_fields",
    "salesforce_opportunity_id",
    "netsuite_sales_order_id",
    "correction_record",
    "regenerated_from_invoice_id",
    "invoice_adjustments",
    "amendment_id",
)


class InvoicesMixin(StateBase):
    """Invoice records, their lifecycle and the webhooks they send."""

    def create_invoice(
        self,
        customer_id: str,
        *,
        start_timestamp: Any,
        end_timestamp: Any,
        line_items: list[Record],
        status: str = "DRAFT",
        type: str = "USAGE",
        contract_id: str | None = None,
        credit_type_id: str | None = None,
        issued_at: Any = None,
        net_payment_terms_days: float | None = None,
        external_invoice: Record | None = None,
        revenue_system_invoices: list[Record] | None = None,
        **extra: Any,
    ) -> Record:
        """Seed an invoice with its lines; FINALIZED ones send `invoice.finalized`."""
        if status not in STATUSES:
            raise bad_request(f"status must be one of {', '.join(sorted(STATUSES))}")
        if type not in INVOICE_TYPES:
            raise bad_request(f"type must be one of {', '.join(sorted(INVOICE_TYPES))}")
        unknown = set(extra) - set(INVOICE_PASSTHROUGH)
        if unknown:
            raise bad_request(f"unknown invoice field(s): {', '.join(sorted(unknown))}")
        start = parse_time(start_timestamp, "start_timestamp")
        end = parse_time(end_timestamp, "end_timestamp")
        if end < start:
            raise bad_request("end_timestamp must not be before start_timestamp")
        issued = optional_time(issued_at, "issued_at") or end
        with self.lock:
            customer = self.customer_record(customer_id)
            contract = self.contracts.get(contract_id) if contract_id is not None else None
            if contract_id is not None and (contract is None or contract["customer_id"] != customer_id):
                raise bad_request(f"contract {contract_id} not found for customer {customer_id}")
            if credit_type_id is None and contract is not None and contract.get("rate_card_id"):
                credit_type_id = self.rate_cards[contract["rate_card_id"]]["fiat_credit_type"]["id"]
            credit = credit_type(credit_type_id or USD_CENTS_ID)
            invoice_id = self.new_id()
            record: Record = {
                "id": invoice_id,
                "customer_id": customer_id,
                "type": type,
                "status": status,
                "credit_type": credit,
                "line_items": [],
                "total": 0,
                "start_timestamp": iso(start),
                "end_timestamp": iso(end),
                "issued_at": iso(issued),
                "external_invoice": external_invoice_record(external_invoice),
                "revenue_system_invoices": revenue_system_invoices,
                "customer_custom_fields": customer["custom_fields"],
            }
            if contract is not None:
                record["contract_id"] = contract["id"]
                record["contract_custom_fields"] = contract["custom_fields"]
                for key in ("salesforce_opportunity_id", "netsuite_sales_order_id", "net_payment_terms_days"):
                    if contract.get(key) is not None:
                        record[key] = contract[key]
            if net_payment_terms_days is not None:
                record["net_payment_terms_days"] = net_payment_terms_days
            record.update({k: v for k, v in extra.items() if v is not None})
            self._set_lines(record, line_items)
            self.invoices[invoice_id] = record
            # Seeding writes finalized invoices directly, standing in for the finalization
            # Metronome runs (and logs) at the issue time: that is when the log shows them.
            logged_at = max(self.now(), issued) if status != "DRAFT" and issued is not None else None
            self.audit("invoice", invoice_id, "create", at=logged_at)
            self.invoice_index[invoice_id] = InvoiceIndex(start, end, issued, self._sort_key(record))
            self.invoices_by_customer.setdefault(customer_id, []).append(invoice_id)
            if status == "DRAFT":
                self.schedule_finalization(invoice_id, end)
            elif status == "FINALIZED":
                self._notify_finalized(record)
            return record

    def _set_lines(self, record: Record, line_items: list[Record]) -> None:
        credit = record["credit_type"]
        lines = [build_line(line, credit, self._line_product(line)) for line in line_items]
        record["line_items"] = lines
        record["total"] = sum(line["total"] for line in lines if not excluded_from_total(line))

    def _line_product(self, line: Record) -> Record | None:
        product_id = line.get("product_id")
        return None if product_id is None else self.product_record(str(product_id))

    def _sort_key(self, record: Record) -> str:
        return f"{record['issued_at']}|{record['id']}"

    def invoice_record(self, invoice_id: str, customer_id: str | None = None) -> Record:
        record = self.invoices.get(invoice_id)
        if record is None or (customer_id is not None and record["customer_id"] != customer_id):
            raise not_found(f"invoice {invoice_id} not found")
        return record

    def update_draft_invoice(self, invoice_id: str, *, line_items: list[Record]) -> Record:
        """Replace a DRAFT's lines, as usage arriving during the period does."""
        with self.lock:
            record = self.invoice_record(invoice_id)
            if record["status"] != "DRAFT":
                raise bad_request(f"invoice {invoice_id} is {record['status']} and can no longer change")
            self._set_lines(record, line_items)
            self.audit("invoice", invoice_id, "updateDraft")
            return record

    def finalize_invoice(self, invoice_id: str, *, issued_at: Any = None) -> Record:
        with self.lock:
            record = self.invoice_record(invoice_id)
            if record["status"] != "DRAFT":
                raise bad_request(f"invoice {invoice_id} is {record['status']}, not DRAFT")
            if issued_at is not None:
                record["issued_at"] = iso(parse_time(issued_at, "issued_at"))
                index = self.invoice_index[invoice_id]
                index.issued = parse_time(record["issued_at"], "issued_at")
                index.sort_key = self._sort_key(record)
            return self.set_invoice_status(invoice_id, "FINALIZED")

    def set_invoice_status(self, invoice_id: str, status: str) -> Record:
        with self.lock:
            record = self.invoice_record(invoice_id)
            record["status"] = status
            self.audit("invoice", invoice_id, "void" if status == "VOID" else "finalize")
            if status == "FINALIZED":
                self._notify_finalized(record)
            return record

    def void_invoice(self, invoice_id: str) -> Record:
        with self.lock:
            record = self.invoice_record(invoice_id)
            if record["status"] == "VOID":
                raise bad_request(f"invoice {invoice_id} is already void")
            return self.set_invoice_status(invoice_id, "VOID")

    def set_external_invoice(self, invoice_id: str, external_invoice: Record | None) -> Record:
        """Record the billing provider's copy (e.g. the Stripe invoice and its status)."""
        with self.lock:
            record = self.invoice_record(invoice_id)
            record["external_invoice"] = external_invoice_record(external_invoice)
            self.audit("invoice", invoice_id, "setExternalInvoice")
            error = (external_invoice or {}).get("billing_provider_error")
            if error:
                self.webhooks.emit(
                    {
                        "id": self.new_id(),
                        "type": "invoice.billing_provider_error",
                        "properties": {
                            "invoice_id": invoice_id,
                            "customer_id": record["customer_id"],
                            "billing_provider": str(
                                record["external_invoice"]["billing_provider_type"]
                            ).upper(),
                            "billing_provider_error": error,
                        },
                    }
                )
            return record

    def set_revenue_system_invoices(self, invoice_id: str, revenue_system_invoices: list[Record]) -> Record:
        for entry in revenue_system_invoices:
            for key in ("revenue_system_provider", "sync_status", "revenue_system_external_entity_type"):
                if not isinstance(entry.get(key), str):
                    raise bad_request(f"revenue_system_invoices: {key} is required")
        with self.lock:
            record = self.invoice_record(invoice_id)
            record["revenue_system_invoices"] = [dict(e) for e in revenue_system_invoices]
            self.audit("invoice", invoice_id, "setRevenueSystemInvoices")
            return record

    def finalize_due_invoices(self) -> list[str]:
        """Finalize every DRAFT whose grace period has ended by the clock; returns their ids."""
        finalized: list[str] = []
        with self.lock:
            now = self.now()
            while self.drafts_due and self.drafts_due[0][0] <= now:
                _, invoice_id = heapq.heappop(self.drafts_due)
                record = self.invoices.get(invoice_id)
                index = self.invoice_index.get(invoice_id)
                grace = self.finalize_grace
                if record is None or index is None or grace is None or record["status"] != "DRAFT":
                    continue
                if index.end is not None and index.end + grace <= now:
                    self.set_invoice_status(invoice_id, "FINALIZED")
                    finalized.append(invoice_id)
        return finalized

    def _notify_finalized(self, record: Record) -> None:
        if self.webhooks.url is None:
            return
        self.webhooks.emit(
            {
                "id": self.new_id(),
                "type": "invoice.finalized",
                "properties": {
                    "invoice_id": record["id"],
                    "customer_id": record["customer_id"],
                    "invoice_finalized_date": self.now_iso(),
                },
            }
        )

    def list_invoices(
        self,
        customer_id: str,
        *,
        limit: int = 100,
        next_page: str | None = None,
        status: str | None = None,
        type: str | None = None,
        contract_id: str | None = None,
        credit_type_id: str | None = None,
        starting_on: Any = None,
        ending_before: Any = None,
        sort: str = "date_asc",
    ) -> tuple[list[Record], str | None]:
        """One page of a customer's invoices ordered by issue date, and the next cursor."""
        if sort not in {"date_asc", "date_desc"}:
            raise bad_request("sort must be date_asc or date_desc")
        if type is not None and type not in INVOICE_TYPES:
            raise bad_request(f"type must be one of {', '.join(sorted(INVOICE_TYPES))}")
        if credit_type_id is not None and credit_type_id not in FIAT_CREDIT_TYPES:
            raise bad_request(f"credit type {credit_type_id} not found")
        statuses = {s.strip().upper() for s in status.split(",")} if status else None
        period_start = optional_time(starting_on, "starting_on")
        period_end = optional_time(ending_before, "ending_before")
        after = str(decode_cursor(next_page)["after"]) if next_page else None
        descending = sort == "date_desc"
        with self.lock:
            self.customer_record(customer_id)
            rows: list[tuple[str, Record]] = []
            for invoice_id in self.invoices_by_customer.get(customer_id, []):
                record, index = self.invoices[invoice_id], self.invoice_index[invoice_id]
                if statuses is not None and record["status"] not in statuses:
                    continue
                if type is not None and record["type"] != type:
                    continue
                if contract_id is not None and record.get("contract_id") != contract_id:
                    continue
                if credit_type_id is not None and record["credit_type"]["id"] != credit_type_id:
                    continue
                if period_start is not None and (index.start is None or index.start < period_start):
                    continue
                if period_end is not None and (index.end is None or index.end > period_end):
                    continue
                if after is not None and (
                    index.sort_key <= after if not descending else index.sort_key >= after
                ):
                    continue
                rows.append((index.sort_key, record))
            rows.sort(key=lambda row: row[0], reverse=descending)
            page = [record for _, record in rows[:limit]]
            cursor = encode_cursor({"after": rows[limit - 1][0]}) if len(rows) > limit else None
            return page, cursor
