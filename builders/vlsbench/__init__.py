"""The VLSBench builder."""

from mmsafety.builders.vlsbench.vlsbench import VLSBench

__all__ = ["VLSBench"]
