"""SaLAD: its builder is :class:`mmsafety.builders.salad.salad.SaLAD` (imported on first use)."""

from mmsafety.benchmarks import Judging, register_folder

register_folder(__name__, "SaLAD", Judging("salad", "rules", ("salad_unsafe.txt", "salad_benign.txt")))
