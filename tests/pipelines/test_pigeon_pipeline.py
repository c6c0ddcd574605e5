"""The pigeon pipeline through KFP's local runner with reduced settings, on the shared MovieLens data."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
from PIL import Image

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "max_windows_per_user": 1,
    "encoder_epochs": 1,
    "vae_steps": 20,
    "stage1_steps": 30,
    "batch_size": 16,
    "dpo_windows": 16,
    "dpo_samples": 2,
    "dpo_steps": 6,
    "dpo_batch_size": 8,
    "sample_steps": 4,
    "evaluator_epochs": 1,
    "eval_windows": 12,
    "eval_sample_steps": 4,
    "grid_users": 3,
}


def test_pigeon_trains_both_stages_and_compares_three_variants(tmp_path: Path) -> None:
    run = run_local(catalog.get("pigeon"), REDUCED, tmp_path / "runs")
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("pigeon").experiment_id
    steps = {
        r.data.tags["recforge.step"]: r
        for r in client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    }
    expected = {"image-data", "pigeon-stage1", "pigeon-stage2", "train-evaluator", "pigeon-report"}
    assert expected | {"evaluate-pigeon", "evaluate-pigeon-stage1", "evaluate-no-history"} <= set(steps)
    data = steps["image-data"].data.metrics
    assert data["users"] == 610 and data["test_users"] == 61  # one window per user, 10% of users held out
    stage1 = client.get_metric_history(steps["pigeon-stage1"].info.run_id, "stage1_loss")
    # the first step's loss, then means over 25 steps: 30 steps of reconstruction must cut it by a third
    assert [m.step for m in stage1] == [1, 25, 30] and stage1[-1].value < 0.67 * stage1[0].value
    vae = [m.value for m in client.get_metric_history(steps["pigeon-stage1"].info.run_id, "vae_loss")]
    assert vae[-1] < vae[0]
    stage2 = steps["pigeon-stage2"].data.metrics
    assert stage2["pairs"] == 16
    dpo = client.get_metric_history(steps["pigeon-stage2"].info.run_id, "dpo_loss")
    # the policy starts as its frozen reference, so the first Diffusion-DPO loss is -log sigma(0) = log 2 up to
    # the policy's LoRA dropout (0.05); a wrong reference at beta 2000 lands far from it
    assert dpo[0].step == 1 and abs(dpo[0].value - np.log(2)) < 0.05
    evaluator = steps["train-evaluator"].data.metrics
    assert evaluator["evaluator_accuracy"] > evaluator["evaluator_majority_accuracy"] + 0.2
    for variant in ("pigeon", "pigeon-stage1", "no-history"):
        run_data = steps[f"evaluate-{variant}"].data
        assert run_data.tags["recforge.model"] == variant
        assert run_data.metrics["eval_windows"] == 12
        # after 30 steps the decoder draws nearly one poster for everyone, and the diversity measure says so:
        # far below the spread of the users' true target posters
        assert 0 <= run_data.metrics["diversity_heldout"] < 0.5 * run_data.metrics["target_poster_diversity_heldout"]
        artifacts = {a.path for a in client.list_artifacts(steps[f"evaluate-{variant}"].info.run_id, "evaluation")}
        assert "evaluation/grid.png" in artifacts
    metrics = {v: steps[f"evaluate-{v}"].data.metrics for v in ("pigeon", "pigeon-stage1", "no-history")}
    # same windows and noise for all three: stage 2 changed the generations, and stage 1 uses the history
    for key in ("history_similarity", "history_similarity_heldout", "history_ssim"):
        assert metrics["pigeon"][key] != metrics["pigeon-stage1"][key]
        assert metrics["pigeon-stage1"][key] != metrics["no-history"][key]
    # the true targets are scored the same way: cosine 1 to themselves, spread across users
    target = steps["evaluate-pigeon"].data.metrics
    assert target["target_poster_diversity_heldout"] > 0.05
    assert target["target_poster_history_similarity_heldout"] > metrics["no-history"]["history_similarity_heldout"]
    report = Path(run.outputs["report"]).read_text()
    assert "| pigeon |" in report and "| no-history |" in report and "| pigeon-stage1 |" in report
    comparison = {a.path for a in client.list_artifacts(steps["pigeon-report"].info.run_id)}
    assert {"grid.png", "report.md"} <= comparison
    grid = np.asarray(Image.open(Path(client.download_artifacts(steps["pigeon-report"].info.run_id, "grid.png"))))
    # 3 users x (5 history + 3 generated + target) tiles of 64 px with 4 px gaps
    assert grid.shape == (3 * 64 + 2 * 4, 9 * 64 + 8 * 4 + 2 * 4, 3)
    meta = json.loads((Path(run.outputs["model"]) / "pigeon.json").read_text())
    assert meta["stage"] == "stage2" and meta["diffusion_preset"] == "tiny"
    assert run.metrics["pigeon.history_similarity"] == steps["evaluate-pigeon"].data.metrics["history_similarity"]
    from tests.pipelines.kfp_artifacts import run_folder, task_artifact

    folder = run_folder(run.outputs["report"])
    html = Path(task_artifact(folder, "pigeon-report", "html")["uri"]).read_text()
    assert html.count("data:image/png;base64,") == 1 and 'src="grid.png"' not in html  # the grid, embedded
    shown = [task_artifact(folder, t, "metrics")["metadata"] for t in ("evaluate-images", "evaluate-images-2",
                                                                      "evaluate-images-3")]  # fmt: skip
    assert sorted(m["history_similarity"] for m in shown) == sorted(metrics[v]["history_similarity"] for v in metrics)
