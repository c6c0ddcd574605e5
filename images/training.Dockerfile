# syntax=docker/dockerfile:1.7
# recforge CUDA training image: SFT, alignment, RecICL, iLoRA, knowledge editing and Pigeon steps on GPUs, launched
# by torchrun (optionally with DeepSpeed ZeRO) inside the pod or as a Kubeflow Trainer TrainJob across nodes.
# Build from the repository root:  docker build -f images/training.Dockerfile -t <registry>/recforge-training:<tag> .
# torch's CUDA build from PyPI brings the CUDA runtime libraries; the driver comes from the node (GPU operator).
# Optional flash-attention: --build-arg FLASH_ATTN=2.8.3 (a prebuilt wheel matching torch must exist).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_IMAGE} AS build
ARG FLASH_ATTN=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DS_BUILD_OPS=0
WORKDIR /src
RUN python -m venv /opt/recforge && /opt/recforge/bin/pip install torch==2.13.0
COPY pyproject.toml requirements.lock README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN /opt/recforge/bin/pip install -c requirements.lock ".[distributed]" \
    && if [ -n "$FLASH_ATTN" ]; then /opt/recforge/bin/pip install --no-build-isolation "flash-attn==$FLASH_ATTN"; fi

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="recforge-training" \
      org.opencontainers.image.description="recforge training steps on NVIDIA GPUs (torch CUDA, DeepSpeed)"
ENV PATH=/opt/recforge/bin:$PATH PYTHONUNBUFFERED=1 HF_HOME=/tmp/hf MPLCONFIGDIR=/tmp/matplotlib \
    TRITON_CACHE_DIR=/tmp/triton NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN groupadd --gid 10001 recforge && useradd --uid 10001 --gid recforge --no-create-home --shell /usr/sbin/nologin recforge
COPY --from=build /opt/recforge /opt/recforge
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT []
CMD ["torchrun", "--help"]
