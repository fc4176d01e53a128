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


def process_alive_here(host: str | None, pid: int | None) -> bool:
    if host != socket.gethostname() or pid is None:
        return True  # another host's run: only its own lock can say it is dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_runs(tx: StoreTransaction, job: str, *, at: datetime) -> None:
    """Fail the job's `running` records whose process on this host is gone."""
    stale = tx.list_runs(job=job, status="running", limit=100)
    dead = [run.run_id for run in stale if not process_alive_here(run.host, run.pid)]
    tx.fail_runs(dead, at=at, reason=DEAD_RUN_REASON)
