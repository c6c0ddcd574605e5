# syntax=docker/dockerfile:1.7
# The MLflow tracking server of manifests/ (and its `mlflow db upgrade` Job): MLflow with the PostgreSQL and S3
# clients, pinned by the project's lock, and nothing of the training stack (no torch, no recforge).
# Build from the repository root:  docker build -f images/mlflow.Dockerfile -t <registry>/recforge-mlflow:<tag> .
# The base is pinned by digest; refresh it with `docker buildx imagetools inspect python:3.11-slim-bookworm`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/recforge \
    && /opt/recforge/bin/pip install -c requirements.lock mlflow==3.17.2 psycopg2-binary==2.9.13 boto3==1.44.8

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="recforge-mlflow" \
      org.opencontainers.image.description="MLflow tracking server for recforge (PostgreSQL backend, S3 artifacts)"
ENV PATH=/opt/recforge/bin:$PATH PYTHONUNBUFFERED=1 HOME=/tmp
RUN groupadd --gid 10001 mlflow && useradd --uid 10001 --gid mlflow --no-create-home --shell /usr/sbin/nologin mlflow
COPY --from=build /opt/recforge /opt/recforge
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT []
CMD ["mlflow", "server", "--help"]
