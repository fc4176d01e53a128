"""Job locks (two runs of one job never overlap) and the leader lease (one active scheduler).

`job_lock(store, name, lease_seconds=...)` holds a job for the length of a `with` block, across
processes and hosts, or raises `JobLocked` naming who holds it. On PostgreSQL the lock is a
session advisory lock on a dedicated connection, freed by the server the moment its holder dies;
a job_locks row records who holds it. On SQLite the lock is the job_locks row itself: a lease
renewed by a heartbeat thread and taken over once it expires, or at once when its holder was a
process on this host that no longer exists.

`LeaderLease` is the same lease row under the name "scheduler:leader" on both backends: the
leader renews it; when the leader stops renewing (killed, hung, cut off), another scheduler
takes it over once it expires. Expiry compares the hosts' clocks, so hosts are expected to keep
time (NTP), with a lease much longer than any skew.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from tieout.errors import JobLocked, StoreError
from tieout.stale_runs import process_gone_here
from tieout.store import Store
from tieout.store.locks import AdvisoryLock, Lease

LEADER_LOCK = "scheduler:leader"

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_holder() -> str:
    """host:pid:token - the token tells apart two holders in one process (and a reused pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_died_here(holder: str) -> bool:
    """True only when the holder was a process on this host that is gone; other hosts' holders
    are judged by their lease alone."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    return pid_text.isdigit() and process_gone_here(host, int(pid_text))


class _Lease:
    """A lease row taken, renewed and released on behalf of one holder."""

    def __init__(
        self, store: Store, name: str, *, lease_seconds: float, holder: str | None, clock: Clock
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.store = store
        self.name = name
        self.lease = timedelta(seconds=lease_seconds)
        self.holder = holder or default_holder()
        self.clock = clock

    def current(self) -> Lease | None:
        with self.store.transaction() as tx:
            return tx.get_lease(self.name)

    def take(self, *, run_id: str | None = None, force: bool = False) -> bool:
        now = self.clock()
        with self.store.transaction() as tx:
            current = tx.get_lease(self.name)
            dead = (
                current.holder
                if current is not None and current.holder != self.holder and holder_died_here(current.holder)
                else None
            )
            return tx.take_lease(
                self.name,
                self.holder,
                now=now,
                expires_at=now + self.lease,
                run_id=run_id,
                dead_holder=dead,
                force=force,
            )

    def renew(self) -> bool:
        now = self.clock()
        with self.store.transaction() as tx:
            return tx.renew_lease(self.name, self.holder, now=now, expires_at=now + self.lease)

    def release(self) -> None:
        with self.store.transaction() as tx:
            tx.release_lease(self.name, self.holder)


class HeldJobLock:
    """A job lock while it is held; `lost` is set if the lease was taken away meanwhile."""

    def __init__(self, lease: _Lease, advisory: AdvisoryLock | None) -> None:
        self.name = lease.name
        self.holder = lease.holder
        self.lost = threading.Event()
        self._lease = lease
        self._advisory = advisory
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._renew_until_released, name=f"lock-heartbeat:{lease.name}", daemon=True
        )

    def _renew_until_released(self) -> None:
        interval = self._lease.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                renewed = self._lease.renew()
            except StoreError as exc:
                log.warning("could not renew the lock of job %s: %s", self.name, exc)
                continue
            if not renewed and self._advisory is None:
                log.error("the lock of job %s expired and was taken over", self.name)
                self.lost.set()
                return

    def _release(self) -> None:
        self._stop.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        try:
            self._lease.release()
        finally:
            if self._advisory is not None:
                self._advisory.release()


@contextmanager
def job_lock(
    store: Store,
    name: str,
    *,
    lease_seconds: float,
    holder: str | None = None,
    run_id: str | None = None,
    clock: Clock = utc_now,
) -> Iterator[HeldJobLock]:
    """Hold the job `name` for the block; raises JobLocked when another process holds it."""
    lease = _Lease(store, name, lease_seconds=lease_seconds, holder=holder, clock=clock)
    advisory: AdvisoryLock | None = None
    if store.dialect == "postgresql":
        advisory = AdvisoryLock(store.engine, name)
        if not advisory.try_acquire():
            current = lease.current()
            raise JobLocked(name, current.holder if current else None)
        try:
            lease.take(run_id=run_id, force=True)
        except BaseException:
            advisory.release()
            raise
    elif not lease.take(run_id=run_id):
        current = lease.current()
        raise JobLocked(name, current.holder if current else None)
    held = HeldJobLock(lease, advisory)
    held._heartbeat.start()
    try:
        yield held
    finally:
        held._release()


class LeaderLease:
    """The right to schedule: one scheduler instance holds it and renews it; the others wait."""

    def __init__(
        self,
        store: Store,
        *,
        lease_seconds: float,
        holder: str | None = None,
        clock: Clock = utc_now,
        name: str = LEADER_LOCK,
    ) -> None:
        self._lease = _Lease(store, name, lease_seconds=lease_seconds, holder=holder, clock=clock)
        self.is_leader = False

    @property
    def holder(self) -> str:
        return self._lease.holder

    @property
    def renew_interval_seconds(self) -> float:
        return self._lease.lease.total_seconds() / 3

    def try_acquire(self) -> bool:
        """Renew the lease if we hold it, take it if it is free or expired; True while we lead."""
        if self.is_leader and self._lease.renew():
            return True
        self.is_leader = self._lease.take()
        return self.is_leader

    def current(self) -> Lease | None:
        return self._lease.current()

    def release(self) -> None:
        if self.is_leader:
            self.is_leader = False
            self._lease.release()
