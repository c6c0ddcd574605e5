"""The container images: hadolint passes on every Dockerfile, bases pinned by digest, a non-root final stage without
build tools, the project installed from its lock; and `--image` / `--training-image` retarget compiled steps."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*.Dockerfile"))
HADOLINT = Path(sys.executable).parent / "hadolint"


def _stages(text: str) -> list[list[str]]:
    """Instructions (continuation lines joined) per build stage; the ARGs before the first FROM are stage 0."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[str]] = [[]]
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_every_image_exists() -> None:
    assert [p.name for p in DOCKERFILES] == ["mlflow.Dockerfile", "runtime.Dockerfile", "training.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    done = subprocess.run([str(HADOLINT), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_is_strict_enough_to_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\n")
    done = subprocess.run([str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "DL3007" in done.stdout  # the latest tag


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_policy(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    stages = _stages(text)
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, flags=re.M))
    for stage in stages[1:]:
        base = stage[0].split()[1]
        base = args.get(base.strip("${}"), base)
        assert re.search(r"@sha256:[0-9a-f]{64}$", base), f"{dockerfile.name}: base {base} not pinned by digest"
    final = " ".join(stages[-1])
    user = re.findall(r"\bUSER (\S+)", final)
    assert user and user[-1].split(":")[0] not in ("0", "root") and user[-1].split(":")[0].isdigit()
    for tool in ("gcc", "g++", "build-essential", "make ", "apt-get install"):
        assert tool not in final, f"{dockerfile.name}: the final stage installs {tool.strip()}"
    assert "COPY --from=build /opt/recforge /opt/recforge" in final
    build = " ".join(" ".join(s) for s in stages[1:-1])
    assert "-c requirements.lock" in build
    if dockerfile.name == "mlflow.Dockerfile":  # the tracking server: MLflow and its database and S3 clients only
        import tomllib

        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        mlflow_pin = next(r for r in project["dependencies"] if r.startswith("mlflow=="))
        for pin in [mlflow_pin, *project["optional-dependencies"]["server"]]:
            assert pin in build, f"mlflow.Dockerfile: {pin} (pyproject.toml) not installed as pinned"
        assert "torch" not in build and "COPY components" not in build
        return
    assert "torch==2.13.0" in build  # torch pinned first, then the lock
    if dockerfile.name == "runtime.Dockerfile":
        assert '${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0' in build  # the CPU wheel index
        assert "server" not in build  # the MLflow server has its own image
    else:
        assert '".[distributed]"' in build  # DeepSpeed


def test_compile_retargets_images(tmp_path: Path) -> None:
    target = tmp_path / "sft.yaml"
    argv = ["compile", "sft-rec", "-o", str(target), "--image", "registry.example/rt@sha256:" + "a" * 64]
    assert main([*argv, "--training-image", "registry.example/train:2"]) == 0
    executors = next(yaml.safe_load_all(target.read_text()))["deploymentSpec"]["executors"]
    images = {name: ex["container"]["image"] for name, ex in executors.items()}
    assert images["exec-train-sft"] == "registry.example/train:2"
    assert images["exec-prepare-dataset"] == images["exec-train-sasrec"] == "registry.example/rt@sha256:" + "a" * 64
    assert RUNTIME_IMAGE not in images.values() and TRAINING_IMAGE not in images.values()
    assert main(["compile", "sft-rec", "-o", str(target)]) == 0  # without the flags: the defaults again
    executors = next(yaml.safe_load_all(target.read_text()))["deploymentSpec"]["executors"]
    assert executors["exec-train-sft"]["container"]["image"] == TRAINING_IMAGE


def test_images_from_the_environment_are_read_by_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECFORGE_TRAINING_IMAGE", "registry.example/train:env")
    target = tmp_path / "sft.yaml"
    assert main(["compile", "sft-rec", "-o", str(target), "--gpus", "2", "--nodes", "2"]) == 0
    docs = list(yaml.safe_load_all(target.read_text()))
    executors = docs[0]["deploymentSpec"]["executors"]
    assert executors["exec-train-sft"]["container"]["image"] == "registry.example/train:env"
    assert executors["exec-prepare-dataset"]["container"]["image"] == RUNTIME_IMAGE
    env = {e["name"]: e["value"] for e in executors["exec-train-sft"]["container"]["env"]}
    assert env["RECFORGE_TRAINER_IMAGE"] == "registry.example/train:env"  # what its TrainJob nodes run
    monkeypatch.delenv("RECFORGE_TRAINING_IMAGE")
    assert main(["compile", "sft-rec", "-o", str(target)]) == 0
    executors = next(yaml.safe_load_all(target.read_text()))["deploymentSpec"]["executors"]
    assert executors["exec-train-sft"]["container"]["image"] == TRAINING_IMAGE


def test_bad_image_reference(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "x.yaml"
    assert main(["compile", "sft-rec", "-o", str(target), "--image", "registry.example/rt:"]) == 2
    assert "--image: got 'registry.example/rt:'; expected an image reference" in capsys.readouterr().err
    assert not target.exists()
