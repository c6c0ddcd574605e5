"""A local run refuses parameters that name what this machine lacks (paths, modules, layers, ranges) in under a
second, with one line and exit code 2, before the workdir exists."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipelines.cli import main


@pytest.mark.parametrize(
    ("pipeline", "setting", "message"),
    [
        ("sft-rec", "base_model=/nonexistent", "base_model: '/nonexistent' is not a preset"),
        (
            "sft-rec",
            "lora_targets=q_proj,nonexistent_proj",
            "lora_targets: tiny has no module named 'nonexistent_proj'",
        ),
        ("sft-rec", "lora_targets=,", "lora_targets: empty; expected module names"),
        ("knowledge-edit", "edit_layers=99", "edit_layers: layer 99 is outside tiny (2 layers); expected indices 0..1"),
        (
            "pigeon",
            "image_dir=/nowhere/images",
            "image_dir: /nowhere/images is not a folder; expected one holding item",
        ),
        ("realtime-icl", "icl_model_dir=/nowhere/icl", "icl_model_dir: /nowhere/icl is not a folder"),
        ("sft-rec", "sasrec_epochs=0", "sasrec.sasrec_epochs: got 0; expected a value >= 1"),
        ("prepare-data", "data_dir=/nowhere/data", "data_dir: /nowhere/data is not a folder"),
        ("prepare-data", "num_negatives=99999999999999999999", "got 99999999999999999999; expected an integer within"),
        ("prepare-data", "num_negatives=100001", "prepare_data.num_negatives: got 100001; expected a value >= 1 and"),
    ],
)
def test_refused_before_anything_runs(
    pipeline: str, setting: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = tmp_path / "runs"
    started = time.perf_counter()
    code = main(["run", pipeline, "--local", "--workdir", str(workdir), "--set", setting])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0], err
    assert elapsed < 1.0
    assert not workdir.exists()


def test_icl_model_dir_must_hold_both_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "icl"
    (folder / "recicl").mkdir(parents=True)
    (folder / "recicl" / "model.json").write_text('{"kind": "icl"}')
    code = main(
        ["run", "realtime-icl", "--local", "--workdir", str(tmp_path / "w"), "--set", f"icl_model_dir={folder}"]
    )
    assert code == 2
    assert "has no sft/model.json" in capsys.readouterr().err


def test_a_directory_model_is_read_from_its_config(tmp_path: Path) -> None:
    """A model directory of a family recforge does not name is built on the meta device to list its modules."""
    from transformers import GPT2Config

    from components.common.model_shape import model_shape

    folder = tmp_path / "gpt2"
    GPT2Config(n_layer=3, n_embd=32, n_head=2, vocab_size=100).save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"")
    shape = model_shape(str(folder))
    assert shape is not None and shape.layers == 3
    assert {"c_attn", "c_proj", "c_fc"} <= shape.modules and "q_proj" not in shape.modules
