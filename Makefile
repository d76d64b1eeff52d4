# Two entry points: `make demo` runs the main job on the embedded default, `make test` runs the test suite.
# For the edit loop: `make test-fast` (the suite without its `slow` marks) and `make lint` (ruff and mypy).
# All create the virtual environment when it is missing, with a CPU build of torch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU-only torch wheel: the PyTorch CPU index serves it; where a local wheel house is configured
# (PIP_FIND_LINKS), pip takes it from there. Set TORCH_SPEC/TORCH_INDEX to get a CUDA build instead.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
DEMO_OUT ?= cache/demo

.PHONY: demo test test-fast lint env clean-env

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --retries 1 --extra-index-url $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

env: $(BIN)/.installed

demo: env
	$(BIN)/neurokit demo --out $(DEMO_OUT)

# Bytecode is cached even where the environment turns it off (PYTHONDONTWRITEBYTECODE): each xdist worker
# would otherwise compile neurokit and the tests anew, about 5 s of every run's start on two cores.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 2 --dist loadgroup -q

test: env
	$(PYTEST)

test-fast: env
	$(PYTEST) -m "not slow"

# ruff and mypy come with the `lint` extra, installed on first use; CI runs `make lint` after `make test`.
$(BIN)/.lint-installed: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e ".[lint]"
	touch $@

# Both always run, so that one report shows everything; the target fails if either found something.
lint: $(BIN)/.lint-installed
	$(BIN)/ruff check neurokit tests benchmarks; status=$$?; $(BIN)/mypy || status=1; exit $$status

clean-env:
	rm -rf $(VENV)
