"""KFP wrapper of the RosePO preference-building step (logic in core.py and track.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def build_preferences(
    pipeline: str,
    kfp_run_id: str,
    prepared: dsl.Input[dsl.Dataset],
    sft_model: dsl.Input[dsl.Model],
    sasrec_model: dsl.Input[dsl.Model],
    pref_pairs: int,
    pref_eval_pairs: int,
    pref_mix: str,
    pref_epsilon_max: float,
    pref_seed: int,
    pref_max_new_tokens: int,
    preferences: dsl.Output[dsl.Dataset],
):
    """(prompt, chosen, rejected, strategy, epsilon) pairs from the SFT model and the SASRec oracle."""
    params = {k: v for k, v in locals().items() if k.startswith("pref_")}
    from components.build_preferences.config import PreferenceConfig
    from components.build_preferences.track import preferences_and_track
    from components.common.step import run_step

    result = run_step(
        pipeline, "build-preferences", kfp_run_id, PreferenceConfig, params,
        lambda c: preferences_and_track(c, prepared.path, sft_model.path, sasrec_model.path, preferences.path),
    )  # fmt: skip
    preferences.metadata.update(result)
