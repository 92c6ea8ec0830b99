"""The Search screen (F4): open a study file, start it, watch its trials arrive, stop it.

A study runs as detached work (search/lead.py started through detached.py): it keeps going when
the app closes or the SSH connection drops, and this screen, in this app or a later one, only
reads its storage every few seconds. A trial is an ordinary run: enter opens it in the Training view.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from ...config import ConfigError
from ...locations import example_studies
from ...search.lead import SearchPlaces, StudyView, known_study_files, look, request_stop, start_search, workers_problem
from ...search.storage import StorageError
from ...search.study_file import StudySpec, load_study
from ...text import shown
from ..dialogs import AskModal, ConfirmModal, PickModal
from ..messages import AttachRequested
from ..widgets.study_plot import StudyPlot
from ..widgets.trials_table import TrialsTable

REFRESH_S = 2.0
STUDIES_DIR = Path("studies")  # where users keep their study files (beside the examples)


@dataclass
class StudyLoaded(Message):
    places: SearchPlaces
    view: StudyView


@dataclass
class StudyAction(Message):
    """A start or a stop done off the UI thread: what to tell the user."""
    text: str
    error: bool = False


class SearchScreen(Screen):
    BINDINGS = [
        Binding("o", "open", "Open", tooltip="Open a study file (studies/*.toml, or one run before)"),
        Binding("f5", "start", "Start", priority=True, tooltip="Start the study in the background: it outlives the app"),
        Binding("x", "stop", "Stop", tooltip="Stop the study: running trials save last.pt"),
        Binding("p", "plot_by", "Plot by", tooltip="Plot the objective by trial, or by each searched parameter"),
        Binding("enter", "open_trial", "Trial run", show=False, tooltip="Open the trial's run in the Training view"),
    ]

    def __init__(self) -> None:
        super().__init__(id="search")
        self.places: SearchPlaces | None = None
        self.view: StudyView | None = None
        self.by_index = -1  # -1: by trial number; else the index of a searched parameter
        self._starting_until = 0.0  # a lead just started takes seconds to mark itself live

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("No study open: o opens a study file (see studies/ for examples)", id="study-title")
        yield TrialsTable(id="trials")
        with Horizontal(id="study-bottom"):
            yield StudyPlot(id="study-plot")
            yield Static("", id="importances")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Search"
        self.set_interval(REFRESH_S, self.refresh_study)

    # --- the study ---------------------------------------------------------------------------

    def open_study(self, path: Path) -> None:
        try:
            spec = load_study(path)
        except ConfigError as e:
            self.notify(str(e), title="Not a usable study file", severity="error", timeout=15)
            return
        self.places = SearchPlaces(spec, self.app.runs, spec.storage)
        self._starting_until = 0.0
        self.view, self.by_index = None, -1
        self.draw()
        self.refresh_study()

    def refresh_study(self) -> None:
        if self.places is not None and self.is_current:  # no storage reads while another screen shows
            self.read_study(self.places)

    @work(thread=True, group="study", exclusive=True, exit_on_error=False)
    def read_study(self, places: SearchPlaces) -> None:
        self.post_message(StudyLoaded(places, look(places)))

    def on_study_loaded(self, message: StudyLoaded) -> None:
        if message.places is self.places:  # not a late answer for a study since replaced
            self.view = message.view
            self.draw()

    def draw(self) -> None:
        title = self.query_one("#study-title", Static)
        places, view = self.places, self.view
        if places is None:
            return
        spec = places.spec
        rep = view.report if view else None
        # Text, not markup: names and paths come from the study file.
        text = Text.assemble((shown(spec.name), "bold"), f" ({shown(spec.path)}) · {shown(spec.preset)}, "
                             f"{spec.sampler}, {spec.pruner} pruner · ")
        if view and view.lead_pid:
            text.append("running here", "bold cyan").append(f" (pid {view.lead_pid})")
        else:
            text.append("not running here")
        text.append(f" · {len(rep.rows)}/{spec.budget if spec.budget < 10_000 else '∞'} trials" if rep else
                    " · not started")
        if rep and rep.best:
            text.append(f" · best on {rep.chosen_on} ").append(f"{rep.best.value:.2%}", "bold green")
            if rep.validation and rep.best.test_acc is not None:
                text.append(f", test {rep.best.test_acc:.2%}")
            text.append(f" (trial {rep.best.number})")
            if (separation := rep.separation()) is not None:
                text.append(f"\n{separation}", "bold" if rep.best_vs_runner_up().direction else "dim")
        if view and view.problem:
            text.append(f"\n{shown(view.problem)}", "red")
        if note := spec.pruning_problem():
            text.append(f"\nnote: {note}", "yellow")
        title.update(text)
        self.query_one(TrialsTable).show(spec, rep)
        by = spec.space[self.by_index] if 0 <= self.by_index < len(spec.space) else None
        self.query_one(StudyPlot).show(spec, rep, by)
        imp = view.importances if view else None
        lines = ["[b]parameter importance[/]"]
        lines += [f"{k}  {v:.2f}" for k, v in imp.items()] if imp else ["(after 4 complete trials)"]
        if rep and rep.counts:
            lines += ["", ", ".join(f"{n} {state}" for state, n in rep.counts.items())]
        self.query_one("#importances", Static).update("\n".join(lines))

    # --- actions -----------------------------------------------------------------------------

    def action_open(self) -> None:
        files = known_study_files(self.app.runs, STUDIES_DIR, example_studies())
        if not files:
            self.notify(f"No study files in {STUDIES_DIR.resolve()}; write one (see the README)", severity="warning")
            return
        current = str(self.places.spec.path.resolve()) if self.places else None
        options = [(str(p), _label(p)) for p in files]
        self.app.push_screen(PickModal("Open a study", options, current),
                             lambda chosen: chosen and self.open_study(Path(chosen)))

    def action_start(self) -> None:
        places = self.places
        if places is None:
            self.action_open()
            return
        if (pid := places.lead_pid()) is not None or time.monotonic() < self._starting_until:
            self.notify(f"{places.spec.name} is already running here" + (f" (pid {pid})" if pid else " (starting)"),
                        severity="warning")
            return
        if self.app.training_here():
            self.notify("A run trains in this app: the study's trials will share the CPU with it", severity="warning")

        def answered(text: str | None) -> None:
            if text:
                self._starting_until = time.monotonic() + 30.0
                self.start(places, int(text))

        self.app.push_screen(AskModal(f"Start {places.spec.name} in the background.\nWorker processes:",
                                      "2", workers_problem), answered)

    @work(thread=True, group="study-action", exit_on_error=False)
    def start(self, places: SearchPlaces, workers: int) -> None:
        try:
            pid, log = start_search(places, workers=workers, data=self.app.data, device=self.app.device)
        except (OSError, StorageError) as e:
            self.post_message(StudyAction(f"could not start {places.spec.name}: {e}", error=True))
            return
        self.post_message(StudyAction(f"{places.spec.name} started (pid {pid}, log {log}); it goes on when the "
                                      f"app closes"))

    def action_stop(self) -> None:
        places = self.places
        if places is None or self.view is None or self.view.lead_pid is None:
            self.notify("No study of this screen is running here", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop(places)

        self.app.push_screen(ConfirmModal(f"Stop {places.spec.name}? No new trial starts, and each running trial "
                                          f"stops at a step and saves last.pt.", yes="Stop study", no="Keep going"),
                             answered)

    @work(thread=True, group="study-action", exit_on_error=False)
    def stop(self, places: SearchPlaces) -> None:
        try:
            stopped = request_stop(places)
        except (OSError, StorageError) as e:
            self.post_message(StudyAction(f"could not stop {places.spec.name}: {e}", error=True))
            return
        trials = f"; trials {', '.join(str(r.number) for r in stopped)} save last.pt" if stopped else ""
        self.post_message(StudyAction(f"stopping {places.spec.name}{trials}"))

    def on_study_action(self, message: StudyAction) -> None:
        self.notify(message.text, severity="error" if message.error else "information", timeout=10)
        self.refresh_study()

    def action_plot_by(self) -> None:
        if self.places is None:
            return
        self.by_index = self.by_index + 1 if self.by_index + 1 < len(self.places.spec.space) else -1
        self.draw()

    def action_open_trial(self) -> None:
        row = self.query_one(TrialsTable).current
        if row is None or not row.run_dir:
            self.notify("This trial has no run folder yet", severity="warning")
            return
        self.post_message(AttachRequested(Path(row.run_dir)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_trial()


def _label(path: Path) -> str:
    try:
        spec: StudySpec = load_study(path)
        return f"{spec.name}  [dim]{spec.description or spec.preset}  ({path})[/]"
    except ConfigError as e:
        return f"{path.stem}  [red]{e}[/]"
