"""KFP wrapper of the RosePO preference-building step (logic in core.py and body.py)."""

from kfp import dsl

from components.build_preferences.config import PreferenceConfig
from components.common.images import RUNTIME_IMAGE
from components.common.wrapper import step_component


@step_component(PreferenceConfig, base_image=RUNTIME_IMAGE)
def build_preferences(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    sft_model: dsl.Input[dsl.Model],
    sasrec_model: dsl.Input[dsl.Model],
    preferences: dsl.Output[dsl.Dataset],
    **settings,
):
    """(prompt, chosen, rejected, strategy, epsilon) pairs from the SFT model and the SASRec oracle."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.build_preferences.body import preferences_and_track
    from components.build_preferences.config import PreferenceConfig
    from components.common.step import run_step

    result = run_step(
        pipeline, "build-preferences", (PreferenceConfig,), settings,
        lambda c: preferences_and_track(c, prepared.path, sft_model.path, sasrec_model.path, preferences.path),
    )  # fmt: skip
    preferences.metadata.update(result)
