"""An SSH drop under the app: the terminal goes away mid-run, the run still finishes complete."""
import os
import pty
import select
import sys
import time

from tests.conftest import tiny_config
from tui_trainer.config import to_toml
from tui_trainer.workspace import folder

F5 = b"\x1b[15~"


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_run_survives_the_terminal_going_away(tmp_path):
    preset = tmp_path / "hangup.toml"
    preset.write_text(to_toml(tiny_config(**{"run.epochs": 3, "model.widths": [8, 16, 32]})))
    runs_dir = tmp_path / "runs"
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"), TERM="xterm-256color",
               COLUMNS="120", LINES="40", TEXTUAL_ANIMATIONS="none")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app on a real terminal, as over SSH
        os.execvpe(sys.executable, [sys.executable, "-m", "tui_trainer", "--data", "synthetic", "--runs",
                                    str(runs_dir), "--preset", str(preset)], env)
    try:
        assert b"Start" in read_until(fd, b"Start", 60), "the app did not draw its setup screen"
        time.sleep(1.0)
        os.write(fd, F5)

        def first_epoch_done() -> bool:
            return any(folder.read_metrics(d) for d in runs_dir.glob("*") if d.is_dir())
        deadline = time.monotonic() + 120
        while not first_epoch_done() and time.monotonic() < deadline:
            read_until(fd, b"\x00", 0.5)  # keep draining the screen so the app never blocks on it
        assert first_epoch_done(), "the run did not start from F5"
        run_dir = next(d for d in runs_dir.iterdir() if d.is_dir())
        assert folder.live_pid(run_dir) == pid
    finally:
        os.close(fd)  # the terminal goes away: the kernel sends SIGHUP to the app
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the app was killed by signal {os.WTERMSIG(status) if os.WIFSIGNALED(status) else '?'}"
    assert [m.epoch for m in folder.read_metrics(run_dir)] == [1, 2, 3]
    events, _ = folder.read_events(run_dir)
    assert type(events[-1]).__name__ == "RunFinished" and not events[-1].stopped
    assert (run_dir / "checkpoints" / "best.pt").exists() and folder.live_pid(run_dir) is None
