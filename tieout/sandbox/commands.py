"""`tieout sandbox up|down`: run the four emulators with a generated company, as a user would.

`up` starts the emulators on loopback, fills them with a scenario (deterministic from --seed),
writes the answer key, a tieout config wired to the emulators and a secrets file beside it, and
prints what each client needs (as one JSON object with --json). In the foreground it serves
until Ctrl-C or SIGTERM; with --background it starts itself as a detached process, waits until
that process is ready, prints the same description and returns; `down` stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.faults import FaultProfile, profile_named
from tieout.stale_runs import pid_exists

if TYPE_CHECKING:
    from tieout.sandbox.runtime import Sandbox

sandbox_app = typer.Typer(
    help="Run local emulators of Salesforce, Metronome, Stripe and NetSuite.", no_args_is_help=True
)

READY_FILE = "sandbox.json"
PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
WorkdirOption = Annotated[
    Path, typer.Option("--workdir", help="Where the sandbox keeps its CA, config, answer key and pid file.")
]


def _parse_faults(text: str) -> FaultProfile:
    """A profile name (none, flaky, hostile) or explicit rates: 'server_error_rate=0.1,drop_rate=0.02'."""
    if "=" not in text:
        return profile_named(text)
    values: dict[str, Any] = {}
    for part in text.split(","):
        name, _, raw = part.partition("=")
        number = float(raw)
        values[name.strip()] = int(number) if name.strip() == "max_concurrency" else number
    return FaultProfile.from_dict(values)


def _emit(description: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(description, indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()
        return
    typer.echo(f"sandbox up (seed {description['seed']}, scale {description.get('scale', '?')})")
    for system in ("salesforce", "metronome", "stripe", "netsuite"):
        details = description[system]
        url = details.get("instance_url") or details.get("base_url")
        typer.echo(f"  {system:<10} {url}")
    typer.echo(f"  config     {description['config_path']}")
    typer.echo(f"  answer key {description.get('answer_key_path', '')}")
    typer.echo(f"  CA bundle  {description['ca_bundle']}")
    typer.echo("next: tieout --config " + description["config_path"] + " sync")


def _start(
    workdir: Path, seed: int, scale: str, faults: FaultProfile, port_base: int | None, defect_rate: float
) -> tuple[Sandbox, dict[str, Any]]:
    # Imported here: the emulators pull in parsers and servers no other command needs.
    from tieout.sandbox.runtime import Sandbox, SandboxOptions
    from tieout.sandbox.scenario.generate import generate

    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=seed, faults=faults, port_base=port_base)).start()
    try:
        answer_key = generate(sandbox, seed=seed, scale=scale, defect_rate=defect_rate)
        answer_key_path = workdir / "answer_key.json"
        answer_key_path.write_text(json.dumps(answer_key, indent=2, sort_keys=True, default=str) + "\n")
        description = sandbox.describe()
        description["scale"] = scale
        description["defects"] = len(answer_key["defects"])
        description["answer_key_path"] = str(answer_key_path)
        description["config_path"] = str(
            write_sandbox_config(description, workdir, value_maps=answer_key.get("value_maps"))
        )
    except BaseException:
        sandbox.stop()
        raise
    return sandbox, description


@sandbox_app.command("up")
def up(
    seed: Annotated[int, typer.Option(help="Scenario seed; the same seed gives the same company.")] = 42,
    scale: Annotated[str, typer.Option(help="small, medium, large, or a number of customers.")] = "small",
    faults: Annotated[
        str, typer.Option(help="none, flaky, hostile, or rates such as server_error_rate=0.1.")
    ] = "none",
    port_base: Annotated[int | None, typer.Option(help="Serve on ports P..P+3 instead of free ones.")] = None,
    defect_rate: Annotated[float, typer.Option(help="Share of records given a planted defect.")] = 0.01,
    background: Annotated[bool, typer.Option("--background", help="Detach and return once ready.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the description as one JSON object.")
    ] = False,
    workdir: WorkdirOption = Path(".sandbox"),
    ready_file: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Start the emulators with a generated company and print how to reach them."""
    try:
        profile = _parse_faults(faults)
    except ValueError as exc:
        typer.echo(f"--faults: {exc}", err=True)
        raise typer.Exit(2) from None
    workdir = workdir.resolve()
    if background:
        _up_in_background(sys.argv[1:], workdir, as_json)
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sandbox, description = _start(workdir, seed, scale, profile, port_base, defect_rate)
    # `verify` and `down` find a running sandbox through this file, foreground or background.
    described = ready_file or workdir / READY_FILE
    try:
        described.write_text(json.dumps(description))
        _emit(description, as_json)
        if not as_json and ready_file is None:
            typer.echo("serving; Ctrl-C stops the sandbox")
        stop.wait()
    finally:
        sandbox.stop()
        described.unlink(missing_ok=True)


def _up_in_background(argv: list[str], workdir: Path, as_json: bool) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / READY_FILE
    pid_file = workdir / PID_FILE
    if pid_file.exists() and pid_exists(int(pid_file.read_text())):
        typer.echo(
            f"a sandbox is already running (pid {pid_file.read_text().strip()}); `tieout sandbox down` first",
            err=True,
        )
        raise typer.Exit(2)
    ready.unlink(missing_ok=True)
    child_args = [arg for arg in argv if arg != "--background"]
    child_args = [*child_args, "--ready-file", str(ready), "--workdir", str(workdir)]
    with (workdir / LOG_FILE).open("w") as log:
        child = subprocess.Popen(  # noqa: S603 - this same tieout, with the arguments it was given
            [sys.executable, "-m", "tieout", *child_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(child.pid))
    deadline = time.monotonic() + 600
    while not ready.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            pid_file.unlink(missing_ok=True)
            typer.echo(
                "the sandbox did not start; its log says:\n" + (workdir / LOG_FILE).read_text()[-3000:],
                err=True,
            )
            raise typer.Exit(1)
        time.sleep(0.1)
    _emit(json.loads(ready.read_text()), as_json)


@sandbox_app.command("verify")
def verify(
    mode: Annotated[
        str, typer.Option(help="observe (pull and reconcile) or sync (also run the flows).")
    ] = "observe",
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    workdir: WorkdirOption = Path(".sandbox"),
) -> None:
    """Sync and reconcile against the running sandbox, then score the queue against the answer key."""
    from tieout.sandbox.verify import verify_running

    if mode not in ("observe", "sync"):
        raise typer.BadParameter("observe or sync", param_hint="--mode")
    workdir = workdir.resolve()
    described = workdir / READY_FILE
    if not described.exists():
        typer.echo(f"no running sandbox in {workdir}; start one with `tieout sandbox up`", err=True)
        raise typer.Exit(2)
    result, failed = verify_running(json.loads(described.read_text()), mode)
    report = {**result.as_dict(), "sync_failures": failed}
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        _print_scores(result.as_dict(), failed)
    if failed or not result.perfect:
        raise typer.Exit(1)


def _print_scores(report: dict[str, Any], failed: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("defect kind", "planted", "found", "matched", "fixed by sync", "precision", "recall")
    for kind in report["kinds"]:
        fixed = f"{kind['fixed']}/{kind['expected_fixed']}" if kind["expected_fixed"] else ""
        table.add_row(
            kind["kind"].lower(),
            str(kind["planted"]),
            str(kind["found"]),
            str(kind["matched"]),
            fixed,
            f"{kind['precision']:.0%}",
            f"{kind['recall']:.0%}",
        )
    console.print(table)
    for line in failed:
        console.print(f"[red]sync failed[/]: {line}", highlight=False, soft_wrap=True)
    verdict = (
        "[green]every planted defect found, nothing else[/]" if report["perfect"] else "[red]not perfect[/]"
    )
    console.print(f"{report['mode']} mode: {verdict}")


@sandbox_app.command("down")
def down(workdir: WorkdirOption = Path(".sandbox")) -> None:
    """Stop a sandbox started with --background."""
    pid_file = workdir.resolve() / PID_FILE
    if not pid_file.exists():
        typer.echo("no background sandbox is running here", err=True)
        raise typer.Exit(1)
    pid = int(pid_file.read_text())
    if pid_exists(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_exists(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    typer.echo(f"sandbox stopped (pid {pid})")
