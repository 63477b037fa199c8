# LocalRouter — `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/demo.yaml
# Every install is from a lock file with hashes (pip --require-hashes): see docs/dependencies.md
LOCK   := requirements-dev.lock
LOCKFLAGS := --generate-hashes --universal --python-version 3.11 --quiet

.PHONY: run test clients browser lint fmt schema lock bench bench-peers bench-gateway profile-gateway clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Regenerate the lock files from pyproject.toml (after changing a dependency), then `make test`.
# requirements.lock: what the gateway needs to run; requirements-dev.lock: that plus the tests'
# and benchmarks' tools and the build backend (setuptools, for the editable install).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCKFLAGS) --upgrade -o requirements.lock
	printf 'setuptools>=77\n' > $(VENV)/build-requirements.in
	$(BIN)/uv pip compile pyproject.toml $(VENV)/build-requirements.in --extra dev $(LOCKFLAGS) \
		--upgrade -o $(LOCK)

DEMO_KEY := lr-sZ2uI4TNR_tpdMDX-EiEieiVgSx_8Jt6j3-cYZWYFUs
DEMO_ADMIN_KEY := lr-eN2fWr4w7fJDVYN13YsRz8bu7bhmCyNiKUbAHv6rYPs

run: $(STAMP)
	@$(BIN)/localrouter validate $(CONFIG)
	@echo
	@echo "LocalRouter is starting on http://127.0.0.1:3625 (Ctrl-C stops it). In another terminal:"
	@echo
	@echo "  curl -s http://127.0.0.1:3625/v1/chat/completions \\"
	@echo "    -H 'Authorization: Bearer $(DEMO_KEY)' -H 'Content-Type: application/json' \\"
	@echo "    -d '{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'"
	@echo
	@echo "The dashboard: open http://127.0.0.1:3625/ and sign in with the demo admin key"
	@echo "  $(DEMO_ADMIN_KEY)"
	@echo
	@$(BIN)/localrouter serve --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check localrouter tests bench
	$(BIN)/ruff format --check localrouter
	$(BIN)/mypy --strict localrouter

# Real clients the tests run against the gateway (Claude Code and Codex, from npm: tests/clients/),
# installed with `npm ci` from the committed lock file. Without node and npm nothing is installed and
# the tests that need them are skipped, saying why.
CLIENTS := tests/clients
CLIENTS_STAMP := $(CLIENTS)/node_modules/.installed

$(CLIENTS_STAMP): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		npm ci --prefix $(CLIENTS) --no-audit --no-fund && touch $@; \
	else \
		echo "node/npm not found: Claude Code and Codex are not installed and their tests will be skipped"; \
	fi

clients: $(CLIENTS_STAMP)

# The browsers the dashboard's tests drive: Debian's chromium (with Playwright: tests/browser.py;
# Playwright's own browser downloads are never used) and Debian's firefox-esr (with puppeteer-core
# over WebDriver BiDi: tests/clients/firefox_dashboard.mjs). Each one missing is installed with
# apt-get when apt-get can be run (as root, or with sudo without a password): `apt-get update`
# only if the first attempt fails. Otherwise nothing is installed and the browser tests are
# skipped, saying why. LOCALROUTER_CHROMIUM / LOCALROUTER_FIREFOX name other binaries (then that
# one is not installed).
APT_INSTALL := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

browser:
	@want=; \
	if [ -z "$$LOCALROUTER_CHROMIUM" ] && [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null; then want="chromium"; fi; \
	if [ -z "$$LOCALROUTER_FIREFOX" ] && [ ! -x /usr/bin/firefox-esr ] && ! command -v firefox-esr >/dev/null; then want="$$want firefox-esr"; fi; \
	if [ -z "$$want" ]; then \
		:; \
	elif ! command -v apt-get >/dev/null; then \
		echo "$$want not found and no apt-get: the browser tests that need them will be skipped"; \
	else \
		if [ "$$(id -u)" = 0 ]; then sudo=; \
		elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
		else sudo=no; fi; \
		if [ "$$sudo" = no ]; then \
			echo "$$want not found (installing needs root): the browser tests that need them will be skipped"; \
		elif $$sudo $(APT_INSTALL) $$want || { $$sudo apt-get update -q && $$sudo $(APT_INSTALL) $$want; }; then \
			:; \
		else \
			echo "$$want could not be installed: the browser tests that need them will be skipped"; \
		fi; \
	fi

test: $(STAMP) clients browser lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

fmt: $(STAMP)
	$(BIN)/ruff format localrouter tests bench
	$(BIN)/ruff check --fix localrouter tests bench

schema: $(STAMP)
	$(BIN)/localrouter schema > schemas/localrouter.schema.json

bench: $(STAMP)
	$(BIN)/python bench/compile_bench.py
	taskset -c 0 $(BIN)/python bench/route_bench.py || $(BIN)/python bench/route_bench.py
	$(BIN)/python bench/reload_bench.py
	$(BIN)/python bench/observe_bench.py
	$(BIN)/python bench/gateway_bench.py --write
	$(BIN)/python bench/floor_options.py --write
	$(BIN)/python bench/ingress_bench.py --write
	$(BIN)/python bench/mcp_bench.py --stdio --c8 --variants floor,gateway,json,stateless,json-stateless,no-access-log,self-answer,json-self-answer --write

# LiteLLM's proxy in a virtualenv of its own, for the gateway benchmark's `litellm` target;
# a pinned version, installed from bench/peers.lock with hashes (never an unpinned release)
bench-peers:
	test -x .bench-peers/litellm/bin/python || python3 -m venv .bench-peers/litellm
	.bench-peers/litellm/bin/pip install -q --require-hashes --no-deps -r bench/peers.lock

bench-gateway: $(STAMP)
	$(BIN)/python bench/gateway_bench.py --write
	$(BIN)/python bench/floor_options.py --write

profile-gateway: $(STAMP)
	$(BIN)/python bench/gateway_bench.py --profile

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis $(CLIENTS)/node_modules
