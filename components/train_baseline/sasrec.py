"""SASRec training (Kang & McAuley, ICDM 2018): binary cross-entropy on the true next item against one sampled
unseen item per position. Each epoch takes one random window (ending anywhere in the sequence) per training user,
which uses long histories better than always taking the latest window; the state with the best validation HR@10
is kept. The model and its format live on the shared floor (components/recsys/sasrec.py).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from components.common.prepared import Prepared
from components.recsys.candidates import sample_negatives, seen_keys
from components.recsys.metrics import hit_ratio_at_k, ranks_from_scores
from components.recsys.sasrec import SASRec, score_split
from components.train_baseline.config import SASRecConfig

log = logging.getLogger(__name__)


def _training_sequences(data: Prepared) -> tuple[np.ndarray, list[np.ndarray]]:
    train = data.split("train")
    sequences = [np.append(train.history(r), train.targets[r]) for r in range(len(train))]
    return train.users, sequences


def _windows(
    sequences: list[np.ndarray], rows: np.ndarray, max_len: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random windows: (inputs, next items) as (B, max_len) dense ids, -1 for padding."""
    inputs = np.full((len(rows), max_len), -1, dtype=np.int64)
    targets = np.full((len(rows), max_len), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        seq = sequences[r]
        end = int(rng.integers(2, len(seq) + 1))  # predict up to seq[end-1]
        window = seq[max(0, end - max_len - 1) : end]
        inputs[i, -(len(window) - 1) :] = window[:-1]
        targets[i, -(len(window) - 1) :] = window[1:]
    return inputs, targets


def train_sasrec(data: Prepared, config: SASRecConfig, progress: bool | None = None) -> tuple[SASRec, dict]:
    """Train on the train split, select on the valid split; returns the model and its training record.

    `progress`: a bar (default: when stderr is a terminal); validation checks are logged either way."""
    import sys

    progress = sys.stderr.isatty() if progress is None else progress
    torch.manual_seed(config.sasrec_seed)
    rng = np.random.default_rng(config.sasrec_seed)
    users, sequences = _training_sequences(data)
    keep = np.array([len(s) >= 2 for s in sequences])
    users, sequences = users[keep], [s for s, k in zip(sequences, keep, strict=True) if k]
    all_users, all_items = data.interactions
    seen = seen_keys(all_users, all_items, data.n_items)
    valid = data.split("valid")
    model = SASRec(
        data.n_items,
        config.sasrec_max_len,
        config.sasrec_hidden,
        config.sasrec_blocks,
        config.sasrec_heads,
        config.sasrec_dropout,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.sasrec_lr, betas=(0.9, 0.98))
    record: dict = {"loss": [], "valid_hr_10": [], "best_epoch": 0, "best_valid_hr_10": -1.0}
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    bar = tqdm(range(1, config.sasrec_epochs + 1), desc="SASRec", disable=not progress, mininterval=2)
    for epoch in bar:
        model.train()
        order = rng.permutation(len(sequences))
        total, batches = 0.0, 0
        for start in range(0, len(order), config.sasrec_batch_size):
            rows = order[start : start + config.sasrec_batch_size]
            inputs, targets = _windows(sequences, rows, config.sasrec_max_len, rng)
            mask = targets >= 0  # (B, L)
            negatives = np.zeros_like(targets)
            flat_users = np.repeat(users[rows], config.sasrec_max_len)[mask.ravel()]
            negatives[mask] = sample_negatives(flat_users, seen, data.n_items, 1, rng)[:, 0]
            seq = torch.from_numpy(inputs + 1)  # padding -1 -> 0
            states = model(seq)  # (B, L, H)
            pos = (states * model.item_emb(torch.from_numpy(np.where(mask, targets + 1, 0)))).sum(-1)
            neg = (states * model.item_emb(torch.from_numpy(np.where(mask, negatives + 1, 0)))).sum(-1)
            m = torch.from_numpy(mask)
            loss = F.binary_cross_entropy_with_logits(
                pos[m], torch.ones_like(pos[m])
            ) + F.binary_cross_entropy_with_logits(neg[m], torch.zeros_like(neg[m]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        record["loss"].append(total / max(batches, 1))
        if epoch % config.sasrec_eval_every == 0 or epoch == config.sasrec_epochs:
            hr = hit_ratio_at_k(ranks_from_scores(score_split(model, valid), valid.target_index()), 10)
            record["valid_hr_10"].append((epoch, hr))
            if hr > record["best_valid_hr_10"]:
                record["best_valid_hr_10"], record["best_epoch"] = hr, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            bar.set_postfix(loss=f"{record['loss'][-1]:.4f}", valid_hr_10=f"{hr:.3f}")
            log.info("SASRec epoch %d: loss %.4f, valid HR@10 %.4f", epoch, record["loss"][-1], hr)
    model.load_state_dict(best_state)
    model.eval()
    return model, record
