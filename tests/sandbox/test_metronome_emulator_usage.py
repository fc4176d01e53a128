"""The Metronome emulator's usage ingest and aggregation, through metronome-sdk."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import metronome
import pytest

sys.path.append(str(Path(__file__).resolve().parent))
from metronome_emulator_fixtures import NOW, World, unique, world

__all__ = ["world"]

DAY = datetime(2025, 3, 14, tzinfo=UTC)


def event(customer: str, at: datetime, units: Any, region: str, *, kind: str = "api_call") -> dict[str, Any]:
    return {
        "transaction_id": unique("txn"),
        "customer_id": customer,
        "event_type": kind,
        "timestamp": at.isoformat(),
        "properties": {"units": units, "region": region, "user": f"u{int(units) % 3}"},
    }


def metric(world: World, aggregation: str, key: str | None = "units") -> str:
    filters = [
        {"name": "units", "exists": True},
        {"name": "region", "exists": True},
        {"name": "user", "exists": True},
    ]
    return world.client.v1.billable_metrics.create(
        name=unique(aggregation.lower()),
        aggregation_type=aggregation,  # type: ignore[arg-type]
        **({"aggregation_key": key} if key else {}),
        event_type_filter={"in_values": ["api_call"]},
        property_filters=filters,  # type: ignore[arg-type]
        group_keys=[["region"], ["region", "user"]],
    ).data.id


def daily(world: World, customer_id: str, metric_id: str, window: str = "DAY") -> list[Any]:
    return list(
        world.client.v1.usage.list(
            starting_on=DAY,
            ending_before=DAY + timedelta(days=1),
            window_size=window,  # type: ignore[arg-type]
            customer_ids=[customer_id],
            billable_metrics=[{"id": metric_id}],
        )
    )


def test_ingested_usage_aggregates_by_metric(world: World) -> None:
    alias = unique("usage-acct")
    customer = world.client.v1.customers.create(name="Usage", ingest_aliases=[alias]).data
    events = [
        event(alias, DAY + timedelta(hours=1), 5, "eu"),
        event(alias, DAY + timedelta(hours=1, minutes=30), 7, "us"),
        event(customer.id, DAY + timedelta(hours=3), 11, "eu"),
        event(alias, DAY + timedelta(hours=3), 2, "eu", kind="other"),
        event(alias, DAY + timedelta(days=1), 100, "eu"),
    ]
    world.client.v1.usage.ingest(usage=events)  # type: ignore[arg-type]
    ids = {
        kind: metric(world, kind, None if kind == "COUNT" else "units") for kind in ("COUNT", "SUM", "MAX")
    }
    ids["UNIQUE"] = metric(world, "UNIQUE", "region")

    values = {kind: daily(world, customer.id, metric_id)[0].value for kind, metric_id in ids.items()}
    hourly = daily(world, customer.id, ids["SUM"], "HOUR")
    five_days = list(
        world.client.v1.usage.list(
            starting_on=DAY,
            ending_before=DAY + timedelta(days=5),
            window_size="HOUR",
            customer_ids=[customer.id],
            billable_metrics=[{"id": ids["SUM"]}],
        )
    )

    assert values == {"COUNT": 3, "SUM": 23, "MAX": 11, "UNIQUE": 2}
    assert len(hourly) == 24
    assert sum(row.value or 0 for row in five_days) == 23 + 100
    assert len(five_days) == 5 * 24
    assert {row.start_timestamp.hour: row.value for row in hourly if row.value} == {1: 12, 3: 11}


def test_usage_groups_split_by_group_key(world: World) -> None:
    alias = unique("grouped")
    customer = world.client.v1.customers.create(name="Grouped", ingest_aliases=[alias]).data
    world.client.v1.usage.ingest(
        usage=[  # type: ignore[arg-type]
            event(alias, DAY + timedelta(hours=2), 4, "eu"),
            event(alias, DAY + timedelta(hours=5), 6, "eu"),
            event(alias, DAY + timedelta(hours=7), 9, "us"),
        ]
    )
    sum_id = metric(world, "SUM")
    rows = list(
        world.client.v1.usage.list_with_groups(
            customer_id=customer.id,
            billable_metric_id=sum_id,
            window_size="DAY",
            starting_on=DAY,
            ending_before=DAY + timedelta(days=1),
            group_key=["region"],
        )
    )
    filtered = list(
        world.client.v1.usage.list_with_groups(
            customer_id=customer.id,
            billable_metric_id=sum_id,
            window_size="NONE",
            starting_on=DAY,
            ending_before=DAY + timedelta(days=1),
            group_key=["region", "user"],
            group_filters={"region": ["us"]},
        )
    )
    batch = world.client.v1.usage.list(
        starting_on=DAY,
        ending_before=DAY + timedelta(days=1),
        window_size="NONE",
        customer_ids=[customer.id],
        billable_metrics=[{"id": sum_id, "group_by": {"key": "region", "values": ["eu", "us", "apac"]}}],
    ).data

    assert [(r.group, r.value) for r in rows] == [({"region": "eu"}, 10), ({"region": "us"}, 9)]
    assert [(r.group, r.value) for r in filtered] == [({"region": "us", "user": "u0"}, 9)]
    assert batch[0].groups == {"eu": 10, "us": 9, "apac": None}
    with pytest.raises(metronome.BadRequestError):
        world.client.v1.usage.list_with_groups(
            customer_id=customer.id,
            billable_metric_id=sum_id,
            window_size="DAY",
            starting_on=DAY,
            ending_before=DAY + timedelta(days=1),
            group_key=["user"],
        )


def test_ingest_drops_duplicate_transaction_ids(world: World) -> None:
    alias = unique("dedup")
    customer = world.client.v1.customers.create(name="Dedup", ingest_aliases=[alias]).data
    first = event(alias, DAY + timedelta(hours=4), 8, "eu")
    world.client.v1.usage.ingest(usage=[first])  # type: ignore[list-item]
    world.client.v1.usage.ingest(usage=[first, {**first, "properties": {"units": 1000, "region": "eu"}}])  # type: ignore[list-item]
    count_id = metric(world, "COUNT", None)
    sum_id = metric(world, "SUM")

    assert daily(world, customer.id, count_id)[0].value == 1
    assert daily(world, customer.id, sum_id)[0].value == 8


def test_ingest_limits_batch_size_and_backdating(world: World) -> None:
    alias = unique("limits")
    customer = world.client.v1.customers.create(name="Limits", ingest_aliases=[alias]).data
    batch = [event(alias, DAY, 1, "eu") for _ in range(101)]
    with pytest.raises(metronome.BadRequestError) as too_many:
        world.client.v1.usage.ingest(usage=batch)  # type: ignore[arg-type]
    old = event(alias, NOW - timedelta(days=35), 1, "eu")
    with pytest.raises(metronome.BadRequestError) as too_old:
        world.client.v1.usage.ingest(usage=[event(alias, DAY, 1, "eu"), old])  # type: ignore[list-item]
    world.client.v1.usage.ingest(usage=batch[:100])  # type: ignore[arg-type]

    assert "100" in too_many.value.body["message"]  # type: ignore[index]
    assert old["transaction_id"] in too_old.value.body["message"]  # type: ignore[index]
    assert daily(world, customer.id, metric(world, "COUNT", None))[0].value == 100


def test_events_sent_before_an_alias_exists_count_once_it_is_set(world: World) -> None:
    alias = unique("late-alias")
    world.client.v1.usage.ingest(usage=[event(alias, DAY + timedelta(hours=9), 3, "eu")])  # type: ignore[list-item]
    customer = world.client.v1.customers.create(name="Late alias").data
    sum_id = metric(world, "SUM")
    before = daily(world, customer.id, sum_id)[0].value
    world.client.v1.customers.set_ingest_aliases(customer_id=customer.id, ingest_aliases=[alias])

    assert before == 0
    assert daily(world, customer.id, sum_id)[0].value == 3


def test_events_sent_out_of_time_order_fall_in_their_own_windows(world: World) -> None:
    alias = unique("late-arrivals")
    customer = world.client.v1.customers.create(name="Late arrivals", ingest_aliases=[alias]).data
    # Newest first, spread over the id and an alias: each key's events reach the store out of order.
    stamps = [
        DAY + timedelta(days=2, hours=5),
        DAY + timedelta(hours=20),
        DAY + timedelta(days=1, hours=1),
        DAY,
    ]
    world.client.v1.usage.ingest(
        usage=[  # type: ignore[arg-type]
            event(alias if n % 2 else customer.id, at, 10 + n, "eu") for n, at in enumerate(stamps)
        ]
    )
    world.client.v1.usage.ingest(usage=[event(customer.id, DAY + timedelta(hours=21), 40, "us")])  # type: ignore[arg-type]
    sums, latest = metric(world, "SUM"), metric(world, "LATEST")

    def by_day(metric_id: str) -> list[Any]:
        rows = world.client.v1.usage.list(
            starting_on=DAY,
            ending_before=DAY + timedelta(days=3),
            window_size="DAY",
            customer_ids=[customer.id],
            billable_metrics=[{"id": metric_id}],
        )
        return [row.value for row in rows]

    assert by_day(sums) == [13 + 11 + 40, 12, 10]
    assert by_day(latest) == [40, 12, 10]
