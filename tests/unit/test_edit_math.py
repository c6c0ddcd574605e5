"""AlphaEdit's projector and the shared closed-form update against hand formulas and gradient descent."""

from __future__ import annotations

import pytest
import torch

from components.common.errors import ConfigError
from components.edit_knowledge.alphaedit import UpdateRule, null_space_projector, rule_for, solve_update
from components.edit_knowledge.evaluation import ngram_entropy


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


def test_alphaedit_update_leaves_preserved_outputs_while_memit_changes_them() -> None:
    g = torch.Generator().manual_seed(1)
    k0 = preserved_keys(seed=2, noise=5e-3)  # (12, 400); the 5 weak directions have eigenvalues ~2.5e-5
    cov = k0 @ k0.T / k0.shape[1]
    w = torch.randn(8, 12, generator=g, dtype=torch.float64)  # (d_model, d_ff)
    k1 = torch.randn(12, 4, generator=g, dtype=torch.float64)  # the edits' keys
    r = torch.randn(8, 4, generator=g, dtype=torch.float64)  # residuals to write
    p = null_space_projector(cov)
    alpha = solve_update(r, k1, rule_for("alphaedit"), projector=p)
    memit = solve_update(r, k1, rule_for("memit", mom2_weight=15000.0 * 12 / 16384), cov=cov)  # GPT-J's, scaled
    base = (w @ k0).norm()
    alpha_change = float((alpha @ k0).norm() / base)
    memit_change = float((memit @ k0).norm() / base)
    assert alpha_change < 1e-3
    assert memit_change > 1e-3 and memit_change > 3 * alpha_change
    assert float(alpha.norm()) > 0.01  # it did write something


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
    expected = 2 / 3 * 0.918295834 + 4 / 3 * 1.0
    assert ngram_entropy("a b a b") == pytest.approx(expected, rel=1e-6)
    assert ngram_entropy("word") == 0.0
