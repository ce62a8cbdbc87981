"""Judges: turn a model response to a sample into a verdict."""
