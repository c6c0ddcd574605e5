"""recforge pipelines: one KFP DAG per module, the image table, the cluster-settings helper and the CLI.

Modules here import only the standard library and `kfp` at module level, so compiling never needs torch.
"""
