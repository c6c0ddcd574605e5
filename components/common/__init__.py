"""What several recforge steps share: errors, atomic I/O, Arrow schemas, configs, models, MLflow tracking."""
