"""Settings of the prompt-personalization step (RPP / RPP+, Mao et al., TOIS 2025)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting
from components.personalize_prompt.actions import MODES


@dataclass(frozen=True)
class RPPConfig(StepConfig):
    """Users, rounds, the ranker's mode and the agents' training."""

    section: ClassVar[str] = "rpp"

    rpp_train_users: int = setting(200, "users the agents train on (valid split targets; the paper's 200)")
    rpp_test_users: int = setting(200, "other users every method is evaluated on (test split targets)")
    rpp_rounds: int = setting(15, "rounds per user: choose, rank, update (the paper's 15)")
    rpp_epochs: int = setting(2, "passes over the training users")
    rpp_batch_users: int = setting(8, "users ranked per LLM batch and per TD update")
    rpp_mode: str = setting("likelihood", f"how the LLM ranks while agents train: {', '.join(MODES)}")
    rpp_eval_modes: str = setting("likelihood,generate", "modes every method is evaluated in (comma-separated)")
    rpp_max_new_tokens: int = setting(48, "generate mode: answer length limit")
    rpp_plus: bool = setting(False, "RPP+: the LLM rewrites the chosen reasoning sentence for each user and round")
    rpp_templates: int = setting(7, "fixed templates evaluated as baselines (each action used at least once at 7)")
    rpp_gamma: float = setting(0.95, "TD discount")
    rpp_actor_lr: float = setting(3e-4, "Adam learning rate of the actors")
    rpp_critic_lr: float = setting(5e-4, "Adam learning rate of the critics")
    rpp_entropy: float = setting(0.01, "entropy bonus of the actors")
    rpp_seed: int = setting(42, "seed of users, candidate order, agents and random baselines")

    def __post_init__(self) -> None:
        self.check_types()
        for name in ("rpp_train_users", "rpp_test_users", "rpp_rounds", "rpp_epochs", "rpp_batch_users"):
            self.check_range(name, 1, 100_000)
        self.check_choice("rpp_mode", MODES)
        modes = self.eval_modes
        if not modes or any(m not in MODES for m in modes):
            from components.common.errors import ConfigError

            raise ConfigError(
                self._where("rpp_eval_modes"), f"got {self.rpp_eval_modes!r}; expected modes among {', '.join(MODES)}"
            )
        self.check_range("rpp_max_new_tokens", 1, 512)
        self.check_range("rpp_templates", 1, 525)
        self.check_range("rpp_gamma", 0.0, 1.0)
        self.check_range("rpp_actor_lr", 0.0, low_open=True)
        self.check_range("rpp_critic_lr", 0.0, low_open=True)
        self.check_range("rpp_entropy", 0.0)
        self.check_range("rpp_seed", 0)

    @property
    def eval_modes(self) -> list[str]:
        return [m.strip() for m in self.rpp_eval_modes.split(",") if m.strip()]
