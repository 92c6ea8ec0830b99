"""The command line: `tui-trainer` and its commands, one module per family (main.py: the parser)."""
from .main import main

__all__ = ["main"]
