# One-command set-up on a machine that has only Python 3.10+: a virtualenv with the pinned
# torch/torchvision build and the package with every task and test extra.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs docs-serve bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# The offline quickstart: fine-tune a committed base CNN with LAVA on a shifted distribution,
# evaluate before/after, write pictures. Each run gets its own folder under runs/.
DEMO := quickstart-$(shell date +%Y%m%d-%H%M%S)
demo: $(STAMP)
	$(BIN)/python tools/train.py tasks/quickstart.py --set output.name=$(DEMO)
	$(BIN)/python tools/eval.py tasks/quickstart.py --adapter runs/$(DEMO) --no-adapter --split test
	$(BIN)/python tools/visualize.py tasks/quickstart.py --adapter runs/$(DEMO) --num 8 --out runs/$(DEMO)/panels
	@echo "run folder: runs/$(DEMO)"

# The import layers (docs/layout.md) and ruff, then the documentation site (strict: a broken link or
# a missing API object fails), then the test suite (its browser test needs `browser`).
test: lint docs browser
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	PYTHONPATH=. $(BIN)/lint-imports
	$(BIN)/ruff check .

# The MkDocs site (docs/, mkdocs.yml) into site/; docs-serve serves it at http://127.0.0.1:8000
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve

# The browser of tests/test_app.py: Debian's chromium, installed with apt-get where that exists and we
# are root; elsewhere that one test skips and says why (Playwright drives the system browser).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: no chromium here and no root apt-get: tests/test_app.py's browser test will skip"; fi

bench: $(STAMP)
	$(BIN)/python tools/benchmark_adapters.py

clean:
	rm -rf $(VENV) runs site
