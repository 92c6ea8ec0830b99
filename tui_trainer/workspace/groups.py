"""Seed groups and what they say: runs that differ only by their seed (or share a preset or a
study) as one group with a mean and a 95% interval, and each group against a baseline with a
Welch t-test and a verdict in words.

One seed moves cpu-quick by about half a point, so a single run's figure cannot say whether a
change helped. The statistics are scipy's (the t and noncentral t distributions, Welch's test);
nothing here is torch, so listings stay fast.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .listing import RunRow

# Keys that never change what a run learns: runs differing only by them are seeds of one setting.
COSMETIC = frozenset({"run.seed", "run.seeds", "run.tensorboard", "run.eval_every", "run.precision"})
GROUP_BY = ("settings", "preset", "study", "none")
ALPHA, POWER = 0.05, 0.8
MAX_SEEDS = 1000  # a power calculation's answer beyond this is "more than 1000"


@dataclass
class Interval:
    """The mean of one accuracy over a group's runs, with its spread and 95% interval."""
    n: int
    mean: float | None
    sd: float | None  # None for a single run
    ci95: tuple[float, float] | None  # None for a single run

    @classmethod
    def of(cls, values: list[float]) -> Interval:
        n = len(values)
        if n == 0:
            return cls(0, None, None, None)
        mean = sum(values) / n
        if n < 2:
            return cls(n, mean, None, None)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = t_quantile(n - 1) * sd / math.sqrt(n)
        return cls(n, mean, sd, (mean - half, mean + half))


@dataclass
class Comparison:
    """A group's final accuracy against the baseline's (points are percentage points)."""
    diff_mean: float | None
    diff_ci95: tuple[float, float] | None
    p_value: float | None
    verdict: str

    @property
    def direction(self) -> int:
        """1 better, -1 worse, 0 when the test cannot tell."""
        if self.p_value is None or self.p_value >= ALPHA or not self.diff_mean:
            return 0
        return 1 if self.diff_mean > 0 else -1


@dataclass
class Group:
    key: str  # what its runs share, in a few words
    runs: list[RunRow]
    final: Interval = field(init=False)
    best: Interval = field(init=False)
    seconds: float | None = field(init=False)
    comparison: Comparison | None = None
    bucket: str = ""  # what group_runs grouped it by: the same however its runs are sorted

    def __post_init__(self) -> None:
        self.final = Interval.of([r.summary.final_acc for r in self.runs if r.summary.final_acc is not None])
        self.best = Interval.of([r.summary.best_acc for r in self.runs if r.summary.best_acc is not None])
        times = [r.summary.train_seconds for r in self.runs if r.summary.train_seconds]
        self.seconds = sum(times) / len(times) if times else None

    @property
    def n(self) -> int:
        return len(self.runs)

    def summary(self) -> str:
        """One line of the group's own figures (points; final and best as mean ± 95% half-width):
        "n=3 84.12±0.57 sd 0.23 · best 83.03±0.51 · 82 s"."""
        parts = [f"n={self.n}"]
        for label, interval in (("", self.final), ("best ", self.best)):
            if interval.mean is not None:
                half = f"±{(interval.ci95[1] - interval.mean) * 100:.2f}" if interval.ci95 else ""
                spread = f" sd {interval.sd * 100:.2f}" if label == "" and interval.sd is not None else ""
                parts.append(f"{label}{interval.mean * 100:.2f}{half}{spread}")
        if self.seconds:
            parts.append(f"{self.seconds:.0f} s" if self.seconds < 600 else f"{self.seconds / 60:.1f} min")
        return parts[0] + " " + " · ".join(parts[1:]) if len(parts) > 1 else parts[0]

    def finals(self) -> list[float]:
        return [r.summary.final_acc for r in self.runs if r.summary.final_acc is not None]

    def to_json(self) -> dict[str, Any]:
        out = {"group": self.key, "n": self.n, "members": [str(r.path) for r in self.runs],
               "mean_train_seconds": self.seconds}
        for name, interval in (("final_acc", self.final), ("best_acc", self.best)):
            out[f"{name}_mean"] = interval.mean
            out[f"{name}_ci95"] = list(interval.ci95) if interval.ci95 else None
            out[f"{name}_sd"] = interval.sd
        if self.comparison is not None:
            c = self.comparison
            out.update(diff_mean=c.diff_mean, diff_ci95=list(c.diff_ci95) if c.diff_ci95 else None,
                       p_value=c.p_value, verdict=c.verdict)
        return out


@functools.lru_cache(maxsize=4096)
def t_quantile(df: float) -> float:
    """The two-sided 95% quantile of Student's t: one scipy call per degrees of freedom, not per
    group (a thousand groups of five ask for the same one)."""
    from scipy import stats

    return float(stats.t.ppf(1 - ALPHA / 2, df))


_KEYS: dict[int, tuple[RunRow, str]] = {}  # id(row) -> (row, key): a listing hands back unchanged rows


def settings_key(row: RunRow) -> str:
    """What makes runs seeds of one setting: every setting but the cosmetic ones, and the data."""
    cached = _KEYS.get(id(row))
    if cached is not None and cached[0] is row:
        return cached[1]
    kept = {k: v for k, v in row.config.items() if k not in COSMETIC}
    key = json.dumps([row.summary.data, sorted(kept.items())], default=str)
    if len(_KEYS) > 100_000:
        _KEYS.clear()
    _KEYS[id(row)] = (row, key)
    return key


def group_runs(rows: list[RunRow], by: str = "settings") -> list[Group]:
    """Groups in the order their first run appears; a run alone is a group of one."""
    if by not in GROUP_BY:
        raise ValueError(f"--group {by!r}: choose {', '.join(GROUP_BY)}")
    buckets: dict[str, list[RunRow]] = {}
    for i, row in enumerate(rows):
        if by == "settings":
            key = settings_key(row)
        elif by == "preset":
            key = row.preset
        elif by == "study":
            key = row.summary.study or f"\0{i}"  # runs of no study stay alone
        else:
            key = f"\0{i}"
        members = buckets.get(key)
        if members is None:
            buckets[key] = [row]
        else:
            members.append(row)
    groups = []
    for key, members in buckets.items():
        label = members[0].name if by in ("settings", "none") or key.startswith("\0") else key
        if by == "settings" and len(members) > 1:
            ids = {r.summary.group for r in members}
            # A seed group (`train --seeds`) by its id; runs that came to share settings otherwise by a member
            label = ids.pop() if len(ids) == 1 and None not in ids else f"{members[0].name} and {len(members) - 1} more"
        groups.append(Group(label, members, bucket=key))
    return groups


def find_group(groups: list[Group], name: str) -> Group | None:
    """The group a run folder's name (or path) or a group's label names."""
    for g in groups:
        if name == g.key or any(name in (r.name, str(r.path)) for r in g.runs):
            return g
    return None


def compare(group: Group, baseline: Group) -> Comparison:
    """Welch's t-test of the groups' final accuracies, and what it means in words."""
    return compare_values(group.finals(), baseline.finals())


def compare_values(a: list[float], b: list[float]) -> Comparison:
    """Welch's t-test of two sets of accuracies (a against b), and what it means in words."""
    from scipy import stats

    if not a or not b:
        return Comparison(None, None, None, "no final accuracy to compare")
    diff = sum(a) / len(a) - sum(b) / len(b)
    if len(a) < 2 and len(b) < 2:
        return Comparison(diff, None, None, f"one run each: no interval ({_points(diff)} points apart)")
    if len(a) < 2 or len(b) < 2:
        return Comparison(diff, None, None, f"can't tell: one side is one run ({_points(diff)} points apart); "
                                            f"seed it with --seeds")
    va, vb = Interval.of(a).sd ** 2, Interval.of(b).sd ** 2
    se2 = va / len(a) + vb / len(b)
    if se2 == 0:
        return Comparison(diff, (diff, diff), None, "every run scored the same: no test possible")
    df = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    half = t_quantile(df) * math.sqrt(se2)
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    if p < ALPHA:
        word = "better" if diff > 0 else "worse"
        verdict = f"{word} by {_points(abs(diff))} ± {_points(half)} points, p = {p:.3g}"
    else:
        need = seeds_needed(abs(diff), math.sqrt((va + vb) / 2))
        tell = f"about {need} seeds each" if need <= MAX_SEEDS else f"more than {MAX_SEEDS} seeds each"
        verdict = (f"can't tell at n = {min(len(a), len(b))}: {tell} would tell a {_points(abs(diff))}-point "
                   f"difference (p = {p:.2f})")
    return Comparison(diff, (diff - half, diff + half), p, verdict)


def seeds_needed(effect: float, sd: float) -> int:
    """The runs per group at which a two-sided Welch-like t-test at ALPHA detects `effect` with
    probability POWER, for two groups of equal spread `sd` (the noncentral t distribution)."""
    from scipy import stats

    if sd <= 0:
        return 2
    if effect <= 0:
        return MAX_SEEDS + 1
    for n in range(2, MAX_SEEDS + 1):
        df = 2 * n - 2
        ncp = effect / (sd * math.sqrt(2 / n))
        crit = float(stats.t.ppf(1 - ALPHA / 2, df))
        power = float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
        if power >= POWER:
            return n
    return MAX_SEEDS + 1


def with_baseline(groups: list[Group], baseline: Group) -> None:
    for g in groups:
        g.comparison = None if g is baseline else compare(g, baseline)


def _points(fraction: float) -> str:
    return f"{fraction * 100:.2f}"
