# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Each installs what it needs first (system packages with apt, Python packages in .venv,
# the JS minifier with npm) and is quick when everything is already there.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := demo,redis,flask,django,prometheus,test,bench,docs
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium redis-server redis-tools nodejs npm

.PHONY: demo test test-fast docs bench system-deps venv js-deps clean

demo: venv
	$(PY) -m tether demo

test: system-deps venv js-deps
	CI=$${CI:-} $(PY) -m pytest -q

# Tests without the real browser (quick feedback while developing).
test-fast: venv
	$(PY) -m pytest -q --ignore=tests/browser

# The documentation site, built as CI builds it (every warning is an error).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir build/site

bench: venv system-deps
	$(PY) bench/bench_heartbeat.py
	$(PY) bench/bench_redis.py
	$(PY) bench/bench_frameworks.py

system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
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
