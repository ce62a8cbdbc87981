"""The SaLAD builder."""

from mmsafety.builders.salad.salad import SaLAD

__all__ = ["SaLAD"]
