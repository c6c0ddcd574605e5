"""The exit handler of cluster pipelines: close the pipeline run's MLflow parent run with its final state."""
