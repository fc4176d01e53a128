#!/usr/bin/env bash
# `make demo`: the sandbox company, synced and reconciled, with the exception queue it yields.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tieout="$root/.venv/bin/tieout"
workdir="$root/.tmp/demo"
sandbox="$workdir/sandbox"
export COLUMNS="${COLUMNS:-140}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

"$tieout" sandbox down --workdir "$sandbox" >/dev/null 2>&1 || true
rm -rf "$workdir" && mkdir -p "$workdir"
trap '"$tieout" sandbox down --workdir "$sandbox" >/dev/null 2>&1 || true' EXIT

step "tieout sandbox up: emulators of Salesforce, Metronome, Stripe and NetSuite, with a generated company"
"$tieout" sandbox up --background --workdir "$sandbox" --seed 42
config="$sandbox/tieout.yaml"

step "tieout connectors list"
"$tieout" connectors list

step "tieout sync: pull every stream (observe mode: nothing is pushed)"
"$tieout" --config "$config" sync

step "tieout reconcile: compare the four systems"
"$tieout" --config "$config" reconcile

step "tieout exceptions list: the AR team's queue, largest amount at risk first"
"$tieout" --config "$config" exceptions list --limit 12

first=$("$tieout" --config "$config" exceptions list --json --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["exceptions"][0]["exception_id"])')
step "tieout exceptions show $first"
"$tieout" --config "$config" exceptions show "$first"

step "tieout sync --dry-run: what sync mode would create, field by field"
"$tieout" --config "$config" sync --dry-run | tail -n 25

step "tieout sandbox verify: the queue scored against the scenario's answer key"
"$tieout" sandbox verify --workdir "$sandbox"

step "tieout status"
"$tieout" --config "$config" status

printf '\nThe demo ran in %s; `tieout sandbox up --workdir %s` starts the sandbox again.\n' "$workdir" "$sandbox"

step "tieout web: the AR team's exception queue and dashboard, on the sandbox's data"
web_port="${TIEOUT_WEB_PORT:-8080}"
web_password="demo-$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
printf '%s\n' "$web_password" | "$tieout" --config "$config" users add demo --role resolver --name "Demo Accountant" --password-stdin
printf '%s\n' "$web_password" | "$tieout" --config "$config" users add auditor --role viewer --name "Read-only Auditor" --password-stdin >/dev/null
printf '\n  Open  http://127.0.0.1:%s/\n  Log in as  demo / %s   (resolver; "auditor" with the same password can only read)\n  Ctrl-C stops the web app and the sandbox.\n\n' "$web_port" "$web_password"
"$tieout" --config "$config" web --host 127.0.0.1 --port "$web_port"
