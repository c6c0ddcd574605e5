"""RecICL's objective on data where it must win: a synthetic MovieLens-format world where every title has a colour
("Red film 7 (1957)", "Blue film 8 (1958)") and every user likes the red films (5.0) and not the blue ones (1.0).
The untuned model's "Yes" logit is at chance on it; ICL tuning (the BCE on the "Yes" logit) must learn the rule
and raise AUC far above it. A loss with the wrong sign or a label read from the wrong token would not.

Two harder rules were tried and are out of the tiny model's reach at a test's budget (225 steps, AUC 0.52-0.56):
each user liking one colour (the answer is whether the query's colour matches the history's), and the
colour rule with 4 demonstrations (656-token prompts; with 1 demonstration it is learnt)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

USERS, ITEMS, PER_USER = 120, 80, 24


def colour(item: int) -> str:
    return "Red" if item % 2 else "Blue"


def write_rule_world(folder: Path, seed: int = 5) -> Path:
    """ratings.csv + movies.csv: item i is "<Red|Blue> film <i>"; every user likes (5.0) the red films and rates
    the blue ones 1.0; each user rates PER_USER random films, one a day, over the same days."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    titles = [f"{i},{colour(i)} film {i} ({1950 + i}),Drama" for i in range(1, ITEMS + 1)]
    (folder / "movies.csv").write_text("\n".join(["movieId,title,genres", *titles]) + "\n", encoding="utf-8")
    rows = ["userId,movieId,rating,timestamp"]
    start = 1_500_000_000
    for user in range(1, USERS + 1):
        for day, item in enumerate(rng.choice(ITEMS, PER_USER, replace=False) + 1):
            rating = "5.0" if colour(int(item)) == "Red" else "1.0"
            rows.append(f"{user},{item},{rating},{start + day * 86_400 + user}")
    (folder / "ratings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_icl_tuning_learns_a_rule_the_untuned_model_does_not_know(tmp_path: Path) -> None:
    world = write_rule_world(tmp_path / "world")
    settings = {
        "data_dir": str(world),
        "icl_demos": 1,
        "icl_max_examples": 600,
        "icl_epochs": 3.0,
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
