"""Every config field as an editor, grouped by section, validated as it is typed.

Each field goes through `config.check_field`, the same check the CLI's `--set` and the preset
loader use, so the message under an invalid field is the engine's: it names the field, the
value and what is allowed.
"""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from ...config import SECTIONS, Config, ConfigError, all_paths, allowed_text, check_field, field_info

SECTION_TITLES = {"data": "Data", "model": "Model", "optimizer": "Optimizer", "schedule": "Schedule",
                  "augment": "Augmentation", "run": "Run"}
DESCRIPTION = "description"


def widget_id(path: str) -> str:
    return "f-" + path.replace(".", "-")


def on_off(value: bool) -> str:
    # Spelled out: the checkbox's mark differs only by colour, which a plain terminal may not show.
    return "on" if value else "off"


def to_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(to_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


class FieldRow(Widget):
    """Name, editor and help on one line (a 3-column grid); the error, when there is one, on a
    line of its own under them. The error line is mounted on the first error: a form of 45 rows
    mounts faster without 45 hidden widgets."""

    def __init__(self, path: str, editor: Widget, help_text: str) -> None:
        super().__init__(classes="field-row", id="row-" + widget_id(path)[2:])
        self.path = path
        self.editor = editor
        self.help_text = help_text
        self._error: Static | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.path.partition(".")[2] or self.path, classes="field-name")
        yield self.editor
        yield Static(self.help_text, classes="field-help")

    @property
    def error_text(self) -> str:
        return str(self._error.render()) if self._error is not None and self.has_class("-invalid") else ""

    def show_error(self, message: str | None) -> None:
        self.set_class(message is not None, "-invalid")
        if message is None:
            if self._error is not None:
                self._error.update("")
            return
        if self._error is None:
            self._error = Static(message, classes="field-error")
            self.mount(self._error)
        else:
            self._error.update(message)


class ConfigForm(VerticalScroll):
    """`.config` is the Config of the valid values, `.valid` whether every field is valid."""

    class Changed(Message):
        def __init__(self, form: ConfigForm, path: str) -> None:
            super().__init__()
            self.form, self.path = form, path

        @property
        def control(self) -> ConfigForm:
            return self.form

    def __init__(self, cfg: Config | None = None, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._cfg = cfg.copy() if cfg else Config()
        self.errors: dict[str, str] = {}
        self.rows: dict[str, FieldRow] = {}

    # --- building ------------------------------------------------------------------------------

    def _editor(self, path: str, value: Any) -> Widget:
        wid = widget_id(path)
        if path == DESCRIPTION:
            return Input(value, id=wid, name=path, compact=True, classes="field-editor")
        kind, meta, _ = field_info(path)
        if meta["choices"]:
            return Select([(c, c) for c in meta["choices"]], value=value, allow_blank=False, id=wid, name=path,
                          compact=True, classes="field-editor")
        if kind is bool:
            return Checkbox(on_off(value), value, id=wid, name=path, compact=True, classes="field-editor")
        return Input(to_text(value), id=wid, name=path, compact=True, classes="field-editor")

    def _help(self, path: str) -> str:
        if path == DESCRIPTION:
            return "one line shown in the preset list"
        kind, meta, _ = field_info(path)
        if meta["choices"] or kind is bool:
            return meta["help"]
        return f"{meta['help']}: {allowed_text(path)}"

    def compose(self) -> ComposeResult:
        row = FieldRow(DESCRIPTION, self._editor(DESCRIPTION, self._cfg.description), self._help(DESCRIPTION))
        self.rows[DESCRIPTION] = row
        yield row
        current = None
        for path in all_paths():
            section = path.partition(".")[0]
            if section != current:
                current = section
                yield Static(SECTION_TITLES.get(section, section), classes="section-title")
            row = FieldRow(path, self._editor(path, self._cfg.get(path)), self._help(path))
            self.rows[path] = row
            yield row

    def on_mount(self) -> None:
        if self.app.is_headless:  # tests and snapshots: a blinking cursor would make them flaky
            for editor in self.query(Input):
                editor.cursor_blink = False

    # --- state ---------------------------------------------------------------------------------

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def invalid_fields(self) -> list[str]:
        return [p for p in [DESCRIPTION, *all_paths()] if p in self.errors]

    @property
    def config(self) -> Config:
        """The config of the last valid value of every field (check `.valid` first)."""
        return self._cfg.copy()

    def editor(self, path: str) -> Widget:
        return self.rows[path].editor

    def load(self, cfg: Config) -> None:
        """Show `cfg` in every editor (a preset was picked)."""
        self._cfg = cfg.copy()
        self.errors.clear()
        for path, row in self.rows.items():
            value = cfg.description if path == DESCRIPTION else cfg.get(path)
            editor = row.editor
            if isinstance(editor, Input):
                text = value if path == DESCRIPTION else to_text(value)
                if editor.value != text:
                    editor.value = text
                    editor.cursor_position = 0  # show a long value from its start
            elif isinstance(editor, Select):
                editor.value = value
            elif isinstance(editor, Checkbox):
                editor.value = bool(value)
            row.show_error(None)
        self.post_message(self.Changed(self, "*"))

    def set_field(self, path: str, raw: Any) -> str | None:
        """Validate and take one field's raw value; returns the error message or None."""
        try:
            if path == DESCRIPTION:
                self._cfg.description = str(raw)
            else:
                value = check_field(path, raw)
                section, _, name = path.partition(".")
                setattr(getattr(self._cfg, section), name, value)
        except ConfigError as e:
            message = "; ".join(e.problems)
            self.errors[path] = message
        else:
            message = None
            self.errors.pop(path, None)
        if path in self.rows:
            self.rows[path].show_error(message)
        self.post_message(self.Changed(self, path))
        return message

    # --- events from the editors ---------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.name:
            self.set_field(event.input.name, event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.name and event.value is not Select.BLANK:
            self.set_field(event.select.name, event.value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if event.checkbox.name:
            event.checkbox.label = on_off(event.value)
            self.set_field(event.checkbox.name, event.value)


__all__ = ["ConfigForm", "SECTIONS"]
