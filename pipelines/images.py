"""The container images recforge steps run in; override with RECFORGE_IMAGE / RECFORGE_TRAINING_IMAGE."""

from __future__ import annotations

import os

RUNTIME_IMAGE = os.environ.get("RECFORGE_IMAGE", "ghcr.io/recforge/recforge-runtime:0.1.0")
TRAINING_IMAGE = os.environ.get("RECFORGE_TRAINING_IMAGE", "ghcr.io/recforge/recforge-training:0.1.0")
