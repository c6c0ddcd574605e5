"""The knowledge-edit pipeline through KFP's local runner with reduced settings."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "fact_items": 40,
    "fact_edits": 10,
    "fact_neighbours": 3,
    "fact_epochs": 40,
    "fact_vocab_size": 1024,
    "edit_batch_size": 5,
    "edit_v_steps": 10,
    "edit_context_templates": 1,
    "fluency_prompts": 2,
}


def test_alphaedit_and_memit_edit_the_same_sequence_and_are_compared(tmp_path: Path) -> None:
    run = run_local(catalog.get("knowledge-edit"), REDUCED, tmp_path / "runs")
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("knowledge-edit").experiment_id
    steps = {
        r.data.tags["recforge.step"]: r
        for r in client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    }
    assert {"build-fact-model", "edit-statistics", "edit-alphaedit", "edit-memit", "compare-edits"} <= set(steps)
    facts = steps["build-fact-model"].data.metrics
    assert facts["edits"] == 10 and facts["facts"] == 80 and facts["known_share"] >= 0.7
    losses = [m.value for m in client.get_metric_history(steps["build-fact-model"].info.run_id, "fact_loss")]
    assert len(losses) == 40 and losses[-1] < 0.5 * losses[0]
    stats = steps["edit-statistics"].data.metrics
    assert 0 < stats["null_space_dim_layer_0"] < 176 and stats["stats_tokens"] > 176
    for method in ("alphaedit", "memit"):
        edit = steps[f"edit-{method}"]
        assert edit.data.tags["recforge.method"] == method
        history = client.get_metric_history(edit.info.run_id, "efficacy")
        assert sorted(m.step for m in history) == [0, 5, 10]  # before, after each batch of 5
        assert {"efficacy", "generalization", "specificity", "fluency"} <= set(edit.data.metrics)
        # a no-op edit fails here: the edits must be written (step 0 holds the whole edit set before editing)
        efficacy = {m.step: m.value for m in history}
        assert efficacy[10] >= efficacy[0] + 0.2, (method, efficacy)
    report = Path(run.outputs["report"]).read_text()
    assert "| alphaedit |" in report and "| memit |" in report and "null-space" in report
    comparison = steps["compare-edits"]
    artifacts = {a.path for a in client.list_artifacts(comparison.info.run_id)}
    assert {"edit_curves.png", "report.md"} <= artifacts
    assert json.loads(Path(run.outputs["fact_model"], "config.json").read_text())["model_type"] == "llama"
    from tests.pipelines.kfp_artifacts import run_folder, task_artifact

    folder = run_folder(run.outputs["report"])
    html = Path(task_artifact(folder, "compare-edits", "html")["uri"]).read_text()
    assert "<td>alphaedit</td>" in html and html.count("data:image/png;base64,") == 1  # the curves, embedded
