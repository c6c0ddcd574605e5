"""base_model resolution and the tiny preset: local tokenizer, deterministic weights, it learns, no network."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from components.common.errors import ConfigError
from components.common.models import load_base_model, model_kind, save_model
from components.common.tiny import PRESETS, build_model, build_tokenizer
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare


@pytest.fixture(scope="module")
def titles(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("lastfm")
    prepare(PrepareConfig(dataset="lastfm-hetrec-2k"), out)
    return pq.read_table(out / "items.parquet")["title"].to_pylist()[:3000]


def test_tiny_is_deterministic_for_a_seed(titles: list[str]) -> None:
    a, tok_a = load_base_model("tiny", corpus=titles, seed=3)
    b, tok_b = load_base_model("tiny", corpus=titles, seed=3)
    c, _ = load_base_model("tiny", corpus=titles, seed=4)
    assert tok_a.get_vocab() == tok_b.get_vocab() and len(tok_a) == 4096
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)
    assert type(a).__name__ == "LlamaForCausalLM" and a.config.hidden_size == 64
    assert sum(p.numel() for p in a.parameters()) < 500_000


def test_tokenizer_round_trips_non_ascii_and_item_tokens(titles: list[str]) -> None:
    tokenizer = build_tokenizer(titles, vocab_size=2048, item_tokens=5)
    for text in ("Röyksopp", "Café Del Mar", "Sigur Rós – Ágætis byrjun", "<item_3> then <item_4>"):
        assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert len(tokenizer("<item_3>").input_ids) == 1
    assert tokenizer.pad_token == "<pad>" and tokenizer.eos_token == "</s>"


def test_tiny_learns_the_titles(titles: list[str]) -> None:
    model, tokenizer = load_base_model("tiny", corpus=titles, seed=0)
    batch = tokenizer(titles[:32], return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)  # (32, T)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[0] > 7.5  # about log(4096) = 8.3 at random init
    assert losses[-1] < 0.6 * losses[0]


def test_save_and_load_as_directory(titles: list[str], tmp_path: Path) -> None:
    model, tokenizer = load_base_model("tiny-qwen2", corpus=titles, seed=1)
    save_model(model, tokenizer, tmp_path / "m")
    assert model_kind(str(tmp_path / "m")) == "directory"
    again, tok = load_base_model(str(tmp_path / "m"))
    assert type(again).__name__ == "Qwen2ForCausalLM"
    assert torch.equal(again.model.embed_tokens.weight, model.model.embed_tokens.weight)
    assert tok.get_vocab() == tokenizer.get_vocab()


def test_gpu_preset_shapes_build_on_the_meta_device() -> None:
    with torch.device("meta"):
        model = build_model("qwen2-0.5b", 4096, seed=0)
    params = sum(p.numel() for p in model.parameters())
    assert 480e6 < params < 500e6  # Qwen2-0.5B has 494M parameters with tied embeddings
    assert set(PRESETS) >= {"tiny", "qwen2-0.5b", "qwen2-1.5b", "llama3-8b"}


def test_bad_base_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^base_model: './nowhere' is not a preset \(tiny, "):
        load_base_model("./nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty has no config.json; expected a saved transformers model$"):
        load_base_model(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"cannot load 'org/no-such-model' and HF_HUB_OFFLINE=1 forbids a download"):
        load_base_model("org/no-such-model")
    with pytest.raises(ConfigError, match="preset tiny builds its tokenizer from a corpus; got none"):
        load_base_model("tiny")
