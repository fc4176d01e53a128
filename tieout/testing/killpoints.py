"""Named kill points: a test-only hook that SIGKILLs this process at a chosen point of a sync.

The runner and the pusher call `reached("<name>")` at the moments a crash is most dangerous
(between pulling a page and storing it, inside the transaction that moves a cursor, between
reserving a push in the ledger and sending it, between sending it and confirming it). Two
environment variables, read once at import, turn the hook on:

- ``TIEOUT_TEST_KILL_AT="push.after_send:17"`` kills the process the 17th time that point is
  reached; ``"*:40"`` kills it at the 40th point of any name.
- ``TIEOUT_TEST_KILL_TRACE=<file>`` appends the name of every point reached, one per line, so a
  harness can count the points of a clean run and choose where to kill the next one.

With neither set, `reached` is a test of one module global, and nothing else happens.
"""

from __future__ import annotations

import os
import signal
from typing import TextIO

KILL_AT_VARIABLE = "TIEOUT_TEST_KILL_AT"
TRACE_VARIABLE = "TIEOUT_TEST_KILL_TRACE"
ANY_POINT = "*"

POINTS = (
    "pull.before_store",
    "pull.mid_commit",
    "pull.after_commit",
    "cursor.mid_commit",
    "push.after_reserve",
    "push.after_send",
    "push.after_confirm",
)
"""Every point the runner and the pusher declare, in the order a sync meets them."""


def parse_kill_at(text: str) -> tuple[str, int]:
    """`"<point>:<occurrence>"` as (point, occurrence); a clear error naming the variable if malformed."""
    point, separator, count = text.strip().rpartition(":")
    if not separator or not count.isdigit() or int(count) < 1 or point not in (*POINTS, ANY_POINT):
        raise ValueError(
            f"{KILL_AT_VARIABLE}={text!r}: expected <point>:<occurrence>, the occurrence a positive "
            f"number and the point one of {', '.join((*POINTS, ANY_POINT))}"
        )
    return point, int(count)


class _Hook:
    def __init__(self, kill_at: tuple[str, int] | None, trace: TextIO | None) -> None:
        self.kill_at = kill_at
        self.trace = trace
        self.seen: dict[str, int] = {}

    def reached(self, point: str) -> None:
        if self.trace is not None:
            self.trace.write(point + "\n")
            self.trace.flush()
        if self.kill_at is None:
            return
        wanted, occurrence = self.kill_at
        key = ANY_POINT if wanted == ANY_POINT else point
        if key != wanted:
            return
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] == occurrence:
            os.kill(os.getpid(), signal.SIGKILL)


def _from_environment() -> _Hook | None:
    kill_at_text = os.environ.get(KILL_AT_VARIABLE)
    trace_path = os.environ.get(TRACE_VARIABLE)
    if not kill_at_text and not trace_path:
        return None
    kill_at = parse_kill_at(kill_at_text) if kill_at_text else None
    # Line-buffered append: a SIGKILL must not lose the points already written.
    trace = open(trace_path, "a", buffering=1, encoding="utf-8") if trace_path else None  # noqa: SIM115
    return _Hook(kill_at, trace)


_HOOK = _from_environment()


def reached(point: str) -> None:
    """Mark that the sync reached `point`; kills the process here if the test asked for it."""
    if _HOOK is not None:
        _HOOK.reached(point)
