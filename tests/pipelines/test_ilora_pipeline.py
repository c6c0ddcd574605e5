"""The ilora pipeline through KFP's local runner with reduced settings."""

from __future__ import annotations

from pathlib import Path

import mlflow

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "sasrec_epochs": 4,
    "sasrec_eval_every": 2,
    "sft_max_examples": 64,
    "sft_epochs": 1.0,
    "sft_vocab_size": 1024,
    "eval_users": 20,
    "eval_max_new_tokens": 8,
}


def test_ilora_and_lora_are_trained_evaluated_and_compared(tmp_path: Path) -> None:
    run = run_local(catalog.get("ilora"), REDUCED, tmp_path / "runs")
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("ilora").experiment_id
    steps = {
        r.data.tags["recforge.step"]: r
        for r in client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    }
    assert {"train-sasrec", "train-ilora", "train-lora", "evaluate-ilora", "evaluate-lora", "compare-models"} <= set(
        steps
    )
    assert steps["train-ilora"].data.params["ilora_experts_used"] == "4"
    assert steps["train-lora"].data.params["ilora_experts_used"] == "1"
    ilora_params = steps["train-ilora"].data.metrics["adapter_parameters"]
    lora_params = steps["train-lora"].data.metrics["adapter_parameters"]
    assert ilora_params > lora_params  # the same LoRA rank; iLoRA adds only the gate
    assert ilora_params - lora_params < 0.05 * lora_params
    for name in ("ilora", "lora"):
        evaluation = steps[f"evaluate-{name}"]
        assert evaluation.data.tags["recforge.model"] == name
        assert {"hr_1", "valid_ratio", "hallucination_rate", "ndcg_10"} <= set(evaluation.data.metrics)
    text = Path(run.outputs["report"]).read_text()
    assert "| ilora |" in text and "| lora |" in text
