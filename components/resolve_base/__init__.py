"""The resolve-base-model step: `base_model` resolved once per pipeline run into a KFP Model artifact."""
