"""The app's three screens (one per mode) and its modal dialogs."""
