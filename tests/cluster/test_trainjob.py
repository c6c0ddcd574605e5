"""Multi-node training: the TrainJob body, waiting on its status, staging through the workspace, and
`compile --nodes`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from components.common.errors import ConfigError, RecforgeError
from components.common.launch.forwarding import SECRET_VARIABLES
from components.common.launch.nodes import NodeJob, run_on_nodes
from components.common.launch.trainjob import TrainJobSpec, trainjob_body, trainjob_name, wait
from pipelines import catalog
from pipelines.cli import main
from pipelines.settings import CompileSettings

ROOT = Path(__file__).resolve().parents[2]


def _spec(**overrides: object) -> TrainJobSpec:
    fields = dict(
        name="recforge-sft-0123456789ab",
        namespace="team-a",
        image="registry.example/recforge-training@sha256:" + "b" * 64,
        module="components.train_sft",
        args=["--config", "/kfp-workspace/recforge/x/in/config"],
        nodes=2,
        procs_per_node=8,
        gpus_per_node=8,
        claim="sft-rec-abcde-kfp-workspace",
        env={"MLFLOW_TRACKING_URI": "http://mlflow.recforge:5000", "RECFORGE_MLFLOW_RUN_ID": "r1"},
        labels={"recforge.io/step": "sft"},
        node_selector={"pool": "gpu"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    return TrainJobSpec(**{**fields, **overrides})


def test_trainjob_body_for_2_nodes_of_8_gpus() -> None:
    body = trainjob_body(_spec())
    assert body["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and body["kind"] == "TrainJob"
    assert body["metadata"] == {
        "name": "recforge-sft-0123456789ab",
        "namespace": "team-a",
        "labels": {"app.kubernetes.io/part-of": "recforge", "recforge.io/step": "sft"},
    }
    spec = body["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "recforge-torch"}  # fmt: skip
    trainer = spec["trainer"]
    assert trainer["image"] == "registry.example/recforge-training@sha256:" + "b" * 64
    assert trainer["command"] == ["torchrun", "-m", "components.train_sft", "--config",
                                  "/kfp-workspace/recforge/x/in/config"]  # fmt: skip
    assert trainer["numNodes"] == 2 and trainer["numProcPerNode"] == 8
    assert trainer["resourcesPerNode"] == {
        "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "8"},
        "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "8"},
    }
    assert trainer["env"] == [
        {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.recforge:5000"},
        {"name": "RECFORGE_MLFLOW_RUN_ID", "value": "r1"},
    ]
    (patch,) = spec["runtimePatches"]
    assert patch["manager"] == "recforge.io/pipeline-step"
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    assert node["template"]["spec"]["template"]["spec"] == {
        "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": "sft-rec-abcde-kfp-workspace"}}],
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert set(body) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(spec) == {"runtimeRef", "trainer", "runtimePatches"}
    # CPU nodes anywhere: no accelerator resource; no claim, no placement: no patch
    cpu = trainjob_body(_spec(gpus_per_node=0, claim="", node_selector={}, tolerations=()))
    assert "nvidia.com/gpu" not in cpu["spec"]["trainer"]["resourcesPerNode"]["limits"]
    assert "runtimePatches" not in cpu["spec"]
    with pytest.raises(RecforgeError, match="0 nodes x 8 processes; expected >= 1"):
        trainjob_body(_spec(nodes=0))


def test_the_runtime_the_body_names_is_shipped() -> None:
    runtime = yaml.safe_load((ROOT / "manifests" / "base" / "trainer-runtime.yaml").read_text())
    assert runtime["kind"] == "ClusterTrainingRuntime" and runtime["metadata"]["name"] == "recforge-torch"
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"  # runtimePatches target it
    pod = node["template"]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["workspace", "dshm"]
    (container,) = pod["containers"]
    assert container["name"] == "node"
    assert {"name": "workspace", "mountPath": "/kfp-workspace"} in container["volumeMounts"]


def test_names_are_dns_labels() -> None:
    name = trainjob_name("align-alpha_dpo", "3F2504E0-4F89-11D3-9A0C-0305E82C3301")
    assert name == "recforge-align-alpha-dpo-3f2504e04f89"
    long = trainjob_name("x" * 100, "run")
    assert len(long) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long)


def _scripted(statuses: list[dict]) -> tuple:
    seen: list[str] = []
    it = iter(statuses)
    return (lambda: next(it)), seen.append, seen


def test_wait_streams_each_change_and_returns_on_complete() -> None:
    running = {"conditions": [{"type": "Created", "status": "True", "reason": "JobsCreationSucceeded",
                               "message": "jobs created"}],
               "jobsStatus": [{"name": "node", "active": 2, "ready": 2}]}  # fmt: skip
    done = {"conditions": [{"type": "Complete", "status": "True", "reason": "JobsCompleted", "message": "done"}]}
    read, report, seen = _scripted([{}, running, running, running, done])
    sleeps: list[float] = []
    status = wait("tj", read, report, poll_s=5, sleep=sleeps.append)
    assert status == done
    assert seen == [
        "trainjob tj: created, waiting for the Trainer",
        "trainjob tj: Created (JobsCreationSucceeded: jobs created); node: active 2, ready 2",
        "trainjob tj: Complete (JobsCompleted: done)",
    ]
    assert sleeps == [5, 5, 5, 5]


def test_wait_fails_with_the_trainers_message_and_times_out() -> None:
    failed = {"conditions": [{"type": "Failed", "status": "True", "reason": "JobsFailed",
                              "message": "node-0 exited with code 1"}]}  # fmt: skip
    read, report, _ = _scripted([{}, failed])
    with pytest.raises(RecforgeError, match=r"^trainjob tj failed: JobsFailed node-0 exited with code 1$"):
        wait("tj", read, report, sleep=lambda s: None)
    ticks = iter(range(0, 1000, 30))
    with pytest.raises(RecforgeError, match=r"not finished after 60s.*kubectl delete trainjob tj"):
        wait("tj", lambda: {}, lambda line: None, timeout_s=60, sleep=lambda s: None, clock=lambda: next(ticks))


def test_multi_node_outside_a_cluster_is_refused(tmp_path: Path) -> None:
    job = NodeJob("sft", 2, 8, "sft.sft_nodes", "run1", "sft-rec-x")
    with pytest.raises(ConfigError, match=r"^sft.sft_nodes: got 2; multi-node training runs as a Kubeflow TrainJob"):
        run_on_nodes("components.train_sft", job, {}, tmp_path / "out", lambda i, o: [], None)
    with pytest.raises(RecforgeError, match=r"no pipeline workspace at .*; compile the pipeline with --nodes 2"):
        run_on_nodes("m", job, {}, tmp_path / "out", lambda i, o: [], None, namespace="ns",
                     workspace=tmp_path / "missing")  # fmt: skip


@pytest.mark.slow
def test_staging_through_the_workspace_runs_the_real_training(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for the Trainer runs the TrainJob's own command (torchrun, 2 processes) on the staged workspace:
    the step's inputs reach the nodes, rank 0 logs into the step's MLflow run, the model comes back."""
    import mlflow

    from components.common.launch.launcher import ENTRY_MODULE, rank_arguments
    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare
    from components.train_sft.config import SFTConfig
    from components.train_sft.trainer import train_sft

    prepare(PrepareConfig(), tmp_path / "prepared")
    config = SFTConfig(sft_max_examples=32, sft_eval_examples=8, sft_epochs=1.0, sft_batch_size=4,
                       sft_vocab_size=1024, sft_nproc=2, sft_nodes=2)  # fmt: skip
    config_path = tmp_path / "sft.json"
    config_path.write_text(json.dumps(config.to_params()))
    workspace = tmp_path / "kfp-workspace"
    workspace.mkdir()
    ran: list[TrainJobSpec] = []

    def trainer(spec: TrainJobSpec, report) -> None:  # what each node's container does, on this machine
        ran.append(spec)
        body = trainjob_body(spec)["spec"]["trainer"]
        torchrun, flag, module, *args = body["command"]
        assert (torchrun, flag) == ("torchrun", "-m")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={body['numProcPerNode']}", "-m", module, *args]  # fmt: skip
        env = {**os.environ, **{e["name"]: e["value"] for e in body["env"] if "value" in e}, "PYTHONPATH": str(ROOT),
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, "\n".join(line for line in done.stderr.splitlines() if "rank0" in line)[-4000:]

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("RECFORGE_GPU_TYPE", "nvidia.com/gpu")  # what `--gpus` sets on the step
    client = mlflow.MlflowClient(uri)
    step_run = client.create_run(client.create_experiment("recforge-sft-rec")).info.run_id
    job = NodeJob("sft", 2, 2, "sft.sft_nodes", "0123456789abcdef", "sft-rec-xyz")
    inputs = {"config": config_path, "dataset_dir": tmp_path / "prepared"}
    out = tmp_path / "model-output"

    def args_for(staged: dict, o: Path) -> list[str]:
        return rank_arguments(train_sft, config, staged["config"], {"dataset_dir": staged["dataset_dir"]}, o)

    spec = run_on_nodes(ENTRY_MODULE, job, inputs, out, args_for, step_run,
                        namespace="team-a", workspace=workspace, runner=trainer)  # fmt: skip
    assert ran == [spec] and spec.claim == "sft-rec-xyz-kfp-workspace" and spec.nodes == 2
    assert spec.gpus_per_node == 2 and "RECFORGE_GPU_TYPE" not in spec.env  # one GPU per process, not forwarded
    stage = workspace / "recforge" / spec.name
    assert spec.module == "components.common.launch"
    assert spec.args == ["--trainer", "components.train_sft.trainer:train_sft",
                         "--config-class", "components.train_sft.config:SFTConfig",
                         "--config", str(stage / "in" / "config"),
                         "--input", f"dataset_dir={stage / 'in' / 'dataset_dir'}",
                         "--out", str(stage / "out")]  # fmt: skip
    assert dict(spec.env)["RECFORGE_MLFLOW_RUN_ID"] == step_run and dict(spec.env)["MLFLOW_TRACKING_URI"] == uri
    record = json.loads((out / "training.json").read_text())
    assert record["world_size"] == 2 and record["global_step"] == 4  # 32 examples / (2 x 4)
    assert (out / "model" / "config.json").is_file()
    assert client.get_run(step_run).data.metrics["eval_loss"] == pytest.approx(record["eval_loss"])  # by rank 0
    assert not stage.exists()  # the workspace is left clean


def test_compile_with_nodes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "ra.yaml"
    argv = ["compile", "rec-alignment", "-o", str(target), "--gpus", "8", "--nodes", "2"]
    assert main([*argv, "--workspace-size", "500Gi"]) == 0
    spec, platform = yaml.safe_load_all(target.read_text())
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["sft_nodes"]["defaultValue"] == params["align_nodes"]["defaultValue"] == 2
    assert params["sft_nproc"]["defaultValue"] == params["align_nproc"]["defaultValue"] == 8
    workspace = platform["platforms"]["kubernetes"]["pipelineConfig"]["workspace"]
    assert workspace["size"] == "500Gi"
    assert workspace["kubernetes"]["pvcSpecPatch"] == {"accessModes": ["ReadWriteMany"]}
    env = {e["name"]: e["value"] for e in spec["deploymentSpec"]["executors"]["exec-train-sft"]["container"]["env"]}
    assert env["RECFORGE_GPU_TYPE"] == "nvidia.com/gpu" and env["RECFORGE_TRAINER_IMAGE"].endswith("training:0.1.0")
    # the workflow name (the workspace PVC's prefix) comes from the pod's labels, not from an input (cache key)
    dag = spec["components"]["comp-exit-handler-1"]["dag"]  # on a cluster the DAG runs inside the exit handler
    assert "kfp_job_name" not in dag["tasks"]["train-sft"]["inputs"]["parameters"]
    fields = {f["name"]: f["fieldPath"] for f in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][
        "exec-train-sft"]["fieldPathAsEnv"]}  # fmt: skip
    assert fields == {"KFP_RUN_ID": "metadata.labels['pipeline/runid']",
                      "KFP_WORKFLOW_NAME": "metadata.labels['workflows.argoproj.io/workflow']"}  # fmt: skip
    # without --nodes: no workspace, one node
    assert main(["compile", "rec-alignment", "-o", str(target), "--gpus", "8"]) == 0
    spec, platform = yaml.safe_load_all(target.read_text())
    assert "pipelineConfig" not in platform["platforms"]["kubernetes"]
    assert spec["root"]["inputDefinitions"]["parameters"]["sft_nodes"]["defaultValue"] == 1
    assert main(["compile", "rec-alignment", "-o", str(target), "--nodes", "2"]) == 2
    assert "--nodes: got 2 without --gpus; expected --gpus N (GPUs per node)" in capsys.readouterr().err


def test_a_launcher_pod_refuses_to_train_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled with --nodes M its pod has no GPU: sft_nodes=1 at run time would train there on CPU."""
    from components.common.launch.launcher import launch_training

    monkeypatch.setenv("RECFORGE_LAUNCHER_ONLY", "1")
    job = NodeJob("sft", 1, 8, "sft.sft_nodes", "run1", "sft-rec-x")
    with pytest.raises(ConfigError, match=r"^sft.sft_nodes: got 1, but this step was compiled with --nodes M > 1"):
        launch_training(lambda *a, **k: {}, None, {}, tmp_path / "out", job, deepspeed="", mlflow_run_id=None)


def test_the_body_is_checked_against_the_pinned_trainer_release() -> None:
    """kubeflow-trainer-api's typed models drop unknown fields silently; `validated` refuses them, at any depth,
    and values of the wrong type. podTemplateOverrides (the field recforge sent before) is not in 2.3.0."""
    from importlib.metadata import version

    from components.common.launch.trainjob import TRAINER_RELEASE, validated

    assert version("kubeflow-trainer-api") == TRAINER_RELEASE
    body = trainjob_body(_spec())
    assert validated(body) is body
    old = {**body, "spec": {**body["spec"], "podTemplateOverrides": [{"targetJobs": [{"name": "node"}]}]}}
    with pytest.raises(RecforgeError, match=r"field spec.podTemplateOverrides is not in Kubeflow Trainer 2.3.0's"):
        validated(old)
    deep = json.loads(json.dumps(body))
    deep["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["targetJobs"] = []
    with pytest.raises(RecforgeError, match=r"replicatedJobs\[0\]\.targetJobs is not in"):
        validated(deep)
    typed = json.loads(json.dumps(body))
    typed["spec"]["trainer"]["numProcPerNode"] = "auto"
    with pytest.raises(
        RecforgeError, match=r"^trainjob recforge-sft-0123456789ab: numProcPerNode: Input should be a valid int"
    ):
        validated(typed)


SECRET_VALUES = {
    "AWS_ACCESS_KEY_ID": "AKIA-leak-check-1",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-leak-check-2",
    "HF_TOKEN": "hf_leak_check_3",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-password-leak-check-4",
    "MLFLOW_TRACKING_TOKEN": "mlflow-token-leak-check-5",
}


def test_no_credential_reaches_the_trainjob_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials go by secretKeyRef to the step's own Secret; only allow-listed plain variables by value."""
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RECFORGE_CREDENTIALS_SECRET", "team-a-credentials")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.recforge:5000")
    monkeypatch.setenv("RECFORGE_UNRELATED_SETTING", "not-forwarded")
    monkeypatch.setenv("AWS_PROFILE_SECRETISH", "not-forwarded-either")
    workspace = tmp_path / "kfp-workspace"
    workspace.mkdir()
    bodies: list[dict] = []

    def trainer(spec: TrainJobSpec, report) -> None:
        bodies.append(trainjob_body(spec))
        (workspace / "recforge" / spec.name / "out").mkdir(parents=True)

    from components.common.launch.launcher import ENTRY_MODULE

    job = NodeJob("sft", 2, 1, "sft.sft_nodes", "run-1", "wf-1")
    run_on_nodes(ENTRY_MODULE, job, {}, tmp_path / "out", lambda staged, out: [], "step-run",
                 namespace="team-a", workspace=workspace, runner=trainer)  # fmt: skip
    text = json.dumps(bodies[0])
    for value in [*SECRET_VALUES.values(), "not-forwarded"]:
        assert value not in text
    env = bodies[0]["spec"]["trainer"]["env"]
    by_name = {entry["name"]: entry for entry in env}
    assert by_name["MLFLOW_TRACKING_URI"] == {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.recforge:5000"}
    for name in SECRET_VALUES:
        ref = {"secretKeyRef": {"name": "team-a-credentials", "key": name, "optional": True}}
        assert by_name[name] == {"name": name, "valueFrom": ref}
    assert "RECFORGE_UNRELATED_SETTING" not in by_name and "AWS_PROFILE_SECRETISH" not in by_name


def test_compiled_steps_read_credentials_from_the_secret_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from kfp import compiler

    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)
    settings = CompileSettings(credentials_secret="team-a-credentials")
    path = Path(tempfile.mkdtemp()) / "sft.yaml"
    compiler.Compiler().compile(catalog.get("sft-rec").build(settings), str(path))
    text = path.read_text()
    assert not [v for v in SECRET_VALUES.values() if v in text]
    platform = list(yaml.safe_load_all(text))[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = platform["exec-train-sft"]["secretAsEnv"][0]
    assert train["secretName"] == "team-a-credentials" and train["optional"] is True
    assert sorted(entry["envVar"] for entry in train["keyToEnv"]) == sorted(SECRET_VARIABLES)


class _TrainJobApi:
    """The CustomObjectsApi calls a step makes, over an in-memory namespace (no cluster here): 409 on a name
    taken, 404 on a name missing, deletion finishing after `lag` reads."""

    def __init__(self, existing: dict[str, dict], lag: int = 2) -> None:
        self.objects, self.lag, self.calls = dict(existing), lag, []
        self.deleting: dict[str, int] = {}

    def create_namespaced_custom_object(self, group, version, namespace, plural, body) -> dict:
        from kubernetes.client.exceptions import ApiException

        self.calls.append("create")
        name = body["metadata"]["name"]
        if name in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self.objects[name] = body
        return body

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, propagation_policy) -> None:
        self.calls.append(f"delete:{propagation_policy}")
        self.deleting[name] = self.lag

    def get_namespaced_custom_object(self, group, version, namespace, plural, name) -> dict:
        from kubernetes.client.exceptions import ApiException

        if name in self.deleting:
            self.deleting[name] -= 1
            if self.deleting[name] < 0:
                del self.deleting[name], self.objects[name]
        if name not in self.objects:
            raise ApiException(status=404, reason="NotFound")
        return self.objects[name]


def test_a_retried_step_replaces_the_trainjob_its_earlier_attempt_left() -> None:
    from components.common.launch.trainjob import create_or_replace

    spec = _spec()
    stale = {"metadata": {"name": spec.name}, "spec": {"trainer": {"numNodes": 1}}}
    api, lines = _TrainJobApi({spec.name: stale}), []
    create_or_replace(api, spec, lines.append, poll=0)
    assert api.calls == ["create", "delete:Foreground", "create"]
    assert api.objects[spec.name]["spec"]["trainer"]["numNodes"] == spec.nodes  # the new body, not the stale one
    assert lines == [f"trainjob {spec.name}: left by an earlier attempt of this step; replacing it"]

    fresh = _TrainJobApi({})
    create_or_replace(fresh, spec, lines.append, poll=0)
    assert fresh.calls == ["create"]

    stuck = _TrainJobApi({spec.name: stale}, lag=10**6)
    with pytest.raises(RecforgeError, match=r"earlier attempt's TrainJob was not deleted in 0\.01s"):
        create_or_replace(stuck, spec, lines.append, timeout=0.01, poll=0)
