"""The app: three modes (setup, training, runs) around one run session.

The App owns the session and the workers that feed it, so leaving a screen never cancels a run:
the in-process Trainer runs in a thread worker of the App in the "training" group, and reports
through a sink that only posts messages (never `call_from_thread`, which would make the training
loop wait for the UI). A follower worker in the same group feeds the session from a run folder
that another process writes. Screens subscribe to `session_signal` and draw from the session.
"""
from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState, get_current_worker

from ..config import Config, DataConfig
from ..control import RunControl
from ..events import Event, RunFailed, RunFinished
from ..locations import canonical_data
from ..settings import load_settings
from ..text import shown
from ..training.notify import notify_run_end
from ..workspace.folder import run_data
from .dialogs import ConfirmModal
from .messages import AttachRequested, EngineEvent, ProgressEvent, RunRequested
from .screens.runs import RunsScreen
from .screens.search import SearchScreen
from .screens.setup import SetupScreen
from .screens.training import TrainingScreen
from .session import RunSession, follow_run, live_started_at

STOP_WAIT_S = 300.0  # quitting waits this long for the trainer to save last.pt
HANG_UP_GRACE_S = 5.0  # after a hang-up and the run's end, time for a clean exit before a forced one
MODE_TITLES = {"setup": "Setup", "training": "Training", "runs": "Runs", "search": "Search"}
MODE_KEYS = {"setup": "F1", "training": "F2", "runs": "F3", "search": "F4"}
FIRST_DRAWING_WAIT_S = 3.0  # a UI thread slower than this does not hold the run back
BUSY = "A run is training here: stop it first (F2, then x)"


class TrainerApp(App):
    """`TrainerApp(data, runs, device)`: data folder or "synthetic", runs folder, torch device."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-trainer"
    MODES = {"setup": SetupScreen, "training": TrainingScreen, "runs": RunsScreen, "search": SearchScreen}
    BINDINGS = [
        Binding("f1", "goto('setup')", "Setup", priority=True),
        Binding("f2", "goto('training')", "Train", priority=True, tooltip="The Training screen"),
        Binding("f3", "goto('runs')", "Runs", priority=True),
        Binding("f4", "goto('search')", "Search", priority=True),
        # Hidden from the footer like Textual's own (it is in the palette): at 80 columns the
        # footer is better spent on the mode keys.
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]
    # Seconds after start-up at which the Runs screen is composed unseen (None: not; tests).
    PREPARE_RUNS_AFTER_S: float | None = 1.0
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    def __init__(self, data: str, runs: Path | str, device: str = "auto", preset: str | None = None,
                 handle_signals: bool = False, bell: bool = True, detach_runs: bool = False) -> None:
        super().__init__()
        self.detach_runs = detach_runs  # served to a browser: runs are detached work, not threads
        self.settings, self._settings_problem = load_settings()
        self.ring_bell = bell and self.settings.bell
        self.data = data
        self.runs = Path(runs)
        self.device = device
        self.initial_preset = preset
        self.handle_signals = handle_signals
        self.detached = False  # the terminal went away (SIGHUP): a local run trains on to its end
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # Animated bars and scrolls cost the training thread CPU (2-7% measured with a run
            # open) and an SSH link bandwidth; a user can still ask for them.
            self.animation_level = "none"
        self.session: RunSession | None = None
        self.started_runs: list[Path] = []  # detached runs started here, told of at quit if still live
        # Published on the UI thread after each event is recorded (None: a new session).
        self.session_signal: Signal[Event | None] = Signal(self, "session")
        self.dataset: Any = None  # the loaded Dataset, cached for evaluations and thumbnails
        self.system_source = _sample_system  # what the system pane samples (tests give their own)
        self._other_data: dict[tuple, Any] = {}  # other data than --data, or other data settings
        self._data_lock = threading.Lock()
        self._quitting = False
        self._runs_composed = False  # the Runs screen exists: composed by F3 or prepared

    def on_mount(self) -> None:
        if self._settings_problem:
            self.notify(self._settings_problem, title="Settings", severity="warning", timeout=10)
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            # A plain handler, not the loop's: when the terminal dies the UI thread can be stuck
            # in a write to it, where only a signal handler still runs.
            signal.signal(signal.SIGHUP, lambda signum, frame: self._hang_up(loop))
            loop.add_signal_handler(signal.SIGTERM, self._terminate)
        self.switch_mode("setup")
        if self.PREPARE_RUNS_AFTER_S is not None:
            self.set_timer(self.PREPARE_RUNS_AFTER_S, self._prepare_runs_screen)

    def _prepare_runs_screen(self, tries: int = 20) -> None:
        """Compose the Runs screen behind Setup, where it lists the runs folder in a worker, so the
        first F3 shows the table at once. Done cold on the key press, a first visit costs about
        2 s with a thousand runs: Textual restyles every widget of the app twice for a new mode's
        screen, and the listing reads every folder. Both switches land before the next frame, so
        nothing is seen; with a dialog open (or Setup left already) the first F3 does it instead.
        It waits for Setup's start-up workers (torch's import): a listing beside them takes 5 s."""
        if tries and any(not w.is_finished for w in self.workers):
            self.set_timer(0.25, lambda: self._prepare_runs_screen(tries - 1))
            return
        if self.current_mode == "setup" and len(self.screen_stack) == 1 and not self._runs_composed:
            # What start-up built (torch, Textual, the screens) lives as long as the app: frozen
            # out of the collector, a full collection no longer walks its 370,000 objects (0.4 s,
            # seen landing on the F3 key press).
            gc.freeze()
            self._runs_composed = True
            self.switch_mode("runs")
            self.switch_mode("setup")

    def _hang_up(self, loop: asyncio.AbstractEventLoop) -> None:
        """The terminal is gone (an SSH drop): close the UI but let a local run train to its end.

        The standard streams go to /dev/null first, so nothing the UI or the trainer writes can
        fail on the dead terminal; run_app then waits for the training thread.
        """
        self.detached = True
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        session = self.session
        trainer = session.thread if session is not None and session.kind == "local" else None

        def exit_after_the_run() -> None:
            # Textual's shutdown can block for good on the dead terminal; the run's files are
            # complete and fsynced once the trainer thread ends, so the process may end regardless.
            if trainer is not None:
                trainer.join()
            time.sleep(HANG_UP_GRACE_S)
            os._exit(0)

        threading.Thread(target=exit_after_the_run, name="hang-up exit", daemon=True).start()
        loop.call_soon_threadsafe(self.exit)

    def _terminate(self) -> None:
        """SIGTERM: stop a local run at the next step (it saves last.pt), then quit."""
        if self.session is not None and self.session.kind == "local":
            self.session.stop()
        self.exit()

    # --- data ------------------------------------------------------------------------------------

    @property
    def train_size(self) -> int | None:
        return len(self.dataset.train_x) if self.dataset is not None else None

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes if self.dataset is not None else 10

    def is_own_data(self, source: str | None) -> bool:
        return source is None or canonical_data(source) == canonical_data(self.data)

    def _data_key(self, source: str | None, cfg: DataConfig | None) -> tuple:
        cfg = cfg or DataConfig()
        return canonical_data(source or self.data), cfg.dataset, cfg.cifar100_labels, cfg.image_size

    def cached_dataset(self, source: str | None = None, cfg: DataConfig | None = None) -> Any:
        """The data set already loaded for `source` and these data settings, or None."""
        key = self._data_key(source, cfg)
        if key == self._data_key(None, None):
            return self.dataset
        return self._other_data.get(key)

    def get_dataset(self, source: str | None = None, cfg: DataConfig | None = None) -> Any:
        """The data set of `source` (default: the app's --data) as the data settings `cfg` choose
        it (default: auto), loaded once each (call from a worker thread: it can take seconds)."""
        from ..data import load_dataset

        key = self._data_key(source, cfg)
        with self._data_lock:
            if key == self._data_key(None, None):
                if self.dataset is None:
                    self.dataset = load_dataset(self.data)
                return self.dataset
            if key not in self._other_data:
                self._other_data[key] = load_dataset(key[0], cfg)
            return self._other_data[key]

    # --- modes -----------------------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification of the app: run names, paths and messages come from files, so they
        are shown with their control characters visible and never read as markup."""
        super().notify(shown(message), title=shown(title), severity=severity, timeout=timeout, markup=False)

    def action_goto(self, mode: str) -> None:
        self._runs_composed = self._runs_composed or mode == "runs"
        if self.current_mode != mode:
            self.switch_mode(mode)

    # --- the run session -------------------------------------------------------------------------

    def training_here(self) -> bool:
        """Is a run training in this process? Every "start another" and quitting ask this."""
        s = self.session
        return bool(s is not None and (s.live or s.in_group) and s.kind == "local" and s.worker is not None
                    and s.worker.state in (WorkerState.PENDING, WorkerState.RUNNING))

    def refuse_if_training(self, title: str) -> bool:
        """Say so and return True when a run trains here (one run at a time in this process)."""
        if self.training_here():
            self.notify(BUSY, title=title, severity="warning")
            return True
        return False

    def _set_session(self, session: RunSession) -> None:
        self.session = session
        self.session_signal.publish(None)

    def on_run_requested(self, message: RunRequested) -> None:
        self.start_run(message.cfg, message.preset, message.resume, message.epochs, message.processes)

    def on_attach_requested(self, message: AttachRequested) -> None:
        self.attach_run(message.run_dir)

    def start_run(self, cfg: Config | None, preset: str, resume: Path | None = None,
                  epochs: int | None = None, processes: int = 1) -> RunSession | None:
        """Train `cfg` (or resume the run folder `resume`) in a thread worker of the App, or, when
        the app is served to a browser or the run wants several processes, as detached work that
        this app then attaches to."""
        if self.refuse_if_training("Not started"):
            return None
        if self.detach_runs or processes > 1:
            self.start_detached_run(cfg, preset, resume, epochs, processes)
            return None
        pressed = time.time()  # a budget runs from F5
        session = RunSession("local", control=RunControl(), preset=preset, run_dir=resume)
        sink = session.make_sink(self.post_message)
        # A resumed run trains on the data it recorded, which need not be this app's --data.
        recorded = run_data(resume) if resume is not None else None
        data = (recorded.source if recorded else None) or self.data
        if not self.is_own_data(data):
            self.notify(f"{resume.name} resumes on the data it was trained on: {data}")
        runs, device = self.runs, self.device
        data_cfg = cfg.data if cfg is not None else recorded.settings
        cached = self.cached_dataset(data, data_cfg)

        drawn = threading.Event()

        def train() -> Any:
            session.thread = threading.current_thread()
            # The Training screen's first drawing (composed on first use, its plots) costs the UI
            # thread a second of a 2-core CPU: done before the first step, not during the first epoch.
            drawn.wait(FIRST_DRAWING_WAIT_S)
            from ..training import seed_group
            from ..training.trainer import Trainer  # torch: imported off the UI thread

            if not seed_group.trains_group(cfg, resume):
                return Trainer(cfg, data=data, runs_dir=runs, preset=preset, device_name=device, sink=sink,
                               control=session.control, resume=resume, epochs=epochs, dataset=cached,
                               started_at=pressed).run()
            try:
                group = (seed_group.resume_group(resume, data) if resume is not None else
                         seed_group.new_group(cfg, preset, runs, data))
            except ValueError as e:
                failed = RunFailed(str(e), None)
                sink(failed)
                return failed
            session.in_group = True
            watched = session

            def member(m: seed_group.Member, k: int) -> Any:  # each member a session of its own on the screen
                nonlocal watched
                if k:
                    watched = self._next_member(watched)
                return Trainer(m.cfg, data=data, runs_dir=runs, preset=preset, device_name=device,
                               sink=watched.make_sink(self.post_message), control=session.control, resume=m.resume,
                               epochs=epochs if m.resume else None, dataset=cached, seed_group=(group.id, group.seeds),
                               started_at=pressed if k == 0 else time.time()).run()

            def note(text: str) -> None:
                if self.is_running:  # after a hang-up the group trains on, unseen
                    self.call_from_thread(self.notify, text)

            return seed_group.train_group(group, member, note, lambda: session.control.stop_requested)[-1]

        self._set_session(session)
        session.worker = self.run_worker(train, name=f"trainer {preset}", group="training", thread=True,
                                         exclusive=True, exit_on_error=False)
        self.switch_mode("training")
        self.call_after_refresh(drawn.set)
        return session

    def _next_member(self, previous: RunSession, wait_s: float = 30.0) -> RunSession:
        """From the group's training thread: the next member's session, on the group's control (a
        stop stops the group) and worker. Shown once the screen has taken in the previous member's
        end (its events come as messages, which a call from this thread would overtake)."""
        session = RunSession("local", control=previous.control, preset=previous.preset)
        session.worker, session.thread, session.in_group = previous.worker, previous.thread, True
        deadline = time.monotonic() + wait_s
        while previous.live and time.monotonic() < deadline and self.is_running:
            time.sleep(0.05)
        if self.is_running:
            self.call_from_thread(self._set_session, session)
        return session

    def start_detached_run(self, cfg: Config | None, preset: str, resume: Path | None, epochs: int | None,
                           processes: int = 1) -> None:
        """`tui-trainer train` in a session of its own: a closed browser tab (which quits this app's
        process) never stops it, and a new tab attaches to it from the Runs screen. A run on several
        processes is started so too: its ranks are torchrun's children, not threads of the app."""
        on = f" on {processes} processes" if processes > 1 else ""
        self.notify(f"Starting the run{on} in the background ...", timeout=5)
        self.run_worker(partial(self._start_and_attach, cfg, preset, resume, epochs, processes), thread=True,
                        group="detached-run", exit_on_error=False)

    def _start_and_attach(self, cfg: Config | None, preset: str, resume: Path | None, epochs: int | None,
                          processes: int) -> None:
        from ..training.detached_run import DetachedRunError, start_train

        try:
            run_dir = start_train(self.runs, cfg, preset, resume=resume, epochs=epochs, data=self.data,
                                  device=self.device, nproc=processes)
        except DetachedRunError as e:
            self.call_from_thread(self.notify, str(e), title="Not started", severity="error", timeout=15)
            return
        self.started_runs.append(run_dir)
        self.call_from_thread(self.attach_run, run_dir)

    def _follow_group(self, run_dir: Path | None) -> None:
        from ..training.seed_group import next_live_member

        worker = get_current_worker()  # cancelled as the app quits, whose exit waits for this thread
        found = (next_live_member(run_dir, cancelled=lambda: worker.is_cancelled or not self.is_running)
                 if run_dir is not None else None)
        if found is not None and self.session is not None and self.session.run_dir == run_dir:
            self.call_from_thread(self.attach_run, found)

    def attach_run(self, run_dir: Path) -> RunSession | None:
        """Follow a run another process trains, from its events.jsonl."""
        # Attaching would replace the session: the local run could no longer be paused or stopped.
        if self.refuse_if_training("Not attached"):
            return None
        session = RunSession("attached", run_dir=run_dir, preset=run_dir.name)
        started = live_started_at(run_dir)
        if started is not None:
            session.t_start = session.clock() - max(0.0, time.time() - started)
        sink = session.make_sink(self.post_message)

        def follow() -> None:
            worker = get_current_worker()
            follow_run(run_dir, sink, lambda: worker.is_cancelled)

        self._set_session(session)
        session.worker = self.run_worker(follow, name=f"follow {run_dir.name}", group="training", thread=True,
                                         exclusive=True, exit_on_error=False)
        self.switch_mode("training")
        self.notify(f"Attached to {run_dir.name}: p pauses it, x stops it (it saves last.pt)")
        return session

    def replay(self, events: list[Event], elapsed: float | None = None) -> RunSession:
        """A session of fixed events and no worker (tests, demos); `elapsed` freezes its clock."""
        session = RunSession("replay")
        if elapsed is not None:
            session.clock = lambda: 0.0
            session.t_start = -elapsed
        for event in events:
            session.record(event)
        self._set_session(session)
        return session

    def on_engine_event(self, message: EngineEvent) -> None:
        session = self.session
        if session is None or message.session_id != session.id:
            return  # a late message from a session already replaced
        session.record(message.event, message.prior)
        self.session_signal.publish(message.event)
        if isinstance(message.event, (RunFinished, RunFailed)):
            self.run_ended(session, message.event)

    # --- a word when a run ends ------------------------------------------------------------------

    def run_ended(self, session: RunSession, event: RunFinished | RunFailed) -> None:
        """A notification and the bell for every run watched here; the notify command for runs
        trained here (a run of another process notifies from there)."""
        name = session.name
        if isinstance(event, RunFailed):
            self.notify(event.message, title=f"{name} failed", severity="error", timeout=15)
        elif event.stopped:
            self.notify(f"stopped after {event.epochs} epochs; last.pt is saved, resume it from F3",
                        title=f"{name} stopped", severity="warning", timeout=10)
        elif event.ended:
            final = f"; final {event.final_acc:.2%}" if event.final_acc is not None else ""
            self.notify(f"{event.ended}{final}", title=f"{name} {event.state}", timeout=15)
        else:
            final = f", final {event.final_acc:.2%}" if event.final_acc is not None else ""
            best = f"best {event.best_acc:.2%}" if event.best_acc is not None else "no test score"
            self.notify(f"{best}{final} in {event.seconds / 60:.1f} min", title=f"{name} finished", timeout=15)
        if self.ring_bell:
            self.bell()
        if session.kind == "attached" and isinstance(event, RunFinished) and not event.stopped:
            self.run_worker(partial(self._follow_group, session.run_dir), thread=True, group="detached-run",
                            exit_on_error=False)  # a seed group's next member, when another process trains it
        if session.kind == "local" and self.settings.notify_command:
            self.run_worker(partial(self._notify_command, event), thread=True, group="notify", exit_on_error=False)

    def _notify_command(self, event: RunFinished | RunFailed) -> None:
        problem = notify_run_end(self.settings.notify_command, event)
        if problem:
            self.call_from_thread(self.notify, problem, title="Notify command failed", severity="warning")

    def on_progress_event(self, message: ProgressEvent) -> None:
        self.on_engine_event(message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        session = self.session
        if session is None or event.worker is not session.worker or not session.live:
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            what = "training thread" if session.kind == "local" else "run follower"
            failed = RunFailed(f"the {what} crashed: {type(error).__name__}: {error}",
                               str(session.run_dir) if session.run_dir else None)
            session.record(failed)
            self.session_signal.publish(failed)
            self.run_ended(session, failed)

    # --- quitting --------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if not self.training_here():
            self.exit()
            return
        if self._quitting:  # asked twice while the trainer saves: go now (run_app still waits for it)
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._stop_and_exit(), group="quit")

        self.push_screen(ConfirmModal("A run is training.\n\nStop it and quit? The trainer saves last.pt "
                                      "first, so it can be resumed from the Checkpoints screen.",
                                      yes="Stop and quit", no="Keep training"), answered)

    async def _stop_and_exit(self) -> None:
        self._quitting = True
        session = self.session
        session.stop()
        self.notify("Stopping the run and saving last.pt ...", timeout=STOP_WAIT_S)
        try:
            await asyncio.wait_for(session.worker.wait(), STOP_WAIT_S)
        except Exception:  # noqa: BLE001 - a failed or slow trainer must not keep the app open
            pass
        self.exit()

    def finish_session(self, timeout: float = STOP_WAIT_S) -> None:
        """After the app has exited: wait for an in-process run's thread, so last.pt is saved and
        no trainer is cut off. After a hang-up the run trains on to its end; otherwise it stops."""
        s = self.session
        if s is None or s.kind != "local" or s.thread is None or not s.thread.is_alive():
            return
        if self.detached:
            s.thread.join()
            return
        if s.control is not None:
            s.control.request_stop()
        print(f"tui-trainer: stopping {s.name} (it saves last.pt first) ...", flush=True)
        s.thread.join(timeout)

    # --- command palette -------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, title in MODE_TITLES.items():
            key = MODE_KEYS[mode]
            yield SystemCommand(f"Go to {title}", f"Show the {title} screen ({key})", partial(self.action_goto, mode))
        seen: set[str] = set()
        for binding in getattr(screen, "BINDINGS", []):
            # Bindings hidden from the footer too: the palette is where a user finds every action.
            if not isinstance(binding, Binding) or binding.action in seen:
                continue
            seen.add(binding.action)
            if screen.check_action(binding.action, ()) is not True:
                continue  # hidden or disabled here: the palette lists what can run now
            keys = binding.key.upper() if binding.key.startswith("f") else binding.key
            help_text = f"{binding.tooltip} ({keys})" if binding.tooltip else f"{screen.sub_title}: {keys}"
            yield SystemCommand(binding.description, help_text, partial(screen.run_action, binding.action))


def _sample_system() -> Any:
    from ..training.system import sample  # psutil: imported by the worker that samples

    return sample()


def run_app(data: str, runs: Path, device: str = "auto", preset: str | None = None, bell: bool = True,
            detach_runs: bool = False) -> int:
    """Run the app until the user quits; returns the exit code."""
    from .widgets.picture import choose

    choose(force_halfcell=detach_runs)  # asks the terminal what it draws, which only works before the app runs
    app = TrainerApp(data, Path(runs), device, preset, handle_signals=True, bell=bell, detach_runs=detach_runs)
    app.run()
    app.finish_session()
    for line in work_going_on(Path(runs), app.started_runs):
        print(line, file=sys.stderr)
    return app.return_code or 0


def work_going_on(runs: Path, started_runs: list[Path] = ()) -> list[str]:
    """What goes on in the background after the app closes, and how to come back to it."""
    from ..search.lead import STUDY_FILE
    from ..workspace.folder import live_pid
    from ..workspace.queue import runner_pid

    lines = [f"tui-trainer: run {run_dir.name} goes on in the background (pid {pid}); follow it with "
             f"`tui-trainer` then F3 and a, or stop it with `tui-trainer stop {run_dir}`"
             for run_dir in started_runs if (pid := live_pid(run_dir)) is not None]
    for folder in sorted((runs / "studies").glob("*/")):
        if (pid := live_pid(folder)) is not None:
            try:
                study = (folder / STUDY_FILE).read_text().strip()
            except OSError:
                study = "STUDY.toml"
            lines.append(f"tui-trainer: study {folder.name} goes on in the background (pid {pid}); follow it with "
                         f"`tui-trainer` then F4, or `tui-trainer search --status {study}`")
    if (pid := runner_pid(runs)) is not None:
        lines.append(f"tui-trainer: the run queue goes on in the background (pid {pid}); follow it with "
                     f"`tui-trainer queue list`, or `tui-trainer` then ctrl+u on the Setup screen")
    return lines
