"""Training for a time budget: which net, and how many epochs, this machine can train in the
budget for the best expected accuracy; then a clock the LR schedule follows, so the run ends on
time however the machine's speed turns out.

Two facts go into a plan. Accuracy at a recipe and an epoch count does not depend on the machine:
it is measured once, on real CIFAR-10, into the accuracy table shipped beside this module
(benchmarks/budget_table.py makes it), keyed by a hash of the recipe (every setting but those a
plan sets). Speed depends only on the machine: calibration.py measures it and keeps it in a cache.
The planner may set only what the table varies (model.widths, run.epochs, the warmup as a share of
the run, run.eval_every) and data.batch_size, where tables of one recipe were measured at several
(few-epoch runs learn more from the same images in more, smaller steps; long runs, about as much
at either); a recipe the table does not know (another preset, a --set of a recipe
key, CIFAR-100, image folders, fewer than 40,000 training images) keeps its settings and has its
epochs fitted to the budget. Budgeted training with a schedule that follows the elapsed share of
the budget: Li et al., "Budgeted Training", ICLR 2020. No torch here: Setup plans on the UI side.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from ..config import Config, field_info, fit_epochs
from ..workspace.listing import flatten

TABLE_FILE = Path(__file__).with_name("accuracy_table.json")
MIN_TABLE_IMAGES = 40_000  # "images seen" means little on a much smaller training set
# What a plan may set, and what never changes a run's accuracy: neither is part of the recipe.
PLANNED = ("model.widths", "run.epochs", "schedule.warmup_epochs", "run.eval_every", "data.batch_size")
# run.tta_share: TTA on the least-confident quarter scored 0.06 points under TTA on every image on
# average over 12 runs (-0.34 at worst, a 3-epoch run; BENCHMARKS.md section 14), inside the
# table's interpolation error: how the final figure is computed, not what the net learns.
NOT_RECIPE = ("run.seed", "run.seeds", "run.budget_s", "run.tensorboard", "run.best_after_epoch", "run.precision",
              "run.tta_share",
              "run.early_stop_patience", "run.early_stop_min_delta", "data.dataset", "data.cifar100_labels",
              # the images trained on, not how: the table is looked up by the training set's size after the split
              "data.validation", "data.validation_seed")
TARGET = 0.97  # of the budget: a run ends between 0.90x and 1.05x it, and the exit takes a moment
EPOCHS_CAP = 2.0  # the most epochs a budget run may train, as a multiple of the planned ones


def recipe_hash(cfg: Config) -> str:
    """The hash of everything that decides accuracy but what a plan sets."""
    settings = {k: v for k, v in flatten(cfg.to_dict()).items() if k not in PLANNED and k not in NOT_RECIPE}
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Point:
    widths: list[int]
    epochs: float
    accs: list[float]  # final test accuracy (with TTA) of each seed

    @property
    def mean(self) -> float:
        return sum(self.accs) / len(self.accs)

    @property
    def sd(self) -> float:
        m = self.mean
        return math.sqrt(sum((a - m) ** 2 for a in self.accs) / (len(self.accs) - 1)) if len(self.accs) > 1 else 0.0


@dataclass
class Table:
    recipe: str
    preset: str  # the preset whose recipe it is
    train_images: int  # training images of an epoch when it was measured
    batch_size: int
    warmup_share: float  # warmup_epochs / epochs of every point
    points: list[Point]
    about: dict[str, Any] = field(default_factory=dict)  # data, CPU, date, commit, command, held-out check

    def widths(self) -> list[list[int]]:
        return sorted({tuple(p.widths) for p in self.points}, key=lambda w: (sum(w), w))  # type: ignore[return-value]

    def curve(self, widths: list[int]) -> list[Point]:
        return sorted((p for p in self.points if list(p.widths) == list(widths)), key=lambda p: p.epochs)

    def expected(self, widths: list[int], images: float) -> tuple[float, float] | None:
        """Mean and spread of final accuracy after `images` training images seen, interpolated in
        log images between measured points; None outside them (never extrapolated)."""
        curve = self.curve(widths)
        xs = [math.log(p.epochs * self.train_images) for p in curve]
        if not curve or images <= 0:
            return None
        x = math.log(images)
        if x < xs[0] - 1e-9 or x > xs[-1] + 1e-9:
            return None
        i = min(max(bisect.bisect_left(xs, x), 1), len(xs) - 1) if len(xs) > 1 else 0
        if len(xs) == 1:
            return curve[0].mean, curve[0].sd
        t = min(max((x - xs[i - 1]) / (xs[i] - xs[i - 1]), 0.0), 1.0)
        a, b = curve[i - 1], curve[i]
        return a.mean + t * (b.mean - a.mean), a.sd + t * (b.sd - a.sd)

    @classmethod
    def from_json(cls, raw: dict) -> Table:
        merged: dict[tuple, Point] = {}  # one point per net and epoch count: interpolation needs them apart
        for p in raw["points"]:
            point = merged.setdefault((tuple(p["widths"]), float(p["epochs"])),
                                      Point(list(p["widths"]), float(p["epochs"]), []))
            point.accs.extend(float(a) for a in p["accs"])
        return cls(raw["recipe"], raw["preset"], int(raw["train_images"]), int(raw["batch_size"]),
                   float(raw["warmup_share"]), list(merged.values()), raw.get("about", {}))

    def to_json(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "points"},
                "points": [{"widths": p.widths, "epochs": p.epochs, "accs": p.accs, "mean": round(p.mean, 5),
                            "sd": round(p.sd, 5)} for p in self.points]}


@cache
def shipped_tables() -> tuple[Table, ...]:
    try:
        raw = json.loads(TABLE_FILE.read_text())
    except (OSError, ValueError):
        return ()
    return tuple(Table.from_json(t) for t in raw.get("tables", []))


def tables_for(cfg: Config, train_images: int, kind: str) -> tuple[Table, ...]:
    """The shipped tables of `cfg`'s recipe, one a batch size, when the data fit them (CIFAR-10 of
    40,000+ images); none otherwise."""
    if kind != "cifar10" or train_images < MIN_TABLE_IMAGES or cfg.model.name != "airbench":
        return ()
    recipe = recipe_hash(cfg)
    return tuple(t for t in shipped_tables() if t.recipe == recipe)


class Net(NamedTuple):
    """A net a plan may choose: its widths at a batch size (a table's, or the preset's own)."""
    widths: tuple[int, ...]
    batch_size: int

    def configure(self, cfg: Config) -> Config:
        """A copy of `cfg` that trains this net."""
        out = cfg.copy()
        out.set("model.widths", list(self.widths))
        out.set("data.batch_size", self.batch_size)
        return out


def table_at(tables: tuple[Table, ...], batch_size: int) -> Table | None:
    """The table of `tables` measured at `batch_size`, if any."""
    return next((t for t in tables if t.batch_size == batch_size), None)


def final_seconds(test_images: int, speed: Speed, tta: bool, tta_share: float = 1.0) -> float:
    """The end of a run: the last plain evaluation, and TTA's six views, when it is on, of the
    share of the images it takes."""
    return test_images * (1 + 6 * tta_share if tta else 1) / speed.eval_ips


def candidates(cfg: Config, tables: tuple[Table, ...]) -> list[Net]:
    """The nets a plan chooses among: every table's, or the preset's own."""
    if not tables:
        return [Net(tuple(cfg.model.widths), cfg.data.batch_size)]
    return [Net(tuple(w), t.batch_size) for t in tables for w in t.widths()]


# --- the plan --------------------------------------------------------------------------------------

@dataclass
class Speed:
    """What calibration.py knows of one net on this machine (images a second; seconds)."""
    train_ips: float  # training images a second, steps only
    eval_ips: float  # test images a second through one forward pass (TTA takes six)
    build_s: float  # building the net and its optimizer, whitening airbench's first layer
    epoch_s: float = 0.0  # a fixed cost of every epoch (the shuffle's gather, metrics, last.pt)


@dataclass
class Plan:
    budget_s: float
    model: str
    mode: str  # "table": the net and epochs from the accuracy table; "fitted": epochs fitted to the clock
    widths: list[int]
    epochs: float  # what the clock should allow; the schedule spans them
    train_s: float  # seconds of training the budget leaves
    final_s: float  # seconds predicted for the final evaluation
    predicted_s: float  # start to exit
    expected_acc: float | None = None
    expected_sd: float | None = None
    smallest_s: float | None = None  # the smallest budget the table plans on this machine
    note: str | None = None
    batch_size: int | None = None  # None in plans kept by runs from before the planner chose it

    def to_json(self) -> dict:
        return {"event": "plan", **asdict(self)}

    def short(self) -> str:
        """Two short lines, for Setup's narrow pane."""
        net = "-".join(map(str, self.widths)) if self.widths else self.model
        what = f"~{self.expected_acc:.1%} ± {self.expected_sd:.1%}" if self.expected_acc is not None else "epochs fitted"
        return f"plan: {net} x ~{self.epochs:.1f} epochs{self._batch()}\n{what}, ends in ~{self.predicted_s:.0f} s"

    def _batch(self) -> str:
        return f", batch {self.batch_size}" if self.batch_size else ""

    def describe(self) -> str:
        net = f"{self.model} {'-'.join(map(str, self.widths)) or '(its own widths)'}"
        if self.expected_acc is not None:
            what = f"expected {self.expected_acc:.1%} ± {self.expected_sd:.1%} (accuracy table)"
        elif self.smallest_s is not None:
            what = "epochs fitted"  # the note says why: a budget under the table's smallest point
        else:
            what = "no accuracy table for these settings: epochs fitted"
        note = f"; {self.note}" if self.note else ""
        return (f"plan for {self.budget_s:.0f} s: {net}, ~{self.epochs:.1f} epochs{self._batch()} ({self.train_s:.0f} s of "
                f"training; the LR schedule follows the clock), {what}, predicted {self.predicted_s:.0f} s{note}")


def plan(cfg: Config, budget_s: float, elapsed_s: float, speeds: dict[Net, Speed],
         train_images: int, test_images: int, tables: tuple[Table, ...]) -> Plan:
    """The plan for what is left of `budget_s` after `elapsed_s` (start-up, data, calibration);
    `speeds` holds this machine's speed of each candidate net (the tables' nets, or the preset's).
    Raises ValueError with one line when the budget cannot hold even the evaluation."""
    def final_s(speed: Speed) -> float:
        return final_seconds(test_images, speed, cfg.run.tta, cfg.run.tta_share)

    def train_s(speed: Speed) -> float:
        return budget_s * TARGET - elapsed_s - speed.build_s - final_s(speed)

    def epochs(speed: Speed) -> float:
        seconds = train_s(speed)
        per_epoch = train_images / speed.train_ips + speed.epoch_s
        return max(seconds, 0.0) / per_epoch

    options = []  # (net, its table, speed, epochs the clock allows, expected (mean, sd) or None)
    for net in candidates(cfg, tables):
        table = table_at(tables, net.batch_size)
        speed = speeds[net]
        e = epochs(speed)
        expected = table.expected(list(net.widths), e * train_images) if table else None
        if table is not None and expected is None:
            top = table.curve(list(net.widths))[-1].epochs
            if e > top:  # more than the table measured: at least what it says of its longest run
                expected = table.expected(list(net.widths), top * table.train_images)
        options.append((net, table, speed, e, expected))
    usable = [o for o in options if o[4] is not None]
    smallest = None
    if tables:
        smallest = min(elapsed_s + s.build_s + final_s(s) + t.curve(list(n.widths))[0].epochs * (train_images / s.train_ips + s.epoch_s)
                       for n, t, s, _, _ in options) / TARGET
    if usable:
        net, table, speed, e, (acc, sd) = max(usable, key=lambda o: (o[4][0], o[3]))
        top = table.curve(list(net.widths))[-1].epochs
        note = (f"the table measured up to {top:g} epochs of this net; the budget buys ~{e:.1f}, so expect at least "
                f"this" if e > top else None)
        mode = "table"
    else:
        # No table, or a budget under its smallest point: the net the clock allows the most epochs
        # of (the preset's own, without a table), for the epochs the clock allows.
        net, _, speed, e, _ = max(options, key=lambda o: o[3])
        acc = sd = None
        note = (f"under the smallest budget the table plans here ({smallest:.0f} s): expected accuracy unknown"
                if tables else None)
        mode = "fitted"
    seconds = train_s(speed)
    if seconds <= 0:
        need = (elapsed_s + speed.build_s + final_s(speed)) / TARGET
        raise ValueError(f"run.budget_s = {budget_s:g}: the start, the data and the final evaluation alone take "
                         f"about {need:.0f} s here; give at least {math.ceil(need * 1.2)} s")
    return Plan(budget_s, cfg.model.name, mode, list(net.widths), e, seconds, final_s(speed),
                elapsed_s + speed.build_s + seconds + final_s(speed), acc, sd, smallest, note, net.batch_size)


def apply(cfg: Config, p: Plan, tables: tuple[Table, ...]) -> None:
    """Set the planned net and batch size, epochs (the most the clock may allow), warmup share and
    one evaluation at the end, in place; the schedule's other epoch-keyed settings keep their share."""
    planned = cfg.run.epochs
    cfg.set("model.widths", p.widths)  # the table's choice, or the preset's own
    if p.batch_size:
        cfg.set("data.batch_size", p.batch_size)
    table = table_at(tables, cfg.data.batch_size)
    cfg.set("run.epochs", min(max(1, math.ceil(p.epochs * EPOCHS_CAP)), int(field_info("run.epochs")[1]["max"])))
    fit_epochs(cfg, planned)
    if table is not None:
        cfg.set("schedule.warmup_epochs", min(table.warmup_share * cfg.run.epochs,
                                              field_info("schedule.warmup_epochs")[1]["max"]))
    cfg.set("run.eval_every", cfg.run.epochs)


# --- the clock -------------------------------------------------------------------------------------

class BudgetClock:
    """Where a budget run is in its schedule: the elapsed share of its training time (pauses not
    counted). The run's LR is the schedule's at that share, and the run ends when it reaches 1."""

    def __init__(self, train_s: float, progress: float = 0.0):
        self.train_s, self.start_progress = train_s, progress
        self.started: float | None = None
        self.paused_s = 0.0

    def start(self, now: float) -> None:
        self.started = now

    def progress(self, now: float, position: int | None = None) -> float:  # noqa: ARG002 - a ReplayClock's
        if self.started is None:
            return self.start_progress
        return self.start_progress + (now - self.started - self.paused_s) / self.train_s

    def ran_out(self, now: float, position: int) -> bool:  # noqa: ARG002 - a ReplayClock's
        """At an epoch's end (`position`: the next step's): does the run end here?"""
        return self.progress(now) >= 1

    def state(self, now: float) -> dict | None:
        """What last.pt keeps, for a resumed run to go on from the same share."""
        return {"train_s": self.train_s, "progress": min(self.progress(now), 1.0)}


class ReplayClock(BudgetClock):
    """A budget run's recorded shares, one a step (its budget-steps.json), played back: `train
    --like` of a budget run trains it again as a fixed run, the schedule at the share the original
    was at in each step, and ends where the original's clock ran out, whatever this machine's speed."""

    def __init__(self, shares: list[float]):
        super().__init__(1.0)
        self.shares = shares

    def progress(self, now: float, position: int | None = None) -> float:  # noqa: ARG002 - no clock here
        if position is None:
            return self.start_progress
        return self.shares[position] if position < len(self.shares) else 1.0

    def ran_out(self, now: float, position: int) -> bool:  # noqa: ARG002
        return position >= len(self.shares)  # the original trained no step after this one

    def state(self, now: float) -> dict | None:  # noqa: ARG002
        return None  # a fixed run: resumed, it replays its steps file again
