"""The state store on SQLite and PostgreSQL: migrations, upserts, crosswalk, cursors, runs, ledger, queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tieout.errors import SchemaOutOfDate, StoreError
from tieout.findings import Finding, Severity
from tieout.model import Customer, Invoice, InvoiceStatus
from tieout.money import Money
from tieout.store import Store
from tieout.store.database import make_engine
from tieout.store.records import canonical_row
from tieout.store.schema import canonical_records, metadata, raw_records

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = timezone(timedelta(hours=2))


def raw_row(source_id: str, payload: dict[str, object], updated_at: datetime = T0) -> dict[str, object]:
    return {
        "system": "stripe",
        "stream": "invoices",
        "source_id": source_id,
        "updated_at": updated_at,
        "payload": payload,
        "deleted": False,
        "pulled_at": T0,
        "run_id": None,
    }


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def invoice(native_id: str, total: str = "100.00") -> Invoice:
    return Invoice(
        system="stripe",
        native_id=native_id,
        customer_id="cus_1",
        currency="USD",
        status=InvoiceStatus.OPEN,
        subtotal=usd(total),
        tax=usd("0"),
        total=usd(total),
        amount_due=usd(total),
        amount_paid=usd("0"),
        amount_remaining=usd(total),
        updated_at=T0,
    )


def test_migrations_produce_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert store.revision()[0] == store.revision()[1]


def test_an_older_schema_is_refused_until_upgraded(store_url: str) -> None:
    store = Store.open(store_url)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    store.close()
    with pytest.raises(SchemaOutOfDate, match="tieout db upgrade"):
        Store.open(store_url)


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open"):
        Store.open("postgresql://nobody@127.0.0.1:1/none")


def test_raw_upsert_is_idempotent_and_tracks_content(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_raw([raw_row("in_1", {"total": 100}), raw_row("in_2", {"total": 200})])
    with store.transaction() as tx:
        tx.upsert_raw([raw_row("in_1", {"total": 150}), raw_row("in_2", {"total": 200})])
        assert tx.count_raw("stripe", "invoices") == 2
        stored = tx.get_raw("stripe", "invoices", "in_1")
    assert stored is not None
    assert stored.payload == {"total": 150}
    assert stored.updated_at == T0


def test_canonical_upsert_leaves_unchanged_records_alone(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_canonical([(invoice("in_1"), "invoices")], stored_at=T0)
    later = T0 + timedelta(hours=1)
    with store.transaction() as tx:
        tx.upsert_canonical([(invoice("in_1"), "invoices")], stored_at=later)
        stored_at = tx.connection.execute(text("SELECT stored_at FROM canonical_records")).scalar_one()
    assert str(stored_at).startswith("2026-03-01 12:00")
    with store.transaction() as tx:
        tx.upsert_canonical([(invoice("in_1", total="120.00"), "invoices")], stored_at=later)
        record = tx.get_canonical("stripe:invoice:in_1")
        total_minor = tx.connection.execute(text("SELECT total_minor FROM canonical_records")).scalar_one()
    assert isinstance(record, Invoice)
    assert record.total == usd("120")
    assert total_minor == 12000


def test_canonical_records_round_trip_every_field(store: Store) -> None:
    customer = Customer(
        system="netsuite", native_id="42", legal_name="Acme GmbH", currency="EUR", links={"stripe": "cus_9"}
    )
    with store.transaction() as tx:
        tx.upsert_canonical([(customer, "customers")], stored_at=T0)
        assert list(tx.iter_canonical("customer")) == [customer]


def test_crosswalk_links_and_merges_entities(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.link("invoice", [("metronome", "m-1"), ("stripe", "in_1")], established_by="link", at=T0)
        second = tx.link("invoice", [("netsuite", "77")], established_by="externalId", at=T0)
        assert first != second
        merged = tx.link("invoice", [("stripe", "in_1"), ("netsuite", "77")], established_by="number", at=T0)
        assert merged == first
        assert tx.linked_ids("invoice", "netsuite", "77") == {
            "metronome": "m-1",
            "stripe": "in_1",
            "netsuite": "77",
        }
        again = tx.link("invoice", [("metronome", "m-1")], established_by="link", at=T0)
    assert again == first


def test_cursor_never_moves_backwards(store: Store) -> None:
    with store.transaction() as tx:
        tx.advance_cursor("stripe", "invoices", T0, at=T0, run_id="r1")
        tx.advance_cursor("stripe", "invoices", T0 - timedelta(days=1), at=T0, run_id="r2")
        cursor = tx.get_cursor("stripe", "invoices")
    assert cursor is not None
    assert cursor.watermark == T0


def test_run_lifecycle_and_counts(store: Store) -> None:
    with store.transaction() as tx:
        tx.start_run(
            run_id="r1",
            job="sync:stripe:invoices",
            system="stripe",
            stream="invoices",
            trigger="manual",
            mode="observe",
            started_at=T0,
            host="h",
            pid=1,
        )
        tx.add_run_counts("r1", at=T0, pulled=10, mapped=9, failed=1, api_calls=2)
        tx.add_run_counts("r1", at=T0, pulled=5, mapped=5, api_calls=1)
        tx.finish_run("r1", status="succeeded", at=T0 + timedelta(seconds=3))
        run = tx.get_run("r1")
    assert run is not None
    assert (run.status, run.pulled, run.mapped, run.failed, run.api_calls) == ("succeeded", 15, 14, 1, 3)
    with pytest.raises(ValueError, match="unknown run status"), store.transaction() as tx:
        tx.finish_run("r1", status="done", at=T0)


def test_push_ledger_reservation_is_idempotent(store: Store) -> None:
    reservation = {
        "idempotency_key": "tieout-stripe-invoice-abc",
        "target_system": "stripe",
        "target_stream": "invoices",
        "source_record_id": "metronome:invoice:m-1",
        "operation": "create",
        "payload_hash": "h1",
        "at": T0,
        "run_id": "r1",
    }
    with store.transaction() as tx:
        first = tx.reserve_push(**reservation)  # type: ignore[arg-type]
        tx.mark_push(first.idempotency_key, status="confirmed", at=T0, target_id="in_9")
        again = tx.reserve_push(**{**reservation, "payload_hash": "h2"})  # type: ignore[arg-type]
    assert first.status == "pending"
    assert (again.status, again.target_id, again.payload_hash, again.attempts) == (
        "confirmed",
        "in_9",
        "h1",
        1,
    )


def finding(record: str = "stripe:invoice:in_1", amount: str = "10.00") -> Finding:
    return Finding(
        rule_code="INVOICE_TOTAL_DIFFERS",
        title="Invoice total differs",
        explanation="The totals differ.",
        severity=Severity.HIGH,
        record_ids=(record, "netsuite:invoice:7"),
        amount_at_risk=usd(amount),
    )


def test_queue_files_refreshes_resolves_and_reopens(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.file_findings([finding()], at=T0, run_id="r1")["opened"] == 1
        assert tx.file_findings([finding(amount="12.00")], at=T0, run_id="r2")["refreshed"] == 1
        stored = tx.get_exception_by_fingerprint(finding().fingerprint)
        assert stored is not None and stored.amount_at_risk_minor == 1200 and stored.status == "open"
        assert tx.auto_resolve([finding().fingerprint], at=T0, note="gone") == 1
        assert tx.file_findings([finding()], at=T0, run_id="r3")["reopened"] == 1
        actions = [event.action for event in tx.events_for(stored.exception_id)]
    assert actions == ["opened", "auto_resolved", "reopened"]


def test_fingerprint_ignores_record_order() -> None:
    reordered = Finding(
        rule_code="INVOICE_TOTAL_DIFFERS",
        title="t",
        explanation="e",
        severity=Severity.LOW,
        record_ids=("netsuite:invoice:7", "stripe:invoice:in_1"),
    )
    assert reordered.fingerprint == finding().fingerprint


def test_ignored_exception_stays_ignored_when_seen_again(store: Store) -> None:
    with store.transaction() as tx:
        tx.file_findings([finding()], at=T0, run_id=None)
        stored = tx.get_exception_by_fingerprint(finding().fingerprint)
        assert stored is not None
        tx.connection.execute(text("UPDATE exceptions SET status = 'ignored'"))
        assert tx.file_findings([finding()], at=T0, run_id=None)["ignored"] == 1
        assert tx.get_exception(stored.exception_id).status == "ignored"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "statement", ["UPDATE exception_events SET note = 'edited'", "DELETE FROM exception_events"]
)
def test_audit_events_cannot_be_changed_even_in_sql(store: Store, statement: str) -> None:
    with store.transaction() as tx:
        tx.file_findings([finding()], at=T0, run_id=None)
    with pytest.raises((DBAPIError, StoreError), match="append-only"), store.engine.begin() as connection:
        connection.execute(text(statement))
    with store.transaction() as tx:
        assert len(tx.events_for(1)) == 1


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


def logged_changes(store: Store) -> list[str]:
    with store.transaction() as tx:
        return list(
            tx.connection.execute(text("SELECT record_id FROM record_changes ORDER BY seq")).scalars()
        )


def deleted_invoice(native_id: str, total: str) -> Invoice:
    return invoice(native_id, total).model_copy(update={"deleted": True})


def test_raw_rows_read_back_as_written(store: Store) -> None:
    at_berlin = datetime(2026, 3, 1, 14, 0, 0, 5, tzinfo=BERLIN)
    first_row = {**raw_row("in_1", {"id": "in_1", "total": Decimal("1.50")}, at_berlin), "run_id": "run-1"}
    second_row = {**raw_row("in_2", {}), "updated_at": None, "deleted": True, "mapping_error": "total: bad"}
    second_row["run_id"] = "run-1"
    with store.transaction() as tx:
        tx.upsert_raw([first_row, second_row])
    with store.transaction() as tx:
        first = tx.get_raw("stripe", "invoices", "in_1")
        second = tx.get_raw("stripe", "invoices", "in_2")
        pulled = tx.connection.execute(select(raw_records.c.pulled_at, raw_records.c.run_id)).all()
    assert first is not None and second is not None
    assert first.updated_at == datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert first.updated_at.tzinfo is UTC
    assert first.payload == {"id": "in_1", "total": "1.50"}  # Decimals are stored as their text
    assert (first.deleted, first.mapping_error) == (False, None)
    assert (second.updated_at, second.deleted, second.mapping_error) == (None, True, "total: bad")
    assert set(pulled) == {(T0, "run-1")}


def test_a_naive_datetime_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.transaction() as tx:
        tx.upsert_raw([raw_row("in_1", {}, datetime(2026, 3, 1, 12, 0))])


def test_canonical_rows_log_each_change_once_and_leave_unchanged_rows_alone(store: Store) -> None:
    later = T0 + timedelta(hours=1)
    with store.transaction() as tx:
        tx.upsert_canonical_rows(
            [
                canonical_row(invoice("in_1"), stream="invoices"),
                canonical_row(invoice("in_2"), stream="invoices"),
            ],
            stored_at=T0,
        )
    with store.transaction() as tx:
        tx.upsert_canonical_rows(
            [
                canonical_row(invoice("in_1"), stream="invoices"),
                canonical_row(deleted_invoice("in_2", "120.00"), stream="invoices"),
            ],
            stored_at=later,
        )
    with store.transaction() as tx:
        rows = {
            row.record_id: row
            for row in tx.connection.execute(
                select(
                    canonical_records.c.record_id,
                    canonical_records.c.stored_at,
                    canonical_records.c.updated_at,
                    canonical_records.c.total_minor,
                    canonical_records.c.deleted,
                )
            )
        }
        second = tx.get_canonical("stripe:invoice:in_2")
    assert rows["stripe:invoice:in_1"].stored_at == T0
    assert rows["stripe:invoice:in_1"].updated_at == T0
    assert (rows["stripe:invoice:in_2"].stored_at, rows["stripe:invoice:in_2"].total_minor) == (later, 12000)
    assert rows["stripe:invoice:in_2"].deleted is True
    assert second == deleted_invoice("in_2", "120.00")
    assert logged_changes(store) == ["stripe:invoice:in_1", "stripe:invoice:in_2", "stripe:invoice:in_2"]
