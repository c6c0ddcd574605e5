"""Settings of iLoRA's mixture-of-LoRA-experts tuning (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting


@dataclass(frozen=True)
class ILoRAConfig(StepConfig):
    """iLoRA (Kong et al., NeurIPS 2024): n LoRA experts splitting rank r, gated per user by SASRec."""

    section: ClassVar[str] = "ilora"

    ilora_experts: int = setting(4, "LoRA experts; 1 is plain LoRA with the same total rank")
    ilora_rank: int = setting(8, "total LoRA rank, split among the experts (8 -> 4 experts of rank 2)")
    ilora_alpha: float = setting(32.0, "LoRA alpha; scaling alpha / (rank / experts) as the reference code")
    ilora_dropout: float = setting(0.1, "LoRA dropout")
    ilora_prompt: str = setting("text", "text, or hybrid: each title followed by its projected SASRec item embedding")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("ilora_experts", 1)
        self.check_range("ilora_rank", 1)
        self.check_range("ilora_alpha", 0.0, low_open=True)
        self.check_range("ilora_dropout", 0.0, 1.0, high_open=True)
        self.check_choice("ilora_prompt", ("text", "hybrid"))
        if self.ilora_rank % self.ilora_experts:
            from components.common.errors import ConfigError

            raise ConfigError(
                "ilora.ilora_experts",
                f"{self.ilora_experts} experts do not split rank {self.ilora_rank}; expected a divisor",
            )
