"""Run records whose process died: failed by the next run of the same job, so none stays `running`.

A run killed outright (SIGKILL, a lost machine) cannot finish its own record. The next run of
the same job fails every `running` record of that job whose process is gone. Only a process on
this host can be checked; another host's run is left to its own lock.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from tieout.store import StoreTransaction

DEAD_RUN_REASON = "the process running it stopped before finishing"


def pid_exists(pid: int) -> bool:
    """Whether a process with this id exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_gone_here(host: str | None, pid: int | None) -> bool:
    """True only for a process on this host that no longer exists; another host's cannot be checked."""
    if host != socket.gethostname() or pid is None or pid == os.getpid():
        return False
    return not pid_exists(pid)


def fail_dead_runs(tx: StoreTransaction, job: str | None, *, at: datetime, limit: int = 100) -> list[str]:
    """Fail the `running` records (of `job`, or of every job) whose process on this host is gone."""
    stale = tx.list_runs(job=job, status="running", limit=limit)
    dead = [run.run_id for run in stale if process_gone_here(run.host, run.pid)]
    tx.fail_runs(dead, at=at, reason=DEAD_RUN_REASON)
    return dead
