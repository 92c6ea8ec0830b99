"""Small dialogs: confirm, ask for one line (a preset name, a number of epochs), a run's note and
tags, a page to read (a diff, the help), a choice among options (a sort column)."""
from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from ..text import shown
from ..workspace.notes import NotesError, check_tag


class ConfirmModal(ModalScreen[bool]):
    """A question with a yes and a no; Enter or y says yes, Escape or n says no."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__(classes="modal")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(shown(self.question, newlines=True), classes="dialog-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button(f"{self.no} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class FormModal(ModalScreen):
    """A dialog whose answer is checked before it is accepted: the problem shows in red under the
    fields and the dialog stays; Enter in a field or OK submits, Escape or Cancel dismisses None.
    Subclasses compose their fields and return (answer, problem or None) from `answer()`."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def buttons(self, ok: str = "OK (enter)") -> ComposeResult:
        yield Static("", id="answer-error", classes="field-error")
        with Horizontal(classes="dialog-buttons"):
            yield Button(ok, id="ok", variant="primary", compact=True)
            yield Button("Cancel (esc)", id="cancel", compact=True)

    def answer(self) -> tuple[object, str | None]:
        raise NotImplementedError

    def action_submit(self) -> None:
        value, problem = self.answer()
        error = self.query_one("#answer-error", Static)
        error.update(problem or "")
        error.set_class(problem is not None, "-shown")
        if problem is None:
            self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskModal(FormModal):
    """One line of input, checked by `check` (returns an error message or None)."""

    def __init__(self, question: str, value: str = "", check: Callable[[str], str | None] | None = None,
                 placeholder: str = "") -> None:
        super().__init__(classes="modal")
        self.question, self.value, self.check, self.placeholder = question, value, check, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(shown(self.question, newlines=True), classes="dialog-text", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            yield from self.buttons()

    def on_mount(self) -> None:
        answer = self.query_one("#answer", Input)
        answer.cursor_blink = not self.app.is_headless
        answer.focus()

    def answer(self) -> tuple[str, str | None]:
        value = self.query_one("#answer", Input).value.strip()
        return value, self.check(value) if self.check else None


def resume_epochs_modal(name: str, epochs_done: int, epochs_planned: int | None) -> AskModal:
    """Asks for the total epochs a resumed run trains to: more than it has done, within run.epochs' range."""
    from ..config import ConfigError, check_field

    def check(text: str) -> str | None:
        try:
            check_field("run.epochs", text)
        except ConfigError as e:
            return str(e)
        if epochs_done and int(text) <= epochs_done:
            return f"{name} has done {epochs_done} epochs already: give a larger total"
        return None

    return AskModal(f"Resume {name} from last.pt.\nTotal epochs for the run:",
                    str(max(epochs_planned or 0, epochs_done + 1)), check)


class NotesModal(FormModal):
    """A run's note (several lines) and tags (comma-separated, each checked as `tag` checks it);
    ctrl+s saves (Enter in the note is a new line)."""

    BINDINGS = [*FormModal.BINDINGS, Binding("ctrl+s", "submit", "Save", priority=True)]

    def __init__(self, run: str, note: str, tags: list[str]) -> None:
        super().__init__(classes="modal")
        self.run, self.note, self.tags = run, note, tags

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Note and tags of {shown(self.run)}", classes="dialog-text", markup=False)
            yield TextArea(self.note, id="note", soft_wrap=True, show_line_numbers=False)
            yield Input(", ".join(self.tags), placeholder="tags, comma-separated: baseline, lr-sweep", id="tags")
            yield from self.buttons("Save (ctrl+s)")

    def on_mount(self) -> None:
        note = self.query_one("#note", TextArea)
        note.cursor_blink = not self.app.is_headless
        note.focus()

    def answer(self) -> tuple[tuple[str, list[str]], str | None]:
        tags = [t.strip() for t in self.query_one("#tags", Input).value.split(",") if t.strip()]
        try:
            for tag in tags:
                check_tag(tag)
        except NotesError as e:
            return (self.query_one("#note", TextArea).text, tags), str(e)
        return (self.query_one("#note", TextArea).text, tags), None


class InfoModal(ModalScreen[None]):
    """A title and something to read (a Rich renderable or a widget: a table, the help, a
    prediction); any of Escape, q or Enter closes it."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, body) -> None:  # noqa: ANN001 - any Rich renderable
        super().__init__(classes="modal")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(self.title_text, classes="dialog-text")
            with VerticalScroll(classes="info-body"):
                yield self.body if isinstance(self.body, Widget) else Static(self.body)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class PickModal(ModalScreen[str | None]):
    """Pick one of several options (id, label); Enter picks, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, options: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__(classes="modal")
        self.question, self.options, self.current = question, options, current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(shown(self.question, newlines=True), classes="dialog-text", markup=False)
            yield OptionList(*[Option(label, id=key) for key, label in self.options], id="pick")

    def on_mount(self) -> None:
        pick = self.query_one(OptionList)
        keys = [key for key, _ in self.options]
        if self.current in keys:
            pick.highlighted = keys.index(self.current)
        pick.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
