"""RecICL's objective on data where it must win: a synthetic MovieLens-format world whose users each either like
every movie or none, so a user's demonstrations (and their liked-history list) give the answer away while an
item says nothing (every movie is liked by half its raters). ICL tuning must raise AUC far above the untuned
model's; a loss with the wrong sign or a label read from the wrong token would not."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

USERS, ITEMS, PER_USER = 120, 40, 24


def write_rule_world(folder: Path, seed: int = 5) -> Path:
    """ratings.csv + movies.csv: user u likes (5.0) every movie when u is even, none (1.0) when odd; each user
    rates PER_USER random movies, one a day, all users over the same days."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    movies = ["movieId,title,genres"] + [f"{i},Film number {i} ({1950 + i}),Drama" for i in range(1, ITEMS + 1)]
    (folder / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    rows = ["userId,movieId,rating,timestamp"]
    start = 1_500_000_000
    for user in range(1, USERS + 1):
        rating = "5.0" if user % 2 == 0 else "1.0"
        for day, item in enumerate(rng.choice(ITEMS, PER_USER, replace=False) + 1):
            rows.append(f"{user},{item},{rating},{start + day * 86_400 + user}")
    (folder / "ratings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_icl_tuning_learns_a_rule_the_demonstrations_carry(tmp_path: Path) -> None:
    world = write_rule_world(tmp_path / "world")
    settings = {
        "data_dir": str(world),
        "icl_max_examples": 160,
        "icl_epochs": 2.0,
        "icl_eval_queries": 80,
        "icl_windows": 1,
        "icl_history_len": 5,
        "retrain": False,
        "sft_batch_size": 8,
    }
    run = run_local(catalog.get("realtime-icl"), settings, tmp_path / "runs")
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("realtime-icl").experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    models = {r.data.tags["recforge.model"]: r for r in children if "recforge.model" in r.data.tags}
    auc = {name: client.get_metric_history(r.info.run_id, "auc")[0].value for name, r in models.items()}
    assert auc["recicl"] > 0.9, auc
    assert auc["recicl"] > auc["untuned"] + 0.25, auc
