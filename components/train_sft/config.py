"""Settings of the SFT step (LLaRA / iLoRA defaults where they exist, scaled for the CPU `tiny` preset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.base_model import BaseModelConfig
from components.common.config import setting
from components.common.training import DEEPSPEED_STAGES


@dataclass(frozen=True)
class SFTConfig(BaseModelConfig):
    """LoRA SFT of an LLM recommender on prompt -> next-item-title completions (loss on the completion only).

    LLaRA (Liao et al., SIGIR 2024) and iLoRA (Kong et al., NeurIPS 2024): last 10 titles, 20 candidates,
    LoRA r=8, alpha=32, dropout 0.1 on q,k,v,o,gate,up,down. Learning rate, steps and batch are scaled for a
    2-layer model on two CPU cores; the tiny preset also trains its (new) embeddings.
    """

    section: ClassVar[str] = "sft"

    sft_template: str = setting("", "prompt with {history}, {candidates}, {n}; empty: the dataset's LLaRA template")
    sft_history_len: int = setting(10, "titles of the most recent history items in the prompt")
    sft_max_examples: int = setting(6000, "training examples drawn from the train sequences (every prefix)")
    sft_eval_examples: int = setting(128, "valid rows used for the evaluation loss")
    sft_epochs: float = setting(2.0, "passes over the training examples")
    sft_lr: float = setting(2e-3, "peak learning rate (cosine schedule, 5% warm-up)")
    sft_batch_size: int = setting(16, "examples per process and step")
    sft_grad_accum: int = setting(1, "gradient accumulation steps")
    sft_max_length: int = setting(512, "tokens per example; longer prompts lose their oldest history titles")
    lora_r: int = setting(8, "LoRA rank")
    lora_alpha: int = setting(32, "LoRA alpha")
    lora_dropout: float = setting(0.1, "LoRA dropout")
    lora_targets: str = setting("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "LoRA target modules")
    sft_train_embeddings: bool = setting(
        True, "also train embeddings and output head (needed by the tiny preset; off by itself for pretrained models)"
    )
    sft_vocab_size: int = setting(4096, "tokenizer size of a preset built from the catalogue")
    sft_seed: int = setting(42, "seed of the model, example sampling and training order")
    sft_nproc: int = setting(1, "training processes; >1 launches torchrun (gloo on CPU)")
    sft_nodes: int = setting(1, "training nodes; >1 runs the step as a Kubeflow Trainer TrainJob (cluster only)")
    sft_deepspeed: str = setting("", "DeepSpeed ZeRO config shipped with recforge: zero2 or zero3; empty: plain DDP")
    sft_save_steps: int = setting(100, "steps between checkpoints (a re-run resumes from the last one)")
    sft_checkpoint_dir: str = setting("", "checkpoint folder; empty: $RECFORGE_CHECKPOINT_ROOT/sft/<config digest>")

    def __post_init__(self) -> None:
        self.check_types()
        for name in ("sft_history_len", "sft_max_examples", "sft_batch_size", "sft_grad_accum", "lora_r"):
            self.check_range(name, 1)
        for name in ("sft_eval_examples", "sft_seed"):
            self.check_range(name, 0)
        self.check_range("sft_max_length", 16)
        self.check_range("sft_epochs", 0.0, low_open=True)
        self.check_range("sft_lr", 0.0, low_open=True)
        self.check_range("lora_alpha", 1)
        self.check_range("lora_dropout", 0.0, 1.0, high_open=True)
        self.check_range("sft_nproc", 1, 64)
        self.check_range("sft_nodes", 1, 256)
        self.check_choice("sft_deepspeed", DEEPSPEED_STAGES)
        self.check_range("sft_save_steps", 1)
        self.check_range("sft_vocab_size", 300)
        if self.sft_template:
            from components.recsys.prompts import check_template

            check_template(self.sft_template, "sft.sft_template")

    @property
    def train_embeddings(self) -> bool:
        """`sft_train_embeddings` where it makes sense: a preset built from a config has a new vocabulary whose
        embeddings must learn; a pretrained model (or a saved one) keeps its embeddings frozen under LoRA."""
        from components.common.tiny import PRESETS

        return self.sft_train_embeddings and self.base_model in PRESETS

    def require_one_process(self, method: str) -> None:
        """For trainers that run in one process (iLoRA, RecICL): refuse the distributed settings they would ignore."""
        if self.sft_nproc > 1 or self.sft_nodes > 1 or self.sft_deepspeed:
            from components.common.errors import ConfigError

            raise ConfigError(
                "sft.sft_nproc",
                f"got {self.sft_nproc} processes on {self.sft_nodes} nodes, deepspeed {self.sft_deepspeed!r}; "
                f"{method} training runs in one process without DeepSpeed, expected 1, 1 and ''",
            )
