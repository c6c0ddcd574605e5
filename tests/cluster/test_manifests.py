"""manifests/: every overlay renders and validates offline against the Kubernetes schemas, and a policy that
every container runs as non-root with requests and limits, dropped capabilities and a pinned image holds."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kustomize_lite import Unsupported, build

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
TARGETS = ["base", "overlays/dev", "overlays/gpu"]
K8S_VERSION = "1.33.0"
PINNED = re.compile(
    r"^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$|^[a-z0-9./_-]+:v?\d+\.\d+\.\d+[A-Za-z0-9._-]*$"
)
WRITABLE_ROOT_OK = {("ClusterTrainingRuntime", "node")}  # torch/triton caches and checkpoints at run time


def _render(target: str) -> list[dict[str, Any]]:
    return build(MANIFESTS / target)


def _pods(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod metadata, pod spec) of every pod template in a resource."""
    if doc["kind"] in ("Deployment", "StatefulSet"):
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
                if doc["kind"] in ("Deployment", "StatefulSet") and not (
                    c.get("readinessProbe") and c.get("livenessProbe")
                ):
                    found.append(f"{where}: no readiness and liveness probes")
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_renders_and_validates_offline(target: str) -> None:
    docs = _render(target)
    kinds = sorted(d["kind"] for d in docs)
    assert {"Namespace", "Service", "StatefulSet", "Deployment", "ConfigMap", "Role", "RoleBinding",
            "ClusterTrainingRuntime"} <= set(kinds)  # fmt: skip
    for doc in docs:
        if doc["kind"] == "ClusterTrainingRuntime":  # a CRD: its pod templates validate as a batch/v1 Job
            for job in doc["spec"]["template"]["spec"]["replicatedJobs"]:
                wrapped = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job["name"]},
                           "spec": job["template"]["spec"]}  # fmt: skip
                kubernetes_validate.validate(wrapped, K8S_VERSION, strict=True)
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert violations(docs) == []


@pytest.mark.parametrize("target", TARGETS)
def test_same_as_kustomize_where_kubectl_is_installed(target: str) -> None:
    """CI has no kustomize binary; on a machine with kubectl, the renderer must agree with it exactly."""
    mine = sorted(yaml.safe_dump(d, sort_keys=True) for d in _render(target))
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(MANIFESTS / target)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
        theirs = sorted(yaml.safe_dump(d, sort_keys=True) for d in yaml.safe_load_all(out) if d)
        assert mine == theirs
    else:  # still a real check: every document is a complete object
        assert all("apiVersion" in yaml.safe_load(d) and "metadata" in yaml.safe_load(d) for d in mine)


def test_overlays_change_what_they_say() -> None:
    def find(docs: list[dict], kind: str) -> dict:
        return next(d for d in docs if d["kind"] == kind)

    base, dev, gpu = (_render(t) for t in TARGETS)
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
        {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"], "verbs": ["create", "get", "list", "watch"]}
    ]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}]
    assert not any(d["kind"] in ("ClusterRole", "ClusterRoleBinding") for d in docs)


def test_the_mlflow_server_reads_its_credentials_from_secrets_by_name() -> None:
    (server,) = [d for d in _render("base") if d["kind"] == "Deployment"]
    container = server["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["DB_PASSWORD"] == {"name": "recforge-mlflow-db", "key": "password"}
    assert {refs[k]["name"] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL")} == {
        "recforge-mlflow-s3"
    }
    args = " ".join(container["args"])
    assert "--backend-store-uri=postgresql://" in args and "--serve-artifacts" in args
    assert "--artifacts-destination=s3://$(S3_BUCKET)/mlflow" in args


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


def test_the_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(Unsupported, match=r"\['namePrefix'\] not supported"):
        build(tmp_path)
