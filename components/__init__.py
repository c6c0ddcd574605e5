"""recforge pipeline steps: one sub-package per Kubeflow Pipelines step (see DESIGN.md, Layout)."""
