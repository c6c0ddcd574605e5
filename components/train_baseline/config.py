"""Settings of the baseline step: SASRec's hyper-parameters (paper defaults, scaled for CPU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting

SIZE_LIMITS = {  # far above any SASRec setting in use; a typo beyond them would only exhaust memory
    "sasrec_max_len": 4096,
    "sasrec_hidden": 8192,
    "sasrec_blocks": 64,
    "sasrec_heads": 64,
    "sasrec_batch_size": 65536,
}


@dataclass(frozen=True)
class SASRecConfig(StepConfig):
    """SASRec (Kang & McAuley, ICDM 2018). Paper: d=50, 2 blocks, 1 head, dropout 0.2 (0.5 on sparse data),
    Adam lr 1e-3, batch 128, max length 200 on ML-1M and 50 elsewhere; here d=64 and 50 positions."""

    section: ClassVar[str] = "sasrec"

    sasrec_max_len: int = setting(50, "positions: the most recent items a sequence keeps")
    sasrec_hidden: int = setting(64, "hidden size (paper 50)")
    sasrec_blocks: int = setting(2, "self-attention blocks")
    sasrec_heads: int = setting(1, "attention heads")
    sasrec_dropout: float = setting(0.2, "dropout")
    sasrec_lr: float = setting(1e-3, "Adam learning rate")
    sasrec_batch_size: int = setting(128, "sequences per batch")
    sasrec_epochs: int = setting(200, "epochs over the training users (each a random window of their sequence)")
    sasrec_eval_every: int = setting(20, "epochs between validation HR@10 checks; the best state is kept")
    sasrec_seed: int = setting(42, "seed of initialisation, windows and negatives")

    def __post_init__(self) -> None:
        self.check_types()
        for name, high in SIZE_LIMITS.items():
            self.check_range(name, 1, high)
        self.check_range("sasrec_epochs", 1)
        self.check_range("sasrec_eval_every", 1)
        self.check_range("sasrec_dropout", 0.0, 1.0, high_open=True)
        self.check_range("sasrec_lr", 0.0, low_open=True)
        self.check_range("sasrec_seed", 0)
        if self.sasrec_hidden % self.sasrec_heads:
            from components.common.errors import ConfigError

            raise ConfigError(
                "sasrec.sasrec_heads", f"{self.sasrec_heads} does not divide sasrec_hidden={self.sasrec_hidden}"
            )
