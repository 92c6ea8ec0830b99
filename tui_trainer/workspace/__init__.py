"""The runs workspace: filtering, comparing and exporting many runs (no torch)."""
