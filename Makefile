# Set-up and entry points. Every target creates (or reuses) the virtual environment .venv with
# the exact versions of requirements.lock.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup run demo test lock clean-results

$(BIN)/snakemake: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and alone, so that the pinned build is the one chosen (CUDA on PyPI, CPU in CI).
	$(BIN)/pip install -q "$$(grep '^torch==' requirements.lock)"
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(BIN)/snakemake

run: setup  ## the full reproduction (config/config.yaml)
	$(BIN)/snakemake --cores $(CORES)

demo: setup  ## the offline demo with tiny random-weight models
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

test: setup  ## the test suite
	$(BIN)/python -m pytest -q

lock: setup  ## rewrite requirements.lock from the environment
	{ sed -n '1,3p' requirements.lock; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean-results:  ## remove workflow outputs (keeps downloads under resources/ and the HF cache)
	rm -rf results logs
