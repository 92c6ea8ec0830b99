"""A run started as detached work (`tui-trainer train` in a session of its own), for an app that
must not hold its runs: one served to a browser, whose process ends when the tab closes."""
from __future__ import annotations

import time
from pathlib import Path

from ..atomic import atomic_write
from ..config import Config, to_toml
from ..detached import start_detached
from ..workspace import folder

FOUND_WITHIN_S = 120.0  # a run folder appears once torch is imported: seconds, more on a busy machine


class DetachedRunError(Exception):
    pass


def start_train(runs_dir: Path, cfg: Config | None, preset: str, *, resume: Path | None, epochs: int | None,
                data: str, device: str, nproc: int = 1) -> Path:
    """Start the run and return its folder once its process (rank 0 of `nproc`, a child of the
    launcher) has marked it live (blocks: a worker)."""
    runs_dir = Path(runs_dir)
    pending = runs_dir / ".pending"
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{folder.safe_name(preset)}"
    if resume is not None:
        args = ["train", "--resume", str(resume)] + (["--epochs", str(epochs)] if epochs else [])
    else:
        args = ["train", "--preset", str(preset_file(pending / stamp, preset, cfg)), "--data", data]
    args += ["--runs", str(runs_dir), "--device", device, "--no-bell"] + (["--nproc", str(nproc)] if nproc > 1 else [])
    before = {p.name for p in runs_dir.iterdir()} if runs_dir.is_dir() else set()
    log = pending / f"{stamp}.log"
    pid = start_detached(args, log)
    deadline = time.monotonic() + FOUND_WITHIN_S
    while time.monotonic() < deadline:
        for run_dir in ([resume] if resume is not None else
                        [p for p in runs_dir.iterdir() if p.is_dir() and p.name not in before]):
            if (live := folder.live_pid(run_dir)) is not None and _started_by(pid, live):
                return run_dir
        if not _alive(pid):
            said = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            raise DetachedRunError(said[-1] if said else f"the run's process (pid {pid}) ended at once; see {log}")
        time.sleep(0.3)
    raise DetachedRunError(f"the run (pid {pid}) did not start within {FOUND_WITHIN_S:.0f} s; see {log}")


def preset_file(where: Path, name: str, cfg: Config) -> Path:
    """Settings handed to a `tui-trainer train` process: a preset file named like the preset, so
    that its run is listed under that name."""
    path = where / f"{folder.safe_name(name)}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(to_toml(cfg).encode()))
    return path


def _started_by(pid: int, live: int) -> bool:
    import psutil

    try:
        return live == pid or live in {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return False


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
