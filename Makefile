# Every target bootstraps .venv from the committed lock, so a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(BIN)/uv
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# Our processes write bytecode even where PYTHONDONTWRITEBYTECODE=1 is set (see --compile-bytecode below).
unexport PYTHONDONTWRITEBYTECODE

# The oldest supported Airflow is pinned in requirements/oldest.in; its lock resolves as PyPI stood
# right after that release (apache-airflow 3.1.1 was uploaded 2025-10-27T12:33Z).
OLDEST_EXCLUDE_NEWER := 2025-10-27T13:00:00Z
OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed
BROWSER_DIR := tests/e2e/browser

LEDGER_WHEEL := .cache/official/mcp_acedatacloud-2026.10.25.0-py3-none-any.whl
OFFICIAL := .venv-official
OFFICIAL_STAMP := $(OFFICIAL)/.installed

# pytest-xdist workers for the tests that start no Airflow component (about half their time is waiting on
# sockets and timeouts, so a third worker still pays on two cores).
WORKERS ?= 3
UNIT_PYTEST := $(BIN)/python -m pytest -m "not airflow_real" -n $(WORKERS)
CHECK_PYTEST := $(BIN)/python -m pytest -m "not airflow_real and not whole_command" -n $(WORKERS)
REAL_PYTEST := $(BIN)/python -m pytest -m airflow_real

.PHONY: venv demo check check-tests test unit-tests real-tests lint package-check test-oldest browser-deps redis-deps \
	screenshots bench lock lock-oldest clean

venv: $(STAMP)

# --compile-bytecode: every process that imports Airflow (each component of the test deployment, each test
# child process) then loads .pyc files instead of compiling Airflow's sources again, which it does on every
# start where PYTHONDONTWRITEBYTECODE is set (as on our CI machines): about 1.6 s of CPU per process.
$(STAMP): requirements/lock.txt requirements/uv.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/uv.txt
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements/lock.txt
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# A second venv with the oldest supported Airflow, for test-oldest (uv comes from .venv).
$(OLDEST_STAMP): requirements/lock-oldest.txt pyproject.toml $(STAMP)
	test -x $(OLDEST)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(OLDEST)
	$(UV) pip sync --quiet --compile-bytecode --python $(OLDEST)/bin/python requirements/lock-oldest.txt
	$(UV) pip install --quiet --python $(OLDEST)/bin/python --no-deps -e .
	touch $@

demo: $(STAMP)
	$(BIN)/python -m demo

# The inner loop: ruff, mypy and every test that starts no Airflow component (those not marked airflow_real),
# side by side, each one's output kept together; the end-to-end runs of make demo and make bench --smoke
# (marked whole_command, 45 s between them) are left to make test.
check: $(STAMP) $(LEDGER_WHEEL) $(OFFICIAL_STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target check-tests lint

check-tests: $(STAMP) $(LEDGER_WHEEL) $(OFFICIAL_STAMP)
	$(CHECK_PYTEST)

# The full gate (CI runs it through .ci/run): what check runs, the wheel checks, the oldest Airflow and the
# system packages, two at a time; then the airflow_real tests, which share one real deployment, alone on
# the machine (their timing must not depend on what else the suite runs).
test: $(STAMP) $(LEDGER_WHEEL) $(OFFICIAL_STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target unit-tests lint package-check test-oldest \
		browser-deps redis-deps
	$(REAL_PYTEST)

unit-tests: $(STAMP) $(LEDGER_WHEEL) $(OFFICIAL_STAMP)
	$(UNIT_PYTEST)

real-tests: $(STAMP) $(LEDGER_WHEEL) browser-deps redis-deps
	$(REAL_PYTEST)

# The official backend route ledger for tests/contract, downloaded once with its hash pinned.
$(LEDGER_WHEEL): .ci/official-ledger.txt $(STAMP)
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
		-r .ci/official-ledger.txt -d $(@D)
	touch $@

# The official SDK and MCP server, in their own venv (their dependencies conflict with the lock).
$(OFFICIAL_STAMP): .ci/official-clients.txt $(STAMP)
	test -x $(OFFICIAL)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(OFFICIAL)
	$(UV) pip install --quiet --compile-bytecode --python $(OFFICIAL)/bin/python -r .ci/official-clients.txt
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_acedata tests example_dags benchmarks demo .ci
	$(BIN)/ruff format --check airflow_provider_acedata tests example_dags benchmarks demo .ci
	$(BIN)/mypy

# Build sdist + wheel, check metadata, install the wheel next to Airflow in a fresh venv (see the script).
package-check: $(STAMP)
	.ci/check_wheel.sh requirements/lock.txt

# The oldest supported Airflow: hook, token-store, provider-info, export-period, API operator and trigger tests
# and the wheel check.
test-oldest: $(OLDEST_STAMP)
	$(OLDEST)/bin/python -m pytest -q tests/hooks tests/test_get_provider_info.py tests/test_token_stores.py \
		tests/test_periods.py tests/operators/test_api.py tests/triggers/test_api_trigger.py tests/test_gateway.py
	.ci/check_wheel.sh requirements/lock-oldest.txt

# $(call apt_install,PROGRAM,PACKAGE): install the Debian PACKAGE as root when PROGRAM is missing. One
# apt-get at a time (make -j, or another clone on the same machine, may want one too). Without root or apt
# this only warns: the tests needing it then skip locally and fail under CI=true.
define apt_install
@if [ ! -x $(1) ]; then \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive flock /tmp/acedata-apt-get.lock \
			sh -c 'apt-get update && apt-get install -y -o DPkg::Lock::Timeout=300 $(2)'; \
	else echo "$@: $(1) is missing and this user cannot apt-get install it (Debian package $(2))"; fi; \
fi
endef

# Chromium (Debian) and playwright-core (npm) for tests/e2e/test_connection_form.py and test_ui_path.py.
browser-deps:
	$(call apt_install,/usr/bin/chromium,chromium)
	@if [ ! -d $(BROWSER_DIR)/node_modules ]; then \
		if command -v npm >/dev/null; then cd $(BROWSER_DIR) && npm ci --no-audit --no-fund; \
		else echo "browser-deps: npm is missing, cannot install $(BROWSER_DIR)/node_modules"; fi; \
	fi

# Redis (Debian's redis-server) for the real deployment's Celery broker: tests/e2e/redis_server.py starts
# one per test session on 127.0.0.1, in a temporary folder, and stops it.
redis-deps:
	$(call apt_install,/usr/bin/redis-server,redis-server)

# Refresh the committed screenshot(s) in docs/ from a real Airflow UI; plain test runs write to a temp dir.
screenshots: $(STAMP) browser-deps redis-deps
	ACEDATA_SCREENSHOT_DIR=$(CURDIR)/docs $(BIN)/python -m pytest -q tests/e2e/test_connection_form.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lock: $(STAMP)
	$(UV) pip compile pyproject.toml --extra test --extra dev --python-version 3.11 --no-header -o requirements/lock.txt

lock-oldest: $(STAMP)
	$(UV) pip compile pyproject.toml requirements/oldest.in --extra test --python-version 3.11 \
		--exclude-newer $(OLDEST_EXCLUDE_NEWER) --custom-compile-command "make lock-oldest" -o requirements/lock-oldest.txt

clean:
	rm -rf $(VENV) $(OLDEST) $(BROWSER_DIR)/node_modules build dist .pytest_cache .mypy_cache .ruff_cache
