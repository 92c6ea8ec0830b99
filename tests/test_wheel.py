"""The package as a user installs it: a built wheel, apart from the source tree."""
import subprocess
import sys

from conftest import ROOT, cli_env


def test_wheel_installed_apart_has_presets_and_trains(tmp_path, home):
    wheels, target, outside = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    outside.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # No build isolation: the test extra installs hatchling, so nothing is fetched.
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
                   check=True, timeout=300)
    wheel = next(wheels.glob("tui_trainer-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=300)
    # The installed copy first on the path; torch and textual come from this venv's site-packages.
    env = dict(cli_env(home), PYTHONPATH=str(target))

    def cli(*args, timeout=120):
        return subprocess.run([sys.executable, "-m", "tui_trainer", *args], cwd=outside, env=env,
                              capture_output=True, text=True, timeout=timeout)

    where = subprocess.run([sys.executable, "-c", "import tui_trainer; print(tui_trainer.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), where
    listed = cli("presets")
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    shipped = {p.stem for p in (ROOT / "presets").glob("*.toml")}
    assert shipped and shipped <= names, (shipped, listed.stdout)

    trained = cli("train", "--preset", "cpu-quick", "--data", "synthetic", "--epochs", "1",
                  "--set", "model.widths=8,16,16", "--set", "data.batch_size=256", "--json", timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert (outside / "runs").is_dir() and list((outside / "runs").iterdir())
