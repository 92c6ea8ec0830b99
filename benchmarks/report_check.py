"""A run's HTML report in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by selenium, with the network cut off. Not in `make test` (installing Chromium takes CI
minutes): run it by hand,

    apt-get install -y chromium chromium-driver && .venv/bin/pip install selenium
    .venv/bin/python benchmarks/report_check.py RUN_DIR [--screenshot report.png]

It writes RUN_DIR's report (tui-trainer report), opens it offline, checks that every section is
there with its heading, that every image decoded (naturalWidth > 0: the figures and thumbnails are
data URIs, nothing is fetched), and that no script runs in the page; then it takes a full-page
screenshot to look at. Prints a table of the checks; exit 0 when all pass.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui_trainer.report.page import SECTIONS

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--screenshot", type=Path, default=Path("report.png"))
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    page = Path(tempfile.mkdtemp()) / "report.html"
    made = subprocess.run([sys.executable, "-m", "tui_trainer", "report", str(args.run_dir), "-o", str(page)],
                          capture_output=True, text=True, check=False)
    print(made.stdout.strip() or made.stderr.strip())
    if made.returncode != 0:
        return 1

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    results: list[tuple[str, bool]] = []
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
        driver.get(page.as_uri())
        for section in SECTIONS:
            heading = driver.execute_script(
                f"const s = document.getElementById('{section}'); return s && s.querySelector('h2') "
                f"? s.querySelector('h2').textContent : null")
            results.append((f"section {section} ({heading})", bool(heading)))
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        results.append((f"{len(images)} images, every one decoded offline", bool(images) and all(ok for _, ok in images)))
        results.append(("no script element in the page", driver.execute_script(
            "return document.scripts.length") == 0))
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1300, min(height + 100, 16000))
        driver.save_screenshot(str(args.screenshot))
        results.append((f"full-page screenshot {args.screenshot} ({height} px tall)", args.screenshot.is_file()))
    finally:
        driver.quit()
    width = max(len(name) for name, _ in results)
    for name, ok in results:
        print(f"{name:<{width}}  {'ok' if ok else 'FAILED'}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
