"""Safety metrics for training and evaluation loops."""
