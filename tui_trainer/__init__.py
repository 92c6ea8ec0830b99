"""tui-trainer: train CIFAR-10 classifiers from the terminal."""
__version__ = "0.1.0"
