"""MMSafeAware: its builder is :class:`mmsafety.builders.mmsafeaware.mmsafeaware.MMSafeAware` (imported on first use)."""

from mmsafety.benchmarks import GENERIC_RUBRICS, Judging, register_folder

register_folder(__name__, "MMSafeAware", Judging("mmsafeaware", "yesno", GENERIC_RUBRICS))
