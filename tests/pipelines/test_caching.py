"""KFP's cache in local runs (sft-rec, reduced settings): an identical second run reuses every step, a changed
parameter re-runs exactly the steps that depend on it, and lineage points at the reused steps' original runs."""

from __future__ import annotations

import io
from pathlib import Path

import mlflow
import pytest

from components.common.lineage import format_lineage, lineage
from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import LocalRun, run_local
from tests.pipelines.test_sft_rec_pipeline import REDUCED

STEPS = {
    "prepare-dataset", "resolve-base-model", "train-popularity", "train-sasrec", "train-sft", "evaluate-model",
    "evaluate-model-2", "evaluate-model-3", "evaluate-model-4", "compare-models",
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalRun, LocalRun, LocalRun, str]:
    workdir = tmp_path_factory.mktemp("cache") / "runs"
    entry = catalog.get("sft-rec")
    first = run_local(entry, REDUCED, workdir, out=io.StringIO())
    printed = io.StringIO()
    second = run_local(entry, REDUCED, workdir, out=printed)
    third = run_local(entry, {**REDUCED, "sasrec_epochs": 3}, workdir, out=io.StringIO())
    return first, second, third, printed.getvalue()


def _task_names(run: LocalRun) -> set[str]:
    return set(run.step_seconds) | set(run.reused)


def test_an_identical_run_reuses_every_step(runs) -> None:
    first, second, _, printed = runs
    assert first.reused == {} and _task_names(first) == STEPS
    assert set(second.reused) == STEPS and second.step_seconds == {}
    assert second.seconds < first.seconds / 5, (first.seconds, second.seconds)
    assert printed.count("reused ") == len(STEPS) and "executor_input" not in printed and "\x1b[" not in printed
    # the reused outputs are the first run's files, and the key metrics are those of the runs that made them
    assert second.outputs == first.outputs
    assert second.metrics == first.metrics


def test_a_changed_parameter_reruns_exactly_its_dependants(runs) -> None:
    first, _, third, _ = runs
    evaluate_sasrec = "evaluate-model-2"  # the order of `models` in pipelines/sft_rec.py
    assert set(third.step_seconds) == {"train-sasrec", evaluate_sasrec, "compare-models"}
    assert set(third.reused) == STEPS - set(third.step_seconds)
    assert third.metrics["sft.hr_10"] == first.metrics["sft.hr_10"]
    assert (
        third.outputs["sft_model"] == first.outputs["sft_model"] and third.outputs["report"] != first.outputs["report"]
    )


def test_lineage_of_a_reusing_run_points_at_the_original_runs(runs) -> None:
    first, second, third, _ = runs
    uri = default_tracking_uri(first.workdir)
    original = {s.name: s for s in lineage(first.parent_run_id, uri).steps}
    reusing = lineage(second.parent_run_id, uri)
    assert {s.name: s.run_id for s in reusing.steps} == {name: s.run_id for name, s in original.items()}
    assert all(s.reused_in for s in reusing.steps)
    sft = {s.name: s for s in reusing.steps}["train-sft"]
    assert sft.outputs["model"]["uri"] == str(Path(first.outputs["sft_model"]).resolve())
    assert "reused as train-sft from an earlier pipeline run" in format_lineage(reusing)
    # the third run: its new SASRec evaluation reads the new SASRec model; the SFT evaluation is the first run's
    steps = {s.name: s for s in lineage(third.parent_run_id, uri).steps}
    assert not steps["train-sasrec"].reused_in and steps["train-sasrec"].run_id != original["train-sasrec"].run_id
    sasrec_input = {r.name: r for r in steps["evaluate-sasrec"].inputs}["sasrec"]
    assert sasrec_input.produced_by == steps["train-sasrec"].run_id
    assert steps["evaluate-sft"].run_id == original["evaluate-sft"].run_id
    client = mlflow.MlflowClient(uri)
    tags = client.get_run(third.parent_run_id).data.tags
    assert tags["recforge.reused.train-sft"] == original["train-sft"].run_id


def test_no_cache_runs_every_step(runs, tmp_path: Path) -> None:
    first = runs[0]
    again = run_local(catalog.get("prepare-data"), {}, first.workdir, cache=False, out=io.StringIO())
    assert again.reused == {} and set(again.step_seconds) == {"prepare-dataset", "data-report"}
