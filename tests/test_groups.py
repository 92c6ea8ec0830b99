"""Seed groups: the statistics against values known without scipy (a t table, the t distribution's
closed form at 4 degrees of freedom, G*Power's sample sizes), the grouping rules, the CLI's grouped
listing against a baseline, and `train --seeds` stopped and resumed as a group."""
import json
import math
import signal
import subprocess
import time

import pytest

from tui_trainer.config import to_toml
from tui_trainer.training.seed_group import next_live_member
from tui_trainer.workspace.fixtures import write_run_folder
from tui_trainer.workspace.groups import Interval, compare, group_runs, seeds_needed
from tui_trainer.workspace.listing import list_rows
from tui_trainer.workspace.summary import read_summary

from conftest import CLI, cli_env, run_cli, tiny_config


def test_the_interval_is_the_t_tables():
    interval = Interval.of([1, 2, 3, 4, 5])
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) from a table; sd = sqrt(2.5)
    assert interval.mean == 3 and interval.sd == pytest.approx(math.sqrt(2.5))
    assert interval.ci95 == pytest.approx((3 - half, 3 + half), abs=1e-6)
    assert Interval.of([0.9]).ci95 is None and Interval.of([]).mean is None


def rows(tmp_path, groups: dict[str, list[float]], **changes):
    """Run folders: for each name, one run per final accuracy, seeds 0, 1, ..."""
    for name, finals in groups.items():
        for seed, acc in enumerate(finals):
            cfg = tiny_config(**{"run.seed": seed, **changes.get(name, {})})
            write_run_folder(tmp_path, f"{name}-{seed}", cfg, [acc - 0.01, acc], final_acc=acc)
    return list_rows(tmp_path)


def test_welch_p_value_and_verdict_against_the_closed_form(tmp_path):
    groups = group_runs(rows(tmp_path, {"a": [0.80, 0.82, 0.84], "b": [0.70, 0.72, 0.74]},
                             b={"optimizer.lr": 0.5}))
    a, b = sorted(groups, key=lambda g: -g.final.mean)
    c = compare(a, b)
    t = 0.10 / math.sqrt(2 * 0.02 ** 2 / 3)  # equal spreads and sizes: Welch's df is 4
    x = t / math.sqrt(4 + t * t)
    p = 2 * (1 - (0.5 + 0.75 * x * (1 - x * x / 3)))  # the t distribution's CDF at 4 degrees of freedom
    assert c.p_value == pytest.approx(p, rel=1e-6) and c.diff_mean == pytest.approx(0.10)
    half = 2.7764451 * math.sqrt(2 * 0.02 ** 2 / 3)
    assert c.diff_ci95 == pytest.approx((0.10 - half, 0.10 + half), abs=1e-6)
    assert c.verdict == f"better by 10.00 ± {half * 100:.2f} points, p = {p:.3g}"
    assert compare(b, a).verdict.startswith("worse by 10.00")


def test_sample_sizes_are_g_power_s_and_a_close_call_says_how_many_seeds_would_tell(tmp_path):
    # two-sided alpha 0.05, power 0.8, Cohen's d 0.5, 0.8, 1.0: 64, 26 and 17 a group
    assert [seeds_needed(d, 1.0) for d in (0.5, 0.8, 1.0)] == [64, 26, 17]
    groups = group_runs(rows(tmp_path, {"a": [0.844, 0.840], "b": [0.842, 0.839]}, b={"optimizer.lr": 0.5}))
    verdict = compare(groups[0], groups[1]).verdict
    assert verdict.startswith("can't tell at n = 2: about ") and "seeds each would tell a" in verdict


def test_runs_equal_but_for_seed_and_cosmetic_keys_are_one_group(tmp_path):
    listed = rows(tmp_path, {"base": [0.80, 0.81], "cosmetic": [0.82], "lr": [0.79]},
                  cosmetic={"run.eval_every": 2, "run.tensorboard": True}, lr={"optimizer.lr": 0.5})
    groups = group_runs(listed)
    sizes = sorted((g.n, sorted(r.name for r in g.runs)) for g in groups)
    assert sizes == [(1, ["lr-0"]), (3, ["base-0", "base-1", "cosmetic-0"])]
    other_data = tmp_path / "more"
    write_run_folder(other_data, "base-0", tiny_config(), [0.8], final_acc=0.8, data="/elsewhere")
    assert len(group_runs(list_rows(tmp_path) + list_rows(other_data))) == 3  # other data: another group
    assert len(group_runs(listed, "preset")) == 1 and len(group_runs(listed, "none")) == 4


def test_runs_group_baseline_json(home, tmp_path):
    rows(tmp_path, {"a": [0.80, 0.82, 0.84], "b": [0.70, 0.72, 0.74]}, b={"optimizer.lr": 0.5})
    proc = run_cli(home, "runs", "--runs", str(tmp_path), "--group", "settings", "--baseline", "b-0", "--json")
    assert proc.returncode == 0, proc.stderr
    groups = json.loads(proc.stdout)
    a = next(g for g in groups if g["final_acc_mean"] > 0.8)
    b = next(g for g in groups if g["final_acc_mean"] < 0.8)
    assert a["n"] == 3 and a["final_acc_mean"] == pytest.approx(0.82) and a["final_acc_sd"] == pytest.approx(0.02)
    assert a["final_acc_ci95"][0] < 0.82 < a["final_acc_ci95"][1] and a["p_value"] < 0.01
    assert a["verdict"].startswith("better by 10.00") and "verdict" not in b and a["best_acc_mean"] is not None
    missing = run_cli(home, "runs", "--runs", str(tmp_path), "--baseline", "nope")
    assert missing.returncode == 2 and "no run or group 'nope'" in missing.stderr


def test_a_seed_group_stopped_in_its_second_run_resumes_it_then_trains_the_third(home, tmp_path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 3, "run.seed": 7})))
    runs = tmp_path / "runs"
    proc = subprocess.Popen([*CLI, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(runs),
                             "--seeds", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(home))
    deadline = time.time() + 120
    while time.time() < deadline and len([p for p in runs.glob("*") if (p / "metrics.csv").exists()]) < 2:
        time.sleep(0.2)  # the second member has finished an epoch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    members = sorted(runs.iterdir())
    assert len(members) == 2 and "1 run(s) not started" in err
    summaries = [read_summary(m) for m in members]
    assert summaries[0].state == "finished" and summaries[1].state == "stopped"
    assert summaries[0].group == summaries[1].group and summaries[0].group_seeds == [7, 8, 9]
    # A follower (the served app) knows at once that no member comes after a stopped one.
    started = time.monotonic()
    assert next_live_member(members[1], within_s=60) is None and time.monotonic() - started < 5
    resumed = run_cli(home, "train", "--resume", str(members[1]))
    assert resumed.returncode == 0, resumed.stderr
    members = sorted(runs.iterdir())
    summaries = [read_summary(m) for m in members]
    assert len(members) == 3 and all(s.state == "finished" for s in summaries)
    assert sorted(s.config["run.seed"] for s in summaries) == [7, 8, 9]
    assert len({s.group for s in summaries}) == 1
    started = time.monotonic()  # nor after the group's every seed finished
    assert next_live_member(members[-1], within_s=60) is None and time.monotonic() - started < 5
    listed = json.loads(run_cli(home, "runs", "--runs", str(runs), "--group", "settings", "--json").stdout)
    assert len(listed) == 1 and listed[0]["n"] == 3 and listed[0]["group"] == summaries[0].group
    assert listed[0]["final_acc_mean"] > 0.5  # chance is 0.1


def test_like_reproduces_a_run_exactly_and_names_what_its_environment_was(home, tmp_path):
    from tui_trainer.workspace import folder
    from tui_trainer.workspace.environment import differences, read

    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.precision": "fp32"})))
    runs = tmp_path / "runs"
    first = run_cli(home, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(runs))
    assert first.returncode == 0, first.stderr
    (a,) = runs.iterdir()
    again = run_cli(home, "train", "--like", str(a), "--runs", str(runs))
    other = run_cli(home, "train", "--like", str(a), "--seed", "5", "--runs", str(runs))
    assert again.returncode == 0 and other.returncode == 0, (again.stderr, other.stderr)
    b, c = sorted(p for p in runs.iterdir() if p != a)
    metrics = {run: [(m.train_loss, m.train_acc, m.test_loss, m.test_acc) for m in folder.read_metrics(run)]
               for run in (a, b, c)}
    assert metrics[a] == metrics[b]  # exactly: the same settings, seed, data and threads on this CPU
    assert metrics[c] != metrics[a] and folder.read_config(c).run.seed == 5
    env = read(a)
    assert env["threads"] >= 1 and env["data_fingerprint"] == "synthetic" and env["seed"] == 1
    assert env["torch"] and env["cpu"] and env["precision"] == "fp32" and "commit" in (env["git"] or {"commit": 1})
    assert differences(env, read(b)) == []
    assert differences(env, {**env, "threads": 99}) == [("threads", str(env["threads"]), "99")]
    budget = tiny_config(**{"run.budget_s": 60})
    folder.write_config(c, budget)
    refused = run_cli(home, "train", "--like", str(c))
    assert refused.returncode == 2 and "budget" in refused.stderr
    assert run_cli(home, "train", "--preset", "cpu-quick", "--seed", "3").returncode == 2


def test_a_parallel_group_trains_its_seeds_at_once_on_a_share_of_the_cores_each(home, tmp_path):
    import os

    from tui_trainer.workspace.environment import read

    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 1, "run.seeds": 2, "run.seed": 3})))  # run.seeds in TOML
    runs = tmp_path / "runs"
    proc = run_cli(home, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(runs),
                   "--parallel", "2")
    assert proc.returncode == 0, proc.stderr
    assert "2 at a time" in proc.stderr and proc.stderr.count("finished, final") == 2
    members = sorted(p for p in runs.iterdir() if not p.name.startswith("."))
    summaries = [read_summary(m) for m in members]
    assert len(members) == 2 and {s.group for s in summaries} == {summaries[0].group} and summaries[0].group
    assert sorted(s.config["run.seed"] for s in summaries) == [3, 4] and all(s.final_acc > 0.5 for s in summaries)
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    assert [read(m)["threads"] for m in members] == [share, share]
    # A run trained again alone is one run, not another group.
    again = run_cli(home, "train", "--like", str(members[0]), "--runs", str(tmp_path / "again"))
    assert again.returncode == 0 and len(list((tmp_path / "again").iterdir())) == 1, again.stderr
    lonely = run_cli(home, "train", "--preset", str(preset), "--set", "run.seeds=1", "--parallel", "2",
                     "--data", "synthetic", "--runs", str(runs))
    assert lonely.returncode == 2 and "give --seeds N too" in lonely.stderr


def test_a_queued_seed_group_is_one_item_of_runs_that_share_a_group(home, tmp_path):
    from tui_trainer.workspace.queue import Queue

    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 1})))
    runs = tmp_path / "runs"
    assert run_cli(home, "queue", "add", "--preset", str(preset), "--seeds", "2", "--runs", str(runs)).returncode == 0
    ran = run_cli(home, "queue", "run", "--data", "synthetic", "--runs", str(runs))
    assert ran.returncode == 0, ran.stderr
    (done,) = Queue(runs).history()
    members = [p for p in runs.iterdir() if p.name != "queue"]
    summaries = [read_summary(m) for m in members]
    assert len(members) == 2 and summaries[0].group == summaries[1].group and summaries[0].group_seeds == [1, 2]
    assert done.state == "finished"


def test_a_stopped_parallel_group_stops_every_run_and_resume_trains_the_cut_ones_then_the_rest(home, tmp_path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 4})))
    runs = tmp_path / "runs"
    proc = subprocess.Popen([*CLI, "train", "--preset", str(preset), "--data", "synthetic", "--runs", str(runs),
                             "--seeds", "3", "--parallel", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env(home))
    deadline = time.time() + 120
    while time.time() < deadline and len([p for p in runs.glob("2*") if (p / "metrics.csv").exists()]) < 2:
        time.sleep(0.2)  # both running members have an epoch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)  # it used to wait for the seed not started, forever
    assert proc.returncode == 130, (out, err)
    members = sorted(runs.glob("2*"))
    assert len(members) == 2 and "1 run(s) not started" in err and "--resume" in err
    assert {read_summary(m).state for m in members} == {"stopped"}
    resumed = run_cli(home, "train", "--resume", str(members[0]))
    assert resumed.returncode == 0, resumed.stderr
    summaries = [read_summary(m) for m in sorted(runs.glob("2*"))]
    assert len(summaries) == 3 and all(s.state == "finished" and s.epochs_done == 4 for s in summaries)
    assert sorted(s.config["run.seed"] for s in summaries) == [1, 2, 3] and len({s.group for s in summaries}) == 1
