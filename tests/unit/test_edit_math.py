"""AlphaEdit's projector and the shared closed-form update against hand formulas and gradient descent."""

from __future__ import annotations

import math

import pytest
import torch

from components.common.errors import ConfigError
from components.edit_knowledge.alphaedit import UpdateRule, null_space_projector, rule_for, solve_update
from components.edit_knowledge.config import EditConfig
from components.edit_knowledge.core import memit_weight
from components.edit_knowledge.evaluation import ngram_entropy
from components.edit_knowledge.targets import kl_now_from_init


def preserved_keys(d: int = 12, rank: int = 7, n: int = 400, seed: int = 0, noise: float = 1e-4) -> torch.Tensor:
    """(d, n) keys inside a `rank`-dimensional subspace, plus `noise`."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, rank, generator=g, dtype=torch.float64))[0]
    return basis @ torch.randn(rank, n, generator=g, dtype=torch.float64) + noise * torch.randn(
        d, n, generator=g, dtype=torch.float64
    )


def test_projector_is_symmetric_idempotent_of_the_right_rank_and_annihilates_preserved_keys() -> None:
    keys = preserved_keys()
    cov = keys @ keys.T / keys.shape[1]
    p = null_space_projector(cov, threshold=2e-2)
    assert torch.allclose(p, p.T, atol=1e-12)
    assert torch.allclose(p @ p, p, atol=1e-10)
    assert round(float(torch.trace(p))) == 12 - 7  # eigenvalues of the 5 noise directions are ~1e-8
    assert float((p @ keys).norm() / keys.norm()) < 1e-3
    # the reference's ‖P C0‖ ≪ ‖C0‖
    assert float((p @ cov).norm() / cov.norm()) < 1e-6


def test_projector_threshold_counts_eigenvalues_by_hand() -> None:
    cov = torch.diag(torch.tensor([5.0, 0.5, 0.03, 0.01, 0.0]))
    p = null_space_projector(cov, threshold=2e-2)
    assert torch.allclose(p, torch.diag(torch.tensor([0.0, 0, 0, 1, 1], dtype=torch.float64)))
    with pytest.raises(ConfigError, match="expected a value > 0"):
        null_space_projector(cov, threshold=0.0)


# The pipeline's defaults (EditConfig): AlphaEdit's ridge term and MEMIT's C0 weight, GPT-J's scaled by d_ff.
DEFAULT_L2 = EditConfig().edit_l2


def default_memit_weight(d_ff: int) -> float:
    return memit_weight(EditConfig(), d_ff)


def sequential_edits(method: str, d: int = 16, batches: int = 3, per_batch: int = 2) -> dict[str, list[float]]:
    """Edit one weight W (8, d) batch after batch at the pipeline defaults; after each batch, the change of the
    preserved outputs ‖ΔW K0‖ / ‖W0 K0‖ and the residual ‖W K − V‖ / ‖V‖ of every batch written so far."""
    g = torch.Generator().manual_seed(1)
    k0 = preserved_keys(d=d, rank=6, seed=2)  # (d, 400): a 6-dim preserved subspace, so P has rank d - 6
    cov = k0 @ k0.T / k0.shape[1]
    w0 = torch.randn(8, d, generator=g, dtype=torch.float64)  # (d_model, d_ff)
    edits = [
        (
            torch.randn(d, per_batch, generator=g, dtype=torch.float64),
            torch.randn(8, per_batch, generator=g, dtype=torch.float64),
        )
        for _ in range(batches)
    ]  # keys K (d, u) and target values V (8, u)
    rule = rule_for(method, l2=DEFAULT_L2, mom2_weight=default_memit_weight(d))
    projector = null_space_projector(cov, EditConfig().nullspace_threshold)
    w, previous = w0.clone(), torch.zeros(d, d, dtype=torch.float64)
    out: dict[str, list] = {"preserved": [], "residuals": []}
    for keys, values in edits:
        w = w + solve_update(values - w @ keys, keys, rule, projector=projector, previous=previous, cov=cov)
        previous = previous + keys @ keys.T
        out["preserved"].append(float(((w - w0) @ k0).norm() / (w0 @ k0).norm()))
        out["residuals"].append([float((w @ k - v).norm() / v.norm()) for k, v in edits[: len(out["preserved"])]])
    return out


def test_at_pipeline_defaults_alphaedit_writes_each_batch_and_keeps_earlier_ones_and_preserved_outputs() -> None:
    alpha = sequential_edits("alphaedit")
    # the edit is written: every batch's residual after the update is small, the first batch's included
    assert all(r < 0.1 for r in alpha["residuals"][0])
    assert all(r < 0.1 for r in alpha["residuals"][-1])
    # preserved outputs move only by what the keys' noise lets through (noise 1e-4 around the subspace)
    assert max(alpha["preserved"]) < 1e-3


def test_at_pipeline_defaults_memit_overwrites_earlier_batches_that_alphaedit_keeps() -> None:
    memit = sequential_edits("memit")
    alpha = sequential_edits("alphaedit")
    assert memit["residuals"][0][0] < 1e-3  # MEMIT writes its current batch exactly
    assert memit["residuals"][-1][0] > 1.0  # ... and loses the first batch two batches later
    assert alpha["residuals"][-1][0] < 0.1
    assert max(memit["preserved"]) < 1e-3  # its C0 term protects the preserved subspace too


def test_ridge_special_case_and_memit_formula_by_hand() -> None:
    g = torch.Generator().manual_seed(3)
    k1 = torch.randn(6, 3, generator=g, dtype=torch.float64)
    r = torch.randn(5, 3, generator=g, dtype=torch.float64)
    cov = torch.eye(6, dtype=torch.float64) * 0.3
    ridge = solve_update(r, k1, UpdateRule(project=True, accumulate=True, cov_weight=0.0, l2=2.0),
                         projector=torch.eye(6, dtype=torch.float64))  # fmt: skip
    assert torch.allclose(ridge, r @ k1.T @ torch.linalg.inv(k1 @ k1.T + 2.0 * torch.eye(6, dtype=torch.float64)))
    memit = solve_update(r, k1, rule_for("memit", mom2_weight=4.0), cov=cov)
    assert torch.allclose(memit, r @ k1.T @ torch.linalg.inv(4.0 * cov + k1 @ k1.T))


def test_closed_form_matches_gradient_descent_on_the_alphaedit_objective() -> None:
    """min_X ‖X P K1 − R‖² + λ‖X P‖² + ‖X P Kp‖²: the closed form equals X* P."""
    g = torch.Generator().manual_seed(4)
    k0 = preserved_keys(d=8, rank=4, n=200, seed=5)
    p = null_space_projector(k0 @ k0.T / 200)
    k1 = torch.randn(8, 3, generator=g, dtype=torch.float64)
    kp = torch.randn(8, 5, generator=g, dtype=torch.float64)
    r = torch.randn(4, 3, generator=g, dtype=torch.float64)
    closed = solve_update(r, k1, rule_for("alphaedit", l2=0.5), projector=p, previous=kp @ kp.T)
    x = torch.zeros(4, 8, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([x], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14)

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        xp = x @ p
        loss = (xp @ k1 - r).pow(2).sum() + 0.5 * xp.pow(2).sum() + (xp @ kp).pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    assert torch.allclose((x @ p).detach(), closed, atol=1e-6)


def test_unknown_method_and_missing_projector_are_refused() -> None:
    with pytest.raises(ConfigError, match="expected alphaedit or memit"):
        rule_for("rome")
    with pytest.raises(ConfigError, match="needs the null-space projector"):
        solve_update(torch.ones(2, 1), torch.ones(3, 1), rule_for("alphaedit"))


def test_ngram_entropy_by_hand() -> None:
    # "a b a b": bigrams ab, ba, ab -> H2 = 0.9183 bits; trigrams aba, bab -> H3 = 1 bit
    # the reference averages the two weighted entropies (agg="arith")
    expected = (2 / 3 * 0.918295834 + 4 / 3 * 1.0) / 2
    assert ngram_entropy("a b a b") == pytest.approx(expected, rel=1e-6)
    # "a b": one bigram (H2 = 0), no trigram (0)
    assert ngram_entropy("a b") == 0.0
    assert ngram_entropy("word") == 0.0


def test_v_star_kl_term_is_kl_of_the_edited_distribution_from_the_original() -> None:
    now = torch.tensor([0.9, 0.05, 0.05]).log()
    init = torch.tensor([0.2, 0.5, 0.3]).log()
    by_hand = sum(p * math.log(p / q) for p, q in zip((0.9, 0.05, 0.05), (0.2, 0.5, 0.3), strict=True))
    reverse = sum(q * math.log(q / p) for p, q in zip((0.9, 0.05, 0.05), (0.2, 0.5, 0.3), strict=True))
    assert float(kl_now_from_init(now, init)) == pytest.approx(by_hand, rel=1e-5)
    assert abs(by_hand - reverse) > 0.1  # the two directions differ here, so the test tells them apart
