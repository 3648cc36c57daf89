# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint format docs bench clean

# TORCH_INDEX=https://download.pytorch.org/whl/cpu takes PyTorch's CPU wheel where pip would choose a CUDA build.
TORCH_INDEX ?=

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]" || { \
	  echo "make: the versions pinned in constraints.txt do not install with this Python; installing the newest" \
	       "ones instead (the values the tests measure may then differ)" >&2; \
	  $(PY) -m pip install -q -e ".[dev]"; }
	touch $(STAMP)

run: $(STAMP)
	out=runs/digits-$$(date +%Y%m%d-%H%M%S) && \
	$(VENV)/bin/ganforge train r3gan-digits --data digits --eval-every 500 --out $$out && \
	$(VENV)/bin/ganforge evaluate $$out && \
	$(VENV)/bin/ganforge report $$out

# Everything: what CI runs (about 15 minutes on 2 cores).
test: $(STAMP) lint docs
	$(PY) -m pytest -q --durations=20

# The edit-test loop: every test but those marked slow (the long training runs they share), in a few minutes.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# The documentation site (mkdocs.yml), built strictly into a temporary folder: a broken link or anchor fails.
# Not --quiet: it hides the warnings that --strict counts, and the build then passes whatever they say.
docs: $(STAMP)
	@d=$$(mktemp -d); NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir "$$d/site" >"$$d/log" 2>&1; \
	status=$$?; [ $$status -eq 0 ] || cat "$$d/log" >&2; rm -rf "$$d"; exit $$status

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/eval_speed.py
	$(PY) benchmarks/baseline_loop.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
