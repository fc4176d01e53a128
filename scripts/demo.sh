#!/usr/bin/env bash
# `make demo`: a working tieout in a scratch directory, end to end with what is built so far.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tieout="$root/.venv/bin/tieout"
workdir="$root/.tmp/demo"
rm -rf "$workdir" && mkdir -p "$workdir" && cd "$workdir"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "tieout init: an example configuration"
"$tieout" init
step "tieout config check"
"$tieout" config check
step "tieout db upgrade: the state store (SQLite, WAL) and its migrations"
"$tieout" db upgrade
step "tieout connectors list"
"$tieout" connectors list
step "tieout sync"
"$tieout" sync
step "tieout status"
"$tieout" status
printf '\nThe demo ran in %s\n' "$workdir"
