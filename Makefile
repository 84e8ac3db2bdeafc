# One-command set-up on a machine that has only Python 3.10+: a virtualenv with the pinned
# torch/torchvision build and this package. Two stamps: `make demo` installs only what the demo
# needs (the classification extra); `make test` (lint, docs, bench) adds every extra and the test
# tools; `make app` adds the browser app (Gradio) and every task extra its zoo entries use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
APP_STAMP  := $(VENV)/.installed-app

.PHONY: demo app test lint docs docs-serve bench clean browser

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[classification]"
	touch $@

$(TEST_STAMP): $(DEMO_STAMP)
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

$(APP_STAMP): $(DEMO_STAMP)
	$(BIN)/pip install --quiet -e ".[all,app]"
	touch $@

# The demo (tasks/demo.py): the shipped CIFAR-10 ResNet-20 adapted with LAVA to noisy real photos
# (shipped in the package), about a minute of training on 2 CPU cores; one before/after table on
# held-out photos, panels, the run folder (runs/demo-<time>). DEMO_ARGS="--set train.max_steps=16"
# shortens it.
DEMO_ARGS ?=
demo: $(DEMO_STAMP)
	$(BIN)/python tasks/demo.py $(DEMO_ARGS)

# The browser app (docs/app.md) at http://127.0.0.1:7860
app: $(APP_STAMP)
	$(BIN)/python tools/app.py

# The import layers (docs/layout.md) and ruff, then the documentation site (strict: a broken link or
# a missing API object fails), then the test suite (its browser test needs `browser`).
test: lint docs browser
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	PYTHONPATH=. $(BIN)/lint-imports
	$(BIN)/ruff check .

# The MkDocs site (docs/, mkdocs.yml) into site/; docs-serve serves it at http://127.0.0.1:8000
docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict

docs-serve: $(TEST_STAMP)
	$(BIN)/mkdocs serve

# The browser of tests/test_app.py: Debian's chromium, installed with apt-get where that exists and we
# are root; elsewhere that one test skips and says why (Playwright drives the system browser).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: no chromium here and no root apt-get: tests/test_app.py's browser test will skip"; fi

bench: $(TEST_STAMP)
	$(BIN)/python tools/benchmark_adapters.py

clean:
	rm -rf $(VENV) runs site
