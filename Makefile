# fieldsurvey: `make run` serves, `make test` runs the whole suite against a real PostgreSQL.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The dashboard's chart library (Chart.js from npm, served by the app; no CDN).
CHARTS := api/pages/node_modules/.package-lock.json
$(CHARTS): api/pages/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd api/pages && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "make: npm not found: the dashboard will show tables without charts"; fi

install: $(STAMP) $(CHARTS)

run: $(STAMP) $(CHARTS)
	$(BIN)/fieldsurvey serve

test: $(STAMP) $(CHARTS)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff check api db forms exports tests bench
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/compile_forms.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/exports.py
	$(BIN)/python bench/summaries.py

clean:
	rm -rf $(VENV) .pytest_cache
