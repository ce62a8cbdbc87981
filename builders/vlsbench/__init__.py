"""VLSBench: its builder is :class:`mmsafety.builders.vlsbench.vlsbench.VLSBench` (imported on first use);
the authors' judge request is :mod:`.upstream`, their results file's importer :mod:`.results`."""

from mmsafety.benchmarks import Judging, register_folder

register_folder(__name__, "VLSBench", Judging("vlsbench", "rules", ("vlsbench.txt",), upstream_request=f"{__name__}.upstream:load_protocol"), results_importer="results")
