"""The prompt-personalization pipeline (RPP) through KFP's local runner with reduced settings and the pretrained
SmolLM2 ranker: agents trained, every method evaluated on the same held-out users in both ranking modes, one MLflow
run per method, the report."""

from __future__ import annotations

import json

import mlflow
import pytest

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "sasrec_epochs": 2,
    "rpp_train_users": 4,
    "rpp_test_users": 4,
    "rpp_rounds": 2,
    "rpp_epochs": 1,
    "rpp_batch_users": 4,
    "rpp_templates": 2,
    "rpp_max_new_tokens": 32,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    from components.common import pretrained

    assert pretrained.cached("smollm2-135m") is not None, "run `recforge models prepare smollm2-135m` first"
    return run_local(catalog.get("prompt-personalization"), REDUCED, tmp_path_factory.mktemp("rpp") / "runs")


def test_every_method_is_evaluated_on_the_same_users_and_tracked(run) -> None:
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("prompt-personalization")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    steps = {r.data.tags["recforge.step"]: r for r in children}
    assert {"train-sasrec", "train-prompt-agents", "evaluate-prompt-agents"} <= set(steps)
    assert all(r.info.status == "FINISHED" for r in children)
    methods = {r.data.tags["recforge.model"]: r for r in children if "recforge.model" in r.data.tags}
    assert set(methods) == {"rpp", "template-0", "template-1", "template-best", "random"}
    for method in methods.values():
        metrics = method.data.metrics
        for mode in ("likelihood", "generate"):
            assert {f"{mode}_ndcg_1", f"{mode}_ndcg_5", f"{mode}_ndcg_10", f"{mode}_parse_failure_rate"} <= set(metrics)
            assert 0 <= metrics[f"{mode}_ndcg_1"] <= metrics[f"{mode}_ndcg_5"] <= metrics[f"{mode}_ndcg_10"] <= 1
        assert metrics["ndcg_10"] == metrics["likelihood_ndcg_10"]  # the training mode's, unprefixed
        assert metrics["likelihood_parse_failure_rate"] == 0.0  # likelihood ranking always yields an order
    assert steps["train-prompt-agents"].data.params["base_model"] == "smollm2-135m"
    assert "train_ndcg_10" in steps["train-prompt-agents"].data.metrics
    evaluated = steps["evaluate-prompt-agents"].data.metrics
    assert sum(evaluated[f"policy_reasoning_{i}"] for i in range(7)) == pytest.approx(1.0, abs=1e-5)
    assert run.metrics["rpp.ndcg_10"] == methods["rpp"].data.metrics["ndcg_10"]


def test_results_and_report_hold_the_comparison(run) -> None:
    report = open(run.outputs["report"], encoding="utf-8").read()
    assert "## Ranking by likelihood" in report and "## Ranking by generate" in report
    assert "95% paired bootstrap interval" in report
    results_dir = run.outputs["report"].replace("/report", "/results")
    results = json.loads(open(f"{results_dir}/results.json", encoding="utf-8").read())
    assert results["users"] == {"train": 4, "test": 4}
    for part in results["modes"].values():
        chosen = part["best_template_on_train"]
        assert part["methods"]["template-best"]["ndcg_10"] == part["methods"][chosen]["ndcg_10"]
        gap = part["rpp_minus_best_template_ndcg_10"]
        assert gap["low"] <= gap["mean"] <= gap["high"]
    assert set(results["action_distribution"]) == {"role", "history", "reasoning", "format"}
    for probs in results["action_distribution"].values():
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)


def test_a_prepared_dataset_too_small_for_the_users_is_one_line(tmp_path, capsys) -> None:
    from pipelines.cli import main

    argv = ["run", "prompt-personalization", "--local", "--workdir", str(tmp_path / "w")]
    code = main([*argv, "--set", "rpp_train_users=400", "--set", "rpp_test_users=400", "--set", "sasrec_epochs=1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("recforge: error: step train-prompt-agents: stats.json: 610 users have valid and test rows;")
    assert err.endswith("expected rpp_train_users + rpp_test_users = 800")
