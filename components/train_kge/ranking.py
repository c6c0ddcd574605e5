"""Filtered link-prediction ranking (Bordes et al. 2013's protocol, as NFE, Xiao et al., AAAI 2023, evaluates):
every other true tail of the query in train, valid or test is removed from the ranking, and ties count against the
model: rank = 1 + #{e != gold : s_e >= s_gold}. MRR, MR and Hits@1/3/10 over both directions (head prediction is
tail prediction of the reciprocal relation)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from components.train_kge.graph import QueryIndex

HITS = (1, 3, 10)
Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (heads (B,), relations (B,)) -> scores (B, N)


def filtered_ranks(
    scores: torch.Tensor, gold: torch.Tensor, known_rows: torch.Tensor, known_cols: torch.Tensor
) -> torch.Tensor:
    """Ranks of `gold` (B,) in `scores` (B, N) once the known tails (row, column pairs) are removed; the gold's own
    score is kept. Returns (B,) int64."""
    scores = scores.clone()
    gold_scores = scores.gather(1, gold[:, None])  # (B, 1)
    scores[known_rows, known_cols] = float("-inf")
    scores.scatter_(1, gold[:, None], float("-inf"))
    better = (scores >= gold_scores).sum(dim=1)  # (B,) others scoring at least as high: ties count against
    better = torch.where(torch.isnan(gold_scores[:, 0]), torch.full_like(better, scores.shape[1] - 1), better)
    return better + 1


def rank_triples(
    scorer: Scorer, triples: np.ndarray, known: QueryIndex, n_relations: int, batch_size: int = 256
) -> np.ndarray:
    """Filtered rank of each (head, relation, tail) in `triples` (n, 3): (n,) int64. `known` holds every true
    triple of every split."""
    ranks = np.empty(len(triples), dtype=np.int64)
    at = known.positions(triples[:, 0], triples[:, 1], n_relations)  # (n,)
    counts = known.counts()
    with torch.no_grad():
        for start in range(0, len(triples), batch_size):
            part = triples[start : start + batch_size]
            rows = at[start : start + batch_size]
            scores = scorer(torch.from_numpy(part[:, 0]), torch.from_numpy(part[:, 1]))  # (B, N)
            lengths = np.where(rows >= 0, counts[rows.clip(min=0)], 0)  # (B,)
            cols = np.concatenate(
                [known.tails[known.indptr[q] : known.indptr[q + 1]] for q in rows[rows >= 0]] or [np.empty(0, int)]
            )
            row_ids = np.repeat(np.arange(len(part)), lengths)
            ranks[start : start + len(part)] = filtered_ranks(
                scores.float(), torch.from_numpy(part[:, 2]), torch.from_numpy(row_ids), torch.from_numpy(cols)
            ).numpy()
    return ranks


def metrics(ranks: np.ndarray) -> dict[str, float]:
    """MRR, MR and Hits@1/3/10 of (n,) ranks."""
    ranks = ranks.astype(np.float64)
    return {
        "mrr": float((1.0 / ranks).mean()),
        "mr": float(ranks.mean()),
        **{f"hits_{k}": float((ranks <= k).mean()) for k in HITS},
    }


def evaluate(scorer: Scorer, triples: np.ndarray, known: QueryIndex, n_relations: int, batch_size: int = 256) -> dict:
    """Metrics over both directions of `triples` (reciprocals included, the file's triples first), plus each
    direction's own (`tail_*`: (h, r, ?); `head_*`: (?, r, t))."""
    ranks = rank_triples(scorer, triples, known, n_relations, batch_size)
    half = len(ranks) // 2
    result = metrics(ranks)
    result.update({f"tail_{k}": v for k, v in metrics(ranks[:half]).items() if k in ("mrr", "hits_10")})
    result.update({f"head_{k}": v for k, v in metrics(ranks[half:]).items() if k in ("mrr", "hits_10")})
    return result
