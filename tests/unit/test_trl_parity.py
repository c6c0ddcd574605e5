"""Our DPO and IPO losses against TRL's own DPOTrainer on one batch: the same tokens, the same policy and reference.

TRL (1.16) computes the loss inside `DPOTrainer._compute_loss` from its own batch; we take that batch, compute the
completion log-probs with `components/recsys/logps.py` for the policy and the reference, apply `LOSSES[name]`, and
require the same value. A tiny model whose policy differs from its reference (one perturbed copy) makes the
margins non-zero, so the comparison is not 0 = 0 or log 2 = log 2.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from components.align.losses import get_loss
from components.common.tiny import build_model, build_tokenizer
from components.recsys.logps import completion_logps

PAIRS = {
    "prompt": ["The user watched Heat and Alien. Next:", "The user watched Up. Next:", "Films seen: Big. Next:"] * 2,
    "chosen": [" Ronin", " Toy Story", " Splash"] * 2,
    "rejected": [" Cars", " Jaws 2", " The Fly"] * 2,
}


@pytest.mark.parametrize(
    ("name", "trl_loss", "hparams"), [("dpo", "sigmoid", {"beta": 0.3}), ("ipo", "ipo", {"tau": 0.3})]
)
def test_our_loss_equals_trl_dpo_trainer_on_one_batch(tmp_path: Path, name: str, trl_loss: str, hparams: dict) -> None:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    texts = [t for key in PAIRS for t in PAIRS[key]]
    tokenizer = build_tokenizer(texts, vocab_size=300)
    torch.manual_seed(0)
    reference = build_model("tiny", len(tokenizer), 0, tokenizer).eval()
    policy = copy.deepcopy(reference)
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(0.05 * torch.randn_like(param))
    beta = hparams.get("beta", hparams.get("tau"))
    args = DPOConfig(
        output_dir=str(tmp_path / "trl"), per_device_train_batch_size=6, max_steps=1, report_to=[],
        beta=beta, loss_type=[trl_loss], use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
        bf16=False, max_length=128, save_strategy="no",
    )  # fmt: skip
    trainer = DPOTrainer(
        model=policy, ref_model=reference, args=args, processing_class=tokenizer, train_dataset=Dataset.from_dict(PAIRS)
    )
    batch = next(iter(trainer.get_train_dataloader()))
    policy.eval()
    with torch.no_grad():
        trl_value = float(trainer.compute_loss(trainer.model, batch))
        ids, mask, completion = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
        sums, lengths, _ = completion_logps(trainer.model, ids, mask, completion)
        ref_sums, _, _ = completion_logps(trainer.ref_model, ids, mask, completion)
    n = ids.shape[0] // 2  # TRL's batch is [chosen...; rejected...], as ours
    ours = get_loss(name).fn(
        sums[:n], sums[n:], ref_sums[:n], ref_sums[n:], chosen_lengths=lengths[:n], rejected_lengths=lengths[n:],
        **hparams,
    ).mean()  # fmt: skip
    assert abs(float(sums[:n].sum() - ref_sums[:n].sum())) > 1e-2  # the margins are not all zero
    assert float(ours) == pytest.approx(trl_value, rel=1e-4, abs=1e-5)
