"""The social-steering pipeline (NIRec) through KFP's local runner on the real Last.fm data and friendship graph,
with reduced settings: the three estimators trained and tracked, the four policies evaluated under the ground truth
with `ioip` and `dtne` logged per lambda index in runs tagged `recforge.model`, the report and its plot."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "sim_items": 200,
    "sim_exposures": 30,
    "sim_target_items": 3,
    "sim_group_size": 10,
    "sim_als_iterations": 5,
    "est_epochs": 2,
    "est_dim": 8,
    "policy_lambdas": "0,1,10",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return run_local(catalog.get("social-steering"), REDUCED, tmp_path_factory.mktemp("social") / "runs")


def children(run) -> list:
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("social-steering")
    return client, client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")


def test_estimators_and_policies_are_tracked_per_model(run) -> None:
    client, runs = children(run)
    assert all(r.info.status == "FINISHED" for r in runs)
    steps = {r.data.tags["recforge.step"] for r in runs}
    expected = {"prepare-dataset", "simulate-social", "train-nirec", "train-mf", "train-lightgcn", "optimise-policies"}
    assert expected | {f"evaluate-{p}" for p in ("nirec", "independent", "mf", "random")} | {"report-social"} <= steps
    trained = {r.data.tags["recforge.model"]: r for r in runs if r.data.tags["recforge.step"].startswith("train-")}
    assert set(trained) == {"nirec", "mf", "lightgcn"}
    for estimator in trained.values():
        assert 0 < estimator.data.metrics["test_logloss"] < 1.0 and 0 <= estimator.data.metrics["test_auc"] <= 1
        history = client.get_metric_history(estimator.info.run_id, "valid_logloss")
        assert [m.step for m in history] == [1, 2]
    assert -1 <= trained["nirec"].data.metrics["edge_effect_corr"] <= 1
    policies = {r.data.tags["recforge.model"]: r for r in runs if r.data.tags["recforge.step"].startswith("evaluate-")}
    assert set(policies) == {"nirec", "independent", "mf", "random"}
    for policy in policies.values():
        for key in ("ioip", "dtne", "flips"):
            assert [m.step for m in client.get_metric_history(policy.info.run_id, key)] == [0, 1, 2]
    # equal budget: mf and random insert for as many neighbours as nirec flips (fewer where fewer are unexposed)
    flips = {name: [m.value for m in client.get_metric_history(r.info.run_id, "flips")] for name, r in policies.items()}
    assert flips["mf"] == flips["random"]
    assert all(
        0 < budget <= nirec or budget == nirec == 0 for budget, nirec in zip(flips["mf"], flips["nirec"], strict=True)
    )
    assert flips["nirec"][0] >= flips["nirec"][-1]  # a larger penalty never flips more
    # the CLI's summary: each estimator's test log-loss, each policy's best IoIP
    assert run.metrics["mf.test_logloss"] == trained["mf"].data.metrics["test_logloss"]
    ioip = [m.value for m in client.get_metric_history(policies["random"].info.run_id, "ioip")]
    assert run.metrics["random.best_ioip"] == pytest.approx(max(ioip))


def test_report_holds_every_policy_and_the_plot(run) -> None:
    report = Path(run.outputs["report"]).read_text(encoding="utf-8")
    for name in ("| nirec |", "| independent |", "| mf |", "| random |", "| lightgcn |"):
        assert name in report
    assert "1,892 users, 200 items" in report
    results_dir = next(Path(run.workdir).rglob("report-social/comparison"))
    results = json.loads((results_dir / "results.json").read_text(encoding="utf-8"))
    assert set(results) == {"nirec", "independent", "mf", "random"}
    assert all(len(r["curve"]) == 3 for r in results.values())
    assert (results_dir / "ioip_dtne.png").stat().st_size > 1000
