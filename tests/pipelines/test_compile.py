"""Every pipeline compiles to KFP IR YAML that KFP loads back, without importing torch or MLflow."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import components

from pipelines import catalog
from pipelines.cli import main

HEAVY = ("torch", "transformers", "trl", "peft", "diffusers", "deepspeed", "mlflow", "pyarrow", "numpy")


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_compiles_and_loads_back(name: str, tmp_path: Path) -> None:
    target = tmp_path / f"{name}.yaml"
    assert main(["compile", name, "-o", str(target)]) == 0
    spec, platform = yaml.safe_load_all(target.read_text())  # the pipeline spec, then its Kubernetes settings
    assert spec["pipelineInfo"]["name"] == name
    assert set(platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]) == set(
        spec["deploymentSpec"]["executors"]
    )  # every step reads MLFLOW_TRACKING_URI from the recforge-mlflow ConfigMap
    loaded = components.load_component_from_file(str(target))
    assert loaded.name == name
    entry = catalog.get(name)
    assert set(loaded.component_spec.inputs) == set(spec["root"]["inputDefinitions"]["parameters"])
    defaults = {k: v.get("defaultValue") for k, v in spec["root"]["inputDefinitions"]["parameters"].items()}
    for cls in entry.config_classes():
        for key, value in cls().to_params().items():
            if key in entry.parameters.exclude:
                assert key not in defaults
                continue
            if key in entry.parameters.extra:  # the pipeline sets its own default (prompt-personalization's ranker)
                value = entry.parameters.extra[key][1]
            value = entry.parameters.defaults.get(key, value)  # a pipeline's own default (social-steering's dataset)
            assert defaults[key] == value, f"{name}: parameter {key} default differs from {cls.__name__}"
    # every parameter carries its documentation into the IR (the KFP UI shows it beside the field)
    table = entry.table()
    described = {k: v.get("description") for k, v in spec["root"]["inputDefinitions"]["parameters"].items()}
    assert described == {k: table[k].doc for k in described} and all(described.values())
    # every step is cached but the registry one (and the exit handler), wherever it sits in the DAG
    for component in spec["components"].values():
        for task_name, task in component.get("dag", {}).get("tasks", {}).items():
            if "componentRef" in task and not task_name.startswith(("for-loop", "exit-handler")):
                expected = task_name not in ("register-best", "close-pipeline-run")
                assert task.get("cachingOptions", {}).get("enableCache", False) is expected, (name, task_name)
    # no step takes the run's id or name as an input: KFP's cache key is made of the inputs
    for task in spec["root"]["dag"]["tasks"].values():
        constants = json.dumps(task.get("inputs", {}))
        assert "pipeline_job_uuid" not in constants and "pipeline_job_name" not in constants


def test_compiling_every_pipeline_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from pipelines.cli import main\n"
        "from pipelines import catalog\n"
        f"out = {str(tmp_path)!r}\n"
        "for name in catalog.PIPELINES: assert main(['compile', name, '-o', out + '/' + name + '.yaml']) == 0\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_pipeline_parameters_are_the_config_fields() -> None:
    from components.prepare_data.config import PrepareConfig

    inputs = catalog.get("prepare-data").build().component_spec.inputs
    assert set(inputs) == {f.name for f in dataclasses.fields(PrepareConfig)}


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_on_a_cluster_an_exit_handler_closes_the_mlflow_run(name: str, tmp_path: Path) -> None:
    """Every cluster pipeline runs its DAG inside a dsl.ExitHandler whose task gets KFP's final status; the local
    build has none (the CLI closes the run) and keeps its pipeline outputs."""
    from pipelines.settings import LOCAL

    target = tmp_path / f"{name}.yaml"
    assert main(["compile", name, "-o", str(target)]) == 0
    spec, platform = yaml.safe_load_all(target.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"exit-handler-1", "close-pipeline-run"}
    closer = tasks["close-pipeline-run"]
    assert closer["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert closer["dependentTasks"] == ["exit-handler-1"]
    assert closer["inputs"]["parameters"]["status"]["taskFinalStatus"]["producerTask"] == "exit-handler-1"
    assert closer["cachingOptions"] == {}  # never cached: it must run every time
    env = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-close-pipeline-run"]
    assert {f["name"] for f in env["fieldPathAsEnv"]} == {"KFP_RUN_ID", "KFP_WORKFLOW_NAME"}
    assert "outputDefinitions" not in spec["root"]
    local = catalog.get(name).build(LOCAL)
    assert local.component_spec.outputs and "close-pipeline-run" not in local.pipeline_spec.root.dag.tasks
