# imagebot — developer entry points. Works on a fresh Debian machine (run as root, or with sudo).
#   make demo   set up, then run imagebot once against a local registry and Git repository
#   make test   set up, then run the whole test suite
#   make test-fast  the suite without the tests marked slow (a few minutes less; for quick iterations)
#   make bench  set up, then run the benchmarks (prints a table; see docs/performance.md)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast bench bench-smoke schema system-deps venv lint clean

# Debian packages the demo and the tests use: the CNCF registry, htpasswd, git, kubectl (kustomize).
system-deps:
	@missing=""; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	command -v htpasswd >/dev/null || missing="$$missing apache2-utils"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: system-deps venv
	$(PY) demo/demo.py

test: system-deps venv
	$(PY) -m pytest -q

# Everything but the tests marked `slow` (pyproject: timed SIGKILLs, multi-agent fleets, hang deadlines).
test-fast: venv
	$(PY) -m pytest -q -x -m 'not slow'

# (200, 20) and (2,000, 200) side by side with Renovate (npm); add `--sizes large` for (10,000, 1,000).
bench: system-deps venv
	$(PY) bench/run.py --sizes small,medium

bench-smoke: system-deps venv
	$(PY) bench/run.py --smoke --no-renovate

# Regenerate config/imagebot.schema.json from the code (a test fails when it is stale).
schema: venv
	$(PY) -m imagebot.config.jsonschema > config/imagebot.schema.json

lint: venv
	$(PY) -m importlinter.cli lint-imports

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info .demo
