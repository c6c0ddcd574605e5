"""`recforge compile --gpus ...`: accelerators, /dev/shm and scheduling constraints on training steps only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.common.launch.forwarding import SECRET_VARIABLES
from pipelines import catalog
from pipelines.cli import main

TRAINING = {"exec-train-sft", "exec-align-model"}
FLAGS = ["--gpus", "8", "--node-selector", "pool=gpu", "--toleration", "nvidia.com/gpu:NoSchedule"]
FLAGS += ["--toleration", "dedicated=ml:NoExecute", "--shm", "32Gi"]


MLFLOW_ENV = [{"configMapName": "recforge-mlflow",
               "configMapNameParameter": {"runtimeValue": {"constant": "recforge-mlflow"}},
               "keyToEnv": [{"configMapKey": "MLFLOW_TRACKING_URI", "envVar": "MLFLOW_TRACKING_URI"}],
               "optional": True}]  # fmt: skip
CREDENTIALS_ENV = [{"secretName": "recforge-credentials",
                    "secretNameParameter": {"runtimeValue": {"constant": "recforge-credentials"}},
                    "keyToEnv": [{"secretKey": name, "envVar": name} for name in SECRET_VARIABLES],
                    "optional": True}]  # fmt: skip


def _compile(name: str, target: Path, *flags: str) -> tuple[dict, dict]:
    """Executors, and the Kubernetes settings of those that have more than the MLflow ConfigMap, the credentials
    Secret and the run labels every step gets."""
    assert main(["compile", name, "-o", str(target), *flags]) == 0
    docs = list(yaml.safe_load_all(target.read_text()))
    executors = docs[0]["deploymentSpec"]["executors"]
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == set(executors)
    for spec in platform.values():
        assert spec.pop("configMapAsEnv") == MLFLOW_ENV
        assert spec.pop("secretAsEnv") == CREDENTIALS_ENV
        assert {f["name"] for f in spec.pop("fieldPathAsEnv")} == {"KFP_RUN_ID", "KFP_WORKFLOW_NAME"}
    return executors, {name: spec for name, spec in platform.items() if spec}


def _defaults(target: Path) -> dict:
    spec = next(yaml.safe_load_all(target.read_text()))
    return {name: p.get("defaultValue") for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}


def test_gpus_go_on_the_training_executors_only(tmp_path: Path) -> None:
    executors, platform = _compile("rec-alignment", tmp_path / "gpu.yaml", *FLAGS)
    accelerated = {name for name, ex in executors.items() if ex["container"].get("resources", {}).get("accelerator")}
    assert accelerated == TRAINING
    for name in TRAINING:
        accelerator = executors[name]["container"]["resources"]["accelerator"]
        assert accelerator["resourceCount"] == "8" and accelerator["resourceType"] == "nvidia.com/gpu"
    assert set(platform) == TRAINING  # data, SASRec, preferences, evaluation and registry steps get nothing
    for name in TRAINING:
        spec = platform[name]
        assert spec["nodeSelector"]["labels"] == {"pool": "gpu"}
        assert spec["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
        ]
        assert spec["emptyDirMounts"] == [
            {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory", "sizeLimit": "32Gi"}
        ]
    # torchrun starts one process per GPU in the SFT and alignment steps
    defaults = _defaults(tmp_path / "gpu.yaml")
    assert defaults["sft_nproc"] == defaults["align_nproc"] == 8 and defaults["align_deepspeed"] == ""
    # the next compile without flags is plain again
    executors, platform = _compile("rec-alignment", tmp_path / "plain.yaml")
    assert platform == {}
    assert _defaults(tmp_path / "plain.yaml")["sft_nproc"] == _defaults(tmp_path / "plain.yaml")["align_nproc"] == 1
    assert not any(ex["container"].get("resources", {}).get("accelerator") for ex in executors.values())


# prepare-data trains nothing; social-steering's estimators (about 60k parameters) train in seconds on a CPU
CPU_ONLY = ("prepare-data", "social-steering")


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_every_pipeline_accelerates_its_training_steps(name: str, tmp_path: Path) -> None:
    executors, platform = _compile(name, tmp_path / f"{name}.yaml", "--gpus", "2")
    counts = {n: int(ex["container"]["resources"]["accelerator"]["resourceCount"])
              for n, ex in executors.items() if ex["container"].get("resources", {}).get("accelerator")}  # fmt: skip
    accelerated = set(counts)
    if name in CPU_ONLY:
        assert accelerated == set() and platform == {}
        return
    assert accelerated and set(platform) == accelerated
    # SFT and alignment start a process per GPU; the steps that train in one process get one GPU
    assert {n for n, c in counts.items() if c == 2} == accelerated & TRAINING
    assert all(c == 1 for n, c in counts.items() if n not in TRAINING)
    assert not any(word in n for n in accelerated for word in ("prepare", "report", "compare", "evaluate", "sasrec"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--toleration", "nvidia.com/gpu"], "--toleration: got 'nvidia.com/gpu'; expected key[=value]:effect"),
        (["--toleration", "a=b:Sometimes"], "expected key[=value]:effect with effect one of NoSchedule"),
        (["--node-selector", "pool"], "--node-selector: got 'pool'; expected key=value"),
        (["--shm", "lots"], "--shm: got 'lots'; expected a Kubernetes quantity like 16Gi"),
        (["--gpus", "-1"], "--gpus: got -1; expected a count >= 0"),
        (["--nodes", "0"], "--nodes: got 0; expected a count from 1 to 256"),
        (["--workspace-size", "big"], "--workspace-size: got 'big'; expected a Kubernetes quantity"),
    ],
)
def test_bad_gpu_flags_are_refused(flags: list[str], message: str, tmp_path: Path, capsys) -> None:
    target = tmp_path / "x.yaml"
    assert main(["compile", "sft-rec", "-o", str(target), "--gpus", "1", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not target.exists()


def test_nodes_need_a_multi_node_step(tmp_path: Path, capsys) -> None:
    target = tmp_path / "x.yaml"
    assert main(["compile", "ilora", "-o", str(target), "--gpus", "8", "--nodes", "2"]) == 2
    assert "--nodes: ilora has no multi-node training step; expected --nodes 1" in capsys.readouterr().err
    assert not target.exists() and not list(tmp_path.iterdir())


def test_gpu_steps_log_system_metrics_and_launchers_request_no_gpu(tmp_path: Path) -> None:
    """With --nodes 2 the SFT and alignment pods only stage files and wait for their TrainJob: no GPU, no GPU-node
    constraints; steps that train in their own pod keep theirs. Every GPU step logs MLflow system metrics."""
    executors, platform = _compile("rec-alignment", tmp_path / "nodes.yaml", *FLAGS, "--nodes", "2")
    for name in TRAINING:
        container = executors[name]["container"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] == "true" and env["RECFORGE_LAUNCHER_ONLY"] == "1"
        assert "accelerator" not in container.get("resources", {}) and name not in platform
        # the TrainJob's pods get the placement instead (components/common/launch/nodes.py)
        assert json.loads(env["RECFORGE_NODE_SELECTOR"]) == {"pool": "gpu"}
        assert json.loads(env["RECFORGE_TOLERATIONS"]) == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
        ]
    executors, _ = _compile("rec-alignment", tmp_path / "one.yaml", "--gpus", "8")
    for name in TRAINING:
        env = {e["name"]: e["value"] for e in executors[name]["container"]["env"]}
        assert env["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] == "true" and "RECFORGE_LAUNCHER_ONLY" not in env
        assert executors[name]["container"]["resources"]["accelerator"]["resourceCount"] == "8"
