"""Hyperparameter search: study files, Optuna storages, workers and the process that leads them."""
