"""What a Setup run needs, under the form: its parameter count, the data it would read, the device
and how many processes, and whether the form can start. It owns the workers that find these out
(each imports torch or looks at a folder, so none runs on the UI thread)."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Select, Static
from textual.worker import get_current_worker

from ...config import Config
from ...text import shown


@dataclass
class ParamCount(Message):
    """Parameter count for a model spec, or why it cannot be built."""
    key: tuple
    count: int | None
    error: str | None = None


@dataclass
class DataStatus(Message):
    text: str
    train_size: int | None = None


@dataclass
class PlanPreview(Message):
    """What a budget run of these settings would plan, in words."""
    key: tuple
    text: str


@dataclass
class ProcessChoices(Message):
    """How many training processes this machine takes: what auto means, the most, the device type."""
    auto: int
    most: int
    kind: str


class SetupInfo(Vertical):
    @dataclass
    class TrainSizeFound(Message):
        """The data folder was looked at: about this many training images (steps change with it)."""
        size: int

    def __init__(self, data: str, device: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.data, self.device = data, device
        self.processes = 1  # training processes for a new run: 2+ start it as detached work
        self.train_estimate: int | None = None
        self.param_text = "parameters: -"
        self._auto_processes = 1
        self._param_key: tuple | None = None
        self._plan_key: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static("parameters: -", id="params")
        yield Static("data: ...", id="data-status")
        with Horizontal(id="processes-row"):
            yield Static(f"device: {self.device}", id="device")
            yield Select([("1 process", 1)], value=1, allow_blank=False, compact=True, id="nproc",
                         tooltip="Training processes (DDP, through torchrun's launcher). auto: every "
                                 "GPU when there are several, else 1. Two or more start the run as "
                                 "background work that the app attaches to and that outlives it")
        yield Static("", id="form-status")
        yield Static("", id="budget-plan")
        with Horizontal(classes="setup-buttons"):
            yield Button("Start (F5)", id="start", variant="success", compact=True)
            yield Button("Save as preset (F6)", id="save", compact=True)
        with Horizontal(classes="setup-buttons"):
            yield Button("LR find (F8)", id="lr-find", compact=True)
            yield Button("+ Queue (F9)", id="queue-add", compact=True)
            yield Button("Queue", id="queue-show", compact=True, tooltip="The run queue (ctrl+u)")

    def on_mount(self) -> None:
        self.check_data()
        self.count_processes()

    def show_form(self, cfg: Config, invalid: list[str], steps: int, exact: bool, num_classes: int) -> None:
        """The form's state in one line, and its model's parameters counted when the model changed."""
        status = self.query_one("#form-status", Static)
        if invalid:
            status.update(Text(f"{len(invalid)} invalid: {', '.join(invalid)}; Start is refused", style="bold red"))
        else:
            status.update(Text(f"{cfg.run.epochs} epochs of {'' if exact else '~'}{steps:,} steps, "
                               f"batch {cfg.data.batch_size}", style="green"))
        plan = self.query_one("#budget-plan", Static)
        plan.display = cfg.run.budget_s > 0 and not invalid
        if plan.display:
            key = (repr(cfg),)
            if key != self._plan_key:
                self._plan_key = key
                plan.update(Text("plan: ...", style="dim"))
                self.preview_plan(key, cfg.copy())
        if not any(p.startswith("model.") for p in invalid):
            key = (cfg.model.name, tuple(cfg.model.widths), cfg.model.zero_gamma, num_classes)
            if key != self._param_key:
                self._param_key = key
                self.query_one("#params", Static).update(f"parameters: counting ({cfg.model.name}) ...")
                self.count_parameters(key)

    # --- parameters ------------------------------------------------------------------------------

    @work(thread=True, group="params", exclusive=True, exit_on_error=False)
    def count_parameters(self, key: tuple) -> None:
        name, widths, zero_gamma, num_classes = key
        try:
            from ...models import build_model, count_parameters  # torch: imported off the UI thread
            count = count_parameters(build_model(name, num_classes, list(widths) or None, zero_gamma))
        except Exception as e:  # noqa: BLE001 - any reason the model cannot be built is shown, not raised
            self.post_message(ParamCount(key, None, f"{type(e).__name__}: {e}"))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(ParamCount(key, count))

    def on_param_count(self, message: ParamCount) -> None:
        if message.key != self._param_key:
            return
        params = self.query_one("#params", Static)
        if message.error:
            params.update(Text(f"model cannot be built: {message.error}", style="red"))
        else:
            self.param_text = f"parameters: {message.count:,} ({message.key[0]})"
            params.update(Text.assemble(("parameters: ", "dim"), (f"{message.count:,}", "bold"),
                                        (f" ({message.key[0]})", "dim")))

    # --- a budget's plan -------------------------------------------------------------------------

    @work(thread=True, group="plan", exclusive=True, exit_on_error=False)
    def preview_plan(self, key: tuple, cfg: Config) -> None:
        try:
            from ...training.calibration import preview  # torch: imported off the UI thread
            text = preview(cfg, self.data, self.device)
        except Exception as e:  # noqa: BLE001 - a data folder that says nothing yet: shown, not raised
            text = shown(f"plan: at the start ({type(e).__name__}: {e})")
        if not get_current_worker().is_cancelled:
            self.post_message(PlanPreview(key, text))

    def on_plan_preview(self, message: PlanPreview) -> None:
        if message.key == self._plan_key:
            self.query_one("#budget-plan", Static).update(Text(message.text, style="cyan"))

    # --- data ------------------------------------------------------------------------------------

    @work(thread=True, group="data-status", exclusive=True, exit_on_error=False)
    def check_data(self) -> None:
        from ...data import describe_source, estimate_train_size

        try:
            text = describe_source(self.data)
        except Exception as e:  # noqa: BLE001
            text = f"cannot check {self.data}: {e}"
        self.post_message(DataStatus(text, estimate_train_size(self.data)))

    def on_data_status(self, message: DataStatus) -> None:
        self.query_one("#data-status", Static).update(Text.assemble(("data: ", "dim"), message.text))
        if message.train_size and self.train_estimate != message.train_size:
            self.train_estimate = message.train_size
            self.post_message(self.TrainSizeFound(message.train_size))

    # --- processes -------------------------------------------------------------------------------

    @work(thread=True, group="processes", exit_on_error=False)
    def count_processes(self) -> None:
        from ...training.distributed import process_range  # torch: imported off the UI thread

        self.post_message(ProcessChoices(*process_range(self.device)))

    def on_process_choices(self, message: ProcessChoices) -> None:
        self._auto_processes = message.auto
        self.query_one("#device", Static).update(Text.assemble(("device: ", "dim"), message.kind))
        choices = [(f"auto: {message.auto} process{'es' * (message.auto > 1)}", 0)]
        choices += [(f"{n} process{'es' * (n > 1)}", n) for n in range(1, message.most + 1)]
        select = self.query_one("#nproc", Select)
        select.set_options(choices)
        select.value = 0

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "nproc" and isinstance(event.value, int):
            self.processes = self._auto_processes if event.value == 0 else event.value
            event.stop()
