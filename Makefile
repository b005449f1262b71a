# The two set-up commands of the README: `make run` and `make test`. Both install into .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: run test test-quick test-processes tck bench bench-quick bench-tracing chaos fuzz lint install clean assets predict screenshots

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(INSTALLED)

install: $(INSTALLED)

# The demo: people to log in as, and an SLA target so the dashboard's SLA figures mean something (both overridable).
DEMO_SLA = {"order_management": {"target": "PT2M", "minShare": 0.9}}

run: $(INSTALLED)
	@[ -n "$$ORDERFLOW_SLA" ] || export ORDERFLOW_SLA='$(DEMO_SLA)'; \
	ORDERFLOW_DEMO_USERS=$${ORDERFLOW_DEMO_USERS:-true} $(VENV)/bin/orderflow serve

# Three test processes (pytest-xdist): most tests wait on servers, workers, leases and timers, so three overlap well
# even on 2 cores (measured on this project's machine: 8 min 35 s, against 10 to 11 min with two). Modules go to the
# processes longest kind first (tests/conftest.py), not in xdist's most-tests-first order.
TEST_PROCESSES ?= 3

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest -n $(TEST_PROCESSES) --dist loadgroup --no-loadscope-reorder

# The fast kinds only: unit tests and in-process API contract tests (no server process, browser or services).
test-quick: $(INSTALLED)
	$(VENV)/bin/python -m pytest tests/unit tests/api

# The scenario files next to the shipped diagrams (bpmn/*.test.yaml), as CI runs them: pass/fail per scenario, JUnit
# XML and the HTML coverage report in var/. The default suite runs them too (tests/unit/test_scenarios.py).
test-processes: $(INSTALLED)
	$(VENV)/bin/orderflow test bpmn/ --junit var/junit-processes.xml --coverage var/coverage

# The whole DMN TCK (../shared/conformance/dmn-tck and dmn-tck-more), in process: pass count per compliance level and
# every failing case. The default suite runs it too (tests/unit/test_dmn_tck.py, a few seconds).
tck: $(INSTALLED)
	$(VENV)/bin/python -m tests.support.dmn_tck -v

# The benchmark (README "Benchmark"): about 15 minutes; `make bench-quick` runs fewer orders and rounds (about 5).
# Options go in BENCH_ARGS, e.g. BENCH_ARGS="--only c --workers 1,2" (`.venv/bin/python bench/run.py --help`).
bench: $(INSTALLED)
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

bench-quick: $(INSTALLED)
	$(VENV)/bin/python bench/run.py --quick $(BENCH_ARGS)

bench-tracing: $(INSTALLED)
	$(VENV)/bin/python -m bench.tracing

# Four weeks of simulated history in a scratch database, and what the predictions make of it (README "Predictions").
predict: $(INSTALLED)
	rm -rf var/predict && ORDERFLOW_DATA_DIR=var/predict ORDERFLOW_DATABASE_URL=sqlite:///$(CURDIR)/var/predict/orderflow.db \
		$(VENV)/bin/orderflow simulate-history --weeks 4

# Faults under load on the distributed set-up (a PostgreSQL cluster and a Redis server of its own; see README "Chaos").
chaos: $(INSTALLED)
	$(VENV)/bin/python -m chaos

# The fuzzing of the live OpenAPI spec with many more examples per operation than the default test run (a few minutes).
FUZZ_EXAMPLES ?= 100

fuzz: $(INSTALLED)
	ORDERFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/python -m pytest -q tests/e2e/test_fuzz.py

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# The README's screenshots (docs/screenshots/*.png): a demo server of its own, a short simulation, headless Chromium.
screenshots: $(INSTALLED)
	$(VENV)/bin/python docs/screenshots.py

# Rebuild the committed browser bundles in app/static/vendor (needs Node.js and npm; see frontend/README.md).
assets:
	cd frontend && npm ci && npm run build

clean:
	rm -rf $(VENV) var
