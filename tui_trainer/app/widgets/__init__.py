"""Widgets grouped by what they show: the config form, plots, tables, thumbnails."""
