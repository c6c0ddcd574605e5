"""KFP wrappers of the SFT, RecICL and iLoRA training steps (logic in trainer.py, icl_core.py, ilora_trainer.py and
the *body.py files)."""

from kfp import dsl

from components.common.images import TRAINING_IMAGE
from components.common.wrapper import step_component
from components.recsys.icl_config import ICLConfig
from components.recsys.ilora_config import ILoRAConfig
from components.train_sft.config import SFTConfig


@step_component(SFTConfig, base_image=TRAINING_IMAGE)
def train_sft(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    **settings,
):
    """LoRA SFT of an LLM recommender on LLaRA-style prompts (merged model + tokenizer)."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_sft.body import sft_and_track
    from components.train_sft.config import SFTConfig

    result = run_step(
        pipeline,
        "train-sft",
        (SFTConfig,),
        settings,
        lambda c: sft_and_track(c, prepared.path, base.path, model.path),
    )
    model.metadata.update({"digest": result["digest"], "eval_loss": result["eval_loss"]})


@step_component(SFTConfig, ICLConfig, base_image=TRAINING_IMAGE)
def train_recicl(
    pipeline: str,
    schedule_time: str,
    prepared: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    upper_bound: bool,
    models: dsl.Output[dsl.Model],
    **settings,
):
    """RecICL (in-context Yes/No) and the plain SFT baseline on the training window; or, with upper_bound, one
    model retrained on all data before each later window."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.recsys.icl_config import ICLConfig
    from components.train_sft.config import SFTConfig
    from components.train_sft.icl_body import train_icl_step

    result = run_step(
        pipeline, "retrain-recicl" if upper_bound else "train-recicl", (SFTConfig, ICLConfig), settings,
        lambda sft, icl: train_icl_step(sft, icl, prepared.path, base.path, models.path, schedule_time, upper_bound),
        extras=("upper_bound",),
    )  # fmt: skip
    models.metadata.update({"digest": result["digest"]})


@step_component(SFTConfig, ILoRAConfig, base_image=TRAINING_IMAGE)
def train_ilora(
    pipeline: str,
    model_name: str,
    experts: int,
    prepared: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    sasrec_model: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    **settings,
):
    """iLoRA (gated mixture of LoRA experts) or, with experts=1, plain LoRA of the same total rank."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.recsys.ilora_config import ILoRAConfig
    from components.train_sft.config import SFTConfig
    from components.train_sft.ilora_body import ilora_and_track

    result = run_step(
        pipeline, f"train-{model_name}", (SFTConfig, ILoRAConfig), settings,
        lambda sft, ilora: ilora_and_track(
            sft, ilora, prepared.path, base.path, sasrec_model.path, model.path, experts
        ),
        tags={"recforge.model": model_name}, extras=("model_name", "experts"),
    )  # fmt: skip
    model.metadata.update(result)
