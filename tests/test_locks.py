"""Job locks and the leader lease, on SQLite and PostgreSQL, within one process and across several.

The cross-process tests start real Python processes that hold a lock (or the lease) and then
release it, die by SIGKILL, or race each other for it; waits poll a condition against a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tieout.errors import JobLocked
from tieout.scheduler.locks import LEADER_LOCK, LeaderLease, holder_died_here, job_lock
from tieout.store import Store

HOLD_SCRIPT = """
import sys, threading
from tieout.store import Store
from tieout.scheduler.locks import LeaderLease, job_lock
url, kind, name, lease_seconds, holder = sys.argv[1:6]
store = Store.open(url)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
if kind == "job":
    with job_lock(store, name, lease_seconds=float(lease_seconds), holder=holder or None) as held:
        print("held", held.holder, flush=True)
        done.wait()
else:
    leader = LeaderLease(store, lease_seconds=float(lease_seconds), holder=holder or None)
    assert leader.try_acquire()
    print("held", leader.holder, flush=True)
    while not done.wait(leader.renew_interval_seconds):
        assert leader.try_acquire()
    leader.release()
"""

CONTEND_SCRIPT = """
import os, sys, time
from tieout.errors import JobLocked
from tieout.store import Store
from tieout.scheduler.locks import job_lock
url, marker, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store.open(url)
won = 0
for _ in range(attempts):
    try:
        with job_lock(store, "contended", lease_seconds=60):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                print("overlap", flush=True)
                sys.exit(3)
            os.close(fd)
            time.sleep(0.02)
            os.remove(marker)
            won += 1
    except JobLocked:
        time.sleep(0.005)
print("won", won, flush=True)
"""


def wait_for(condition: object, *, deadline_seconds: float = 30.0, what: str = "condition") -> None:
    assert callable(condition)
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Holder:
    """A separate Python process holding a job lock or the leader lease until told to let go."""

    def __init__(self, store_url: str, kind: str, name: str, lease_seconds: float, holder: str = "") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_SCRIPT, store_url, kind, name, str(lease_seconds), holder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(60)
        if not line or not line[0].startswith("held "):
            self.process.kill()
            _, errors = self.process.communicate()
            raise AssertionError(f"the holder process did not take the lock: {line} {errors}")
        self.holder = line[0].split()[1]

    def release(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(60)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(60)


@pytest.fixture
def other_store(store_url: str, store: Store) -> Iterator[Store]:
    """A second store on the same database: another process's view, as far as locks can tell."""
    opened = Store.open(store_url)
    yield opened
    opened.close()


def test_a_job_lock_excludes_a_second_holder_until_released(store: Store, other_store: Store) -> None:
    with job_lock(store, "sync", lease_seconds=30) as held:
        with pytest.raises(JobLocked) as refused, job_lock(other_store, "sync", lease_seconds=30):
            pass
        assert refused.value.holder == held.holder
        assert "sync" in str(refused.value)
        with job_lock(other_store, "reconcile", lease_seconds=30):
            pass  # another job is not blocked
        with other_store.transaction() as tx:
            lease = tx.get_lease("sync")
        assert lease is not None and lease.holder == held.holder
    with other_store.transaction() as tx:
        assert tx.get_lease("sync") is None
    with job_lock(other_store, "sync", lease_seconds=30) as again:
        assert again.holder != held.holder


def test_a_job_lock_is_released_when_the_block_raises(store: Store) -> None:
    with pytest.raises(RuntimeError), job_lock(store, "sync", lease_seconds=30):
        raise RuntimeError("job failed")
    with job_lock(store, "sync", lease_seconds=30):
        pass


def test_a_lock_held_by_another_process_is_refused_then_granted_after_release(
    store_url: str, store: Store
) -> None:
    holder = Holder(store_url, "job", "sync", 30)
    with pytest.raises(JobLocked) as refused, job_lock(store, "sync", lease_seconds=30):
        pass
    assert refused.value.holder == holder.holder
    assert holder.release() == 0
    with job_lock(store, "sync", lease_seconds=30):
        pass


def test_a_sigkilled_holder_loses_its_lock_without_waiting_for_the_lease(
    store_url: str, store: Store
) -> None:
    holder = Holder(store_url, "job", "sync", 3600)
    holder.kill()

    def taken() -> bool:
        try:
            with job_lock(store, "sync", lease_seconds=30):
                return True
        except JobLocked:
            return False

    wait_for(taken, what="the dead holder's lock to be taken over")


def test_processes_racing_for_one_job_never_overlap(store_url: str, store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "inside"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CONTEND_SCRIPT, store_url, str(marker), "25"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [racer.communicate(timeout=240) for racer in racers]
    for racer, (stdout, stderr) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, stdout + stderr
    won = sum(int(stdout.split()[-1]) for stdout, _ in outputs)
    assert won > 0


def test_the_leader_lease_is_taken_over_only_once_it_expires(store: Store, other_store: Store) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    now = {"first": start, "second": start}
    first = LeaderLease(store, lease_seconds=30, holder="host-a:1:aa", clock=lambda: now["first"])
    second = LeaderLease(other_store, lease_seconds=30, holder="host-b:1:bb", clock=lambda: now["second"])
    assert first.try_acquire()
    now["second"] = start + timedelta(seconds=29)
    assert not second.try_acquire()
    now["first"] = start + timedelta(seconds=20)
    assert first.try_acquire()  # renewed until 09:00:50
    now["second"] = start + timedelta(seconds=45)
    assert not second.try_acquire()
    now["second"] = start + timedelta(seconds=51)
    assert second.try_acquire()
    now["first"] = start + timedelta(seconds=52)
    assert not first.try_acquire()
    assert not first.is_leader
    lease = second.current()
    assert lease is not None and lease.name == LEADER_LOCK and lease.holder == "host-b:1:bb"
    second.release()
    assert second.current() is None


def test_a_leader_that_stops_renewing_is_replaced_after_its_lease(store_url: str, store: Store) -> None:
    # A holder named after another host: its death can only be told by its lease running out.
    leader = Holder(store_url, "leader", LEADER_LOCK, 6, holder="elsewhere:1:dead")
    follower = LeaderLease(store, lease_seconds=6)
    assert not follower.try_acquire()
    first_expiry = follower.current()
    assert first_expiry is not None
    wait_for(
        lambda: (lease := follower.current()) is not None and lease.expires_at > first_expiry.expires_at,
        what="the live leader to renew its lease",
    )
    assert not follower.try_acquire()
    leader.kill()
    last = follower.current()
    assert last is not None and last.holder == "elsewhere:1:dead"
    wait_for(follower.try_acquire, what="the follower to take over")
    assert datetime.now(UTC) >= last.expires_at
    lease = follower.current()
    assert lease is not None and lease.holder == follower.holder


def test_a_sigkilled_leader_on_this_host_is_replaced_at_once(store_url: str, store: Store) -> None:
    leader = Holder(store_url, "leader", LEADER_LOCK, 3600)
    follower = LeaderLease(store, lease_seconds=3600)
    assert not follower.try_acquire()
    assert not holder_died_here(leader.holder)
    leader.kill()
    assert holder_died_here(leader.holder)
    assert follower.try_acquire()


def test_a_holder_on_another_host_or_this_process_is_never_judged_dead() -> None:
    assert not holder_died_here("some-other-host:1:aa")
    assert not holder_died_here(f"{socket.gethostname()}:{os.getpid()}:aa")
    assert not holder_died_here("no pid here")
