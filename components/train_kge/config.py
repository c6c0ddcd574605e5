"""Settings of the `kg-embedding` steps (NFE, Xiao, He, Cao, AAAI 2023): the KG folder and the training budget.
Defaults are sized for 2 CPU cores; the reference's WN18RR settings are `pipelines.kg_embedding.REFERENCE`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting
from components.common.errors import ConfigError

UNSEEN = ("drop", "error", "keep")
LOSSES = ("ce", "bce")
# every model the pipeline trains: ours (models.MODELS) and PyKEEN's (pykeen_side.PYKEEN_MODELS)
OUR_MODELS = ("nfe-1", "nfe-2", "nfe-3", "nfe-no-uncertainty", "nfe-sigma", "transe", "distmult")
PYKEEN_MODELS = ("pykeen-kg2e", "pykeen-transe", "pykeen-distmult", "pykeen-rotate")


@dataclass(frozen=True)
class KGDataConfig(StepConfig):
    """Where the knowledge graph comes from and what to do with valid/test triples outside the training graph."""

    section: ClassVar[str] = "kg"

    kg_data_dir: str = setting("", "folder with train.txt, valid.txt, test.txt (head<TAB>relation<TAB>tail); empty:"
                               " $RECFORGE_DATA_DIR/WN18RR")  # fmt: skip
    kg_unseen: str = setting("drop", "valid/test triples naming an entity or relation train.txt lacks: drop (as"
                             " PyKEEN), error, or keep (as the NFE reference: indexed, never trained)")  # fmt: skip

    def __post_init__(self) -> None:
        self.check_types()
        self.check_choice("kg_unseen", UNSEEN)


@dataclass(frozen=True)
class KGEConfig(StepConfig):
    """One model's training and evaluation."""

    section: ClassVar[str] = "kge"

    kge_dim: int = setting(32, "d: per-part dimension (NFE-1 entities hold 2d numbers; the reference's 1024)")
    kge_epochs: int = setting(2, "epochs; the best validation-MRR epoch is kept (the reference's 50)")
    kge_batch_size: int = setting(128, "queries (head, relation) per step, each with all its training tails")
    kge_lr: float = setting(5e-3, "Adam learning rate (the reference's WN18RR NFE-1 value)")
    kge_decay: float = setting(0.9, "exponential learning-rate decay per epoch")
    kge_loss: str = setting("ce", "ce: softmax cross-entropy over all entities; bce: the reference's 1-N binary"
                            " cross-entropy (learns far slower: see the README)")  # fmt: skip
    kge_gamma: str = setting("", "margin gamma of every model; empty: each model's reference value")
    kge_pykeen_negatives: int = setting(32, "PyKEEN models: negatives per positive of its sLCWA loop")
    kge_eval_batch: int = setting(256, "queries per scoring batch when ranking")
    kge_check_evaluator: bool = setting(False, "PyKEEN models: also rank test with our evaluator (ours_mrr,"
                                        " evaluator_gap_mrr); doubles their evaluation time")  # fmt: skip
    kge_seed: int = setting(0, "seed of initialisation and batch order (the reference's 0)")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("kge_dim", 1, 4096)
        self.check_range("kge_epochs", 1, 10_000)
        self.check_range("kge_batch_size", 1, 1_000_000)
        self.check_range("kge_lr", 0.0, 10.0, low_open=True)
        self.check_range("kge_decay", 0.0, 1.0, low_open=True)
        self.check_choice("kge_loss", LOSSES)
        self.check_range("kge_pykeen_negatives", 1, 10_000)
        self.check_range("kge_eval_batch", 1, 1_000_000)
        self.check_range("kge_seed", 0)
        if self.kge_gamma.strip():
            try:
                float(self.kge_gamma)
            except ValueError:
                problem = f"got {self.kge_gamma!r}; expected a number or empty"
                raise ConfigError(self._where("kge_gamma"), problem) from None

    @property
    def gamma(self) -> float | None:
        return float(self.kge_gamma) if self.kge_gamma.strip() else None
