"""Setup: pick or edit a preset, see its LR schedule, size and data, then start it."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Label, ListItem, ListView, Static

from ... import presets
from ...config import Config, ConfigError
from ...data import CIFAR10_TRAIN, SYNTHETIC_TRAIN, training_images
from ...locations import user_presets
from ...text import shown
from ...workspace import folder
from ...workspace.listing import RunRow
from ...workspace.queue import Queue, QueueError, config_sets
from ..dialogs import AskModal
from ..messages import RunRequested
from ..widgets.augment_strip import AugmentStrip
from ..widgets.config_form import ConfigForm
from ..widgets.lr_plot import LRSchedulePlot
from ..widgets.setup_info import SetupInfo
from .lr_find import LRFindModal
from .queue import QueueModal
from .search import STUDIES_DIR
from .study_builder import StudyBuilderModal

SCHEDULE_FIELDS = ("optimizer.lr", "run.epochs", "data.batch_size")


class PresetItem(ListItem):
    def __init__(self, preset: presets.Preset) -> None:
        super().__init__(classes="preset-item")
        self.preset = preset

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(shown(self.preset.name), style="bold")
        text.append("  built-in" if self.preset.builtin else "  yours", style="dim italic")
        yield Label(text, classes="preset-name")
        yield Label(shown(self.preset.description()), classes="preset-description", markup=False)


DEFAULT_PRESET = "cpu-quick"


def check_preset_name(name: str) -> str | None:
    if not name:
        return "type a name"
    if any(not (c.isalnum() or c in "-_") for c in name):
        return f"{name!r}: use letters, digits, '-' and '_' only"
    return None


class SetupScreen(Screen):
    """Preset list left, the grouped form right, the LR plot and what the run needs under them."""

    AUTO_FOCUS = "#presets"

    BINDINGS = [
        Binding("f5", "start", "Start", priority=True, tooltip="Train these settings (refused while a field is invalid)"),
        Binding("ctrl+s", "start", "Start", show=False, priority=True),
        Binding("f6", "save_preset", "Save", priority=True,
                tooltip="Save these settings as a preset of your own"),
        Binding("f7", "toggle_focus", "List/form", priority=True,
                tooltip="Move between the preset list and the form"),
        # F8 and F9 are on buttons beside Start, which name their keys: the footer keeps the mode keys.
        Binding("f8", "lr_find", "LR find", show=False, priority=True,
                tooltip="LR range test on these settings; a key puts the suggested LR into the form"),
        Binding("f9", "queue_add", "Add to queue", show=False, priority=True,
                tooltip="Add these settings to the run queue (runs one after another, in the background)"),
        # Not a priority binding: in a form field ctrl+u still deletes to the start of the line.
        Binding("ctrl+u", "show_queue", "Show queue", show=False,
                tooltip="The run queue: reorder, remove, run or stop it"),
        Binding("ctrl+f", "build_study", "Search these", show=False, priority=True,
                tooltip="Build a hyperparameter study over these settings: fields to search and their ranges"),
    ]

    def __init__(self) -> None:
        super().__init__(id="setup")
        self.preset_name = "custom"
        self._refresh_timer = None
        self._last_form_focus = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="setup-top"):
            with Vertical(id="preset-pane"):
                yield Static("Presets [dim]enter: load[/]", classes="pane-title")
                yield ListView(id="presets")
            yield ConfigForm(id="form")
        with Horizontal(id="setup-bottom"):
            yield LRSchedulePlot(id="lr-plot")
            yield AugmentStrip(id="augment-strip")
            yield SetupInfo(self.app.data, self.app.device, id="setup-info")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Setup"
        self.fill_presets()
        initial = self.initial_preset()
        if initial is not None:
            self.load_preset(initial)
        self.refresh_derived()

    # --- presets -------------------------------------------------------------------------------

    def initial_preset(self) -> presets.Preset | None:
        """The preset named on the command line, else cpu-quick (it finishes on any machine)."""
        try:
            return presets.find(self.app.initial_preset or DEFAULT_PRESET)
        except ConfigError as e:
            if self.app.initial_preset:
                self.notify(str(e), title="Preset not found", severity="error")
            found = presets.discover()
            return found[0] if found else None

    def fill_presets(self, select: str | None = None) -> None:
        view = self.query_one("#presets", ListView)
        view.clear()
        found = presets.discover()
        view.extend(PresetItem(p) for p in found)
        names = [p.name for p in found]
        target = select if select in names else self.preset_name
        if target in names:
            view.index = names.index(target)

    def load_preset(self, preset: presets.Preset) -> None:
        try:
            cfg = preset.load()
        except ConfigError as e:
            self.notify(str(e), title=f"Cannot load preset {preset.name}", severity="error")
            return
        self.preset_name = preset.name
        self.query_one(ConfigForm).load(cfg)
        view = self.query_one("#presets", ListView)
        names = [item.preset.name for item in view.children if isinstance(item, PresetItem)]
        if preset.name in names and view.index != names.index(preset.name):
            view.index = names.index(preset.name)
        self.query_one("#preset-pane .pane-title", Static).update(
            Text.assemble("Presets ", (f"loaded: {shown(preset.name)}", "dim")))

    def load_run(self, row: RunRow) -> None:
        """A run's own settings, its seed too, as one run (not its seed group): F5 trains it again."""
        try:
            cfg = folder.read_config(row.path)
        except (OSError, ValueError) as e:  # a ConfigError too
            self.notify(f"{row.name}: {e}", title="Cannot load its settings", severity="error")
            return
        cfg.set("run.seeds", 1)
        self.preset_name = row.preset
        self.query_one(ConfigForm).load(cfg)
        self.query_one("#preset-pane .pane-title", Static).update(
            Text.assemble("Presets ", (f"loaded: the settings of run {shown(row.name)}", "dim")))
        data = row.summary.data
        elsewhere = f"; it trained on {data}, F5 trains on this app's data" if not self.app.is_own_data(data) else ""
        self.notify(f"{row.name}'s settings, seed {cfg.run.seed}{elsewhere}", title="Train again", timeout=8)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, PresetItem):
            self.load_preset(event.item.preset)

    # --- derived views: LR plot, parameters, data ----------------------------------------------

    def on_config_form_changed(self, event: ConfigForm.Changed) -> None:
        if self._refresh_timer is None:  # coalesce a burst of changes (a preset load) into one redraw
            self._refresh_timer = self.set_timer(0.05, self.refresh_derived)

    @property
    def info(self) -> SetupInfo:
        return self.query_one(SetupInfo)

    def steps_per_epoch(self, cfg: Config) -> int:
        size = self.app.train_size or self.info.train_estimate
        if size is None:
            size = SYNTHETIC_TRAIN if self.app.data == "synthetic" else CIFAR10_TRAIN
        return max(1, training_images(size, cfg.data) // cfg.data.batch_size)

    def refresh_derived(self) -> None:
        self._refresh_timer = None
        form = self.query_one(ConfigForm)
        cfg = form.config
        invalid = form.invalid_fields
        plot = self.query_one(LRSchedulePlot)
        if any(p.startswith("schedule.") or p in SCHEDULE_FIELDS for p in invalid):
            plot.show(None, 0)
        else:
            plot.show(cfg, self.steps_per_epoch(cfg))
        self.info.show_form(cfg, invalid, self.steps_per_epoch(cfg), bool(self.app.train_size), self.app.num_classes)
        if not any(p.startswith("augment.") or p == "run.seed" for p in invalid):
            self.query_one(AugmentStrip).preview(cfg.augment, cfg.run.seed, self.app.data, self.app.dataset)

    def on_setup_info_train_size_found(self) -> None:
        self.refresh_derived()

    # --- actions -------------------------------------------------------------------------------

    def refuse_invalid(self, what: str) -> bool:
        form = self.query_one(ConfigForm)
        if form.valid:
            return False
        fields = form.invalid_fields
        self.notify(f"{what} is refused while these fields are invalid: {', '.join(fields)}",
                    title="Invalid settings", severity="error")
        row = form.rows[fields[0]]
        form.scroll_to_widget(row)
        return True

    def action_start(self) -> None:
        if self.refuse_invalid("Start"):
            return
        self.post_message(RunRequested(self.query_one(ConfigForm).config, self.preset_name,
                                       processes=self.info.processes))

    def action_save_preset(self) -> None:
        if self.refuse_invalid("Saving"):
            return
        cfg = self.query_one(ConfigForm).config
        builtin = {p.name for p in presets.discover() if p.builtin}

        def saved(name: str | None) -> None:
            if not name:
                return
            replaced = (user_presets() / f"{name}.toml").exists()
            try:
                path = presets.save_user_preset(name, cfg)
            except (ConfigError, OSError) as e:
                self.notify(str(e), title="Preset not saved", severity="error")
                return
            self.preset_name = name
            self.fill_presets(select=name)
            note = f" (it shadows the built-in {name})" if name in builtin else " (replaced the old one)" if replaced else ""
            self.notify(f"Saved {path}{note}", title="Preset saved")
            self.query_one("#preset-pane .pane-title", Static).update(Text.assemble("Presets ", (f"loaded: {shown(name)}", "dim")))

        suggestion = self.preset_name if self.preset_name not in builtin else f"{self.preset_name}-mine"
        self.app.push_screen(AskModal(f"Save as a preset in {user_presets()}\nName:", suggestion, check_preset_name), saved)

    def action_toggle_focus(self) -> None:
        """Between the preset list and the form (the form keeps its last focused field)."""
        view = self.query_one("#presets", ListView)
        form = self.query_one(ConfigForm)
        if view.has_focus:
            target = self._last_form_focus if self._last_form_focus in form.query("*") else None
            (target or form.rows["description"].editor).focus()
        else:
            view.focus()

    def on_descendant_focus(self, event) -> None:  # noqa: ANN001
        if event.widget is not None and event.widget in self.query_one(ConfigForm).query("*"):
            self._last_form_focus = event.widget

    def action_lr_find(self) -> None:
        if self.refuse_invalid("The LR finder"):
            return
        form = self.query_one(ConfigForm)
        cfg = form.config

        def apply(values: dict | None) -> None:
            for path, value in (values or {}).items():
                form.editor(path).value = f"{value:g}"  # the editor's change validates and takes it
            if values:
                self.notify(", ".join(f"{k} = {v:g}" for k, v in values.items()), title="LR from the finder")

        self.app.push_screen(LRFindModal(cfg, self.app.data, self.app.device,
                                         dataset=self.app.cached_dataset(None, cfg.data)), apply)

    def action_queue_add(self) -> None:
        """Queue the preset with the form's changes as --set items, as `queue add` would."""
        if self.refuse_invalid("Queueing"):
            return
        try:
            base = presets.find(self.preset_name).load()
        except ConfigError:
            self.notify("Save these settings as a preset first (F6): a queued run names its preset",
                        title="Not queued", severity="warning")
            return
        self.queue_add(self.preset_name, config_sets(base, self.query_one(ConfigForm).config))

    @work(thread=True, group="queue-add", exit_on_error=False)
    def queue_add(self, preset: str, sets: list[str]) -> None:
        """Off the UI thread: the queue file's lock may be held by the runner or another app."""
        try:
            item = Queue(self.app.runs).add(preset, sets)
        except (ConfigError, QueueError, OSError) as e:
            self.app.call_from_thread(self.notify, str(e), title="Not queued", severity="error")
            return
        self.app.call_from_thread(self.notify, f"#{item.id} {item.describe()}",
                                  title="Queued (the Queue button shows it)")

    def action_build_study(self) -> None:
        if self.refuse_invalid("A study"):
            return

        def written(path: Path | None) -> None:
            if path is not None:
                self.app.switch_mode("search")
                self.app.call_after_refresh(lambda: self.app.screen.open_study(path))
                self.notify(f"{path} written: F5 starts it", title="Study")

        self.app.push_screen(StudyBuilderModal(self.query_one(ConfigForm).config, self.preset_name, STUDIES_DIR),
                             written)

    def action_show_queue(self) -> None:
        self.app.push_screen(QueueModal())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"start": self.action_start, "save": self.action_save_preset, "lr-find": self.action_lr_find,
                   "queue-add": self.action_queue_add, "queue-show": self.action_show_queue}
        if event.button.id in actions:
            actions[event.button.id]()
