"""The LR range test: an exponential sweep within the allowed LRs, a suggestion inside it, both muon
LRs moved together, an early stop on divergence, and nothing written or changed on the way."""
import math

import numpy as np
import pytest
import torch

from tui_trainer.data import DataError
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.training import lr_find
from tui_trainer.training.lr_find import RULE, find_lr, steepest_descent, sweep_factors
from tui_trainer.workspace.fixtures import write_run_folder

from conftest import tiny_config

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def small():
    return make_synthetic(n_train=1024, n_test=100)


def small_config(**overrides):
    return tiny_config(**{"model.widths": [8, 16, 32], "run.precision": "fp32", **overrides})


def muon_config(**overrides):
    return small_config(**{"model.name": "airbench", "model.widths": [8, 16, 16], "optimizer.name": "muon",
                           "optimizer.lr": 0.5, "optimizer.muon_lr": 0.1, "optimizer.bias_lr_scale": 64.0,
                           **overrides})


def assert_exponential(lrs):
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])
    assert (ratios > 1).all() and np.allclose(ratios, ratios[0], rtol=1e-9)


def test_the_lr_rises_exponentially_and_the_suggestion_lies_in_the_sweep(small):
    cfg = small_config()
    done, images = [], small.train_x.clone()
    r = find_lr(cfg, dataset=small, device_name="cpu", steps=20, progress=lambda d, t: done.append((d, t)))
    assert not r.diverged and r.steps_done == len(r.lrs) == len(r.losses) == len(r.raw_losses) == 20
    assert done == [(i, 20) for i in range(1, 21)]
    assert_exponential(r.lrs)
    assert math.isclose(r.lrs[0], cfg.optimizer.lr * lr_find.FACTOR_START)
    assert math.isclose(r.lrs[-1], cfg.optimizer.lr * lr_find.FACTOR_END)
    assert r.lrs[0] <= r.suggested_lr <= r.lrs[-1] and r.suggested_lr in r.lrs
    assert math.isclose(r.suggested_lr, cfg.optimizer.lr * r.factor_suggested)
    assert r.suggested_muon_lr is None and r.rule == RULE == "steepest descent"
    assert all(math.isfinite(v) for v in r.losses) and r.seconds > 0
    assert r.to_json()["suggested_lr"] == r.suggested_lr
    # What a run would train with next is as it was: the caller's config and data set.
    assert cfg == small_config() and torch.equal(small.train_x, images)


def test_the_sweep_writes_nothing_and_repeats_itself(tmp_path, home, monkeypatch):
    # A runs folder beside it, as in a user's working folder: the sweep must leave every file as it was.
    write_run_folder(tmp_path / "runs", "20261201-090000-tiny", small_config(), [0.5])
    monkeypatch.chdir(tmp_path)

    def files():
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}

    before = files()
    first = find_lr(small_config(), data="synthetic", device_name="cpu", steps=15)
    second = find_lr(small_config(), data="synthetic", device_name="cpu", steps=15)
    assert files() == before  # no file created or touched: no run folder, no checkpoint
    assert first.raw_losses == second.raw_losses and first.lrs == second.lrs  # a fresh, seeded model each time


def test_muon_sweeps_both_lrs_in_the_configured_ratio_and_scales_the_biases(small, monkeypatch):
    cfg = muon_config()
    groups, set_lr = [], lr_find.set_lr

    def recording_set_lr(optimizer, lr):
        set_lr(optimizer, lr)
        groups.append((lr, {(g.get("muon", False), g.get("lr_scale", 1.0) == 64.0): g["lr"]
                            for g in optimizer.param_groups}))

    monkeypatch.setattr(lr_find, "set_lr", recording_set_lr)
    r = find_lr(cfg, dataset=small, device_name="cpu", steps=15)
    assert r.suggested_lr is not None and r.lrs[0] <= r.suggested_lr <= r.lrs[-1]
    assert math.isclose(r.suggested_muon_lr / r.suggested_lr, cfg.optimizer.muon_lr / cfg.optimizer.lr)
    assert math.isclose(r.suggested_muon_lr, cfg.optimizer.muon_lr * r.factor_suggested)
    for lr, by_group in groups:
        factor = lr / cfg.optimizer.lr
        assert math.isclose(by_group[(True, False)], cfg.optimizer.muon_lr * factor)  # conv filters
        assert math.isclose(by_group[(False, True)], lr * 64.0)  # biases and norms: bias_lr_scale
        assert math.isclose(by_group[(False, False)], lr)  # the head


def test_a_huge_lr_diverges_and_stops_early(small):
    r = find_lr(small_config(**{"optimizer.lr": 10.0}), dataset=small, device_name="cpu", steps=40)
    assert r.diverged and r.steps_done < 40
    assert max(r.lrs) <= 10.0  # capped at optimizer.lr's allowed max: the sweep ends at x1, not x10
    # The point that crossed 4x the best is kept in the curve but never suggested.
    assert r.losses[-1] > lr_find.DIVERGE_RATIO * min(r.losses[:-1])
    assert r.suggested_lr is None or r.lrs[0] <= r.suggested_lr <= r.lrs[-2]


def test_the_sweep_stays_within_the_lrs_the_config_allows():
    high = sweep_factors(small_config(**{"optimizer.lr": 5.0}), 10)
    assert math.isclose(high[0], lr_find.FACTOR_START) and math.isclose(5.0 * high[-1], 10.0)
    low = sweep_factors(small_config(**{"optimizer.lr": 1e-5}), 10)
    assert math.isclose(1e-5 * low[0], 1e-6) and math.isclose(low[-1], lr_find.FACTOR_END)
    both = sweep_factors(muon_config(**{"optimizer.lr": 2.0, "optimizer.muon_lr": 1e-5}), 10)
    assert 2.0 * both[-1] <= 10.0 + 1e-9 and 1e-5 * both[0] >= 1e-6 - 1e-15
    with pytest.raises(ValueError, match="too far apart"):
        sweep_factors(muon_config(**{"optimizer.lr": 10.0, "optimizer.muon_lr": 1e-6}), 10)
    with pytest.raises(ValueError, match="at least"):
        sweep_factors(small_config(), 3)


def test_a_stop_request_ends_the_sweep_with_the_points_so_far(small):
    done = []
    r = find_lr(small_config(), dataset=small, device_name="cpu", steps=50,
                progress=lambda d, t: done.append(d), should_stop=lambda: len(done) >= 3)
    assert r.steps_done == 3 and not r.diverged
    assert r.suggested_lr is None and r.factor_suggested is None  # too few points to judge


def test_a_bad_data_folder_is_a_data_error(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-100-python").mkdir()
    with pytest.raises(DataError, match="choose one"):
        find_lr(small_config(), data=str(tmp_path), device_name="cpu", steps=10)


def test_steepest_descent_is_where_the_loss_falls_fastest_against_log_lr():
    lrs = list(np.logspace(-4, 0, 41))
    losses = [2.0 - math.tanh(math.log10(lr) + 2.0) for lr in lrs]  # falls fastest at 1e-2
    assert math.isclose(lrs[steepest_descent(lrs, losses)], 1e-2)
    steep_start = [losses[0] + 5.0 * (4 - i) if i < 4 else v for i, v in enumerate(losses)]
    assert math.isclose(lrs[steepest_descent(lrs, steep_start)], 1e-2)  # the first 10% are skipped
    assert steepest_descent(lrs[:5], losses[:5]) is None


def test_the_command_line_plots_the_sweep_and_prints_the_set_to_use(home, tmp_path):
    import json
    import subprocess

    from tui_trainer.config import to_toml

    from conftest import CLI, cli_env

    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(small_config()))
    base = [*CLI, "lr-find", "--preset", str(preset), "--data", "synthetic", "--steps", "20"]
    shown = subprocess.run(base, capture_output=True, text=True, env=cli_env(home), timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "smoothed loss against optimizer.lr" in shown.stdout and "\x1b[" not in shown.stdout
    assert "suggested (steepest descent): optimizer.lr = " in shown.stdout
    assert "use it: --set optimizer.lr=" in shown.stdout
    bad = subprocess.run(base[:-1] + ["3"], capture_output=True, text=True, env=cli_env(home), timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    out = subprocess.run(base + ["--json"], capture_output=True, text=True, env=cli_env(home), timeout=120)
    result = json.loads(out.stdout)
    assert min(result["lrs"]) <= result["suggested_lr"] <= max(result["lrs"])
