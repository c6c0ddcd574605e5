"""Settings of the alignment step: which loss from the table, its hyper-parameters, and the LoRA trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.align.losses import LOSSES, get_loss
from components.common.config import StepConfig, setting
from components.common.errors import ConfigError
from components.common.training import DEEPSPEED_STAGES


def loss_hparams(loss: str, overrides: str, where: str = "align.align_hparams") -> dict[str, float]:
    """The loss's defaults with the `loss.key=value` overrides that name it (others are for other losses)."""
    spec = get_loss(loss)
    values = spec.defaults
    allowed = list(values)
    for part in filter(None, (p.strip() for p in overrides.split(","))):
        key, sep, value = part.partition("=")
        name, dot, param = key.strip().partition(".")
        if not sep or not dot or name not in LOSSES:
            raise ConfigError(where, f"got {part!r}; expected loss.name=value with a loss among {', '.join(LOSSES)}")
        if name != loss:
            continue
        if param not in allowed:
            raise ConfigError(where, f"{loss} has no hyper-parameter {param!r}; expected one of {', '.join(allowed)}")
        try:
            values[param] = float(value)
        except ValueError:
            raise ConfigError(where, f"{key.strip()} is {value!r}; expected a number") from None
    return values


@dataclass(frozen=True)
class AlignConfig(StepConfig):
    """LoRA preference optimisation of the SFT model with one loss of `components.align.losses.LOSSES`."""

    section: ClassVar[str] = "align"

    align_loss: str = setting("dpo", f"the loss: {', '.join(LOSSES)}")
    align_hparams: str = setting(
        "", "overrides as loss.name=value, comma-separated (e.g. dpo.beta=0.2,simpo.gamma=0.5); empty: defaults"
    )
    align_lr: float = setting(5e-4, "peak learning rate (cosine schedule, 10% warm-up)")
    align_epochs: float = setting(1.0, "passes over the pairs")
    align_batch_size: int = setting(8, "pairs per process and step")
    align_grad_accum: int = setting(1, "gradient accumulation steps")
    align_max_length: int = setting(512, "tokens per sequence; longer prompts lose their first tokens")
    align_lora_r: int = setting(8, "LoRA rank")
    align_lora_alpha: int = setting(16, "LoRA alpha")
    align_lora_dropout: float = setting(0.05, "LoRA dropout")
    align_ema_decay: float = setting(0.9, "alpha-DPO: decay of the running mean and std of the margin M")
    align_seed: int = setting(42, "seed of LoRA initialisation and pair order")
    align_nproc: int = setting(1, "training processes; >1 launches torchrun (gloo on CPU)")
    align_nodes: int = setting(1, "training nodes; >1 runs the step as a Kubeflow Trainer TrainJob (cluster only)")
    align_deepspeed: str = setting("", "DeepSpeed ZeRO config shipped with recforge: zero2 or zero3; empty: plain DDP")
    align_save_steps: int = setting(100, "steps between checkpoints (a re-run resumes from the last one)")
    align_checkpoint_dir: str = setting("", "checkpoint folder; empty: $RECFORGE_CHECKPOINT_ROOT/align/<digest>")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_choice("align_loss", LOSSES)
        loss_hparams(self.align_loss, self.align_hparams)
        for name in ("align_batch_size", "align_grad_accum", "align_lora_r", "align_lora_alpha", "align_save_steps"):
            self.check_range(name, 1)
        self.check_range("align_lr", 0.0, low_open=True)
        self.check_range("align_epochs", 0.0, low_open=True)
        self.check_range("align_max_length", 16)
        self.check_range("align_lora_dropout", 0.0, 1.0, high_open=True)
        self.check_range("align_ema_decay", 0.0, 1.0, high_open=True)
        self.check_range("align_seed", 0)
        self.check_range("align_nproc", 1, 64)
        self.check_range("align_nodes", 1, 256)
        self.check_choice("align_deepspeed", DEEPSPEED_STAGES)
