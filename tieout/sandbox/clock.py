"""A settable clock for the emulators, so scenarios can write history and tests can move time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Wall-clock time by default; frozen or shifted when a scenario or test says so.

    Emulators read `now()` for every timestamp they stamp on a record (created, updated,
    SystemModstamp, lastModifiedDate), so a scenario generator can write a year of history by
    freezing the clock at each moment it creates records.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen_at = frozen_at
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return datetime.now(UTC) + self._offset

    def freeze(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("SandboxClock.freeze needs an aware datetime")
        with self._lock:
            self._frozen_at = at.astimezone(UTC)

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen_at = None

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta
