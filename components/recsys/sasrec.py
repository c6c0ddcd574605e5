"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018): the model, its saved format and
what later steps read from it.

Item embeddings plus learned positions feed causal self-attention blocks (pre-layer-norm, as the reference
implementation); the hidden state at a position scores the next item by a dot product with its embedding.
Training lives in the baseline step (components/train_baseline/sasrec.py).

Beyond ranking, the model gives what later steps need: item embeddings, a sequence representation (the last
hidden state; iLoRA's gate input) and the pairwise preference probability
P(a > b | history) = sigmoid(s(history, a) - s(history, b)) (RosePO's oracle).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.common.prepared import Prepared, SplitArrays


class Block(nn.Module):
    """Pre-LN causal self-attention + point-wise feed-forward, both residual."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.Dropout(dropout)
        )
        self.dropout = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, hidden = x.shape  # x: (B, L, H); mask: (B, 1, L, L) True = may attend
        q = self.attn_norm(x)
        qkv = self.qkv(q).view(b, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(
            qkv[0], qkv[1], qkv[2], attn_mask=mask, dropout_p=self.p if self.training else 0.0
        )  # (B, heads, L, H/heads)
        x = q + self.dropout(self.out(attn.transpose(1, 2).reshape(b, length, hidden)))
        return x + self.ffn(self.ffn_norm(x))


class SASRec(nn.Module):
    """Item ids are shifted by one inside the model: 0 is padding; sequences are left-padded."""

    def __init__(self, n_items: int, max_len: int, hidden: int, blocks: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.n_items, self.max_len, self.hidden = n_items, max_len, hidden
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.emb_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(hidden, eps=1e-8)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: (B, L) shifted ids -> hidden states (B, L, H), zero at padding."""
        _, length = seq.shape
        valid = seq > 0  # (B, L)
        positions = torch.arange(length, device=seq.device)
        x = self.item_emb(seq) * math.sqrt(self.hidden) + self.pos_emb(positions)[None]
        x = self.emb_dropout(x) * valid[..., None]
        causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()
        mask = causal[None] & (valid[:, None, :] | torch.eye(length, dtype=torch.bool, device=seq.device)[None])
        for block in self.blocks:
            x = block(x, mask[:, None]) * valid[..., None]
        return self.norm(x)

    def represent(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, H): the state after the most recent item."""
        return self.forward(seq)[:, -1]

    def score(self, seq: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, L) histories, (B, C) dense item ids -> (B, C) scores."""
        state = self.represent(seq)  # (B, H)
        return torch.einsum("bh,bch->bc", state, self.item_emb(items + 1))


def pad_histories(histories: Sequence[np.ndarray], max_len: int) -> torch.Tensor:
    """Left-pad the last `max_len` items of each history, shifted by one: (B, max_len) int64."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, history in enumerate(histories):
        tail = np.asarray(history[-max_len:], dtype=np.int64) + 1
        if len(tail):
            out[row, -len(tail) :] = tail
    return torch.from_numpy(out)


@torch.no_grad()
def score_split(model: SASRec, split: SplitArrays, batch_size: int = 256) -> np.ndarray:
    """(rows, n_candidates) SASRec scores of each row's candidates."""
    model.eval()
    out = []
    for start in range(0, len(split), batch_size):
        rows = range(start, min(start + batch_size, len(split)))
        seq = pad_histories([split.history(r) for r in rows], model.max_len)
        out.append(model.score(seq, torch.from_numpy(split.candidates[start : start + len(rows)])).numpy())
    return np.concatenate(out) if out else np.zeros((0, split.candidates.shape[1]))


def representations(model: SASRec, split: SplitArrays, batch_size: int = 512) -> np.ndarray:
    """(rows, H) float32 sequence representations of each row's history."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            rows = range(start, min(start + batch_size, len(split)))
            out.append(model.represent(pad_histories([split.history(r) for r in rows], model.max_len)).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.hidden), np.float32)


@torch.no_grad()
def preference_probability(model: SASRec, history: Sequence[int], item_a: int, item_b: int) -> float:
    """P(a preferred over b | history) = sigmoid(s(a) - s(b)) under the trained SASRec."""
    return float(preference_probabilities(model, [np.asarray(history)], np.array([item_a]), np.array([item_b]))[0])


@torch.no_grad()
def preference_probabilities(
    model: SASRec, histories: Sequence[np.ndarray], items_a: np.ndarray, items_b: np.ndarray
) -> np.ndarray:
    """Batched preference probabilities, (rows,) float32."""
    model.eval()
    seq = pad_histories(histories, model.max_len)
    scores = model.score(seq, torch.from_numpy(np.stack([items_a, items_b], axis=1).astype(np.int64)))  # (B, 2)
    return torch.sigmoid(scores[:, 0] - scores[:, 1]).numpy().astype(np.float32)


def save_sasrec(model: SASRec, record: dict, data: Prepared, out_dir: str | Path) -> None:
    """Model, item embeddings, per-split sequence representations and the training record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_dir(out_dir) as tmp:
        torch.save(model.state_dict(), tmp / "sasrec.pt")
        shape = {
            "kind": "sasrec",
            "n_items": model.n_items,
            "max_len": model.max_len,
            "hidden": model.hidden,
            "blocks": len(model.blocks),
            "heads": model.blocks[0].heads,
        }
        (tmp / "model.json").write_text(json.dumps(shape))
        np.save(tmp / "item_embeddings.npy", model.item_emb.weight[1:].detach().numpy())  # (n_items, H)
        tables = []
        for name in ("train", "valid", "test"):
            split = data.split(name)
            reps = representations(model, split)
            tables.append(
                pa.table(
                    {
                        "split": pa.array([name] * len(split)),
                        "user_id": pa.array(split.users.astype(np.int32)),
                        "representation": pa.FixedSizeListArray.from_arrays(pa.array(reps.ravel()), model.hidden),
                    }
                )
            )
        pq.write_table(pa.concat_tables(tables), tmp / "user_repr.parquet")
        (tmp / "training.json").write_text(json.dumps(record))


def load_sasrec(model_dir: str | Path) -> SASRec:
    folder = Path(model_dir)
    if not (folder / "sasrec.pt").is_file():
        raise DataError(folder / "sasrec.pt", "file not found; expected a SASRec model from the baseline step")
    shape = json.loads((folder / "model.json").read_text())
    model = SASRec(shape["n_items"], shape["max_len"], shape["hidden"], shape["blocks"], shape["heads"], 0.0)
    model.load_state_dict(torch.load(folder / "sasrec.pt", weights_only=True))
    model.eval()
    return model
