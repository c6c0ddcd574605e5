"""The container images recforge steps run in (built from images/*.Dockerfile), in one place.

Defaults below; the environment (RECFORGE_IMAGE, RECFORGE_TRAINING_IMAGE) overrides them when the components are
imported, and `recforge compile|submit|schedule --image/--training-image` rewrites them in a compiled pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_RUNTIME_IMAGE = "ghcr.io/recforge/recforge-runtime:0.1.0"
DEFAULT_TRAINING_IMAGE = "ghcr.io/recforge/recforge-training:0.1.0"
RUNTIME_IMAGE = os.environ.get("RECFORGE_IMAGE", DEFAULT_RUNTIME_IMAGE)
TRAINING_IMAGE = os.environ.get("RECFORGE_TRAINING_IMAGE", DEFAULT_TRAINING_IMAGE)


def retarget(package: Path, runtime: str | None, training: str | None) -> int:
    """Point the executors of a compiled pipeline (KFP IR YAML) at other images, and the image multi-node steps
    give their TrainJobs; returns how many executors changed."""
    import yaml

    swap = {RUNTIME_IMAGE: runtime, TRAINING_IMAGE: training}
    swap = {old: new for old, new in swap.items() if new and new != old}
    if not swap:
        return 0
    documents = list(yaml.safe_load_all(package.read_text()))
    changed = 0
    for executor in documents[0]["deploymentSpec"]["executors"].values():
        container = executor.get("container", {})
        if container.get("image") in swap:
            container["image"] = swap[container["image"]]
            changed += 1
        for variable in container.get("env", []):  # RECFORGE_TRAINER_IMAGE: what multi-node TrainJobs run
            variable["value"] = swap.get(variable.get("value"), variable.get("value"))
    if package.suffix == ".json":  # KFP writes JSON for a single document
        import json

        package.write_text(json.dumps(documents[0], indent=2))
    else:
        package.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return changed
