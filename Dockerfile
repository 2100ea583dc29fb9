# cotrepro: the whole reproduction in one image (CUDA runtime, the exact Python environment of
# requirements.lock, the TeX tools for the paper). See README.md, "Container".
#
#   docker build -t cotrepro:0.1.0 .
#   docker run --gpus all -v "$PWD/data:/data" -v "$PWD/results:/home/cotrepro/cotrepro/results" cotrepro:0.1.0
#
# Any base with apt and Python 3.11 packages serves too: `--build-arg BASE_IMAGE=debian:bookworm`
# makes the CPU image that `make container-test` builds and runs (on a debootstrapped bookworm).
ARG BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# Python 3.11 (the version CI runs), git for Snakemake's provenance, and the TeX tools and
# poppler-utils that `make setup-tex` installs outside the image. A C compiler, the C library's
# headers and Python's: torch.compile, on by default on CUDA, runs Triton, which builds its kernel
# launcher as a Python C extension with gcc (or clang) at the first compiled step; the CUDA runtime
# base has no compiler, and without one that step fails.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3.11-dev gcc libc6-dev ca-certificates git make \
        latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern poppler-utils \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 cotrepro \
    && mkdir -p /data \
    && chown 1000:1000 /data
USER 1000:1000
WORKDIR /home/cotrepro/cotrepro

# The same installs, in the same order, as `make setup` (and so CI): torch alone first (here it
# resolves to the CUDA build on PyPI, in CI to a CPU build), then the lock, then the project.
ENV VIRTUAL_ENV=/home/cotrepro/venv
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
# Build-time only (an ARG never reaches the running container's environment): pip reads them to
# take wheels from a local directory and to trust a CA bundle, both mounted into the build (the
# container test passes the CPU torch and the machine's CA this way). Empty means pip's defaults.
ARG PIP_FIND_LINKS=""
ARG PIP_CERT=""
# Only the lock before the installs, so that their layers are rebuilt when it changes, not when
# any other file (the README, pyproject.toml) does.
COPY --chown=cotrepro:cotrepro requirements.lock ./
RUN python3.11 -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir --upgrade pip==26.3 \
    && pip install --no-cache-dir "$(grep '^torch==' requirements.lock)" \
    && pip install --no-cache-dir -r requirements.lock
COPY --chown=cotrepro:cotrepro . .
# The library's bytecode is compiled now, so importing it at run time writes nothing into the image.
# Snakemake's own state (.snakemake/), the downloads and manifests (resources/) and the job logs
# (logs/) live on the /data volume, next to the weights: a later container then reruns nothing
# that is up to date, and the container keeps nothing outside its volumes but scratch in /tmp.
RUN pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q src \
    && ln -s /data/snakemake .snakemake \
    && ln -s /data/resources resources \
    && ln -s /data/logs logs

# Model weights, the Hugging Face cache and the plotting and font caches live on that volume too.
ENV HF_HOME=/data/huggingface \
    XDG_CACHE_HOME=/data/cache \
    MPLCONFIGDIR=/data/cache/matplotlib
VOLUME ["/data"]

# A bind-mounted /data starts empty: make the folders the links above point to, then run the command.
ENTRYPOINT ["/bin/sh", "-c", "mkdir -p /data/snakemake /data/resources /data/logs /data/cache && exec \"$@\"", "cotrepro"]
CMD ["snakemake", "--cores", "all"]
