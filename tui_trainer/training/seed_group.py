"""A seed group: the same settings trained with seeds s, s+1, ... (run.seeds of them), one run
folder each, directly in the runs folder, sharing a group id in their summaries. The CLI, the
queue's runner and the app all train a group through `train_group`, one member after another;
`train --parallel N` starts N of these members as processes of their own (cli/parallel.py)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import Config
from ..events import RunFailed, RunFinished
from ..workspace import folder
from ..workspace.summary import RunSummary, read_summary


@dataclass
class Member:
    cfg: Config | None  # a member not started yet: its settings with its seed
    resume: Path | None = None  # a member cut short: its folder

    @property
    def label(self) -> str:
        return f"seed {self.cfg.run.seed}" if self.cfg is not None else f"{self.resume.name} (resumed)"


@dataclass
class SeedGroup:
    id: str
    seeds: list[int]
    runs_dir: Path
    data: str | None
    todo: list[Member] = field(default_factory=list)


def is_group(cfg: Config | None) -> bool:
    return cfg is not None and cfg.run.seeds > 1


def trains_group(cfg: Config | None, resume: Path | None) -> bool:
    """Does this start (new settings, or a run folder resumed) train a seed group?"""
    return is_group(cfg) or (resume is not None and member_summary(resume) is not None)


def member_summary(run_dir: Path) -> RunSummary | None:
    """The summary of a seed group's member, or None (not a member, or unreadable)."""
    try:
        summary = read_summary(run_dir)
    except ValueError:
        return None
    return summary if summary is not None and summary.group and summary.group_seeds else None


def new_group(cfg: Config, name: str, runs_dir: Path | str, data: str | None) -> SeedGroup:
    """The group's members to train; ValueError when its last seed passes the largest one. (Each
    member's config keeps run.seeds, so this is checked here, for the group, not for each member.)"""
    if cfg.run.seed + cfg.run.seeds - 1 > 2**31 - 1:
        raise ValueError(f"run.seeds = {cfg.run.seeds} from run.seed = {cfg.run.seed} passes the largest seed, "
                         f"{2**31 - 1}: set a smaller run.seed")
    seeds = [cfg.run.seed + k for k in range(cfg.run.seeds)]
    # The pid and the clock keep two groups started in one second, from two processes, apart.
    group = SeedGroup(f"{folder.safe_name(name)}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}", seeds,
                      Path(runs_dir), data)
    for seed in seeds:
        member = cfg.copy()
        member.set("run.seed", seed)
        group.todo.append(Member(member))
    return group


def resume_group(run_dir: Path, data: str | None = None) -> SeedGroup:
    """The group of the member `run_dir`, left to train: that member first, then the group's other
    members that were cut short (a parallel group's), then the seeds with no run yet."""
    from ..workspace.listing import list_rows

    summary = member_summary(run_dir)
    if summary is None:
        raise ValueError(f"{run_dir} is not a member of a seed group")
    runs_dir = run_dir.parent
    group = SeedGroup(summary.group, summary.group_seeds, runs_dir, data or folder.run_data(run_dir).source,
                      [Member(None, run_dir)])
    members = [row for row in list_rows(runs_dir) if row.summary.group == summary.group]
    if any(folder.live_pid(row.path) is not None for row in members):
        return group  # another process trains the group now: it trains the rest, not this one
    group.todo += [Member(None, row.path) for row in members if _cut(row) and row.path.resolve() != run_dir.resolve()]
    taken = {row.config.get("run.seed") for row in members}
    base = folder.read_config(run_dir)
    for seed in summary.group_seeds:
        if seed not in taken:
            member = base.copy()
            member.set("run.seed", seed)
            group.todo.append(Member(member))
    return group


def _cut(row) -> bool:  # noqa: ANN001 - a RunRow
    return row.summary.state in ("stopped", "failed") and (row.path / "checkpoints" / "last.pt").is_file()


def cut_members(runs_dir: Path, group_id: str) -> list[Path]:
    """The group's members stopped part-way, which `train --resume` continues."""
    from ..workspace.listing import list_rows

    return [row.path for row in list_rows(runs_dir) if row.summary.group == group_id and _cut(row)]


def next_live_member(run_dir: Path, within_s: float = 120.0, poll_s: float = 0.5,
                     cancelled: Callable[[], bool] = lambda: False) -> Path | None:
    """The member of `run_dir`'s group that another process trains after it, once it is live
    (blocks: a worker's), or None: not a group's member, the group ended (this member stopped or
    failed, which ends it; or every seed's run finished), `cancelled()`, or none came within
    `within_s`."""
    summary = member_summary(run_dir)
    if summary is None:
        return None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not cancelled():
        summary = member_summary(run_dir) or summary
        if summary.state in ("stopped", "failed"):
            return None
        # Run folders are named by their start time: the group's other members are among the newest.
        newest = sorted((p for p in run_dir.parent.iterdir() if p.is_dir()), reverse=True)
        members = [(p, m) for p in newest[:len(summary.group_seeds) + 20] if p != run_dir
                   and (m := member_summary(p)) is not None and m.group == summary.group]
        live = [p for p, _ in members if folder.live_pid(p) is not None]
        if live:
            return live[0]
        done = {(m.config or {}).get("run.seed") for m in [summary, *(m for _, m in members)] if m.state == "finished"}
        if done >= set(summary.group_seeds):
            return None  # every seed has trained to its end
        time.sleep(poll_s)
    return None


Train = Callable[[Member, int], "RunFinished | RunFailed"]


def train_group(group: SeedGroup, train: Train, note: Callable[[str], None],
                stop_requested: Callable[[], bool]) -> list[RunFinished | RunFailed]:
    """Train the members left, one after another: `train(member, k)` runs the k-th. A stop stops
    the group (resuming the member cut continues it, then the rest); a failed member fails the
    group, as its settings would fail the next seeds too."""
    done: list[RunFinished | RunFailed] = []
    for k, member in enumerate(group.todo):
        note(f"seed group {group.id}: run {k + 1} of {len(group.todo)}, {member.label}")
        result = train(member, k)
        done.append(result)
        if isinstance(result, RunFailed) or result.stopped or stop_requested():
            break
    left = len(group.todo) - len(done)
    if left and isinstance(done[-1], RunFinished) and done[-1].stopped:
        note(f"the seed group stopped with {left} run(s) not started; `tui-trainer train --resume "
             f"{done[-1].run_dir}` continues this run, then them")
    return done
