#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when they are missing.
set -euo pipefail

# PostgreSQL for the store tests; Redis as the Celery broker of the scale-out tests; Chromium for
# the web app's browser tests (Playwright drives Debian's build by its path, it downloads nothing).
have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

missing=()
have_postgres || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "missing Debian packages: ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a cluster of its own on port 5432; the tests never use it.
$SUDO service postgresql stop >/dev/null 2>&1 || true
# Likewise Redis: each test session starts its own server on a free port.
$SUDO service redis-server stop >/dev/null 2>&1 || true
