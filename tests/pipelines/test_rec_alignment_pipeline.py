"""The rec-alignment pipeline through KFP's local runner with reduced settings: ParallelFor over losses,
every model evaluated, the best registered in the MLflow model registry with lineage tags."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from conftest import REC_ALIGNMENT_REDUCED

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.cli import main
from pipelines.local import run_local

REDUCED = REC_ALIGNMENT_REDUCED


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return run_local(catalog.get("rec-alignment"), REDUCED, tmp_path_factory.mktemp("align") / "runs")


def test_every_loss_is_trained_evaluated_and_the_best_registered(run) -> None:
    uri = default_tracking_uri(run.workdir)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("rec-alignment")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    steps = {r.data.tags["recforge.step"]: r for r in children}
    assert {
        "train-sasrec",
        "train-sft",
        "build-preferences",
        "align-dpo",
        "align-alpha_dpo",
        "evaluate-dpo",
        "evaluate-alpha_dpo",
        "evaluate-sft",
        "register-best",
    } <= set(steps)
    assert all(r.info.status == "FINISHED" for r in children)
    for loss in ("dpo", "alpha_dpo"):
        aligned = steps[f"align-{loss}"]
        assert aligned.data.tags["recforge.model"] == loss and aligned.data.params["align_loss"] == loss
        assert aligned.data.metrics["heldout_reward_accuracy_before"] == 0.0
        assert "rewards/accuracies" in aligned.data.metrics
        assert steps[f"evaluate-{loss}"].data.tags["recforge.model"] == loss
    assert steps["build-preferences"].data.metrics["pairs"] == 24
    versions = client.search_model_versions("name='recforge-aligned-recommender'")
    assert len(versions) == 1
    tags = versions[0].tags
    assert tags["recforge.model"] in ("sft", "dpo", "alpha_dpo")
    assert tags["recforge.parent_run"] == run.parent_run_id
    assert client.get_run(tags["recforge.eval_run"]).data.tags["recforge.model"] == tags["recforge.model"]
    assert tags["recforge.dataset_digest"] == steps["prepare-dataset"].data.tags["recforge.output.prepared.digest"]
    # selected on the valid split, the best there among every evaluated model; the test value is only reported
    assert tags["recforge.selection_metric"] == "valid_ndcg_10"
    evaluated = {name: steps[f"evaluate-{name}"].data.metrics for name in ("sft", "dpo", "alpha_dpo")}
    chosen = evaluated[tags["recforge.model"]]
    assert float(tags["recforge.selection_value"]) == pytest.approx(chosen["valid_ndcg_10"], abs=1e-6)
    assert chosen["valid_ndcg_10"] == max(m["valid_ndcg_10"] for m in evaluated.values())
    assert float(tags["recforge.test_value"]) == pytest.approx(chosen["ndcg_10"], abs=1e-6)
    champion = client.get_model_version_by_alias("recforge-aligned-recommender", "champion")  # search omits aliases
    assert champion.version == versions[0].version and tags["recforge.replaced_champion"] == ""


def test_the_champion_loads_with_mlflows_own_loader(run) -> None:
    """The registered version is a transformers-flavor MLflow model: MLflow loads it by alias, with the weights
    of the model the pipeline chose, and serves it through pyfunc."""
    import torch
    from safetensors.torch import load_file

    mlflow.set_tracking_uri(default_tracking_uri(run.workdir))
    uri = "models:/recforge-aligned-recommender@champion"
    components = mlflow.transformers.load_model(uri, return_type="components")
    client = mlflow.MlflowClient()
    chosen = client.get_model_version_by_alias("recforge-aligned-recommender", "champion").tags["recforge.model"]
    folder = Path(run.workdir) / "pipeline-root"
    model_dirs = [p.parent for p in folder.rglob("model.json") if (p.parent / "model" / "model.safetensors").is_file()]
    import json

    match = [d for d in model_dirs if json.loads((d / "model.json").read_text()).get("aligned_with", "sft") == chosen]
    weights = load_file(str(match[0] / "model" / "model.safetensors"))
    loaded = dict(components["model"].named_parameters())
    name = next(k for k in weights if k in loaded)
    assert torch.equal(loaded[name].detach(), weights[name])
    assert type(components["model"]).__name__ == "LlamaForCausalLM"
    served = mlflow.pyfunc.load_model(uri).predict(["Hello"])
    assert isinstance(served[0], str)


def test_report_and_model_lineage(run, capsys) -> None:
    text = Path(run.outputs["report"]).read_text()
    for name in ("sft", "dpo", "alpha_dpo", "random (expected)"):
        assert f"| {name} |" in text
    assert "registered as `recforge-aligned-recommender` version 1" in text
    assert "alias `champion`: `models:/recforge-aligned-recommender@champion`" in text
    assert main(["lineage", "recforge-aligned-recommender/1", "--workdir", str(run.workdir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model recforge-aligned-recommender version 1 (@champion)")
    for reference in ("recforge-aligned-recommender", "recforge-aligned-recommender@champion"):
        assert main(["lineage", reference, "--workdir", str(run.workdir)]) == 0
        assert capsys.readouterr().out == out  # the champion is version 1
    assert main(["lineage", "recforge-aligned-recommender@staging", "--workdir", str(run.workdir)]) == 2
    assert "no registered model 'recforge-aligned-recommender' with alias 'staging'" in capsys.readouterr().err
    assert "[trained it]" in out or "model: sft" in out
    assert "[evaluated it]" in out and "step build-preferences" in out


def test_bad_losses_stop_before_anything_runs(tmp_path: Path, capsys) -> None:
    assert main(["run", "rec-alignment", "--local", "--workdir", str(tmp_path / "r"), "--set", "losses=dpo,kto"]) == 2
    assert (
        "recforge: error: losses: unknown loss 'kto'; expected names among dpo, ipo, simpo, alpha_dpo, rosepo, cdpo"
        in (capsys.readouterr().err)
    )
    assert not (tmp_path / "r").exists()
