"""The scenario generator: deterministic from its seed, every defect kind planted, scales by name or count."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tieout.sandbox.scenario.context import States
from tieout.sandbox.scenario.defects import FIXED_BY_SYNC, DefectKind
from tieout.sandbox.scenario.generate import SCALES, AnswerKey, generate, scale_from

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenario_oracle import fresh_states


def snapshot(states: States) -> dict[str, Any]:
    """Every record's identity and money, per system, to compare two runs record for record."""
    netsuite = [
        tuple(row)
        for row in states.netsuite.db.execute(
            "SELECT id, type, tranid, externalid, entity, currency, foreigntotal, foreignamountunpaid, "
            'trandate, createddate FROM "transaction" ORDER BY id'
        )
    ]
    return {
        "salesforce": sorted(
            (record["Id"], record.get("Name"), str(record["SystemModstamp"]))
            for table in ("Account", "Opportunity", "OpportunityLineItem")
            for record in states.salesforce.tables[table].values()
        ),
        "metronome": sorted(
            (invoice["id"], invoice["customer_id"], invoice["total"], json.dumps(invoice["external_invoice"]))
            for invoice in states.metronome.invoices.values()
        ),
        "stripe": sorted(
            (record["id"], record.get("number"), record.get("total"), record["created"], record["status"])
            for record in states.stripe.tables["invoice"].records.values()
        )
        + sorted(
            (record["id"], record["amount"], record["created"])
            for name in ("charge", "refund", "payout")
            for record in states.stripe.tables[name].records.values()
        ),
        "netsuite": netsuite,
    }


@pytest.fixture(scope="module")
def default_run() -> tuple[AnswerKey, States]:
    states = fresh_states()
    return generate(states, seed=7, scale="small"), states


def test_same_seed_gives_the_same_answer_key_and_records(default_run: tuple[AnswerKey, States]) -> None:
    key, states = default_run
    again_states = fresh_states()
    again = generate(again_states, seed=7, scale="small")

    assert again == key
    assert snapshot(again_states) == snapshot(states)


def test_another_seed_gives_another_company(default_run: tuple[AnswerKey, States]) -> None:
    key, _ = default_run
    other = generate(fresh_states(), seed=8, scale="small")

    assert other["defects"] != key["defects"]
    assert other["counts"] != key["counts"]


def test_answer_key_shape(default_run: tuple[AnswerKey, States], tmp_path: Path) -> None:
    key, states = default_run

    assert (key["seed"], key["scale"]) == (7, "small")
    assert key["as_of"] == "2026-11-22T17:00:00+00:00"
    assert key["generated_at"] == "2026-11-22T17:42:10+00:00"
    assert key["counts"]["salesforce"]["Account"] == SCALES["small"].customers
    assert key["counts"]["metronome"]["invoices"] >= 300
    ids = [defect["defect_id"] for defect in key["defects"]]
    assert ids == [f"D{n:05d}" for n in range(1, len(ids) + 1)]
    for defect in key["defects"]:
        assert defect["records"] and all(defect["records"].values())
        assert defect["fixed_by_sync"] == (DefectKind(defect["kind"]) in FIXED_BY_SYNC)
    path = key.write_answer_key(tmp_path / "answers" / "key.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(key))
    assert states.clock.now() != datetime.fromisoformat(key["as_of"])  # the clock runs again


@pytest.mark.parametrize("seed", [7, 1, 2, 3, 4, 5])
def test_every_defect_kind_is_planted(seed: int, default_run: tuple[AnswerKey, States]) -> None:
    key = default_run[0] if seed == 7 else generate(fresh_states(), seed=seed, scale="small")

    planted = Counter(defect["kind"] for defect in key["defects"])

    assert set(planted) == {kind.value for kind in DefectKind}


def test_default_seed_and_scale() -> None:
    key = generate(fresh_states(), seed=42)

    assert key["scale"] == "small"
    assert {defect["kind"] for defect in key["defects"]} == {kind.value for kind in DefectKind}


def test_scale_by_name_or_customer_count() -> None:
    assert scale_from("small") == SCALES["small"]
    assert scale_from("LARGE").customers == 10_000
    assert scale_from("250").months == SCALES["medium"].months
    assert scale_from(12).customers == 12 and scale_from(12).months == SCALES["small"].months
    assert scale_from("50000").months == SCALES["large"].months
    with pytest.raises(ValueError, match="unknown scale"):
        scale_from("huge")


def test_the_plan_does_not_depend_on_memory_layout() -> None:
    """Defect targets are chosen by identity: no freed object's id() may stand in for a live one."""
    first = generate(fresh_states(), seed=3)
    churn = [object() for _ in range(30_000)]
    second = generate(fresh_states(), seed=3)
    del churn
    third = generate(fresh_states(), seed=3)

    assert first["defects"] == second["defects"] == third["defects"]
