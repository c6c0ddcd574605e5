# syntax=docker/dockerfile:1.7
# recforge CPU runtime: data, SASRec, preferences, evaluation and report steps (and every step of a CPU cluster).
# The MLflow tracking server has its own, slimmer image (images/mlflow.Dockerfile).
# Build from the repository root:  docker build -f images/runtime.Dockerfile -t <registry>/recforge-runtime:<tag> .
# The base is pinned by digest; refresh it with `docker buildx imagetools inspect python:3.11-slim-bookworm`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# torch first, pinned, then the project from its lock. TORCH_INDEX_URL: PyTorch's CPU wheel index, so that this
# image gets the CPU build and no CUDA libraries (empty: the default index, whose Linux wheel is a CUDA build).
ARG TORCH_INDEX_URL=""
RUN python -m venv /opt/recforge \
    && /opt/recforge/bin/pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0
COPY pyproject.toml requirements.lock README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN /opt/recforge/bin/pip install -c requirements.lock .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="recforge-runtime" \
      org.opencontainers.image.description="recforge pipeline steps on CPU"
ENV PATH=/opt/recforge/bin:$PATH PYTHONUNBUFFERED=1 HF_HOME=/tmp/hf MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --gid 10001 recforge && useradd --uid 10001 --gid recforge --no-create-home --shell /usr/sbin/nologin recforge
COPY --from=build /opt/recforge /opt/recforge
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT []
CMD ["recforge", "--help"]
