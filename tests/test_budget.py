"""Training for a time budget: the plan (from the accuracy table, or fitted), the refusals, the
calibration cache and its keys, a budget run stopped and resumed on its own clock, and the budget
holding while another process takes a core."""
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui_trainer import presets
from tui_trainer.config import Config, to_toml
from tui_trainer.training import budget, speed_cache
from tui_trainer.training.budget import Net, Plan, Point, Speed, Table
from tui_trainer.workspace import folder

from conftest import CLI, cli_env, one_line_error, run_cli, tiny_config

TRAIN, TEST = 45_000, 5_000


def toy_table(batch_size: int = 512, gain: float = 0.0) -> Table:
    """Accuracy rising with width and with log epochs, as the real one does; `gain` more after one
    epoch, none after three (as a smaller batch's more steps do)."""
    fade = {1: gain, 3: 0.0, 9: 0.0}
    points = [Point([32, 64, 64], 1, [0.72, 0.72]), Point([32, 64, 64], 3, [0.80, 0.81]),
              Point([32, 64, 64], 9, [0.85, 0.85]), Point([48, 96, 96], 1, [0.75, 0.76]),
              Point([48, 96, 96], 3, [0.84, 0.84]), Point([48, 96, 96], 9, [0.88, 0.88]),
              Point([64, 256, 256], 1, [0.79, 0.80]), Point([64, 256, 256], 3, [0.88, 0.87])]
    points = [Point(p.widths, p.epochs, [a + fade[p.epochs] for a in p.accs]) for p in points]
    cfg, _ = presets.resolve("fast")
    return Table(budget.recipe_hash(cfg), "fast", TRAIN, batch_size, 1.5 / 7, points)


WIDTH_SPEEDS = {(32, 64, 64): Speed(3000, 12000, 1.0), (48, 96, 96): Speed(1500, 6000, 1.5),
                (64, 256, 256): Speed(500, 2000, 3.0)}
SPEEDS = {Net(w, 512): s for w, s in WIDTH_SPEEDS.items()}


def fast() -> Config:
    return presets.resolve("fast")[0]


def test_the_table_interpolates_in_log_images_and_never_extrapolates():
    table = toy_table()
    mean, _ = table.expected([32, 64, 64], 3 * TRAIN)
    assert mean == pytest.approx(0.805)
    halfway = math.exp((math.log(TRAIN) + math.log(3 * TRAIN)) / 2)  # halfway in log images
    assert table.expected([32, 64, 64], halfway)[0] == pytest.approx((0.72 + 0.805) / 2)
    assert table.expected([32, 64, 64], 0.5 * TRAIN) is None and table.expected([64, 256, 256], 4 * TRAIN) is None


def test_a_plan_picks_the_best_expected_accuracy_that_fits_the_budget():
    table, cfg = toy_table(), fast()
    # 150 s: about 4 epochs of 48-96-96 (0.85 expected) beats ~1.3 of 64-256-256 and ~8 of 32-64-64.
    plan = budget.plan(cfg, 150, 10, SPEEDS, TRAIN, TEST, (table,))
    assert plan.mode == "table" and plan.widths == [48, 96, 96] and 3 < plan.epochs < 5 and plan.batch_size == 512
    assert plan.predicted_s == pytest.approx(150 * budget.TARGET, rel=1e-6)
    assert plan.expected_acc == pytest.approx(table.expected([48, 96, 96], plan.epochs * TRAIN)[0])
    # The end: one plain view of every test image, TTA's six of the preset's share of them.
    views = 1 + 6 * cfg.run.tta_share
    assert plan.final_s == pytest.approx(views * TEST / WIDTH_SPEEDS[tuple(plan.widths)].eval_ips)
    for widths, speed in WIDTH_SPEEDS.items():  # no net the table knows would be expected to do better
        e = (150 * budget.TARGET - 10 - speed.build_s - views * TEST / speed.eval_ips) * speed.train_ips / TRAIN
        other = table.expected(list(widths), e * TRAIN)
        assert other is None or other[0] <= plan.expected_acc + 1e-12
    budget.apply(cfg, plan, (table,))
    assert cfg.model.widths == [48, 96, 96] and cfg.run.epochs == math.ceil(plan.epochs * budget.EPOCHS_CAP)
    assert cfg.schedule.warmup_epochs == pytest.approx(table.warmup_share * cfg.run.epochs)
    assert cfg.run.eval_every == cfg.run.epochs


def test_a_budget_beyond_the_table_says_so_and_one_below_it_is_fitted_or_refused():
    table, cfg = toy_table(), fast()
    big = budget.plan(cfg, 3600, 10, SPEEDS, TRAIN, TEST, (table,))
    assert big.mode == "table" and "expect at least" in big.note
    small = budget.plan(cfg, 20, 5, SPEEDS, TRAIN, TEST, (table,))
    assert small.mode == "fitted" and small.expected_acc is None and small.widths == [32, 64, 64]
    assert f"({small.smallest_s:.0f} s)" in small.note and small.smallest_s > 20
    budget.apply(cfg, small, (table,))
    assert cfg.model.widths == [32, 64, 64]  # the net the plan timed is the net that trains
    with pytest.raises(ValueError, match="run.budget_s = 8: .* give at least"):
        budget.plan(cfg, 8, 6, SPEEDS, TRAIN, TEST, (table,))


def test_a_plan_picks_the_batch_size_whose_table_expects_more_for_its_budget():
    # Batch 256 three points better after one epoch, none after three, and 10% slower a step.
    tables = (toy_table(512), toy_table(256, gain=0.03))
    speeds = {**SPEEDS, **{Net(w, 256): Speed(s.train_ips * 0.9, s.eval_ips, s.build_s) for w, s in WIDTH_SPEEDS.items()}}
    short = budget.plan(fast(), 40, 5, speeds, TRAIN, TEST, tables)
    assert short.mode == "table" and short.batch_size == 256 and "batch 256" in short.describe()
    long = budget.plan(fast(), 200, 5, speeds, TRAIN, TEST, tables)
    assert long.mode == "table" and long.batch_size == 512
    for p in (short, long):  # what each table expects of the net and epochs chosen
        (table,) = [t for t in tables if t.batch_size == p.batch_size]
        assert p.expected_acc == pytest.approx(table.expected(p.widths, p.epochs * TRAIN)[0])
        cfg = fast()
        budget.apply(cfg, p, tables)
        assert cfg.data.batch_size == p.batch_size and cfg.model.widths == p.widths
    # A plan kept by a run from before the planner chose the batch size still reads and applies.
    old = {k: v for k, v in short.to_json().items() if k not in ("event", "batch_size")}
    cfg = fast()
    budget.apply(cfg, Plan(**old), tables)
    assert cfg.data.batch_size == 512


def test_the_recipe_hash_ignores_what_a_plan_sets_and_nothing_else():
    cfg, quick = fast(), presets.resolve("cpu-quick")[0]
    assert budget.recipe_hash(cfg) == budget.recipe_hash(quick)  # they differ in width, epochs, warmup only
    changed, _ = presets.resolve("fast", ["optimizer.lr=0.5"])
    assert budget.recipe_hash(changed) != budget.recipe_hash(cfg)
    seeded, _ = presets.resolve("fast", ["run.seed=3", "run.budget_s=2m"])
    assert budget.recipe_hash(seeded) == budget.recipe_hash(cfg)
    batch, _ = presets.resolve("fast", ["data.batch_size=256"])
    assert budget.recipe_hash(batch) == budget.recipe_hash(cfg)  # a plan chooses it among the tables
    assert budget.tables_for(changed, TRAIN, "cifar10") == ()
    assert budget.tables_for(cfg, 39_000, "cifar10") == () and budget.tables_for(cfg, TRAIN, "cifar100") == ()


def test_the_shipped_table_is_the_fast_presets_recipe():
    """When the fast recipe changes, the table must be measured again (benchmarks/budget_table.py)."""
    tables = budget.shipped_tables()
    assert tables, f"no accuracy table in {budget.TABLE_FILE}"
    fast_tables = [t for t in tables if t.preset == "fast"]
    assert {t.batch_size for t in fast_tables} == {256, 512} and len(fast_tables) == 2
    for table in fast_tables:
        assert table.recipe == budget.recipe_hash(fast()), "the fast recipe changed: run benchmarks/budget_table.py"
        assert table.train_images >= budget.MIN_TABLE_IMAGES and len(table.points) >= 8
        assert all(len(p.accs) >= 2 for p in table.points)
    assert budget.tables_for(fast(), TRAIN, "cifar10") == tuple(fast_tables)


@pytest.mark.parametrize("args,needle", [
    (["--preset", "fast", "--budget", "2m", "--epochs", "3"], "--budget or --epochs, not both"),
    (["--preset", "fast", "--budget", "soon"], "run.budget_s = 'soon' is invalid: expected seconds"),
    (["--preset", "fast", "--budget", "2m", "--nproc", "2"], "--budget trains on one process"),
    (["--resume", "somewhere", "--budget", "2m"], "drop --preset, --set, --budget and --seeds"),
])
def test_budget_refusals_exit_2(home, args, needle):
    assert needle in one_line_error(run_cli(home, "train", *args, "--data", "synthetic"), 2)


def test_calibration_is_cached_by_machine_and_measured_once(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import torch

    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.training import calibration, device

    cfg = tiny_config()
    place = device.resolve("cpu", "fp32")
    key = calibration.machine_key(place)
    assert speed_cache.cpu_name() in key and f"torch {torch.__version__}" in key and key.endswith("| fp32")
    assert f"threads {torch.get_num_threads()}" in key
    assert speed_cache.key("x", "2.0", 1, "bf16") != speed_cache.key("x", "2.0", 2, "bf16")
    # what benchmarks print beside every figure: the model, and which precision it computes natively
    label = speed_cache.cpu_label()
    assert label.startswith(speed_cache.cpu_name().split(" flags:")[0])
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert ("avx512_bf16" in label) == ("avx512_bf16" in cpuinfo) and ("amx_bf16" in label) == ("amx_bf16" in cpuinfo)
    assert label.endswith("(no native bf16)") == ("avx512_bf16" not in cpuinfo and "amx_bf16" not in cpuinfo
                                                   and "amx_tile" not in cpuinfo)
    data = make_synthetic(n_train=1024, n_test=200)
    said = []
    net = Net((8, 16, 32), cfg.data.batch_size)
    first, _ = calibration.speeds(cfg, [net], data, place, said.append)
    again, _ = calibration.speeds(cfg, [net], data, place, said.append)
    assert len([s for s in said if s.startswith("calibrating")]) == 1
    speed, cached = first[net], again[net]
    assert cached.train_ips == pytest.approx(speed.train_ips, rel=1e-3)  # as the cache keeps it: rounded
    assert speed.train_ips > 0 and speed.eval_ips > 0 and speed.build_s > 0
    raw = json.loads(speed_cache.cache_file().read_text())
    assert list(raw) == [key] and speed_cache.net_key(cfg, [8, 16, 32]) in raw[key]["nets"]
    speed_cache.refine(key, tiny_config(**{"model.widths": [8, 16, 32]}), speed.train_ips * 3)
    assert speed_cache.cached_speed(key, cfg, [8, 16, 32]).train_ips == pytest.approx(speed.train_ips * 2, rel=0.01)


def budget_preset(tmp_path: Path, seconds: float) -> Path:
    path = tmp_path / "tiny-budget.toml"
    path.write_text(to_toml(tiny_config(**{"run.budget_s": seconds, "schedule.name": "linear",
                                           "schedule.warmup_epochs": 0.3})))
    return path


def test_a_stopped_budget_run_resumes_on_its_own_clock(home, tmp_path):
    env = dict(cli_env(home), XDG_CACHE_HOME=str(tmp_path / "cache"))
    runs_dir = tmp_path / "runs"
    proc = subprocess.Popen([*CLI, "train", "--preset", str(budget_preset(tmp_path, 40)), "--data", "synthetic",
                             "--runs", str(runs_dir), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    run_dir = None
    while time.monotonic() < deadline:  # stop it a moment into its training, mid-budget
        found = [p for p in runs_dir.iterdir() if p.is_dir()] if runs_dir.is_dir() else []
        run_dir = found[0] if found else None
        if run_dir and any(type(e).__name__ == "BatchProgress" for e in folder.read_events(run_dir)[0]):
            break
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    plan = json.loads(out.splitlines()[0])
    assert plan["event"] == "plan" and plan["mode"] == "fitted" and plan["budget_s"] == 40
    import torch
    kept = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["budget"]
    assert kept["train_s"] == pytest.approx(plan["train_s"]) and 0 < kept["progress"] < 1
    steps_before = json.loads((run_dir / "budget-steps.json").read_text())["progress"]
    resumed = subprocess.run([*CLI, "train", "--resume", str(run_dir), "--json"], capture_output=True, text=True,
                             env=env, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    progress = json.loads((run_dir / "budget-steps.json").read_text())["progress"]
    assert len(progress) > len(steps_before) and progress == sorted(progress)  # one schedule, in order
    assert progress[len(steps_before) - 1] <= kept["progress"] <= progress[len(steps_before)] + 1e-6
    assert progress[-1] > 0.9  # it trained on to the end of its clock
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "finished"
    assert json.loads(resumed.stdout.splitlines()[0])["event"] == "plan"  # the plan it kept, said again
    # Resumed once more, a run whose clock ran out trains no more: it is only finished again.
    rows = len(folder.read_metrics(run_dir))
    again = subprocess.run([*CLI, "train", "--resume", str(run_dir), "--json"], capture_output=True, text=True,
                           env=env, timeout=180)
    assert again.returncode == 0 and len(folder.read_metrics(run_dir)) == rows, again.stderr
    refused = subprocess.run([*CLI, "train", "--resume", str(run_dir), "--epochs", "9"], capture_output=True,
                             text=True, env=env, timeout=180)
    assert refused.returncode == 2 and "own clock" in refused.stderr  # bad input, the run left as it was
    assert json.loads((run_dir / "summary.json").read_text())["state"] == "finished"
    # Trained again with --like, it replays the steps its clock gave it, as a fixed run: the same
    # metrics on this CPU, however fast the machine is now.
    again_dir = tmp_path / "again"
    like = subprocess.run([*CLI, "train", "--like", str(run_dir), "--runs", str(again_dir)], capture_output=True,
                          text=True, env=env, timeout=180)
    assert like.returncode == 0, like.stderr
    (replay,) = again_dir.iterdir()
    assert folder.read_config(replay).run.budget_s == 0 and (replay / "replay-steps.json").is_file()
    replayed, original = folder.read_metrics(replay), folder.read_metrics(run_dir)
    assert [(m.epoch, m.train_acc, m.test_loss, m.test_acc) for m in replayed] == \
        [(m.epoch, m.train_acc, m.test_loss, m.test_acc) for m in original]
    # The epoch the stop cut sums its loss in two parts: the same losses, added in another order.
    assert [m.train_loss for m in replayed] == pytest.approx([m.train_loss for m in original], rel=1e-5)


def test_the_budget_holds_while_another_process_takes_a_core(home, tmp_path):
    """30 s, start to exit, with a busy loop on one of the two cores: the clock the schedule follows
    absorbs the slower steps; the run ends between 0.90x and 1.05x its budget."""
    env = dict(cli_env(home), XDG_CACHE_HOME=str(tmp_path / "cache"))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        started = time.monotonic()
        done = subprocess.run([*CLI, "train", "--preset", str(budget_preset(tmp_path, 30)), "--data", "synthetic",
                               "--runs", str(tmp_path / "runs"), "--json"], capture_output=True, text=True, env=env,
                              timeout=120)
        seconds = time.monotonic() - started
    finally:
        hog.kill()
    assert done.returncode == 0, done.stderr
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["event"] == "finished" and finished["final_acc"] > 0.3, finished  # chance: 0.1
    assert 0.90 * 30 <= seconds <= 1.05 * 30, seconds


def test_the_clock_counts_training_time_but_not_pauses_and_goes_on_where_it_stopped():
    clock = budget.BudgetClock(100.0)
    clock.start(1000.0)
    assert clock.progress(1025.0) == pytest.approx(0.25)
    clock.paused_s += 30.0  # thirty seconds paused: the share stands still
    assert clock.progress(1055.0) == pytest.approx(0.25)
    kept = clock.state(1085.0)
    assert kept == {"train_s": 100.0, "progress": pytest.approx(0.55)}
    resumed = budget.BudgetClock(kept["train_s"], kept["progress"])
    resumed.start(0.0)
    assert resumed.progress(45.0) == pytest.approx(1.0)


def test_a_run_without_a_budget_leaves_the_speed_cache_alone(tmp_path, monkeypatch):
    from tui_trainer.data.synthetic import make_synthetic
    from tui_trainer.training.trainer import Trainer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = Trainer(tiny_config(**{"run.epochs": 1}), data="synthetic", runs_dir=tmp_path / "runs",
                     dataset=make_synthetic(n_train=512, n_test=100)).run()
    assert result.final_acc is not None and not speed_cache.cache_file().exists()
    assert not (Path(result.run_dir) / "budget-steps.json").exists()


def test_a_plan_describes_itself_in_one_line_and_as_json():
    plan = Plan(120, "airbench", "table", [48, 96, 96], 4.3, 95, 6, 116.4, 0.869, 0.003, 45, None)
    assert plan.to_json()["event"] == "plan" and plan.to_json()["widths"] == [48, 96, 96]
    text = plan.describe()
    assert "\n" not in text and "48-96-96" in text and "86.9%" in text and "116 s" in text
