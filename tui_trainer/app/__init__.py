"""The Textual app: setup, live training and checkpoint screens on top of the engine.

It adds no training logic: it edits a Config, starts the engine's Trainer in a thread worker
(or follows a run another process writes), and draws the events the engine reports.
"""
