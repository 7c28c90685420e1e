# fieldsurvey: `make run` serves, `make test` runs the whole suite against a real PostgreSQL.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench install clean messages webforms docs dist

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

# The pages' translations: .po catalogues (kept in git) compiled to .mo (not kept).
LOCALE_DIR := api/pages/locale
LOCALES := en ru tg
MO := $(foreach l,$(LOCALES),$(LOCALE_DIR)/$(l)/LC_MESSAGES/messages.mo)
$(LOCALE_DIR)/%/LC_MESSAGES/messages.mo: $(LOCALE_DIR)/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel -q compile -D messages -d $(LOCALE_DIR) -l $* --statistics

# After adding or changing a string: re-extract it and update the three catalogues, then fill
# the ru and tg msgstr (tests/unit/test_catalogues.py names the missing ones).
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F api/pages/babel.cfg -k N_ -k NC_:1c,2 --no-location --sort-output \
	  --project fieldsurvey --copyright-holder "fieldsurvey" -o $(LOCALE_DIR)/messages.pot .
	$(BIN)/pybabel -q update -D messages -i $(LOCALE_DIR)/messages.pot -d $(LOCALE_DIR) \
	  --no-fuzzy-matching --ignore-obsolete

# The tables of docs/ that come from the code (settings, CLI): cog rewrites their blocks;
# tests/unit/test_docs.py fails while they are stale.
docs: $(STAMP)
	$(BIN)/cog -I . -r docs/cli.md docs/configuration.md

# ODK Web Forms (npm @getodk/web-forms), built with vite into api/webforms/dist, which the
# app serves under /webforms/ (no CDN). Without npm there is no browser filling; under CI it
# is a failure.
WEBFORMS := api/webforms/dist/.vite/manifest.json
$(WEBFORMS): api/webforms/package-lock.json api/webforms/vite.config.js api/webforms/src/main.js
	@if command -v npm >/dev/null 2>&1; then \
	  cd api/webforms && npm ci --no-audit --no-fund --loglevel=error && npx vite build; \
	elif [ "$$CI" = "true" ]; then echo "make: npm is required to build ODK Web Forms" >&2; exit 1; \
	else echo "make: npm not found: browser filling (ODK Web Forms) is unavailable"; fi

webforms: $(WEBFORMS)

# The release: a wheel (and sdist) in dist/ that brings the templates, the compiled catalogues,
# ODK Web Forms' build, Chart.js and htmx, the bundled XLSForms and the migrations
# (tests/production/test_production.py checks it has them).
dist: $(STAMP) $(CHARTS) $(MO) $(WEBFORMS)
	$(BIN)/python -m build --outdir dist .

install: $(STAMP) $(CHARTS) $(MO) $(WEBFORMS)

run: $(STAMP) $(CHARTS) $(MO) $(WEBFORMS)
	$(BIN)/fieldsurvey serve

# The suite runs its modules in TEST_WORKERS processes (pytest-xdist; each module stays in one
# process, with its own embedded PostgreSQL per process). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(STAMP) $(CHARTS) $(MO) $(WEBFORMS)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

check: $(STAMP) $(MO) $(WEBFORMS)
	$(BIN)/ruff check api db forms exports tests bench
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/compile_forms.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/exports.py
	$(BIN)/python bench/summaries.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/entities.py
	$(BIN)/python bench/backup.py

clean:
	rm -rf $(VENV) .pytest_cache
