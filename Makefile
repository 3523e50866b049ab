# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when there is none.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints-airflow-3.3.2.txt
STAMP := $(VENV)/.installed

.PHONY: venv test quick lint typecheck pytest system demo docs bench bench-quick constraints clean

$(STAMP): setup.cfg pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,docs]'
	touch $(STAMP)

venv: $(STAMP)

## make test: lint, type-check, build the docs and run the whole test suite, system tests included (what CI runs)
test: $(STAMP) lint typecheck docs pytest system

## make quick: lint and the tests that start no Airflow process (the development loop)
quick: $(STAMP) lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy airflow_provider_kaizala

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make system: the tests that boot Airflow processes (airflow dags test, the api-server, CeleryExecutor)
system: $(STAMP)
	$(BIN)/python -m pytest -m system $(PYTEST_ARGS)

## make demo: start the emulator with the demo tenant and run the demo DAG against it
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

docs: $(STAMP)
	$(BIN)/sphinx-build -W -b html docs docs/_build/html

## benchmarks print figures side by side with a baseline measured in the same run
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^airflow-provider-kaizala' > $(CONSTRAINTS).new
	@echo "review $(CONSTRAINTS).new and move it over $(CONSTRAINTS)"

clean:
	rm -rf $(VENV) build *.egg-info .demo .pytest_cache .mypy_cache .ruff_cache docs/_build
