# cotrepro: the whole reproduction in one image (CUDA runtime, the exact Python environment of
# requirements.lock, the TeX tools for the paper). See README.md, "Container".
#
#   docker build -t cotrepro:0.1.0 .
#   docker run --gpus all -v "$PWD/data:/data" -v "$PWD/results:/home/cotrepro/cotrepro/results" cotrepro:0.1.0
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ARG DEBIAN_FRONTEND=noninteractive
# Python 3.11 (the version CI runs), git for Snakemake's provenance, and the TeX tools and
# poppler-utils that `make setup-tex` installs outside the image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv ca-certificates git make \
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
COPY --chown=cotrepro:cotrepro requirements.lock pyproject.toml README.md LICENSE ./
RUN python3.11 -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir --upgrade pip==26.3 \
    && pip install --no-cache-dir "$(grep '^torch==' requirements.lock)" \
    && pip install --no-cache-dir -r requirements.lock
COPY --chown=cotrepro:cotrepro . .
RUN pip install --no-cache-dir --no-deps -e .

# Model weights and the Hugging Face cache live on a volume, so they survive the container.
ENV HF_HOME=/data/huggingface
VOLUME ["/data"]

CMD ["snakemake", "--cores", "all"]
