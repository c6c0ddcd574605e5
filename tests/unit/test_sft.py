"""SFT: prompts, training examples, learning, resume after an interruption, and 2 processes under torchrun."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from components.common.errors import ConfigError
from components.common.prepared import Prepared
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.prompts import check_template, render, template_for, training_examples
from components.train_sft.body import run_sft
from components.train_sft.config import SFTConfig
from components.train_sft.trainer import train_sft

SMALL = {
    "sft_max_examples": 64,
    "sft_eval_examples": 16,
    "sft_epochs": 1.0,
    "sft_batch_size": 8,
    "sft_vocab_size": 1024,
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    out = tmp_path_factory.mktemp("ml") / "prepared"
    prepare(PrepareConfig(), out)
    return Prepared(out)


def test_prompt_rendering_and_templates() -> None:
    titles = ["Toy Story (1995)", "Heat (1995)", "Up"]
    text = render(template_for("movielens-latest-small"), titles, [0, 1], [2, 1])
    assert text == (
        "This user has watched Toy Story (1995), Heat (1995) in the previous. Please predict the next movie this "
        "user will watch. Choose the answer from the following 2 movie titles: Up, Heat (1995). Answer:"
    )
    assert "listened to" in template_for("lastfm-hetrec-2k")
    check_template("H: {history} C: {candidates} ({n})", "x")
    with pytest.raises(ConfigError, match=r"^sft.sft_template: uses \['history', 'user'\]; expected \{history\}"):
        SFTConfig(sft_template="{history} {user}")
    with pytest.raises(ConfigError, match=r"sft.sft_template: not a valid template"):
        SFTConfig(sft_template="{history")


def test_training_examples_are_prefixes_with_unseen_negatives(data: Prepared) -> None:
    examples = training_examples(data, template_for("movielens-latest-small"), 10, 300, 19, seed=1)
    assert len(examples.prompts) == 300 and examples.candidates.shape == (300, 20)
    train = data.split("train")
    sequences = {int(u): np.append(train.history(r), train.targets[r]) for r, u in enumerate(train.users)}
    users, items = data.interactions
    for i in range(0, 300, 37):
        user, target = int(examples.users[i]), int(examples.targets[i])
        assert target in sequences[user][1:]  # a next item of the user's training sequence
        assert (examples.candidates[i] == target).sum() == 1
        seen = set(items[users == user].tolist())
        assert not (set(examples.candidates[i].tolist()) - {target}) & seen
        assert examples.completions[i] == " " + data.titles[target]
    again = training_examples(data, template_for("movielens-latest-small"), 10, 300, 19, seed=1)
    assert again.prompts == examples.prompts


def test_sft_learns(data: Prepared, tmp_path: Path) -> None:
    config = SFTConfig(**{**SMALL, "sft_max_examples": 256, "sft_checkpoint_dir": str(tmp_path / "ck")})
    record = train_sft(config, data.path, tmp_path / "out", progress=False)
    assert record["eval_loss"] < 0.88 * record["initial_eval_loss"]
    assert record["global_step"] == 32
    info = json.loads((tmp_path / "out" / "model.json").read_text())
    assert info["kind"] == "llm" and info["history_len"] == 10
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()


class _Interrupt(Exception):
    pass


def test_resume_after_interrupt(data: Prepared, tmp_path: Path) -> None:
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step == 5:
                raise _Interrupt

    config = SFTConfig(**{**SMALL, "sft_save_steps": 2, "sft_checkpoint_dir": str(tmp_path / "ck")})
    with pytest.raises(_Interrupt):
        train_sft(config, data.path, tmp_path / "out", callbacks=[StopAt()], progress=False)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir() if p.name.startswith("checkpoint")) == ["checkpoint-4"]
    assert not (tmp_path / "out" / "model").exists()
    resumed = train_sft(config, data.path, tmp_path / "out", progress=False)
    assert resumed["resumed_from"].endswith("checkpoint-4") and resumed["global_step"] == 8
    straight = train_sft(
        SFTConfig(**{**SMALL, "sft_save_steps": 2, "sft_checkpoint_dir": str(tmp_path / "ck2")}),
        data.path,
        tmp_path / "out2",
        progress=False,
    )
    assert resumed["eval_loss"] == pytest.approx(straight["eval_loss"], rel=1e-4)


@pytest.fixture(scope="module")
def one_process(data: Prepared, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("one")
    record = train_sft(
        SFTConfig(**{**SMALL, "sft_batch_size": 8, "sft_checkpoint_dir": str(tmp / "ck1")}),
        data.path,
        tmp / "one",
        progress=False,
    )
    return {**record, "out": tmp / "one"}


@pytest.mark.parametrize("deepspeed", ["", "zero2", "zero3"])
def test_two_processes_match_one_for_the_same_global_batch(
    data: Prepared, one_process: dict, tmp_path: Path, deepspeed: str
) -> None:
    """torchrun with 2 gloo processes, plain DDP or the shipped DeepSpeed ZeRO configs: same loss as 1 process."""
    single = one_process
    config = SFTConfig(
        **{**SMALL, "sft_batch_size": 4, "sft_nproc": 2, "sft_deepspeed": deepspeed,
           "sft_checkpoint_dir": str(tmp_path / "ck2")}
    )  # fmt: skip
    double = run_sft(config, data.path, tmp_path / "two")  # the step's launch path: torchrun, 2 gloo processes
    assert double["world_size"] == 2
    assert double["zero_stage"] == {"": 0, "zero2": 2, "zero3": 3}[deepspeed]
    assert double["global_step"] == single["global_step"] == 8  # 64 examples / global batch 8
    assert double["eval_loss"] < 0.95 * single["initial_eval_loss"]
    assert double["eval_loss"] == pytest.approx(single["eval_loss"], rel=0.03)
    # the merged model rank 0 wrote is whole (ZeRO-3 gathered its shards) and scores text like the 1-process one
    assert _text_loss(tmp_path / "two" / "model", data) == pytest.approx(
        _text_loss(single["out"] / "model", data), rel=0.03
    )


def _text_loss(model_dir: Path, data: Prepared) -> float:
    """Mean next-token loss of a saved model on the first 32 catalogue titles."""
    import torch

    from components.common.models import load_base_model

    model, tokenizer = load_base_model(str(model_dir))
    batch = tokenizer(list(data.titles[:32]), return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    with torch.no_grad():
        return float(model(**batch, labels=labels).loss)


def test_long_prompts_lose_their_oldest_history_not_the_answer(data: Prepared) -> None:
    from components.common.tiny import build_tokenizer
    from components.recsys.prompts import fit_to_length, split_examples

    tokenizer = build_tokenizer(data.titles, vocab_size=512)
    template = template_for("movielens-latest-small")
    examples = split_examples(data, data.split("test"), template, 10, np.arange(20))
    before = [len(tokenizer(p + c).input_ids) for p, c in zip(examples.prompts, examples.completions, strict=True)]
    limit = int(np.median(before))
    original = [h.copy() for h in examples.histories]
    fitted, shortened = fit_to_length(examples, data.titles, template, tokenizer, limit)
    assert shortened >= 9
    for prompt, answer, history, old in zip(
        fitted.prompts, fitted.completions, fitted.histories, original, strict=True
    ):
        assert len(tokenizer(prompt + answer).input_ids) + 1 <= limit or len(history) == 1
        assert list(history) == list(old[len(old) - len(history) :])  # the most recent items are kept
        assert data.titles[int(history[-1])] in prompt
