"""The knowledge-graph embedding models of the `kg-embedding` pipeline, in one table with one interface.

NFE (Xiao, He, Cao, "Knowledge Graph Embedding by Normalizing Flows", AAAI 2023) embeds an entity e as the flow
f_e(eps) = mu_e + sigma_e * eps of base noise and a relation r as the affine flow g_r(x) = sigma_r * x + mu_r; a
triple's score compares the distribution of g_r(f_h(eps)) with that of f_t(eps). Its variants and the point
baselines, every one scored one-vs-all:

| name               | entity / relation params | score s(h, r, t)                                               |
| ------------------ | ------------------------ | -------------------------------------------------------------- |
| nfe-1              | 2d / 2d                  | gamma - W2^2 of two diagonal Gaussians                          |
| nfe-2              | 3d / 2d                  | gamma - W2^2 of two-slope piecewise-linear flows of N(0, 1)     |
| nfe-3              | 2d / 2d                  | gamma - KL(N1 || N2), scales through softplus                   |
| nfe-no-uncertainty | 2d / 2d                  | gamma - ||mu1 - mu2||^2 (NFE-w/o-uncertainty)                   |
| nfe-sigma          | 2d / 2d                  | gamma - ||sigma1 - sigma2||^2 (NFE-sigma)                       |
| transe             | 2d / 2d                  | gamma - ||h + r - t||^2 (NFE-1-mu: squared L2)                   |
| distmult           | 2d / 2d                  | <h * r, t>                                                      |

with mu1 = sigma_r * mu_h + mu_r, mu2 = mu_t. Every score is a bilinear form in a head-side feature H(h, r) and a
tail feature T(t): s = a(h, r) + b(t) + <H(h, r), T(t)>, so one-vs-all scoring is one matrix product (B, k) x (k, N)
and never a loop over entities. NFE-2 takes absolute values of the scales (sigma_r * sigma_h^-+ on the head side)
as the reference does: for positive scales that is exactly W2^2 of the composed flows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Features = tuple[torch.Tensor, torch.Tensor]  # (features (n, k), offsets (n,))
_C = math.sqrt(2.0 / math.pi)  # E|z| for z ~ N(0, 1): the cross term of the two-slope flow's W2^2


@dataclass(frozen=True)
class Spec:
    """One model of the table: parameter widths (in units of d), its reference margin, its two feature maps."""

    entity_parts: int
    relation_parts: int
    gamma: float | None  # None: no margin (DistMult)
    head: Callable[[torch.Tensor, torch.Tensor, float], Features]  # (h (B, pe*d), r (B, pr*d), gamma)
    tail: Callable[[torch.Tensor], Features]  # (t (N, pe*d))
    doc: str


def _sq(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).sum(-1)


def _affine(h: torch.Tensor, r: torch.Tensor, parts: int = 2) -> tuple[torch.Tensor, ...]:
    """mu1 = sigma_r * mu_h + mu_r and the head's remaining parts, split from h (B, parts*d) and r (B, 2d)."""
    head = h.chunk(parts, dim=-1)
    r_mu, r_sigma = r.chunk(2, dim=-1)
    return (r_sigma * head[0] + r_mu, r_sigma, *head[1:])


# --- NFE-1: gamma - (||mu1 - mu2||^2 + ||s1 - s2||^2), s1 = |sigma_r sigma_h|, s2 = |sigma_t| ---------------------
def _nfe1_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    mu1, r_sigma, h_sigma = _affine(h, r)
    s1 = (r_sigma * h_sigma).abs()
    return torch.cat([mu1, s1], -1), gamma - _sq(mu1) - _sq(s1)


def _nfe1_tail(t: torch.Tensor) -> Features:
    mu2, sigma = t.chunk(2, dim=-1)
    s2 = sigma.abs()
    return torch.cat([2 * mu2, 2 * s2], -1), -_sq(mu2) - _sq(s2)


# --- NFE-2: gamma - (||dmu||^2 + ||ds-||^2/2 + ||ds+||^2/2 + c <dmu, ds+ - ds->), d = head - tail ------------------
def _nfe2_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    mu1, r_sigma, h_lo, h_hi = _affine(h, r, parts=3)
    lo, hi = (r_sigma * h_lo).abs(), (r_sigma * h_hi).abs()
    u = hi - lo
    own = _sq(mu1) + _sq(lo) / 2 + _sq(hi) / 2 + _C * (mu1 * u).sum(-1)
    return torch.cat([mu1, lo, hi, u], -1), gamma - own


def _nfe2_tail(t: torch.Tensor) -> Features:
    mu2, t_lo, t_hi = t.chunk(3, dim=-1)
    lo, hi = t_lo.abs(), t_hi.abs()
    u = hi - lo
    own = _sq(mu2) + _sq(lo) / 2 + _sq(hi) / 2 + _C * (mu2 * u).sum(-1)
    # cross terms of -(...): +2 mu1.mu2 + lo1.lo2 + hi1.hi2 + c (mu1.u2 + u1.mu2)
    return torch.cat([2 * mu2 + _C * u, lo, hi, _C * mu2], -1), -own


# --- NFE-3: gamma - sum[log(s2/s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2], softplus scales ----------------------
def _nfe3_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    mu1, r_sigma, h_sigma = _affine(h, r)
    s1 = F.softplus(r_sigma) * F.softplus(h_sigma)
    return torch.cat([s1.pow(2) + mu1.pow(2), mu1], -1), gamma + s1.log().sum(-1) + mu1.shape[-1] / 2


def _nfe3_tail(t: torch.Tensor) -> Features:
    mu2, sigma = t.chunk(2, dim=-1)
    s2 = F.softplus(sigma)
    inv = s2.pow(-2)
    return torch.cat([-inv / 2, mu2 * inv], -1), -s2.log().sum(-1) - (mu2.pow(2) * inv).sum(-1) / 2


# --- ablations ----------------------------------------------------------------------------------------------------
def _mean_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    mu1 = _affine(h, r)[0]
    return mu1, gamma - _sq(mu1)


def _mean_tail(t: torch.Tensor) -> Features:
    mu2 = t.chunk(2, dim=-1)[0]
    return 2 * mu2, -_sq(mu2)


def _sigma_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    _, r_sigma, h_sigma = _affine(h, r)
    s1 = (r_sigma * h_sigma).abs()
    return s1, gamma - _sq(s1)


def _sigma_tail(t: torch.Tensor) -> Features:
    s2 = t.chunk(2, dim=-1)[1].abs()
    return 2 * s2, -_sq(s2)


# --- point baselines ------------------------------------------------------------------------------------------------
def _transe_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    x = h + r
    return x, gamma - _sq(x)


def _transe_tail(t: torch.Tensor) -> Features:
    return 2 * t, -_sq(t)


def _distmult_head(h: torch.Tensor, r: torch.Tensor, gamma: float) -> Features:
    return h * r, torch.zeros(h.shape[0], dtype=h.dtype, device=h.device)


def _distmult_tail(t: torch.Tensor) -> Features:
    return t, torch.zeros(t.shape[0], dtype=t.dtype, device=t.device)


# Margins: the reference's WN18RR settings for NFE-1/2/3; the ablations and TransE take NFE-1's.
MODELS: dict[str, Spec] = {
    "nfe-1": Spec(2, 2, 1.0, _nfe1_head, _nfe1_tail, "NFE-1: Gaussian flows, 2-Wasserstein"),
    "nfe-2": Spec(3, 2, 0.0, _nfe2_head, _nfe2_tail, "NFE-2: two-slope piecewise-linear flows, 2-Wasserstein"),
    "nfe-3": Spec(2, 2, 14.0, _nfe3_head, _nfe3_tail, "NFE-3: Gaussian flows, KL divergence"),
    "nfe-no-uncertainty": Spec(2, 2, 1.0, _mean_head, _mean_tail, "NFE without uncertainty (means only)"),
    "nfe-sigma": Spec(2, 2, 1.0, _sigma_head, _sigma_tail, "NFE-sigma (scales only)"),
    "transe": Spec(2, 2, 1.0, _transe_head, _transe_tail, "TransE, squared L2 (the paper's NFE-1-mu)"),
    "distmult": Spec(2, 2, None, _distmult_head, _distmult_tail, "DistMult"),
}


class KGEModel(nn.Module):
    """Entity and relation embeddings of one model of `MODELS`, initialised U(-0.1, 0.1) as the reference does."""

    def __init__(self, name: str, n_entities: int, n_relations: int, dim: int, gamma: float | None = None) -> None:
        super().__init__()
        self.name = name
        self.spec = MODELS[name]
        self.dim = dim
        self.gamma = float(self.spec.gamma or 0.0) if gamma is None or self.spec.gamma is None else float(gamma)
        self.entity = nn.Embedding(n_entities, self.spec.entity_parts * dim)
        self.relation = nn.Embedding(n_relations, self.spec.relation_parts * dim)
        nn.init.uniform_(self.entity.weight, -0.1, 0.1)
        nn.init.uniform_(self.relation.weight, -0.1, 0.1)

    def tail_features(self) -> Features:
        """Features of every entity as a tail: ((N, k), (N,)); computed once per evaluation."""
        return self.spec.tail(self.entity.weight)

    def score_all(self, heads: torch.Tensor, relations: torch.Tensor, tails: Features | None = None) -> torch.Tensor:
        """Scores of every entity as the tail of each (head, relation): (B,) x (B,) -> (B, N)."""
        features, offset = self.spec.head(self.entity(heads), self.relation(relations), self.gamma)  # (B, k), (B,)
        tail_features, tail_offset = tails if tails is not None else self.tail_features()  # (N, k), (N,)
        return torch.addmm(offset[:, None] + tail_offset[None, :], features, tail_features.T)  # (B, N)
