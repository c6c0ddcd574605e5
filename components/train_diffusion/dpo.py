"""Diffusion-DPO (Wallace et al. 2023, arXiv 2311.12908): DPO's objective on denoising errors.

For a preferred latent x_w and a dispreferred x_l noised with the same ε and timestep t, with per-sample
mean squared errors e = ‖y − f_θ(x_t, t, c)‖² (mean over latent elements) of the prediction f against its
target y (ε for ε-prediction, the velocity of x_w or x_l for v-prediction) for the policy and the frozen
reference:  L = −log σ(−β/2 · [(e_w − e_l) − (e_w^ref − e_l^ref)]).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def per_sample_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) x2 -> (B,) mean squared error per sample."""
    return (prediction.float() - target.float()).pow(2).flatten(1).mean(1)


def diffusion_dpo_loss(
    policy_w: torch.Tensor,
    policy_l: torch.Tensor,
    reference_w: torch.Tensor,
    reference_l: torch.Tensor,
    target_w: torch.Tensor,
    target_l: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Predictions (B, C, h, w) of policy and reference on the chosen (w) and rejected (l) latents, their targets
    (B, C, h, w; both the shared noise for ε-prediction) and β -> (scalar loss, diagnostics)."""
    e_w, e_l = per_sample_mse(policy_w, target_w), per_sample_mse(policy_l, target_l)  # (B,)
    with torch.no_grad():
        r_w, r_l = per_sample_mse(reference_w, target_w), per_sample_mse(reference_l, target_l)
    inside = -0.5 * beta * ((e_w - e_l) - (r_w - r_l))  # (B,)
    loss = -F.logsigmoid(inside).mean()
    e_w, e_l = e_w.detach(), e_l.detach()
    stats = {
        "implicit_accuracy": float((inside > 0).float().mean()),
        "policy_gap": float((e_w - e_l).mean()),
        "reference_gap": float((r_w - r_l).mean()),
        "chosen_error": float(e_w.mean()),
    }
    return loss, stats
