"""The engine (torch): the training loop and all it trains with; checkpoints, evaluation,
prediction and export; the queue runner. It writes run folders through the runs store (workspace/)."""
