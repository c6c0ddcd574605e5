"""Settings of the pigeon pipeline: data windows and images, the model and stage 1, stage 2 (Diffusion-DPO),
and the evaluation.

Paper defaults where they carry over: windows of 5 history items and 1 target split 8:1:1, mask generator
keeping 80% of history tokens, LoRA r=8 / alpha=16 on q and v of the LM, DPO with a frozen stage-1 reference.
Diffusion-DPO's beta is 5000 in Wallace et al. for SD-1.5; sizes and steps are the tiny preset's, chosen so the
whole pipeline runs in minutes on two CPU cores. Standard library only: the pipeline reads these while compiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting

VARIANTS = ("pigeon-stage1", "no-history", "pigeon")


@dataclass(frozen=True)
class ImageDataConfig(StepConfig):
    """Item images and user windows."""

    section: ClassVar[str] = "images"

    image_dir: str = setting("", "folder of item images named <source item id>.<ext>; empty: render posters")
    image_size: int = setting(32, "side of the square images the models see (pixels)")
    history_len: int = setting(5, "history images per window (the paper's 5)")
    window_stride: int = setting(6, "items between the starts of a user's consecutive windows")
    max_windows_per_user: int = setting(8, "most recent windows kept per user; 0: all")
    split_seed: int = setting(123, "seed of the 8:1:1 split of users (and their windows)")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("image_size", 8, 512)
        if self.image_size % 8:
            from components.common.errors import ConfigError

            raise ConfigError(self._where("image_size"), f"got {self.image_size}; expected a multiple of 8")
        self.check_range("history_len", 1, 32)
        self.check_range("window_stride", 1)
        self.check_range("max_windows_per_user", 0)


@dataclass(frozen=True)
class Stage1Config(StepConfig):
    """The model (encoder, autoencoder, mask generator, multimodal LM, UNet) and masked reconstruction."""

    section: ClassVar[str] = "stage1"

    diffusion_preset: str = setting("tiny", "decoder size: tiny (CPU) or sd15 (an SD-1.5-sized UNet and VAE)")
    lm_model: str = setting("tiny", "the multimodal LM: a preset, a saved model directory or a hub id")
    lm_lora_r: int = setting(8, "LoRA rank on the LM's q and v projections (the paper's 8)")
    lm_lora_alpha: int = setting(16, "LoRA alpha (the paper's 16)")
    unet_lora_r: int = setting(0, "LoRA rank on the UNet's attention; 0: train the UNet fully (tiny preset)")
    tokens_per_image: int = setting(4, "encoder tokens per history image (a square number)")
    keep_ratio: float = setting(0.8, "share of history tokens the mask generator keeps (the paper keeps 1 - 0.2)")
    gumbel_tau: float = setting(1.0, "temperature of the Gumbel-softmax relaxation of the top-k mask")
    history_dropout: float = setting(0.2, "share of training samples conditioned on the instruction only")
    encoder_epochs: int = setting(4, "epochs of the image encoder (genre prediction on every catalogue image)")
    vae_steps: int = setting(250, "training steps of the autoencoder on catalogue images")
    stage1_steps: int = setting(800, "training steps of masked preference reconstruction")
    stage1_lr: float = setting(1e-3, "peak learning rate of stage 1 (AdamW, warm-up then cosine)")
    batch_size: int = setting(32, "windows per training step")
    train_timesteps: int = setting(1000, "diffusion timesteps of the noise schedule")
    prediction_type: str = setting("epsilon", "what the UNet predicts: epsilon (SD-1.5) or v_prediction (SD-2)")
    model_seed: int = setting(123, "seed of initialisation, noise and masks (the paper's 123)")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_choice("diffusion_preset", ("tiny", "sd15"))
        self.check_range("lm_lora_r", 1)
        self.check_range("lm_lora_alpha", 1)
        self.check_range("unet_lora_r", 0)
        self.check_range("tokens_per_image", 1, 64)
        side = round(self.tokens_per_image**0.5)
        if side * side != self.tokens_per_image:
            from components.common.errors import ConfigError

            raise ConfigError(self._where("tokens_per_image"), f"got {self.tokens_per_image}; expected 1, 4, 9, ...")
        self.check_range("keep_ratio", 0.0, 1.0, low_open=True)
        self.check_range("gumbel_tau", 0.0, low_open=True)
        self.check_range("history_dropout", 0.0, 1.0, high_open=True)
        self.check_range("encoder_epochs", 1)
        self.check_range("vae_steps", 1)
        self.check_range("stage1_steps", 1)
        self.check_range("stage1_lr", 0.0, low_open=True)
        self.check_range("batch_size", 1)
        self.check_range("train_timesteps", 10)
        self.check_choice("prediction_type", ("epsilon", "v_prediction"))


@dataclass(frozen=True)
class Stage2Config(StepConfig):
    """Pairwise preference alignment: sampled generations, history-similarity pairs, Diffusion-DPO."""

    section: ClassVar[str] = "stage2"

    dpo_windows: int = setting(256, "training windows whose generations form preference pairs")
    dpo_samples: int = setting(4, "generations per window; chosen = most history-similar, rejected = least")
    dpo_beta: float = setting(2000.0, "Diffusion-DPO beta (5000 for SD-1.5 in Wallace et al.)")
    dpo_steps: int = setting(200, "training steps of stage 2")
    dpo_lr: float = setting(1e-4, "learning rate of stage 2 (AdamW, constant after warm-up)")
    dpo_batch_size: int = setting(16, "preference pairs per step")
    sample_steps: int = setting(20, "DDIM steps when sampling generations")
    guidance_scale: float = setting(3.0, "history guidance when sampling the generations (1: none)")
    dpo_seed: int = setting(7, "seed of the generations and of the DPO noise")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("dpo_windows", 1)
        self.check_range("dpo_samples", 2)
        self.check_range("dpo_beta", 0.0, low_open=True)
        self.check_range("dpo_steps", 1)
        self.check_range("dpo_lr", 0.0, low_open=True)
        self.check_range("dpo_batch_size", 1)
        self.check_range("sample_steps", 1)
        self.check_range("guidance_scale", 0.0)


@dataclass(frozen=True)
class ImageEvalConfig(StepConfig):
    """Generation for held-out users and the image metrics."""

    section: ClassVar[str] = "image_eval"

    eval_windows: int = setting(120, "test windows generated for (held-out users); 0: all")
    eval_sample_steps: int = setting(20, "DDIM steps at evaluation")
    eval_guidance_scale: float = setting(3.0, "history guidance of the history-conditioned variants (1: none)")
    grid_users: int = setting(6, "sample users shown in the picture grid")
    eval_seed: int = setting(2024, "seed of the evaluation noise (identical for every variant)")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("eval_windows", 0)
        self.check_range("eval_sample_steps", 1)
        self.check_range("eval_guidance_scale", 0.0)
        self.check_range("grid_users", 0, 64)


@dataclass(frozen=True)
class EvaluatorConfig(StepConfig):
    """The held-out evaluator: an image encoder trained apart from Pigeon, seen only by the evaluate steps."""

    section: ClassVar[str] = "evaluator"

    evaluator_epochs: int = setting(8, "epochs of the held-out evaluator (genre distribution of catalogue images)")
    evaluator_seed: int = setting(31, "seed of the held-out evaluator (another than model_seed)")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("evaluator_epochs", 1)
