"""Preference losses, one signature, one explicit table.

Every loss is `f(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, *,
chosen_lengths, rejected_lengths, **hparams)` and returns the per-pair loss (no reduction). Log-probs are
summed over completion tokens; lengths count completion tokens. With h = (pi_c - r_c) - (pi_r - r_r) and
u = logp / length:

- DPO (Rafailov et al. 2023):        -log s(beta h)
- IPO (Azar et al. 2024):            (h_avg - 1/(2 tau))^2, h on length-averaged log-probs
- SimPO (Meng et al. 2024):          -log s(beta (u_c - u_r) - gamma); references unused
- alpha-DPO (Wu et al. 2024/2025):   Delta = u_c - u_r, M = Delta - (u_ref_c - u_ref_r),
                                     z = sg((M - margin_mean) / margin_std), -log s(beta Delta - gamma - alpha beta z)
                                     (alpha = 0 is SimPO exactly)
- RosePO (Liao et al. 2024):         -(1 - eps) log s(beta h) - eps log s(-beta h), eps per pair
                                     (eps = 0 is DPO exactly)
- cDPO (conservative DPO, Mitchell 2023): RosePO's formula with one eps for every pair, the mean of the training
                                     pairs' eps: label smoothing at RosePO's average strength, the baseline that
                                     tells whether RosePO's gain comes from personalising eps

Defaults are each function's keyword defaults. SimPO's and alpha-DPO's beta = 10, gamma = 3 were picked on the
valid split at this scale (tests/benchmarks/sweep_align_hparams.py; the papers' Mistral settings beta 2.5,
gamma 0.25 / 0.375 ranked lower); alpha = 0.05 is alpha-DPO's Llama-3 setting.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.common.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor
else:
    Tensor = Any


def _logsigmoid(x: Tensor) -> Tensor:
    # torch is imported on first use so that pipeline code can read the LOSSES table without it
    from torch.nn.functional import logsigmoid

    return logsigmoid(x)


def _positive(name: str, value: float | Tensor, loss: str) -> None:
    v = float(value.min()) if hasattr(value, "min") else float(value)
    if not v > 0:
        raise ConfigError(f"align.{loss}.{name}", f"got {v}; expected a value > 0")


def _lengths(chosen_lengths: Tensor, rejected_lengths: Tensor) -> tuple[Tensor, Tensor]:
    if (chosen_lengths <= 0).any() or (rejected_lengths <= 0).any():
        raise ConfigError("align.lengths", "a completion has no tokens; expected lengths >= 1")
    return chosen_lengths.float(), rejected_lengths.float()


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float = 0.1,
) -> Tensor:
    _positive("beta", beta, "dpo")
    h = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)  # (pairs,)
    return -_logsigmoid(beta * h)


def ipo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    tau: float = 0.1,
) -> Tensor:
    _positive("tau", tau, "ipo")
    lc, lr = _lengths(chosen_lengths, rejected_lengths)
    h_avg = (policy_chosen_logps - ref_chosen_logps) / lc - (policy_rejected_logps - ref_rejected_logps) / lr
    return (h_avg - 1.0 / (2.0 * tau)) ** 2


def simpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float = 10.0,
    gamma: float = 3.0,
) -> Tensor:
    _positive("beta", beta, "simpo")
    lc, lr = _lengths(chosen_lengths, rejected_lengths)
    delta = policy_chosen_logps / lc - policy_rejected_logps / lr
    return -_logsigmoid(beta * delta - gamma)


def alpha_dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float = 10.0,
    gamma: float = 3.0,
    alpha: float = 0.05,
    margin_mean: float | Tensor = 0.0,
    margin_std: float | Tensor = 1.0,
) -> Tensor:
    _positive("beta", beta, "alpha_dpo")
    _positive("margin_std", margin_std, "alpha_dpo")
    lc, lr = _lengths(chosen_lengths, rejected_lengths)
    delta = policy_chosen_logps / lc - policy_rejected_logps / lr
    margin = delta - (ref_chosen_logps / lc - ref_rejected_logps / lr)  # M
    z = ((margin - margin_mean) / margin_std).detach()
    return -_logsigmoid(beta * delta - gamma - alpha * beta * z)


def rosepo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float = 0.1,
    epsilon: Tensor | float = 0.0,
) -> Tensor:
    _positive("beta", beta, "rosepo")
    import torch

    eps = torch.as_tensor(epsilon, dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device)
    if (eps < 0).any() or (eps > 1).any():
        raise ConfigError(
            "align.rosepo.epsilon", f"got values in [{float(eps.min())}, {float(eps.max())}]; expected [0, 1]"
        )
    h = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -(1 - eps) * _logsigmoid(beta * h) - eps * _logsigmoid(-beta * h)


PAIR_INPUTS = ("chosen_lengths", "rejected_lengths", "epsilon", "margin_mean", "margin_std")  # set by the trainer


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its function, whether it needs reference log-probs, and whether its rewards are reported
    as length-averaged log-ratios. Its hyper-parameters and their defaults are the function's own keyword
    defaults (one place), less the per-pair inputs the trainer supplies (PAIR_INPUTS)."""

    fn: Callable[..., Tensor]
    uses_reference: bool
    length_normalised: bool
    epsilon: str = ""  # "pair": each pair's own eps; "mean": the training pairs' mean eps for all; "": none

    @property
    def defaults(self) -> dict[str, float]:
        """Hyper-parameter name -> default, read from the signature of `fn`."""
        return {
            name: p.default
            for name, p in inspect.signature(self.fn).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in PAIR_INPUTS
        }


LOSSES: dict[str, LossSpec] = {
    "dpo": LossSpec(dpo_loss, uses_reference=True, length_normalised=False),
    "ipo": LossSpec(ipo_loss, uses_reference=True, length_normalised=True),
    "simpo": LossSpec(simpo_loss, uses_reference=False, length_normalised=True),
    "alpha_dpo": LossSpec(alpha_dpo_loss, uses_reference=True, length_normalised=True),
    "rosepo": LossSpec(rosepo_loss, uses_reference=True, length_normalised=False, epsilon="pair"),
    "cdpo": LossSpec(rosepo_loss, uses_reference=True, length_normalised=False, epsilon="mean"),
}


def pair_epsilons(spec: LossSpec, train: list[float], held_out: list[float]) -> tuple[list[float], list[float]]:
    """The eps each training and held-out pair is trained and scored with under `spec`: their own (RosePO), the
    training pairs' mean for all (cDPO), or unchanged where the loss reads none."""
    if spec.epsilon != "mean" or not train:
        return list(train), list(held_out)
    mean = sum(train) / len(train)
    return [mean] * len(train), [mean] * len(held_out)


def get_loss(name: str) -> LossSpec:
    if name not in LOSSES:
        raise ConfigError("align.loss", f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    return LOSSES[name]
