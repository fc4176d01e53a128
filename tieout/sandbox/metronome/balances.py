"""Commit and credit balances and ledgers of the Metronome emulator's contracts.

A balance is what the access schedule has granted so far less what invoices have drawn down:
invoice lines with a negative total that name the commit or credit (`commit_id`, or the id in
`applied_commit_or_credit`), on invoices that are not void. The ledger lists the same facts as
Metronome's ledger entries: one segment start per granted schedule item (an initial balance for
a postpaid commit) and one automated invoice deduction per drawing line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tieout.sandbox.metronome.wire import parse_time

Record = dict[str, Any]
Draw = tuple[str, float, str, str | None]


def drawdowns(invoices: list[Record]) -> dict[str, list[Draw]]:
    """commit or credit id -> (invoice id, amount drawn, invoice end, segment id) per line."""
    draws: dict[str, list[Draw]] = {}
    for invoice in invoices:
        if invoice["status"] == "VOID":
            continue
        for line in invoice["line_items"]:
            applied = line.get("applied_commit_or_credit") or {}
            commit_id = line.get("commit_id") or applied.get("id")
            if commit_id and line["total"] < 0:
                when = invoice.get("end_timestamp") or invoice["issued_at"]
                draws.setdefault(commit_id, []).append(
                    (invoice["id"], -line["total"], when, line.get("commit_segment_id"))
                )
    return draws


def with_balances(
    record: Record, invoices: list[Record], now: datetime, include_balance: bool, include_ledgers: bool
) -> Record:
    """The contract with `balance` and/or `ledger` on each commit and credit, as of `now`."""
    draws = drawdowns(invoices)
    view = dict(record)
    for key, kind in (("commits", "commit"), ("credits", "credit")):
        items = []
        for item in record[key]:
            item = dict(item)
            granted = [
                s
                for s in item.get("access_schedule", {}).get("schedule_items", [])
                if parse_time(s["starting_at"], "starting_at") <= now
            ]
            used = draws.get(item["id"], [])
            if include_balance:
                item["balance"] = sum(s["amount"] for s in granted) - sum(d[1] for d in used)
            if include_ledgers:
                item["ledger"] = _ledger(item, kind, granted, used)
            items.append(item)
        view[key] = items
    return view


def _ledger(item: Record, kind: str, granted: list[Record], used: list[Draw]) -> list[Record]:
    prefix = "CREDIT" if kind == "credit" else f"{item['type']}_COMMIT"
    first_segment = granted[0]["id"] if granted else item["id"]
    entries: list[Record] = []
    if prefix == "POSTPAID_COMMIT":
        total = sum(s["amount"] for s in granted)
        entries.append(
            {
                "type": "POSTPAID_COMMIT_INITIAL_BALANCE",
                "amount": total,
                "timestamp": granted[0]["starting_at"] if granted else item["created_at"],
            }
        )
    else:
        for segment in granted:
            entries.append(
                {
                    "type": f"{prefix}_SEGMENT_START",
                    "amount": segment["amount"],
                    "segment_id": segment["id"],
                    "timestamp": segment["starting_at"],
                }
            )
    for invoice_id, amount, when, segment_id in used:
        entries.append(
            {
                "type": f"{prefix}_AUTOMATED_INVOICE_DEDUCTION",
                "amount": -amount,
                "invoice_id": invoice_id,
                "segment_id": segment_id or first_segment,
                "timestamp": when,
            }
        )
    return entries
