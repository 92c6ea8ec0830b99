"""A study built from the Setup form: which fields to search and their ranges, one line each.

The dialog is prefilled with ranges around the form's own LR and weight decay; what it accepts is
checked by the same rules as a study file (and so as the form), the problem shown under the
fields while the dialog stays. It answers with the path of the study file it wrote.
"""
from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, TextArea

from ...config import Config, ConfigError
from ...search.study_file import OBJECTIVES, PRUNERS, SAMPLERS, save_study
from ..dialogs import FormModal

HELP = ("One searched field a line:  KEY = LOW .. HIGH [log] [step S]   or   KEY = A | B | C\n"
        "(any key of the form, e.g. optimizer.momentum = 0.8 .. 0.95, model.widths = [32,64,64] | [48,96,96])")


def suggested_space(cfg: Config) -> str:
    """A factor of 3 either side of the form's LRs and weight decay, on log scales."""
    lines = [f"optimizer.lr = {cfg.optimizer.lr / 3:.3g} .. {min(cfg.optimizer.lr * 3, 10):.3g} log"]
    if cfg.optimizer.name == "muon":
        lines.append(f"optimizer.muon_lr = {cfg.optimizer.muon_lr / 3:.3g} .. {min(cfg.optimizer.muon_lr * 3, 10):.3g} log")
    if cfg.optimizer.weight_decay > 0:
        wd = cfg.optimizer.weight_decay
        lines.append(f"optimizer.weight_decay = {wd / 3:.3g} .. {min(wd * 3, 1):.3g} log")
    return "\n".join(lines)


class StudyBuilderModal(FormModal):
    def __init__(self, cfg: Config, preset: str, folder: Path) -> None:
        super().__init__(classes="modal")
        self.cfg, self.preset, self.folder = cfg.copy(), preset, folder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(f"A study over these settings ({self.preset}, {self.cfg.run.epochs} epochs a trial), "
                        f"written to {self.folder}/", classes="dialog-text", markup=False)
            with Horizontal(classes="builder-row"):
                yield Input(f"{self.preset}-search", placeholder="name", id="study-name")
                yield Input("12", placeholder="trials", id="study-trials", type="integer")
            with Horizontal(classes="builder-row"):
                yield Select([(s, s) for s in SAMPLERS], value="tpe", allow_blank=False, id="study-sampler")
                yield Select([(p, p) for p in PRUNERS], value="median", allow_blank=False, id="study-pruner")
                yield Select([(o, o) for o in OBJECTIVES], value="final_acc", allow_blank=False, id="study-objective")
            yield Label(HELP, classes="dialog-text", markup=False)
            yield TextArea(suggested_space(self.cfg), id="study-space")
            yield from self.buttons("Write study (ctrl+s)")

    DEFAULT_CSS = """
    StudyBuilderModal .builder-row { height: auto; }
    StudyBuilderModal .builder-row Input, StudyBuilderModal .builder-row Select { width: 1fr; }
    StudyBuilderModal #study-space { height: 8; }
    """
    BINDINGS = [*FormModal.BINDINGS, ("ctrl+s", "submit", "Write")]

    def answer(self) -> tuple[object, str | None]:
        trials = self.query_one("#study-trials", Input).value.strip()
        if not trials.isdigit() or not 1 <= int(trials) <= 10_000:
            return None, "trials: a whole number from 1 to 10000"
        try:
            path = save_study(self.folder, self.query_one("#study-name", Input).value.strip(), self.cfg,
                              trials=int(trials), sampler=self.query_one("#study-sampler", Select).value,
                              pruner=self.query_one("#study-pruner", Select).value,
                              objective=self.query_one("#study-objective", Select).value,
                              space_lines=self.query_one("#study-space", TextArea).text)
        except ConfigError as e:
            return None, "; ".join(e.problems)
        except OSError as e:
            return None, f"{e.filename or self.folder}: {e.strerror or e}"
        return path, None
