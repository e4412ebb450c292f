# reportgen — every target sets up what it needs; `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export REPORTGEN_CACHE_DIR ?= $(CURDIR)/.cache/tensors

.DEFAULT_GOAL := help
.PHONY: help setup system-deps slurm-up demo test test-all lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev,tensorboard,mlflow,explain]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)  ## create .venv and install reportgen with everything it needs (torch, WeasyPrint, fonts)

# Best effort, never fatal: HarfBuzz's subsetter makes each WeasyPrint PDF ~10x faster, poppler gives
# pdftotext/pdffonts for checking PDFs. reportgen works without both (fonts come from pip).
system-deps:  ## (optional, needs root + apt) libharfbuzz-subset0 and poppler-utils
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ldconfig -p | grep -q libharfbuzz-subset; then \
	  (apt-get install -y -qq libharfbuzz-subset0 poppler-utils >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libharfbuzz-subset0 poppler-utils >/dev/null 2>&1)) \
	  && echo "installed libharfbuzz-subset0 poppler-utils" || echo "note: could not apt-get libharfbuzz-subset0 (PDFs render, slower)"; \
	fi

demo: setup  ## train the embedded offline demo and render runs/demo/report.html + report.pdf
	$(BIN)/reportgen run experiments/demo.toml
	$(BIN)/reportgen render runs/demo --pdf

# Best effort, never fatal: the tests marked `slurm` run against it, and skip with the reason without it.
slurm-up:  ## (needs root + apt) start a one-node Slurm cluster for --launcher slurm (idempotent)
	@bash scripts/slurm-up.sh || true

test: setup  ## run the test suite (CPU, fast; slow/gpu/browser tests are skipped; slurm ones need `make slurm-up`)
	@$(MAKE) --no-print-directory slurm-up
	$(BIN)/python -m pytest -q

test-all: setup  ## every test, slow ones included (browser tests need chromium)
	@$(MAKE) --no-print-directory slurm-up
	$(BIN)/python -m pytest -q -m ""

lint: setup  ## ruff: pycodestyle, pyflakes, import order, bugbear (pyproject [tool.ruff.lint])
	$(BIN)/ruff check reportgen tests bench

bench: setup  ## speed benchmark vs the seeds' loop + scale (pipeline, launcher, hw4 projection); writes bench/out/
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:  ## remove runs, caches and the virtual environment
	rm -rf runs .cache $(VENV) *.egg-info .pytest_cache
