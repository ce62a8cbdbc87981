"""The audit's settings and their defaults: what ``mmsafety audit --help`` shows, importable
without the audit's dependencies (numpy, ``datasets``, Pillow)."""

PHASH_DISTANCE = 4
"""Hamming distance (of 64 bits) at or under which two images are near duplicates. A
re-encoded or resized copy lands within it (0-2 in the tests); unrelated photos sit
around 32. On MMSafeAware the closest distinct pictures (black text on white, a
cartoon against a photo) are 10-12 apart: raise it with care. Flat, featureless images
(one colour) all hash alike, so they are listed as near duplicates of one another."""
FOLDS = 5
"""Cross-validation folds of the text-only classifier."""
BOOTSTRAP = 1000
"""Resamples of the bootstrap interval of its ROC-AUC."""
BATCH_SIZE = 128
"""Rows per batch: memory holds this many images at a time."""
