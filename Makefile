# Two commands do everything: `make run` and `make test` (`make test-fast`: the unit
# tests on SQLite, in well under a minute).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEED := server/catalog/seed.toml
PROTOS := $(sort $(wildcard protos/rating/v1/*.proto))
PROTOC = $(BIN)/python -m grpc_tools.protoc -Iprotos
# The protos' descriptors with their comments (source info) and imports, which server
# reflection serves (rating_server/reflection.py); beside the generated code.
DESCRIPTORS := rating/v1/descriptors.binpb
DESCRIBE = --include_source_info --include_imports --descriptor_set_out
# make run-postgres: the throwaway PostgreSQL cluster's folder.
PGDIR ?= .postgres
CLUSTER = $(BIN)/python -m rating_server.ledger.postgres.cluster $(PGDIR)

.PHONY: run run-postgres test test-fast bench bench-watchers bench-scale proto proto-check lint format venv clean

# RATING_DB=postgresql://... make run: on PostgreSQL, the schema is migrated first
# (SQLite makes its tables as it opens them).
run: $(STAMP)
ifneq ($(filter postgres%,$(RATING_DB)),)
	$(BIN)/rating-server db migrate
endif
	$(BIN)/rating-server catalog import --if-empty $(SEED)
	exec $(BIN)/rating-server serve

# The same on a throwaway PostgreSQL cluster in $(PGDIR), from the machine's PostgreSQL
# binaries; the cluster stops when the server does.
run-postgres: $(STAMP)
	@url=$$($(CLUSTER) start) && trap '$(CLUSTER) stop' EXIT INT TERM && \
	export RATING_DB=$$url && echo "RATING_DB=$$url" && \
	$(BIN)/rating-server db migrate && \
	$(BIN)/rating-server catalog import --if-empty $(SEED) && \
	$(BIN)/rating-server serve

test: $(STAMP) proto-check lint
	$(BIN)/pytest

# The unit tests (tests/unit) but those on PostgreSQL and the few slow ones: no server,
# no process, no cluster; some 45 s on a 2-core machine (more when it is loaded).
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit -q -m "not postgres and not slow"

venv: $(STAMP)

# Measure the service against the gRPC floor and the ceilings, on SQLite and on a throwaway
# PostgreSQL cluster; writes bench/results/ (about 7 minutes).
bench: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/run.py

# Do idle watchers (WatchBalance, WatchCharges) slow commits? bench/results/watchers.md
# (about 2 minutes, both engines).
bench-watchers: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/watchers.py

# Does the cost grow with millions of ledger lines (both engines) or 10,000 SKUs?
# bench/results/scale.md (about 15 minutes: the lines are loaded through the ledger).
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py

$(STAMP): pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ./client -e '.[dev]'
	touch $@

# Regenerate the rating.v1 Python code (messages, gRPC stubs, .pyi) and the descriptor
# set into client/.
proto: $(STAMP)
	$(PROTOC) --python_out=client --grpc_python_out=client --pyi_out=client \
		$(DESCRIBE)=client/$(DESCRIPTORS) $(PROTOS)

# Fail when the committed generated code or descriptor set differs from what the protos
# generate now, or when the protos break callers of main's previous commit (buf
# breaking; a shallow clone without it skips that with a line saying so).
proto-check: $(STAMP)
	@tmp=$$(mktemp -d) && \
	$(PROTOC) --python_out=$$tmp --grpc_python_out=$$tmp --pyi_out=$$tmp \
		$(DESCRIBE)=$$tmp/$(DESCRIPTORS) $(PROTOS) && \
	diff -r -x __init__.py -x __pycache__ $$tmp/rating/v1 client/rating/v1 && \
	rm -rf $$tmp && echo "proto-check: generated code is up to date"
	@BUF=$(BIN)/buf tools/proto_breaking.sh

lint: $(STAMP)
	$(BIN)/buf lint protos
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	-[ -x $(BIN)/python ] && $(CLUSTER) stop
	rm -rf $(VENV) $(PGDIR) rating.db rating.db-wal rating.db-shm rating.db-writer.lock
