"""A new run's settings checked before its run folder is made: what would otherwise fail a minute
later, after data loading, and leave a failed run behind (a model that cannot take the widths or
the image size, a data set the folder does not hold). Nothing is read but the folder's listing."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config, ConfigError
from ..data import DataError, check_source, estimate_train_size
from ..models import build_model

CHECK_CLASSES = 10  # any count: a class count never decides whether widths fit


def check_new_run(cfg: Config, data_source: str | None) -> None:
    """Raise ConfigError with one problem a line (the setting, its value, what is allowed);
    `data_source` None: the data are given in memory and only the model is checked."""
    problems = []
    if data_source is not None:
        try:
            check_source(data_source, cfg.data)
        except DataError as e:
            problems.append(str(e))
        else:
            problems += _validation_problems(cfg, data_source)
    problems += _model_problems(cfg)
    if problems:
        raise ConfigError(problems)


def _model_problems(cfg: Config) -> list[str]:
    m, size = cfg.model, cfg.data.image_size
    try:
        # On the meta device: shapes are checked, no memory is allocated, no weight initialised.
        with torch.device("meta"):
            model = build_model(m.name, CHECK_CLASSES, m.widths or None, m.zero_gamma)
            if size != 32:  # every model takes 32x32; only other sizes need a forward pass to tell
                model(torch.empty(2, 3, size, size))
    except ValueError as e:
        return [f"model.widths = {m.widths}: {e}"]
    except RuntimeError:
        return [f"model.name = {m.name!r} does not take {size}x{size} images (its classifier is sized for 32x32): "
                f"set data.image_size=32 or choose airbench, resnet9 or resnet18"]
    return []


def _validation_problems(cfg: Config, data_source: str) -> list[str]:
    """A held-out split as large as the training set, from the folder's size alone (the draw itself
    refuses one that would empty a class, once the labels are read)."""
    n = cfg.data.validation
    if n == 0 or (data_source != "synthetic" and (Path(data_source).expanduser() / "val").is_dir()):
        return []  # off, or an image folder's own val/ (whose size the number does not set)
    train = estimate_train_size(data_source)
    if train is None or n < train:
        return []
    return [(f"data.validation = {n}: allowed 0 (off) to below the {train:,} training images (it holds them out "
             f"of training); 5000 is usual for CIFAR-10")]
