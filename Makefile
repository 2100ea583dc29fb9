# Set-up and entry points. Every target creates (or reuses) the virtual environment .venv with
# the exact versions of requirements.lock.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all

# The TeX tools the paper needs, and poppler-utils for the tests that read the PDF (Debian).
TEX_PACKAGES := latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup setup-tex run demo test lock clean-results

$(BIN)/snakemake: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and alone, so that the pinned build is the one chosen (CUDA on PyPI, CPU in CI).
	$(BIN)/pip install -q "$$(grep '^torch==' requirements.lock)"
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(BIN)/snakemake

setup-tex:  ## the Debian packages for the paper (skipped when they are all installed)
	@if dpkg -s $(TEX_PACKAGES) >/dev/null 2>&1; then echo "TeX packages present"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES); fi

run: setup setup-tex  ## the full reproduction (config/config.yaml), then the Snakemake report
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/snakemake-report.html

demo: setup setup-tex  ## the offline demo with tiny random-weight models, then the Snakemake report
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --report results/snakemake-report.html

test: setup setup-tex  ## the test suite
	$(BIN)/python -m pytest -q

lock: setup  ## rewrite requirements.lock from the environment
	{ sed -n '1,3p' requirements.lock; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean-results:  ## remove workflow outputs (keeps downloads under resources/ and the HF cache)
	rm -rf results logs
