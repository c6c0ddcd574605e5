"""The base-model artifact (components/common/base_model.py): what the resolve step records for each kind of
`base_model`, and how a consumer refuses an artifact that is not one, names another model, or no longer matches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from components.common.base_model import read_reference, write_reference
from components.common.digests import digest_files
from components.common.errors import ConfigError, DataError
from components.common.models import load_base_model, save_model
from components.recsys.prompts import DEFAULT_HISTORY_LEN
from components.train_sft.config import SFTConfig

TITLES = [f"Movie {i} ({1990 + i % 20})" for i in range(400)]


def test_a_config_preset_is_recorded_by_name(tmp_path: Path) -> None:
    record = write_reference("tiny", tmp_path / "base")
    on_disk = json.loads((tmp_path / "base" / "model.json").read_text())
    assert on_disk == record
    assert record["kind"] == "base" and record["model_kind"] == "preset" and record["base_model"] == "tiny"
    assert record["digest"] == hashlib.sha256(b"tiny").hexdigest()[:16]
    assert read_reference(tmp_path / "base", "tiny") == record


def test_a_directory_is_digested_and_a_changed_one_refused(tmp_path: Path) -> None:
    model, tokenizer = load_base_model("tiny", corpus=TITLES, vocab_size=512)
    folder = save_model(model, tokenizer, tmp_path / "saved")
    record = write_reference(str(folder), tmp_path / "base")
    assert record["model_kind"] == "directory" and record["path"] == str(folder.resolve())
    assert record["digest"] == digest_files(p for p in folder.rglob("*") if p.is_file())
    assert read_reference(tmp_path / "base")["digest"] == record["digest"]
    (folder / "config.json").write_text((folder / "config.json").read_text().replace("64", "65", 1))
    with pytest.raises(DataError, match=r"now has digest .* not the .* resolved for this run"):
        read_reference(tmp_path / "base")


def test_a_consumer_refuses_another_models_artifact(tmp_path: Path) -> None:
    write_reference("tiny", tmp_path / "base")
    with pytest.raises(ConfigError, match=r"base_model: the step's setting 'HuggingFaceTB/x' differs .* 'tiny'"):
        read_reference(tmp_path / "base", "HuggingFaceTB/x")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found; expected the base-model artifact"),
        ("{not json", "not valid JSON"),
        (json.dumps({"kind": "llm", "template": "x"}), "not a base-model record; expected kind 'base'"),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
def test_a_folder_that_is_not_a_base_model_artifact_is_refused(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    if content is not None:
        data = content if isinstance(content, bytes) else content.encode()
        (tmp_path / "model.json").write_bytes(data)
    with pytest.raises(DataError, match=message):
        read_reference(tmp_path)


def test_an_unknown_base_model_writes_no_artifact(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_model: 'no such model' is not a preset"):
        write_reference("no such model", tmp_path / "base")
    assert not (tmp_path / "base").exists()


def test_the_untuned_evaluation_uses_the_sft_default_history() -> None:
    assert SFTConfig().sft_history_len == DEFAULT_HISTORY_LEN


def test_hub_ids_take_a_pinned_revision(caplog: pytest.LogCaptureFixture) -> None:
    from components.common.base_model import describe
    from components.common.models import hub_reference, model_kind

    assert hub_reference("HuggingFaceTB/SmolLM2-135M-Instruct@a1b2c3d") == (
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "a1b2c3d",
    )
    assert hub_reference("org/name") == ("org/name", None)
    assert model_kind("org/name@v1.0") == "hub"
    pinned = describe("org/name@0123abcd")
    assert pinned["revision"] == "0123abcd" and pinned["source"] == "hub:org/name@0123abcd"
    assert describe("org/name")["digest"] != pinned["digest"]  # another revision is another base model
    with caplog.at_level("WARNING"):
        describe("org/name")
    assert "names no revision" in caplog.text


def test_an_offline_pinned_hub_id_fails_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.common.errors import ConfigError
    from components.common.models import load_base_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"^base_model: cannot load 'org/name@0123abcd' and HF_HUB_OFFLINE=1"):
        load_base_model("org/name@0123abcd")
