"""Settings of RecICL's in-context format, time windows and real-time evaluation (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, parse_time, scheduled_time, setting


@dataclass(frozen=True)
class ICLConfig(StepConfig):
    """RecICL (Bao et al. 2024): K = demos + 1 examples per sample, Yes/No over liked-title histories."""

    section: ClassVar[str] = "icl"

    icl_demos: int = setting(4, "answered demonstrations before each query (the paper groups 5 = 4 + 1)")
    icl_history_len: int = setting(10, "most recent liked titles in each question")
    icl_like_threshold: float = setting(4.0, "rating at or above which an interaction is a Yes (MovieLens: 4)")
    icl_train_fraction: float = setting(0.6, "share of interactions (by time) in the training window")
    icl_windows: int = setting(4, "later windows, equal time quantiles of the rest, evaluated without retraining")
    icl_max_examples: int = setting(1000, "training samples drawn from the training window")
    icl_epochs: float = setting(2.0, "passes over the training samples (overrides sft_epochs for these models)")
    icl_max_length: int = setting(1536, "tokens per sample (the paper: 2048); longer samples are dropped and counted")
    icl_eval_queries: int = setting(200, "queries sampled per evaluation window")
    icl_seed: int = setting(42, "seed of the query samples")
    as_of: str = setting("", "use data up to this time (ISO-8601 or Unix seconds; a schedule fills it); empty: all")
    icl_model_dir: str = setting("", "an existing RecICL model folder to reuse (scheduled runs); empty: train one")
    retrain: bool = setting(True, "also train the upper bound: a model retrained on all data up to each window")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("icl_demos", 0)
        self.check_range("icl_history_len", 1)
        self.check_range("icl_like_threshold", 0.0)
        self.check_range("icl_train_fraction", 0.0, 1.0, low_open=True, high_open=True)
        self.check_range("icl_windows", 1, 50)
        self.check_range("icl_max_examples", 1)
        self.check_range("icl_epochs", 0.0, low_open=True)
        self.check_range("icl_max_length", 64)
        self.check_range("icl_eval_queries", 1)
        self.check_range("icl_seed", 0)
        parse_as_of(self.as_of)


def parse_as_of(text: str) -> int:
    """'' -> 0 (no limit); Unix seconds; or an ISO-8601 time such as KFP's schedule time '2026-11-26T05:00:00Z'."""
    return parse_time(text, "icl.as_of")


def effective_as_of(config: ICLConfig, schedule_time: str) -> ICLConfig:
    """`as_of` if set; else the run's schedule time when it is a real time (a recurring run); else all data."""
    import dataclasses

    scheduled = scheduled_time(schedule_time)
    if config.as_of or not scheduled:
        return config
    return dataclasses.replace(config, as_of=str(parse_as_of(scheduled)))
