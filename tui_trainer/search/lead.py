"""`tui-trainer search`: create or join a study, start its local workers, report trials as they end.

The lead process marks itself live in the study folder and stops when its workers have spent the
budget. Started from the app (or with --detach) it runs in a session of its own (detached.py), so
closing the app or losing the SSH connection does not stop the study; `search --status` and the
Search screen read the storage, and `search --stop` (or the screen's stop) writes the study's
stop flag and asks each running trial to stop, which saves its last.pt as any stopped run does.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..control import send_command
from ..workspace import folder
from ..workspace.columns import format_value
from . import storage as storages
from .study_file import StudySpec
from .trials import StudyReport, TrialRow, report
from .worker import STOP_ATTR, STOP_FLAG, fail_dead_trials, worker_threads

POLL_S = 1.0
LEAD_LOCK = ".lead.lock"
STORAGE_ENV = "TUI_TRAINER_STORAGE"  # how a lead hands its workers the storage URL
STUDY_FILE = "study_file"  # in the study folder: the path of the file it was started from
MAX_WORKERS = 64  # worker processes one lead starts


def workers_problem(text: str) -> str | None:
    """Why a number of workers (as typed) is refused, or None."""
    ok = text.strip().isdigit() and 1 <= int(text) <= MAX_WORKERS
    return None if ok else f"expected a whole number from 1 to {MAX_WORKERS}"


class StudyMismatch(storages.StorageError):
    """The storage holds a study of this name made from other settings."""


@dataclass
class SearchPlaces:
    """Where a study's pieces are, for every command that touches it."""
    spec: StudySpec
    runs: Path
    url: str | None  # None: the journal in the study folder
    _storage: object = field(default=None, repr=False)
    _importances: tuple = field(default=(-1, None), repr=False)  # (complete trials, what they gave)

    @property
    def folder(self) -> Path:
        return storages.study_folder(self.runs, self.spec.name)

    def storage(self):  # noqa: ANN201
        """Opened once: a journal storage replays the whole file when it is opened, then only what is new."""
        if self._storage is None:
            self._storage = storages.open_storage(self.url, self.folder)
        return self._storage

    def where(self) -> str:
        return storages.describe(self.url, self.folder)

    def exists_here(self) -> bool:
        """False only for a default journal that was never written (so reading it creates nothing)."""
        return self.url is not None or (self.folder / storages.JOURNAL).is_file()

    def lead_pid(self) -> int | None:
        """The lead process running this study on this machine, if any."""
        return folder.live_pid(self.folder)


def open_study(places: SearchPlaces):  # noqa: ANN201 - an optuna Study
    """Create the study, or load it when it exists (a second machine joining, a search resumed)."""
    import optuna

    storage, spec = places.storage(), places.spec
    try:
        study = optuna.create_study(study_name=spec.name, storage=storage, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=spec.name, storage=storage)
        made_from = study.user_attrs.get("fingerprint")
        if made_from is not None and made_from != spec.fingerprint():
            raise StudyMismatch(f"study {spec.name} in {places.where()} was made from other settings (base config "
                                f"or validation split, space, sampler or objective) than {spec.path}: its trials "
                                f"would not compare; "
                                f"give the file another name = \"...\", or delete {places.folder}") from None
        return study
    # Only the process that created the study gets here (creation is atomic in every storage), so
    # each grid point is enqueued once, however many workers on however many machines join.
    study.set_user_attr("fingerprint", spec.fingerprint())
    study.set_user_attr("started_at", time.time())
    study.set_user_attr("study_file", str(spec.path.resolve()))
    study.set_user_attr("objective", spec.objective)
    if spec.sampler == "grid":
        for point in spec.grid_points()[: spec.budget]:
            study.enqueue_trial(point)
    return study


def find_study(places: SearchPlaces):  # noqa: ANN201
    """The study if its storage has it, else None (nothing is created)."""
    import optuna

    if not places.exists_here():
        return None
    try:
        return optuna.load_study(study_name=places.spec.name, storage=places.storage())
    except KeyError:
        return None


def start_search(places: SearchPlaces, *, workers: int, data: str | None, device: str) -> tuple[int, Path]:
    """Start the study's lead as detached work (its pid and log): the app's Start, `search --detach`."""
    from ..detached import start_detached

    argv = ["search", str(places.spec.path.resolve()), "--workers", str(workers), "--runs", str(places.runs),
            "--device", device] + (["--data", data] if data else [])
    log = places.folder / "search.log"
    return start_detached(argv, log, env={STORAGE_ENV: places.url or ""}), log


def known_study_files(runs: Path, *folders: Path) -> list[Path]:
    """Study files to offer: those in `folders` (./studies) and those studies in `runs` started from."""
    found = {p.resolve() for folder in folders if folder.is_dir() for p in folder.glob("*.toml")}
    for marker in (Path(runs) / "studies").glob(f"*/{STUDY_FILE}"):
        try:
            path = Path(marker.read_text().strip())
        except OSError:
            continue
        if path.is_file():
            found.add(path)
    return sorted(found)


@dataclass
class StudyView:
    """What the Search screen shows of a study, read off the UI thread."""
    report: StudyReport | None  # None: not in its storage yet
    importances: dict[str, float] | None
    lead_pid: int | None
    problem: str | None = None  # the storage could not be read


def look(places: SearchPlaces) -> StudyView:
    from .trials import importances

    try:
        study = find_study(places)
    except storages.StorageError as e:
        return StudyView(None, None, places.lead_pid(), str(e))
    if study is None:
        return StudyView(None, None, places.lead_pid())
    rep = report(study, places.spec)
    complete = rep.counts.get("complete", 0)
    if places._importances[0] != complete:  # refitted only when a trial completes: it costs CPU
        places._importances = (complete, importances(study))
    return StudyView(rep, places._importances[1], places.lead_pid())


def request_stop(places: SearchPlaces) -> list[TrialRow]:
    """Stop the study here: no worker starts another trial, each running trial stops at a step."""
    places.folder.mkdir(parents=True, exist_ok=True)
    (places.folder / STOP_FLAG).write_text("stop\n")
    study = find_study(places)
    if study is not None:
        study.set_user_attr(STOP_ATTR, True)  # for workers on other machines, at their next trial
    stopped = []
    for row in report(study, places.spec).rows if study is not None else []:
        if row.state == "running" and row.run_dir and folder.live_pid(Path(row.run_dir)) is not None:
            send_command(Path(row.run_dir), "stop")
            stopped.append(row)
    return stopped


def trial_line(row: TrialRow) -> str:
    value = f"{row.value:.2%}" if row.value is not None else "-"
    if row.spread is not None:
        value += f" ± {row.spread:.2%}"
    test = f"test {row.test_acc:.2%}" if row.test_acc is not None else ""
    took = f"{row.seconds / 60:.1f} min" if row.seconds is not None else ""
    params = ", ".join(f"{k}={format_value(v, short=True)}" for k, v in row.params.items())
    why = f"  ({row.message})" if row.message and row.state != "complete" else ""
    return f"trial {row.number:>3}  {row.state:<8}  {value:>7}  {test:>11}  {took:>8}  {params}{why}"


def final_lines(rep: StudyReport) -> list[str]:
    c = rep.counts
    lines = [f"study {rep.name}: {c.get('complete', 0)} complete, {c.get('pruned', 0)} pruned, "
             f"{c.get('failed', 0)} failed"]
    if rep.best is not None:
        test = f" (test {rep.best.test_acc:.2%})" if rep.best.test_acc is not None and rep.validation else ""
        lines.append(f"best: trial {rep.best.number}, chosen on {rep.chosen_on} {rep.best.value:.2%}{test}, "
                     + ", ".join(f"{k}={format_value(v, short=True)}" for k, v in rep.best.params.items()))
        lines.append(f"best run: {rep.best.run_dir}")
        if (separation := rep.separation()) is not None:
            lines.append(separation)
    return lines


class Lead:
    """Start `workers` worker processes on a study and report its trials until they are done."""

    def __init__(self, places: SearchPlaces, *, workers: int, data: str | None, device: str,
                 out=print, json_lines: bool = False) -> None:  # noqa: ANN001
        self.places, self.workers, self.data, self.device = places, workers, data, device
        self.out, self.json_lines = out, json_lines
        self.stopping = False

    def claim(self) -> bool:
        """Hold the study's lead lock for this process's life: one lead per study and machine,
        however close together two starts come. False when another lead has it."""
        self.places.folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.places.folder / LEAD_LOCK, "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            return False
        return True

    def run(self, study) -> tuple[StudyReport, bool]:  # noqa: ANN001
        """(the final report, whether it was stopped); `claim()` first."""
        places = self.places
        study_dir = places.folder
        (study_dir / STOP_FLAG).unlink(missing_ok=True)  # a stop was for the search that ran before
        study.set_user_attr(STOP_ATTR, False)
        folder.mark_live(study_dir)
        (study_dir / STUDY_FILE).write_text(f"{places.spec.path.resolve()}\n")
        old = {signal.getsignal(s): s for s in (signal.SIGINT, signal.SIGTERM)}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        procs: list[subprocess.Popen] = []
        try:
            procs = [self._start_worker(i) for i in range(self.workers)]
            seen: set[int] = set()
            signalled = False
            while True:
                alive = [p for p in procs if p.poll() is None]
                self._report_new(report(study, places.spec), seen)
                if not alive:
                    break
                if not signalled and (study_dir / STOP_FLAG).exists():
                    # Each worker stops the trial it trains at a step, even one still loading its data.
                    self.stopping = signalled = True
                    for p in alive:
                        p.send_signal(signal.SIGTERM)
                time.sleep(POLL_S)
            for i, p in enumerate(procs):
                if p.returncode not in (0, 130, -signal.SIGINT, -signal.SIGTERM):
                    self.out(f"worker {i} exited with {p.returncode}; its log: {self._log(i)}", file=sys.stderr)
            fail_dead_trials(study)  # a worker killed outright leaves its trial RUNNING
            rep = report(study, places.spec)
            self._report_new(rep, seen)
            return rep, self.stopping
        finally:
            for p in procs:
                if p.poll() is None:  # the lead itself failed: no worker may go on unled
                    p.terminate()
            for handler, sig in old.items():
                signal.signal(sig, handler)
            folder.clear_live(study_dir)

    def _on_signal(self, signum, frame) -> None:  # noqa: ANN001, ARG002
        if not self.stopping:
            self.out(f"{signal.Signals(signum).name}: stopping the study; running trials save last.pt ...",
                     file=sys.stderr)
        self.stopping = True
        request_stop(self.places)

    def _log(self, index: int) -> Path:
        return self.places.folder / f"worker-{index}.log"

    def _start_worker(self, index: int) -> subprocess.Popen:
        from ..training.device import gpu_slot_env  # torch: only once a worker starts

        p = self.places
        threads = worker_threads(self.workers)
        args = [sys.executable, "-m", "tui_trainer", "search", str(p.spec.path), "--worker", str(index),
                "--threads", str(threads), "--runs", str(p.runs), "--device", self.device]
        if self.data:
            args += ["--data", self.data]
        log = open(self._log(index), "ab")
        # The workers share the lead's session: a Ctrl-C in its terminal reaches them too, and each
        # stops its trial at a step; a detached lead takes them into its own session. The storage
        # URL goes in the environment, not in argv, where `ps` would show its password.
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1",
               STORAGE_ENV: p.url or "", **gpu_slot_env(self.device, index)}
        try:
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            log.close()

    def _report_new(self, rep: StudyReport, seen: set[int]) -> None:
        import json

        for row in rep.rows:
            if row.number in seen or row.state in ("running", "waiting"):
                continue
            seen.add(row.number)
            self.out(json.dumps(row.to_json()) if self.json_lines else trial_line(row))
