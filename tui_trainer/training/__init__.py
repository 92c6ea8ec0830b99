"""Training loop pieces: schedules, optimizers, EMA, checkpoints, run folders."""
