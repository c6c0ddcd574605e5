"""KFP wrapper of the SFT step (logic in trainer.py, launch.py and track.py)."""

from kfp import dsl

from pipelines.images import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def train_sft(
    pipeline: str,
    kfp_run_id: str,
    prepared: dsl.Input[dsl.Dataset],
    base_model: str,
    sft_template: str,
    sft_history_len: int,
    sft_max_examples: int,
    sft_eval_examples: int,
    sft_epochs: float,
    sft_lr: float,
    sft_batch_size: int,
    sft_grad_accum: int,
    sft_max_length: int,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    lora_targets: str,
    sft_train_embeddings: bool,
    sft_vocab_size: int,
    sft_seed: int,
    sft_nproc: int,
    sft_save_steps: int,
    sft_checkpoint_dir: str,
    model: dsl.Output[dsl.Model],
):
    """LoRA SFT of an LLM recommender on LLaRA-style prompts (merged model + tokenizer)."""
    params = {k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "prepared", "model")}
    from components.common.step import run_step
    from components.train_sft.config import SFTConfig
    from components.train_sft.track import sft_and_track

    result = run_step(
        pipeline, "train-sft", kfp_run_id, SFTConfig, params, lambda c: sft_and_track(c, prepared.path, model.path)
    )
    model.metadata.update({"digest": result["digest"], "eval_loss": result["eval_loss"]})
