"""The served app in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by selenium. Not in `make test` (installing Chromium takes CI minutes): run it by hand,

    apt-get install -y chromium chromium-driver && .venv/bin/pip install selenium
    .venv/bin/python benchmarks/browser_check.py

It serves the app on synthetic data with a tiny preset, checks that a request without the token
is refused (page and websocket), opens the page, waits for the Setup screen's preset list, presses
F5 and waits for the Training screen's epoch table to fill; then it closes the tab mid-run and
checks that the run trains on to its end. The terminal is drawn on a canvas, so what the page
shows is read from the websocket stream the page receives (recorded by a script injected first).
Prints a table of the checks; exit 0 when all pass.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_trainer.workspace import folder
from tui_trainer.workspace.summary import read_summary  # noqa: E402

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TOKEN = "check-token"
TINY = """description = "browser check: a tiny seed_cnn"
[data]
batch_size = 128
[model]
name = "seed_cnn"
widths = [8, 16, 32]
[optimizer]
name = "adam"
lr = 0.003
weight_decay = 0.0
[run]
epochs = 6
precision = "fp32"
"""
# Every message the page's websocket receives, as text, in window.__received.
RECORD = """
window.__received = [];
const Original = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const ws = protocols ? new Original(url, protocols) : new Original(url);
  ws.addEventListener('message', (e) => {
    const d = e.data;
    window.__received.push(typeof d === 'string' ? d : new TextDecoder().decode(new Uint8Array(d)));
  });
  return ws;
};
window.WebSocket.prototype = Original.prototype;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str, headers: dict | None = None) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    work = Path(tempfile.mkdtemp(prefix="tt-browser-"))
    preset = work / "browser-tiny.toml"
    preset.write_text(TINY)
    runs = work / "runs"
    # A home of its own, with a notify command that keeps the summary it is given.
    config = work / "home" / ".config" / "tui-trainer"
    config.mkdir(parents=True)
    notified = work / "notified.json"
    (config / "settings.toml").write_text(f'notify_command = "cat > {notified}"\n')
    env = {**os.environ, "HOME": str(work / "home"), "XDG_CONFIG_HOME": str(work / "home" / ".config")}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tui_trainer", "serve", "--port", str(port), "--data",
                               "synthetic", "--runs", str(runs), "--preset", str(preset), "--token", TOKEN],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=work, env=env)
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append((name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}", flush=True)

    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:  # until the server listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    check("page without the token refused", status(base + "/") == 403)
    check("page with a wrong token refused", status(base + "/?token=wrong") == 403)
    ws_headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    check("websocket without the token refused", status(base + "/ws?width=80&height=24", ws_headers) == 403)

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})

    def seen(text: str, timeout: float) -> bool:
        end = time.time() + timeout
        while time.time() < end:
            if text in "".join(driver.execute_script("return window.__received || []")):
                return True
            time.sleep(0.5)
        return False

    run_dir = None
    try:
        started = time.time()
        driver.get(f"{base}/?token={TOKEN}")
        check("the Setup screen's preset list shows", seen("Presets", 60) and seen("browser-tiny", 5),
              f"({time.time() - started:.1f} s)")
        terminal = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, ".xterm")).click().perform()
        terminal.send_keys(Keys.F5)
        ok = seen("test acc", 90)
        run_dir = next((p for p in runs.glob("2*") if p.is_dir()), None) if runs.is_dir() else None
        check("F5 starts a run and the Training screen's epoch table fills",
              ok and run_dir is not None and seen("1/6", 90), f"({run_dir.name if run_dir else 'no run folder'})")
        pid = folder.live_pid(run_dir) if run_dir else None
        check("the run is detached work (its own process)", pid is not None and pid != server.pid,
              f"(pid {pid})")
        terminal.send_keys("s")  # the system pane, fed by the run's own samples in events.jsonl
        check("the system pane shows CPU and memory", seen("CPU", 30) and seen("RAM", 5) and seen(" of ", 5))
    finally:
        driver.quit()  # the tab closes mid-run: textual-serve ends the app's process
    if run_dir is not None:
        end = time.time() + 300
        summary = read_summary(run_dir)
        while time.time() < end and (summary is None or summary.state == "live"):
            time.sleep(1)
            summary = read_summary(run_dir)
        check("after the tab closed the run trained to its end", summary is not None and summary.state == "finished",
              f"({summary.state if summary else '?'}, {summary.epochs_done if summary else 0} epochs, "
              f"best {summary.best_acc if summary else None})")
        time.sleep(2)
        said = json.loads(notified.read_text()) if notified.is_file() else {}
        check("its end ran the notify command with the summary", said.get("state") == "finished"
              and said.get("run_dir") == str(run_dir), f"({notified.name}: state {said.get('state')})")
    server.terminate()
    server.wait(10)
    print("\n| check | result |\n|---|---|")
    for name, ok, detail in checks:
        print(f"| {name} | {'pass' if ok else 'FAIL'} {detail} |")
    print(json.dumps({"passed": sum(ok for _, ok, _ in checks), "of": len(checks)}))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
