"""The files the `social-steering` steps pass along (NIRec, Pan et al., arXiv 2409.08934): the simulation folder
(`graph.npz`, `logs.npz`, `targets.npz`, `truth.npz`, `stats.json`), kept in separate files so that a step reads
only what it may see (estimators and policies never read `truth.npz`), and one trained estimator per folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components.common.errors import DataError
from components.social_steering.graph import Graph, from_pairs
from components.social_steering.simulate import Logs, Targets
from components.social_steering.truth import Truth

STATS_FILE = "stats.json"


def _load(folder: str | Path, name: str) -> dict[str, np.ndarray]:
    path = Path(folder) / name
    if not path.is_file():
        raise DataError(path, "file not found; expected a simulation written by the simulate step")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def write_simulation(folder: Path, graph: Graph, logs: Logs, targets: Targets, truth: Truth, stats: dict) -> None:
    np.savez(folder / "graph.npz", src=graph.src, dst=graph.dst, n_users=graph.n_users)
    np.savez(folder / "logs.npz", user=logs.user, item=logs.item, click=logs.click, split=logs.split,
             n_items=logs.n_items)  # fmt: skip
    np.savez(folder / "targets.npz", items=targets.items, offsets=targets.offsets, users=targets.users)
    np.savez(folder / "truth.npz", users=truth.users, items=truth.items, beta=truth.beta)
    (folder / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")


def read_graph(folder: str | Path) -> Graph:
    data = _load(folder, "graph.npz")
    return from_pairs(data["src"], data["dst"], int(data["n_users"]), Path(folder) / "graph.npz")


def read_logs(folder: str | Path) -> Logs:
    data = _load(folder, "logs.npz")
    return Logs(data["user"], data["item"], data["click"], data["split"], int(data["n_items"]))


def read_targets(folder: str | Path) -> Targets:
    data = _load(folder, "targets.npz")
    return Targets(data["items"], data["offsets"], data["users"])


def read_truth(folder: str | Path) -> Truth:
    data = _load(folder, "truth.npz")
    return Truth(data["users"], data["items"], float(data["beta"]))


def read_stats(folder: str | Path) -> dict:
    return json.loads((Path(folder) / STATS_FILE).read_text(encoding="utf-8"))
