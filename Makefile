# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Each installs what it needs first (system packages with apt, Python packages in .venv,
# the JS minifier with npm) and is quick when everything is already there.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := demo,redis,postgres,cookie,flask,django,prometheus,test,bench,docs
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium redis-server redis-tools nodejs npm postgresql
BENCH_APT_PACKAGES := wrk

.PHONY: demo test lint test-fast docs bench bench-deps system-deps venv js-deps clean

demo: venv
	$(PY) -m tether demo

test: system-deps venv js-deps lint
	node --test tests/js/*.test.js
	CI=$${CI:-} $(PY) -m pytest -q

# Static checks, configured in pyproject.toml: mypy --strict on src/tether, ruff everywhere.
lint: venv
	$(PY) -m mypy
	$(PY) -m ruff check

# Tests without the real browser (quick feedback while developing).
test-fast: venv
	$(PY) -m pytest -q --ignore=tests/browser

# The documentation site, built as CI builds it (every warning is an error).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir build/site

# Benchmarks (bench/README.md); they need wrk, which `make test` does not.
bench: venv system-deps bench-deps
	$(PY) bench/bench_hotpath.py
	$(PY) bench/bench_soak.py
	$(PY) bench/bench_profile.py

bench-deps:
	@command -v wrk >/dev/null 2>&1 || { echo "installing with apt: $(BENCH_APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BENCH_APT_PACKAGES); }

system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing with apt:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

js-deps:
	@if [ -f package.json ]; then \
		if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci --no-audit --no-fund --silent; fi; \
	fi

clean:
	rm -rf $(VENV) node_modules .pytest_cache
