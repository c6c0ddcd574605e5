"""Settings of the preference-building step (RosePO, Liao et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting
from components.common.errors import ConfigError

STRATEGIES = ("self_hard", "popularity", "hallucination", "random")


def parse_mix(text: str, where: str = "preferences.pref_mix") -> dict[str, float]:
    """'self_hard:0.4,random:0.6' -> normalised weights over the known strategies."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition(":")
        name = name.strip()
        if not sep or name not in STRATEGIES:
            raise ConfigError(
                where, f"got {part!r}; expected strategy:weight with a strategy among {', '.join(STRATEGIES)}"
            )
        try:
            weights[name] = float(value)
        except ValueError:
            raise ConfigError(where, f"weight of {name} is {value!r}; expected a number") from None
        if weights[name] < 0:
            raise ConfigError(where, f"weight of {name} is {weights[name]}; expected a value >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError(where, "weights sum to 0; expected at least one positive weight")
    return {name: weight / total for name, weight in weights.items()}


@dataclass(frozen=True)
class PreferenceConfig(StepConfig):
    """Rejected sampling strategies, their mix, and the oracle-based smoothing factor epsilon."""

    section: ClassVar[str] = "preferences"

    pref_pairs: int = setting(2000, "training pairs, one per training example (prefixes of the train sequences)")
    pref_eval_pairs: int = setting(200, "held-out pairs from the valid split (reward accuracy)")
    pref_mix: str = setting(
        "self_hard:0.4,popularity:0.2,hallucination:0.2,random:0.2",
        "rejected-sampling strategies and their weights (self_hard, popularity, hallucination, random)",
    )
    pref_epsilon_max: float = setting(0.5, "epsilon = P_oracle(rejected > chosen | history), clipped to [0, this]")
    pref_seed: int = setting(42, "seed of examples, strategy assignment and random rejections")
    pref_max_new_tokens: int = setting(32, "generation length for hallucination-aware rejections")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("pref_pairs", 1)
        self.check_range("pref_eval_pairs", 1)
        self.check_range("pref_epsilon_max", 0.0, 1.0)
        self.check_range("pref_seed", 0)
        self.check_range("pref_max_new_tokens", 1)
        parse_mix(self.pref_mix)
