"""One self-contained HTML file of a run to send to someone (`tui-trainer report RUN`, `w` on the
Runs screen): its curves, confusion matrix, per-class scores, the most confused pairs and the worst
mistakes with their images, its calibration before and after temperature scaling, its settings and
environment. Figures are matplotlib's, embedded as PNG data; nothing is fetched when it is opened.

figures.py draws; page.py evaluates the run's checkpoint and writes the page.
"""
