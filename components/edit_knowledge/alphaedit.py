"""AlphaEdit's null-space projection and the closed-form update shared with MEMIT (Fang et al., ICLR 2025).

AlphaEdit (paper Eq. 14, reference `AlphaEdit_main.py`):
    Δ = R K1ᵀ P (Kp Kpᵀ P + K1 K1ᵀ P + λ I)⁻¹, solved as Δᵀ = solve(P (K1 K1ᵀ + Kp Kpᵀ) + λ I, P K1 Rᵀ)
with P = Û Ûᵀ, Û the eigenvectors of C0 = E[k kᵀ] with eigenvalue below the threshold, Kp the keys of all earlier
batches and λ = 10. MEMIT (Meng et al., 2023) is the same solve with P = I, no Kp and its preserved-moment term:
    Δᵀ = solve(w C0 + K1 K1ᵀ, K1 Rᵀ), w = mom2_update_weight.
Shapes: R (d_model, u) residuals, K1 (d_ff, u) keys, C0 / P / Kp Kpᵀ (d_ff, d_ff), Δ (d_model, d_ff).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.common.errors import ConfigError


def null_space_projector(cov: Any, threshold: float = 2e-2) -> Any:
    """P = Û Ûᵀ over the eigenvectors of the symmetric `cov` whose eigenvalue is below `threshold`.

    `cov` (d, d) is E[k kᵀ] of the preserved keys; P (d, d) float64 is symmetric, idempotent, of rank = the
    number of small eigenvalues, and P k ≈ 0 for preserved keys k. The reference takes an SVD; for a symmetric
    positive semi-definite matrix the eigendecomposition gives the same vectors and values.
    """
    import torch

    if threshold <= 0:
        raise ConfigError("edit.nullspace_threshold", f"got {threshold}; expected a value > 0")
    matrix = torch.as_tensor(cov, dtype=torch.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ConfigError("null_space_projector", f"got a matrix of shape {tuple(matrix.shape)}; expected square")
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)  # ascending eigenvalues
    basis = vectors[:, values < threshold]  # (d, r)
    return basis @ basis.T


@dataclass(frozen=True)
class UpdateRule:
    """One point of the shared solve: AlphaEdit and MEMIT differ only in these four settings."""

    project: bool  # multiply by the null-space projector P (AlphaEdit) or use P = I (MEMIT)
    accumulate: bool  # keep Kp Kpᵀ of earlier batches in the system (AlphaEdit)
    cov_weight: float  # weight of C0 in the system (MEMIT's mom2_update_weight; 0 for AlphaEdit)
    l2: float  # ridge term λ (AlphaEdit's L2 = 10; 0 for MEMIT)


def rule_for(method: str, l2: float = 10.0, mom2_weight: float = 15000.0) -> UpdateRule:
    if method == "alphaedit":
        return UpdateRule(project=True, accumulate=True, cov_weight=0.0, l2=l2)
    if method == "memit":
        return UpdateRule(project=False, accumulate=False, cov_weight=mom2_weight, l2=0.0)
    raise ConfigError("edit.method", f"got {method!r}; expected alphaedit or memit")


def solve_update(
    residuals: Any,
    keys: Any,
    rule: UpdateRule,
    projector: Any | None = None,
    previous: Any | None = None,
    cov: Any | None = None,
) -> Any:
    """Δ (d_model, d_ff) from residuals R (d_model, u) and keys K1 (d_ff, u), in float64."""
    import torch

    keys = keys.to(torch.float64)
    residuals = residuals.to(torch.float64)
    d = keys.shape[0]
    system = keys @ keys.T  # (d, d)
    if rule.accumulate and previous is not None:
        system = system + previous.to(torch.float64)
    if rule.cov_weight and cov is not None:
        system = system + rule.cov_weight * cov.to(torch.float64)
    right = keys @ residuals.T  # (d, d_model)
    if rule.project:
        if projector is None:
            raise ConfigError("solve_update", "AlphaEdit needs the null-space projector; got none")
        p = projector.to(torch.float64)
        system = p @ system
        right = p @ right
    system = system + rule.l2 * torch.eye(d, dtype=torch.float64)
    try:
        delta_t = torch.linalg.solve(system, right)  # (d, d_model)
    except RuntimeError:
        raise ConfigError(
            "edit", "the update's linear system is singular; expected a positive l2 or a full-rank preserved C0"
        ) from None
    return delta_t.T
