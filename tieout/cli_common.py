"""What every `tieout` command shares: the global options, consoles, JSON output and exit codes.

Exit codes:

    0  done
    1  a sync run failed or was interrupted (details in `tieout status` and the run record)
    2  the configuration, the command line or a queue action is wrong (every problem is printed)
    3  the state store failed or needs `tieout db upgrade`
    4  a connector could not reach or use its system
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tieout.errors import ConfigError, ConnectorError, QueueError, StoreError
from tieout.flows.runner import FlowResult

EXIT_OK, EXIT_RUN_FAILED, EXIT_CONFIG, EXIT_STORE, EXIT_CONNECTOR = 0, 1, 2, 3, 4

out = Console()
err = Console(stderr=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class State:
    config_path: Path = Path("tieout.yaml")


state = State()


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=True) + "\n")


@contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        err.print(f"[bold red]configuration problems ({len(exc.problems)}):[/]")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except QueueError as exc:
        err.print(f"[bold red]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except StoreError as exc:
        err.print(f"[bold red]state store:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_STORE) from None
    except ConnectorError as exc:
        err.print(f"[bold red]connector:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONNECTOR) from None


def print_flows(flows: list[FlowResult], *, dry_run: bool) -> None:
    """What each flow did (or, in a dry run, would do, field by field) and what waits."""
    for flow in flows:
        counts = ", ".join(
            f"{flow.count(status)} {status}"
            for status in ("planned", "created", "updated", "unchanged", "rejected")
            if flow.count(status)
        )
        out.print(
            f"[bold]{flow.title}[/]: {counts or 'nothing to do'}"
            + (f", {len(flow.skipped)} waiting" if flow.skipped else "")
        )
        if flow.error:
            out.print(f"  [red]{flow.error}[/]", highlight=False, soft_wrap=True)
        if dry_run:
            for outcome in flow.outcomes:
                out.print(
                    f"  would {outcome.intent.operation} in {flow.target}: {outcome.intent.source_record_id}",
                    highlight=False,
                )
                for change in outcome.changes:
                    before = "" if change.before is None else f"{change.before} -> "
                    out.print(
                        f"      {change.field}: {before}{change.after}", highlight=False, soft_wrap=True
                    )
        for source, reason in flow.skipped[:10]:
            out.print(f"  waiting: {source}: {reason}", highlight=False, soft_wrap=True)
