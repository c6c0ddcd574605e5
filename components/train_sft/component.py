"""KFP wrapper of the SFT step (logic in trainer.py, launch.py and track.py)."""

from kfp import dsl

from pipelines.images import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def train_sft(
    pipeline: str,
    kfp_run_id: str,
    kfp_job_name: str,
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
    sft_nodes: int,
    sft_deepspeed: str,
    sft_save_steps: int,
    sft_checkpoint_dir: str,
    model: dsl.Output[dsl.Model],
):
    """LoRA SFT of an LLM recommender on LLaRA-style prompts (merged model + tokenizer)."""
    params = {
        k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "kfp_job_name", "prepared", "model")
    }
    from components.common.step import run_step
    from components.train_sft.config import SFTConfig
    from components.train_sft.track import sft_and_track

    result = run_step(
        pipeline,
        "train-sft",
        kfp_run_id,
        SFTConfig,
        params,
        lambda c: sft_and_track(c, prepared.path, model.path, kfp_job_name),
    )
    model.metadata.update({"digest": result["digest"], "eval_loss": result["eval_loss"]})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def train_recicl(
    pipeline: str,
    kfp_run_id: str,
    schedule_time: str,
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
    sft_nodes: int,
    sft_deepspeed: str,
    sft_save_steps: int,
    sft_checkpoint_dir: str,
    icl_demos: int,
    icl_history_len: int,
    icl_like_threshold: float,
    icl_train_fraction: float,
    icl_windows: int,
    icl_max_examples: int,
    icl_epochs: float,
    icl_max_length: int,
    icl_eval_queries: int,
    icl_seed: int,
    as_of: str,
    icl_model_dir: str,
    retrain: bool,
    upper_bound: bool,
    models: dsl.Output[dsl.Model],
):
    """RecICL (in-context Yes/No) and the plain SFT baseline on the training window; or, with upper_bound, one
    model retrained on all data before each later window."""
    params = {
        k: v
        for k, v in locals().items()
        if k not in ("pipeline", "kfp_run_id", "schedule_time", "prepared", "models", "upper_bound")
    }
    from components.common.step import run_step
    from components.train_sft.icl_config import ICLConfig
    from components.train_sft.icl_track import train_icl_step

    icl_params = {k: v for k, v in params.items() if k in ICLConfig.docs()}
    result = run_step(
        pipeline,
        "retrain-recicl" if upper_bound else "train-recicl",
        kfp_run_id,
        ICLConfig,
        icl_params,
        lambda c: train_icl_step(params, prepared.path, models.path, schedule_time, upper_bound),
    )
    models.metadata.update({"digest": result["digest"]})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def train_ilora(
    pipeline: str,
    kfp_run_id: str,
    model_name: str,
    experts: int,
    prepared: dsl.Input[dsl.Dataset],
    sasrec_model: dsl.Input[dsl.Model],
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
    sft_nodes: int,
    sft_deepspeed: str,
    sft_save_steps: int,
    sft_checkpoint_dir: str,
    ilora_experts: int,
    ilora_rank: int,
    ilora_alpha: float,
    ilora_dropout: float,
    ilora_prompt: str,
    model: dsl.Output[dsl.Model],
):
    """iLoRA (gated mixture of LoRA experts) or, with experts=1, plain LoRA of the same total rank."""
    params = {k: v for k, v in locals().items() if k.startswith(("sft_", "lora_", "ilora_")) or k == "base_model"}
    from components.common.step import run_step
    from components.train_sft.ilora_config import ILoRAConfig
    from components.train_sft.ilora_track import ilora_and_track

    ilora_params = {k: v for k, v in params.items() if k.startswith("ilora_")}
    result = run_step(
        pipeline,
        f"train-{model_name}",
        kfp_run_id,
        ILoRAConfig,
        ilora_params,
        lambda c: ilora_and_track(params, prepared.path, sasrec_model.path, model.path, experts),
        tags={"recforge.model": model_name},
    )
    model.metadata.update(result)
