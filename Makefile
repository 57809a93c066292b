# The whole set-up for a newcomer: `make demo` runs the main job end to end, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint schemas rules-table kafka-up kafka-down up clean bench-assess bench-notify bench-intake bench-console bench-incident faults fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[postgres,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/breachwire demo

up: $(STAMP)
	$(BIN)/breachwire up

test: $(STAMP)
	$(BIN)/breachwire kafka up
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/python -m schemas.export

# docs/rules.md: the rule book as a table, from rules/*.toml (CI checks it is current)
rules-table: $(STAMP)
	$(BIN)/breachwire rules table --format markdown > docs/rules.md.tmp
	mv docs/rules.md.tmp docs/rules.md

kafka-up: $(STAMP)
	$(BIN)/breachwire kafka up

kafka-down: $(STAMP)
	$(BIN)/breachwire kafka down

bench-assess: $(STAMP)
	$(BIN)/python bench/assess.py

# BENCH_NOTIFY_WEBHOOKS / BENCH_NOTIFY_EMAILS make it smaller (defaults: 100000 and 20000)
bench-notify: $(STAMP)
	$(BIN)/breachwire kafka up
	$(BIN)/python bench/notify.py

# signed reports/s, p50/p99 and CPU a report at 1, 16 and 64 clients against a bare acks=all produce loop
# (BENCH_INTAKE_SECONDS, BENCH_INTAKE_WORKERS)
bench-intake: $(STAMP)
	$(BIN)/breachwire kafka up
	$(BIN)/python bench/intake.py

# one signed "Linode EU: confirmed" report through the stack as deployed (intake, assess, two notify workers, record)
# over 333,333 customers to local receivers: time to 202, assessed, first/50%/90%/100% of controller notices and of
# all, CPU and peak RSS per service, duplicates and lost (BENCH_INCIDENT_CUSTOMERS=30000 for a quicker run)
bench-incident: $(STAMP)
	$(BIN)/breachwire kafka up
	$(BIN)/python bench/incident.py

# the stack as deployed (two intakes, two notifiers) on its own three-node Kafka cluster and PostgreSQL, through
# kill -9 of the leading broker and of each service, PostgreSQL and SMTP stopped, a receiver answering 500: every
# 202 on the topic, every notice delivered or dead once, duplicates with the same id, the audit chain verified,
# recovery time per fault (FAULTS_NOTICES=20000, FAULTS_OUTAGE_S=30; tests/integration/test_faults.py: small)
faults: $(STAMP)
	$(BIN)/python bench/faults.py

# the console's incident view of an incident reaching 20,000 customers (BENCH: --customers, --rounds)
bench-console: $(STAMP)
	$(BIN)/python bench/console.py

# every endpoint fuzzed (schemathesis + hostile headers) against the real broker: FUZZ_CASES in all, 0 answers >= 500;
# prints and writes the status histogram per endpoint (the test suite runs the same with 300 cases)
FUZZ_CASES ?= 10000
fuzz: $(STAMP)
	$(BIN)/breachwire kafka up
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_REPORT=bench/results/fuzz.json $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/fuzz

clean:
	rm -rf demo-output .breachwire .pytest_cache .mypy_cache .ruff_cache
