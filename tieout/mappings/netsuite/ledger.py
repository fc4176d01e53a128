"""NetSuite general-ledger views to canonical records: journal entries and AR control balances.

Journal lines come from `transactionline` (amount in the entry's currency, debits positive) with
the account read from the matching `transactionaccountingline`. An AR balance row is one sum of
`transactionaccountingline.amount` (the subsidiary's base currency) over posting lines of one AR
account and subsidiary up to the as-of date, as the connector's query groups it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.netsuite import values
from tieout.model import JournalEntry, JournalLine, LedgerBalance


def map_journal_entry(payload: Mapping[str, Any], context: MappingContext) -> JournalEntry:
    code = values.currency(payload)
    lines = []
    for index, line in enumerate(values.rows(payload, "lines")):
        path = f"lines[{index}]."
        signed = values.decimal(line, "foreignamount", path=path)
        amount = values.as_money(abs(signed), code, path=path + "foreignamount")
        lines.append(
            JournalLine(
                account_id=values.record_id(line, "account", path=path),
                debit=amount if signed > 0 else None,
                credit=amount if signed < 0 else None,
                entity_id=values.optional_id(line, "entity", path=path),
                memo=values.text(line, "memo", path=path),
            )
        )
    debits = sum((line.debit.amount for line in lines if line.debit), Decimal(0))
    credits = sum((line.credit.amount for line in lines if line.credit), Decimal(0))
    if debits != credits:
        raise MappingError("journal lines do not balance", field_path="lines", value=f"{debits} != {credits}")
    return JournalEntry(
        system=context.system,
        native_id=values.record_id(payload, "id"),
        links=values.external_links(values.text(payload, "externalid"), "stripe", {}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        posted_on=values.required_day(payload, "trandate"),
        subsidiary_id=values.optional_id(payload, "subsidiary"),
        currency=code,
        memo=values.text(payload, "memo"),
        lines=tuple(lines),
    )


def ar_balance_id(account_number: str, subsidiary_id: str, currency: str, as_of: str) -> str:
    """The composed native id of an AR balance: account number, subsidiary, currency and as-of date."""
    return f"{account_number}|sub-{subsidiary_id}|{currency}|{as_of}"


def map_ar_balance(payload: Mapping[str, Any], context: MappingContext) -> LedgerBalance:
    code = values.currency(payload)
    account_id = values.record_id(payload, "account")
    subsidiary_id = values.record_id(payload, "subsidiary")
    as_of = values.required_day(payload, "asof")
    number = values.text(payload, "acctnumber") or account_id
    return LedgerBalance(
        system=context.system,
        native_id=ar_balance_id(number, subsidiary_id, code, as_of.isoformat()),
        updated_at=values.moment(payload, "lastmodifieddate"),
        account_id=account_id,
        account_name=values.text(payload, "accountname"),
        subsidiary_id=subsidiary_id,
        currency=code,
        as_of=as_of,
        balance=values.money(payload, "balance", code, default_zero=True),
    )
