# tieout: `make demo` to see it work, `make test` to prove it. Both start from nothing but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install demo test lint bench soak system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[test]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	$(BIN)/python -c "import tieout.cli, pytest" 
	touch $(STAMP)

install: $(STAMP)

# What the tests need from Debian: a real PostgreSQL server (started per test session by the
# test suite itself, as an unprivileged user, on a private socket and port).
system-deps:
	@bash scripts/system-deps.sh

test: install system-deps
	TIEOUT_REQUIRE_POSTGRES=1 $(BIN)/pytest -q -m "not soak"

soak: install system-deps
	TIEOUT_REQUIRE_POSTGRES=1 $(BIN)/pytest -q -m soak

lint: install
	$(BIN)/ruff check tieout tests bench
	$(BIN)/ruff format --check tieout tests bench
	$(BIN)/mypy tieout

bench: install
	$(PIP) install -e '.[test,bench]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	@for script in bench/*.py; do [ -e "$$script" ] || continue; echo "== $$script"; $(BIN)/python $$script || exit 1; done

demo: install
	bash scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tmp
