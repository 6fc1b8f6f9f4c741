# Two entry points a newcomer needs: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
LINT_DIRS := $(wildcard src tests flows bench)

.PHONY: setup demo test lint browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	rm -rf demo-data demo-out
	$(VENV)/bin/datahygiene make-demo demo-data
	$(VENV)/bin/datahygiene run configs/default.yaml --offline \
		--input demo-data/texts.jsonl --input demo-data/pairs.parquet --input demo-data/photos \
		--output demo-out
	$(VENV)/bin/datahygiene inspect demo-out --samples 16

lint: setup
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)
	$(VENV)/bin/mypy

# The HTML datasheet test renders the page in Debian's headless Chromium.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium)

test: setup lint browser
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf demo-data demo-out .pytest_cache .mypy_cache .ruff_cache
