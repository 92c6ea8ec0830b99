"""The machine beside the curves: CPU %, RAM, the training process's memory, and each GPU's
utilisation, memory and temperature, as sparklines of the last samples."""
from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from ...events import SystemSample

HISTORY = 60  # samples per sparkline


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB"


class Meter(Horizontal):
    """A label, a sparkline of the history and the latest value."""

    DEFAULT_CSS = """
    Meter { height: 1; }
    Meter .meter-label { width: 9; color: $text-muted; }
    Meter Sparkline { width: 1fr; }
    Meter .meter-value { width: 20; padding-left: 1; }
    """

    def __init__(self, label: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.label = label
        self.history: deque[float] = deque(maxlen=HISTORY)
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="meter-label")
        yield Sparkline([], id="spark")
        yield Static("", classes="meter-value")

    def on_mount(self) -> None:
        self._draw()

    def add(self, value: float, text: str) -> None:
        self.history.append(value)
        self.text = text
        if self.query(Sparkline):  # not yet composed when samples come in a burst: on_mount draws
            self._draw()

    def _draw(self) -> None:
        self.query_one(Sparkline).data = list(self.history)
        self.query_one(".meter-value", Static).update(self.text)


class SystemPane(Vertical):
    DEFAULT_CSS = """
    SystemPane { height: auto; border-top: hkey $panel-lighten-1; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.samples = 0
        self.last: SystemSample | None = None

    def compose(self) -> ComposeResult:
        yield Meter("CPU", id="cpu")
        yield Meter("RAM", id="ram")
        yield Meter("trainer", id="rss")

    def add(self, s: SystemSample) -> None:
        self.samples += 1
        self.last = s
        self.query_one("#cpu", Meter).add(s.cpu_percent, f"{s.cpu_percent:.0f}%")
        self.query_one("#ram", Meter).add(s.ram_used, f"{gib(s.ram_used)} of {gib(s.ram_total)}")
        self.query_one("#rss", Meter).add(s.rss, f"{gib(s.rss)} RSS")
        for gpu in s.gpus:
            i = gpu["index"]
            if not self.query(f"#gpu{i}-util"):
                self.mount(Meter(f"GPU{i} %", id=f"gpu{i}-util"), Meter(f"GPU{i} mem", id=f"gpu{i}-mem"),
                           Meter(f"GPU{i} °C", id=f"gpu{i}-temp"))
            self.query_one(f"#gpu{i}-util", Meter).add(gpu["util"], f"{gpu['util']:.0f}%  {gpu['name'][:10]}")
            self.query_one(f"#gpu{i}-mem", Meter).add(gpu["mem_used"], f"{gib(gpu['mem_used'])} of "
                                                      f"{gib(gpu['mem_total'])}")
            self.query_one(f"#gpu{i}-temp", Meter).add(gpu["temp"], f"{gpu['temp']:.0f} °C")
