# Two commands a new machine needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo
DEMO_CUSTOMERS ?= 5000
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install install-dev lint typecheck layers unit bench bench-models bench-store bench-api bench-segments bench-campaigns bench-loyalty bench-feedback bench-subscriptions clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode compiled at install: every `retentio` command starts seconds sooner, also where
# PYTHONDONTWRITEBYTECODE keeps Python from caching it on first use.
$(BIN)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --no-dev --inexact --compile-bytecode --python $(PYTHON)
	$(BIN)/python -m compileall -q -j 0 src >/dev/null
	touch $@

$(BIN)/.installed-dev: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra redis --extra push --compile-bytecode --python $(PYTHON)
	$(BIN)/python -m compileall -q -j 0 src >/dev/null
	touch $(BIN)/.installed $@

install: $(BIN)/.installed

install-dev: $(BIN)/.installed-dev

run: install
	mkdir -p $(DEMO_DIR)
	$(BIN)/retentio demo-data --customers $(DEMO_CUSTOMERS) --seed 7 -o $(DEMO_DIR)/orders.parquet
	$(BIN)/retentio kpis $(DEMO_DIR)/orders.parquet --observation-end 2026-06-30
	$(BIN)/retentio clv predict $(DEMO_DIR)/orders.parquet --observation-end 2026-06-30 --horizon 12M -o $(DEMO_DIR)/clv.csv
	$(BIN)/retentio report $(DEMO_DIR)/orders.parquet --observation-end 2026-06-30 -o $(DEMO_DIR)/report.html
	@echo "Report written to $(DEMO_DIR)/report.html; per-customer predictions in $(DEMO_DIR)/clv.csv"
	cd $(DEMO_DIR) && $(CURDIR)/$(BIN)/retentio init
	cd $(DEMO_DIR) && $(CURDIR)/$(BIN)/retentio load orders.parquet
	cd $(DEMO_DIR) && umask 077 && $(CURDIR)/$(BIN)/retentio apikey create --name "make run" --scope admin > api-key.txt
	@echo "The demo shop is in $(DEMO_DIR)/retentio.db; an admin API key is in $(DEMO_DIR)/api-key.txt. Try:"
	@echo "  curl -H \"Authorization: Bearer \$$(cat $(DEMO_DIR)/api-key.txt)\" 'http://$(HOST):$(PORT)/api/v1/kpis?observation_end=2026-06-30'"
	@echo "  open http://$(HOST):$(PORT)/api/v1/docs   (Ctrl-C stops the server)"
	cd $(DEMO_DIR) && $(CURDIR)/$(BIN)/retentio serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

layers: install-dev
	$(BIN)/lint-imports

unit: install-dev
	$(BIN)/python -m compileall -q -j 0 src >/dev/null
	$(BIN)/pytest -q -n 2 tests

test: lint typecheck layers
	$(BIN)/python -m compileall -q -j 0 src >/dev/null
	$(BIN)/pytest -q -n 2 --cov --cov-report=term tests

bench: install-dev
	$(BIN)/python benchmarks/run.py

bench-models: install-dev
	$(BIN)/python benchmarks/models.py

clean:
	rm -rf $(VENV) $(TOOLS) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache .coverage

bench-store: install-dev
	$(BIN)/python benchmarks/store.py

bench-api: install-dev
	$(BIN)/python benchmarks/api.py

bench-segments: install-dev
	$(BIN)/python benchmarks/segments.py

bench-campaigns: install-dev
	$(BIN)/python benchmarks/campaigns.py --workers 3

bench-loyalty: install-dev
	$(BIN)/python benchmarks/loyalty.py

bench-feedback: install-dev
	$(BIN)/python benchmarks/feedback.py

bench-subscriptions: install-dev
	$(BIN)/python benchmarks/subscriptions.py
