"""Generate a company at scale into fresh emulator states: wall time, peak memory, records per system.

    .venv/bin/python bench/sandbox_scale.py                 # medium, then large
    .venv/bin/python bench/sandbox_scale.py --scale medium  # one scale (a name or a customer count)

Each scale runs in its own process, so one's peak resident memory (ru_maxrss) is not another's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState
from tieout.sandbox.netsuite import NetSuiteState
from tieout.sandbox.salesforce import SalesforceState
from tieout.sandbox.scenario.context import States
from tieout.sandbox.scenario.generate import generate, scale_from
from tieout.sandbox.stripe import StripeState

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def run(scale: str, seed: int) -> dict[str, object]:
    clock = SandboxClock()
    states = States(
        clock,
        SalesforceState(clock),
        MetronomeState(clock, seed=seed),
        StripeState(clock, seed=seed),
        NetSuiteState(clock),
    )
    started = time.perf_counter()
    key = generate(states, seed=seed, scale=scale, as_of=AS_OF)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {
        "scale": key["scale"],
        "customers": scale_from(scale).customers,
        "months": scale_from(scale).months,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_mib),
        "counts": key["counts"],
        "defects": dict(Counter(defect["kind"] for defect in key["defects"])),
    }


def _print(figures: dict[str, object]) -> None:
    print(
        f"scale {figures['scale']}: {figures['customers']} customers over {figures['months']} months, "
        f"{figures['seconds']} s, peak RSS {figures['peak_rss_mib']} MiB"
    )
    counts = figures["counts"]
    assert isinstance(counts, dict)
    for system, streams in counts.items():
        print(f"  {system:<10} " + ", ".join(f"{name} {count:,}" for name, count in streams.items()))
    defects = figures["defects"]
    assert isinstance(defects, dict)
    print(f"  defects    {sum(defects.values())} planted, {len(defects)} kinds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", action="append", help="a scale name or customer count (repeatable)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object per scale")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    scales = args.scale or ["medium", "large"]
    if args.in_process:
        print(json.dumps(run(scales[0], args.seed)))
        return
    for scale in scales:
        output = subprocess.run(
            [sys.executable, __file__, "--in-process", "--scale", scale, "--seed", str(args.seed)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures = json.loads(output)
        print(json.dumps(figures) if args.json else "", end="\n" if args.json else "")
        if not args.json:
            _print(figures)


if __name__ == "__main__":
    main()
