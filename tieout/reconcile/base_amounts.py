"""Amounts at risk in the subsidiary's base currency, so the queue can rank a yen and a euro together.

A finding's amount is in its document's currency. Its base amount uses the subsidiary the
finding (or one of its NetSuite records) belongs to, that subsidiary's base currency (the
currency of its AR balances, else of its documents booked at a rate of exactly 1), and the rate
NetSuite applied to the finding's own NetSuite record in that currency; failing that, a
configured rate (the `exchange_rates` value map, "EUR:USD" -> "1.08"). With no rate the base
amount is left empty rather than guessed. Rounding is the ledger's: half up to the base
currency's minor unit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from tieout.findings import Finding
from tieout.model import Invoice, LedgerBalance, Payment
from tieout.money import Money
from tieout.reconcile.columnar import Facts
from tieout.reconcile.snapshot import Snapshot


@dataclass(frozen=True)
class RecordRate:
    system: str
    currency: str | None
    exchange_rate: Decimal | None
    subsidiary_id: str | None


def configured_rates(value_maps: Mapping[str, Mapping[str, str]]) -> dict[tuple[str, str], Decimal]:
    """The `exchange_rates` value map: "EUR:USD" -> "1.08" means 1 EUR is 1.08 USD."""
    rates = {}
    for pair, rate in value_maps.get("exchange_rates", {}).items():
        source, _, target = pair.partition(":")
        rates[(source.upper(), target.upper())] = Decimal(str(rate))
    return rates


class RateBook:
    def __init__(
        self,
        records: Mapping[str, RecordRate],
        bases: Mapping[str, str],
        table: Mapping[tuple[str, str], Decimal],
    ) -> None:
        self.records = records
        self.bases = bases
        self.table = table

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, table: Mapping[tuple[str, str], Decimal]) -> RateBook:
        records: dict[str, RecordRate] = {}
        documents: list[Invoice | Payment] = [
            *snapshot.records(Invoice, "netsuite").values(),
            *snapshot.records(Payment, "netsuite").values(),
        ]
        for record in documents:
            records[record.record_id] = RecordRate(
                record.system, record.currency, record.exchange_rate, record.subsidiary_id
            )
        balances = [
            (balance.subsidiary_id, balance.currency)
            for balance in snapshot.records(LedgerBalance, "netsuite").values()
        ]
        return cls(records, _bases(balances, records.values()), table)

    @classmethod
    def from_facts(
        cls, facts: Facts, table: Mapping[tuple[str, str], Decimal], findings: Sequence[Finding]
    ) -> RateBook:
        """Only the NetSuite documents the findings name are read; base currencies are found set-based."""
        facts.temp_table(
            "named",
            {"record_id": sorted({record_id for finding in findings for record_id in finding.record_ids})},
        )
        rows = facts.db.execute(
            "SELECT record_id, system, currency, exchange_rate, subsidiary_id FROM facts "
            "WHERE system = 'netsuite' AND kind IN ('invoice', 'payment') "
            "AND record_id IN (SELECT record_id FROM named)"
        ).fetchall()
        records = {row[0]: RecordRate(row[1], row[2], _rate(row[3]), row[4]) for row in rows}
        bases = dict(
            facts.db.execute(
                "SELECT subsidiary_id, max(currency) FROM facts WHERE kind = 'ledger_balance' "
                "AND system = 'netsuite' AND subsidiary_id IS NOT NULL GROUP BY subsidiary_id"
            ).fetchall()
        )
        voted = facts.db.execute(
            "SELECT subsidiary_id, arg_max(currency, (documents, currency)) FROM ("
            "  SELECT subsidiary_id, currency, count(*) AS documents FROM facts WHERE system = 'netsuite'"
            "  AND kind IN ('invoice', 'payment') AND exchange_rate = 1 AND subsidiary_id IS NOT NULL"
            "  AND currency IS NOT NULL GROUP BY subsidiary_id, currency) GROUP BY subsidiary_id"
        ).fetchall()
        for subsidiary, currency in voted:
            bases.setdefault(subsidiary, currency)
        return cls(records, bases, table)

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        return [self._with_base(finding) for finding in findings]

    def _with_base(self, finding: Finding) -> Finding:
        amount = finding.amount_at_risk
        if amount is None or finding.base_amount_at_risk is not None:
            return finding
        own = [self.records[record_id] for record_id in finding.record_ids if record_id in self.records]
        subsidiary = finding.subsidiary_id or next((r.subsidiary_id for r in own if r.subsidiary_id), None)
        base = self.bases.get(subsidiary or "")
        if base is None:
            return finding
        if amount.currency == base:
            return replace(finding, base_amount_at_risk=amount)
        rate = next(
            (r.exchange_rate for r in own if r.currency == amount.currency and r.exchange_rate is not None),
            self.table.get((amount.currency, base)),
        )
        if rate is None:
            return finding
        converted = Money(amount=amount.amount * rate, currency=base).quantized(ROUND_HALF_UP)
        return replace(finding, base_amount_at_risk=converted)


def _rate(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value)).normalize()


def _bases(balances: Iterable[tuple[str | None, str]], records: Iterable[RecordRate]) -> dict[str, str]:
    """Each subsidiary's base currency: its AR balances' currency, else its documents' at rate 1."""
    found: dict[str, str] = {}
    for subsidiary, currency in sorted((item for item in balances if item[0]), key=lambda item: item[1]):
        found[str(subsidiary)] = currency
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        if record.subsidiary_id and record.currency and record.exchange_rate == 1:
            votes[record.subsidiary_id][record.currency] += 1
    for subsidiary, counted in votes.items():
        found.setdefault(subsidiary, max(counted.items(), key=lambda item: (item[1], item[0]))[0])
    return found
