"""What a training process knows of its place in a distributed run: its rank and the world size (from
torch.distributed once initialised, else torchrun's RANK / WORLD_SIZE), and the variable carrying the step's
MLflow run id to every rank, so that rank 0 logs into the step's run."""

from __future__ import annotations

import os

RUN_ID_ENV = "RECFORGE_MLFLOW_RUN_ID"


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a distributed run."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
