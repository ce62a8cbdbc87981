"""The salad builder."""
