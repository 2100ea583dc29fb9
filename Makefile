# Set-up and entry points. Every target creates (or reuses) the virtual environment .venv with
# the exact versions of requirements.lock.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
# pip itself is pinned too; the Dockerfile installs the same version (a test checks).
PIP_VERSION := 26.3

# The TeX tools the paper needs, and poppler-utils for the tests that read the PDF (Debian).
TEX_PACKAGES := latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Headless Chromium for the report's browser test (tests/support/browser.py drives it over DevTools).
BROWSER_PACKAGES := chromium
# A one-node SLURM cluster for tests/workflow/test_slurm.py (which starts and stops it; skipped without these).
SLURM_PACKAGES := slurmctld slurmd slurm-client munge
# podman builds and runs the project's Dockerfile for the container test (no Docker engine needed);
# runc because crun refuses hybrid cgroup hosts; debootstrap makes the Debian base image locally.
CONTAINER_PACKAGES := podman runc debootstrap

.PHONY: setup setup-tex setup-browser setup-slurm setup-container container-test run demo calibrate test lint format lock clean-results

$(BIN)/snakemake: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "pip==$(PIP_VERSION)"
	# torch first and alone, so that the pinned build is the one chosen (CUDA on PyPI, CPU in CI).
	$(BIN)/pip install -q "$$(grep '^torch==' requirements.lock)"
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(BIN)/snakemake

setup-tex:  ## the Debian packages for the paper (skipped when they are all installed)
	@if dpkg -s $(TEX_PACKAGES) >/dev/null 2>&1; then echo "TeX packages present"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES); fi

setup-browser:  ## Chromium for the report's browser test (skipped when present)
	@if dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; then echo "browser packages present"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); fi

setup-slurm:  ## the Debian packages for the SLURM test (skipped when present)
	@if dpkg -s $(SLURM_PACKAGES) >/dev/null 2>&1; then echo "SLURM packages present"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SLURM_PACKAGES); fi

setup-container:  ## podman, runc and debootstrap for the container test (root; skipped when present)
	@if dpkg -s $(CONTAINER_PACKAGES) >/dev/null 2>&1; then echo "container packages present"; \
	elif [ "$$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then \
	  echo "setup-container: skipped, installing $(CONTAINER_PACKAGES) needs root (run it as root or with sudo)"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(CONTAINER_PACKAGES); fi

run: setup setup-tex  ## the full reproduction (config/config.yaml), then the Snakemake report
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/snakemake-report.html

demo: setup setup-tex  ## the offline demo with tiny random-weight models, then the Snakemake report
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --report results/snakemake-report.html

calibrate: setup setup-tex  ## Kojima et al.'s released completions re-scored against their Table 1 (no GPU)
	$(BIN)/snakemake --cores $(CORES) --configfile config/calibrate.yaml

test: setup setup-tex setup-browser  ## the test suite
	$(BIN)/python -m pytest -q

# Where the container test keeps podman's storage and the debootstrapped base between runs (root).
CONTAINER_CACHE ?= /var/cache/cotrepro/container

container-test: setup setup-tex setup-container  ## build the image with podman and run the demo and the archive rebuild in it
	COTREPRO_CONTAINER_CACHE=$(CONTAINER_CACHE) $(BIN)/python -m pytest -q -s --container tests/container/test_container_image.py

lint: setup  ## the lint and format gates CI runs before the tests (seconds)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

format: setup  ## rewrite the code in the house style (ruff, snakefmt)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt .

lock: setup  ## rewrite requirements.lock from the environment, and the conda environment from it
	{ sed -n '1,3p' requirements.lock; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	$(MAKE) envs/cotrepro.yaml

envs/cotrepro.yaml: requirements.lock  ## the pinned conda environment for --sdm conda, from the lock
	{ printf '%s\n' "# Generated from requirements.lock by make; do not edit. Used by: snakemake --sdm conda" \
	    "name: cotrepro" "channels: [conda-forge, nodefaults]" "dependencies:" "  - python=3.11" "  - pip" "  - pip:"; \
	  grep -v '^#' requirements.lock | sed 's/^/      - /'; } > $@

clean-results:  ## remove workflow outputs (keeps downloads under resources/ and the HF cache)
	rm -rf results logs
