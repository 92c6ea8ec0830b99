"""The package's layering, as pyproject.toml's import-linter contracts state it: the CLI over the
app over search over the engine over the runs store, the data and the models; the shared root
modules import none of them; the runs store imports no torch. A later change that imports back
up (a circle) fails here, naming the import."""
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]
