"""The Runs screen in a terminal that draws Sixel graphics: xterm in VT340 mode under Xvfb, the app
driven by keystrokes through a pty relay, and screenshots read back as PNG files: an evaluation's
worst mistakes, a drill into the largest confusion, and one image with its Grad-CAM maps.

    python benchmarks/sixel_look.py --runs RUNS_DIR --data DATA_DIR -o OUT_DIR

A script, not CI: it needs xterm, Xvfb, xwd and ImageMagick's convert (apt-get install xterm
xvfb x11-apps imagemagick). The newest run of RUNS_DIR with a best.pt is the one evaluated.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

DISPLAY = ":97"
F3, TAB, ENTER = "\x1bOR", "\t", "\r"
# (seconds to wait, keys to send, screenshot to take after): what a user does, at a user's pace
STEPS = [(10, F3, None), (4, "e", None), (15, "", "1-evaluated"), (1, TAB * 3, None), (1, ENTER, None),
         (4, "", "2-drill"), (1, ENTER, None), (12, "", "3-look")]


def relay(out: Path, command: list[str]) -> None:
    """Inside xterm: run the app on a pty, pass the terminal's bytes both ways (its answers to the
    app's graphics queries too), type the steps' keys, and ask for each screenshot by a file."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    # The app's terminal has xterm's size, in cells and in pixels (textual-image sizes images by it).
    fcntl.ioctl(fd, termios.TIOCSWINSZ, fcntl.ioctl(sys.stdin.fileno(), termios.TIOCGWINSZ, b"\0" * 8))
    tty.setraw(sys.stdin.fileno())
    plan = list(STEPS)
    due = time.monotonic() + plan[0][0]
    while plan:
        ready, _, _ = select.select([fd, sys.stdin], [], [], 0.05)
        if fd in ready:
            try:
                os.write(sys.stdout.fileno(), os.read(fd, 65536))
            except OSError:
                break
        if sys.stdin in ready:
            os.write(fd, os.read(sys.stdin.fileno(), 1024))
        if time.monotonic() >= due:
            _, keys, shot = plan.pop(0)
            if keys:
                os.write(fd, keys.encode())
            if shot:
                time.sleep(0.5)
                request = out / f"{shot}.request"
                request.touch()
                while request.exists():  # the outer process takes it and removes the request
                    ready, _, _ = select.select([fd], [], [], 0.05)
                    if ready:
                        os.write(sys.stdout.fileno(), os.read(fd, 65536))
            due = time.monotonic() + (plan[0][0] if plan else 0)
    os.kill(pid, 9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--relay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    app = [str(Path(sys.executable).with_name("tui-trainer")), "--runs", str(args.runs), "--data", args.data]
    if args.relay:
        relay(args.output, app)
        return
    for tool in ("xterm", "Xvfb", "xwd", "convert"):
        if shutil.which(tool) is None:
            sys.exit(f"sixel_look: {tool} is not installed (apt-get install xterm xvfb x11-apps imagemagick)")
    args.output.mkdir(parents=True, exist_ok=True)
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1300x900x24"], stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": DISPLAY}
    try:
        time.sleep(2)
        inner = [sys.executable, __file__, "--relay", "--runs", str(args.runs), "--data", args.data, "-o", str(args.output)]
        term = subprocess.Popen(["xterm", "-ti", "vt340", "-xrm", "XTerm*decTerminalID: vt340",
                                 "-xrm", "XTerm*numColorRegisters: 256", "-xrm", "XTerm*sixelScrolling: true",
                                 "-geometry", "120x40+0+0", "-fa", "Monospace", "-fs", "10", "-e", *inner], env=env)
        taken = 0
        while term.poll() is None and taken < sum(1 for s in STEPS if s[2]):
            for request in sorted(args.output.glob("*.request")):
                png = args.output / f"{request.stem}.png"
                shot = subprocess.run(["xwd", "-root", "-display", DISPLAY, "-silent"], capture_output=True, check=True)
                subprocess.run(["convert", "xwd:-", str(png)], input=shot.stdout, check=True)
                print(f"wrote {png}", flush=True)
                request.unlink()
                taken += 1
            time.sleep(0.1)
        term.terminate()
    finally:
        xvfb.terminate()


if __name__ == "__main__":
    main()
