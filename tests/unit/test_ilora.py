"""iLoRA: one expert is plain LoRA exactly, the gate, rank splitting, the hybrid prompt, training, save/load, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model

from components.common.errors import ConfigError, DataError
from components.common.prepared import Prepared
from components.common.tiny import build_model, build_tokenizer
from components.recsys.ilora import ILoRAModel, MoELoRALinear
from components.recsys.ilora_config import ILoRAConfig
from components.recsys.ilora_format import load_ilora, sequence_representations
from components.recsys.sasrec import load_sasrec
from components.train_sft.config import SFTConfig
from components.train_sft.ilora_trainer import train_ilora

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _tiny() -> tuple:
    tokenizer = build_tokenizer(["Toy Story (1995)", "Heat (1995)"] * 10, vocab_size=300)
    return tokenizer, build_model("tiny", len(tokenizer), 0, tokenizer)


def test_one_expert_is_plain_lora_exactly() -> None:
    _, base = _tiny()
    _, twin = _tiny()
    ilora = ILoRAModel(base, repr_dim=8, rank=8, alpha=32, experts=1, dropout=0.0).eval()
    lora = get_peft_model(twin, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS)).eval()
    modules = dict(lora.named_modules())
    torch.manual_seed(1)
    for name, module in ilora.named_modules():
        if isinstance(module, MoELoRALinear):
            torch.nn.init.normal_(module.lora_B.weight, std=0.05)  # non-zero B so the adapters matter
            peft_module = modules["base_model.model." + name.removeprefix("model.")]
            peft_module.lora_A["default"].weight.data.copy_(module.lora_A.weight)
            peft_module.lora_B["default"].weight.data.copy_(module.lora_B.weight)
    ids = torch.randint(5, 250, (3, 14))
    with torch.no_grad():
        ours = ilora(input_ids=ids, user_repr=torch.randn(3, 8)).logits
        theirs = lora(input_ids=ids).logits
        with lora.disable_adapter():
            plain = lora(input_ids=ids).logits
    assert torch.equal(ours, theirs)
    assert not torch.allclose(ours, plain)  # the adapters do change the output


def test_rank_split_and_scaling() -> None:
    _, base = _tiny()
    model = ILoRAModel(base, repr_dim=8, rank=8, alpha=32, experts=4, dropout=0.0)
    layer = next(m for m in model.modules() if isinstance(m, MoELoRALinear))
    assert layer.lora_A.weight.shape[0] == 8 and layer.experts == 4 and layer.scaling == 16.0  # alpha / (r / n)
    with pytest.raises(ConfigError, match=r"^ilora.ilora_experts: 3 experts do not split rank 8; expected a divisor$"):
        ILoRAConfig(ilora_experts=3)


def test_experts_are_weighted_per_instance() -> None:
    _, base = _tiny()
    model = ILoRAModel(base, repr_dim=8, rank=8, alpha=32, experts=4, dropout=0.0).eval()
    for layer in (m for m in model.modules() if isinstance(m, MoELoRALinear)):
        torch.nn.init.normal_(layer.lora_B.weight, std=0.05)
    ids = torch.randint(5, 250, (1, 10)).repeat(2, 1)  # the same text for two users
    with torch.no_grad():
        out = model(input_ids=ids, user_repr=torch.stack([torch.ones(8), -torch.ones(8)])).logits
    assert not torch.allclose(out[0], out[1])  # different gates, different outputs


def test_gate_sums_to_one_and_differs_across_users(preference_world: dict[str, Path]) -> None:
    data = Prepared(preference_world["data"])
    sasrec = load_sasrec(preference_world["sasrec"])
    test = data.split("test")
    reps = sequence_representations(sasrec, [test.history(r) for r in range(50)])
    _, base = _tiny()
    model = ILoRAModel(base, repr_dim=reps.shape[1], experts=4)
    with torch.no_grad():
        gates = model.gate_weights(torch.from_numpy(reps))
    assert gates.shape == (50, 4)
    assert torch.allclose(gates.sum(-1), torch.ones(50), atol=1e-6) and (gates > 0).all()
    assert gates.std(dim=0).min() > 1e-4  # users get different mixtures


def test_errors_without_a_sequence_encoder_and_on_merge(tmp_path: Path, preference_world: dict[str, Path]) -> None:
    _, base = _tiny()
    model = ILoRAModel(base, repr_dim=8)
    with pytest.raises(ConfigError, match=r"^ilora: an iLoRA model needs `user_repr`"):
        model(input_ids=torch.randint(5, 250, (1, 4)))
    with pytest.raises(ConfigError, match="cannot be merged into the base weights"):
        model.merge()
    with pytest.raises(DataError, match=r"^sasrec.pt: file not found; expected a SASRec model"):
        train_ilora(SFTConfig(), ILoRAConfig(), preference_world["data"], tmp_path, tmp_path / "out")


@pytest.mark.parametrize("prompt", ["text", "hybrid"])
def test_training_learns_and_saves(preference_world: dict[str, Path], tmp_path: Path, prompt: str) -> None:
    sft = SFTConfig(
        sft_max_examples=96,
        sft_epochs=1.0,
        sft_batch_size=8,
        sft_vocab_size=1024,
        sft_checkpoint_dir=str(tmp_path / "ck"),
    )
    record = train_ilora(
        sft,
        ILoRAConfig(ilora_prompt=prompt),
        preference_world["data"],
        preference_world["sasrec"],
        tmp_path / "out",
        progress=False,
    )
    assert record["eval_loss"] < record["initial_eval_loss"]
    assert record["adapter_parameters"] > 0 and record["global_step"] == 12
    model, tokenizer, sasrec, describe = load_ilora(tmp_path / "out")
    assert describe["kind"] == "ilora" and describe["ilora_prompt"] == prompt
    assert (tokenizer.convert_tokens_to_ids("<item_emb>") != tokenizer.unk_token_id) == (prompt == "hybrid")
    ids = tokenizer(["Heat (1995)"], return_tensors="pt").input_ids
    reps = torch.from_numpy(sequence_representations(sasrec, [np.array([1, 2, 3])]))
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids, user_repr=reps).logits).all()
    if prompt == "text":
        _each_row_is_scored_with_its_own_user(preference_world["data"], tmp_path / "out")
    # loading is strict: every saved tensor is used and every tensor of the model is loaded
    state = torch.load(tmp_path / "out" / "ilora.pt", weights_only=True)
    for key in list(state):
        if "gate" in key:
            del state[key]
            break
    else:
        pytest.fail("no gate tensor in the saved state")
    torch.save(state, tmp_path / "out" / "ilora.pt")
    with pytest.raises(DataError, match=r"ilora\.pt: missing '.*gate.*' \(1 missing, 0 unexpected tensors\)"):
        load_ilora(tmp_path / "out")


def _each_row_is_scored_with_its_own_user(dataset: Path, model_dir: Path) -> None:
    """The evaluation scores users in batches sorted by prompt length; each row must still get its own gate: the
    batched scores equal each row scored alone (where no other user can be mixed in), and the users' gates differ."""
    from components.evaluate.config import EvalConfig
    from components.evaluate.core import _ilora_scores

    data = Prepared(dataset)
    split = data.split("test").take(np.arange(6))
    config = EvalConfig(eval_generate=False, eval_batch_users=3)
    together, _, _ = _ilora_scores(model_dir, data, split, config)
    alone = np.concatenate([_ilora_scores(model_dir, data, split.take(np.array([i])), config)[0] for i in range(6)])
    assert together.shape == (6, 20)
    assert np.allclose(together, alone, atol=1e-4)
    model, _, sasrec, _ = load_ilora(model_dir)
    reps = torch.from_numpy(sequence_representations(sasrec, [split.history(i) for i in range(6)]))
    with torch.no_grad():
        gates = model.gate_weights(reps)  # (6, experts)
    assert gates.std(dim=0).max() > 1e-3  # users with different histories get different mixtures
