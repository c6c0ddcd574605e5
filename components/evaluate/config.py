"""Settings of the evaluate step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting


@dataclass(frozen=True)
class EvalConfig(StepConfig):
    """Which rows are evaluated and how LLM recommenders are scored and asked to generate."""

    section: ClassVar[str] = "evaluate"

    eval_split: str = setting("test", "split to evaluate: valid or test")
    eval_users: int = setting(0, "evaluate this many users (seeded sample); 0 evaluates every row")
    eval_batch_users: int = setting(8, "users per batch when an LLM scores candidates (shared-prompt KV cache)")
    eval_generate: bool = setting(True, "LLMs also generate an answer (HR@1, valid_ratio, hallucination_rate)")
    eval_max_new_tokens: int = setting(32, "generation length limit")
    eval_seed: int = setting(0, "seed of the user sample")
    eval_valid_ranking: bool = setting(
        True, "with eval_split=test, also rank the valid split's candidates (valid_<metric>, for model selection)"
    )

    def __post_init__(self) -> None:
        self.check_types()
        self.check_choice("eval_split", ("valid", "test"))
        self.check_range("eval_users", 0)
        self.check_range("eval_batch_users", 1)
        self.check_range("eval_max_new_tokens", 1)
        self.check_range("eval_seed", 0)
