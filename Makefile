# Every target bootstraps .venv from the committed lock, so a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(BIN)/uv
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: venv demo test lint bench lock clean

venv: $(STAMP)

$(STAMP): requirements/lock.txt requirements/uv.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/uv.txt
	$(UV) pip install --quiet --python $(BIN)/python -r requirements/lock.txt
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

demo: $(STAMP)
	$(BIN)/python -m airflow_provider_acedata.demo

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_acedata tests example_dags benchmarks
	$(BIN)/ruff format --check airflow_provider_acedata tests example_dags benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lock: $(STAMP)
	$(UV) pip compile pyproject.toml --extra test --extra dev --python-version 3.11 --no-header -o requirements/lock.txt

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
