"""Run the benchmarks where researchers already evaluate.

- :mod:`mmsafety.integrations.inspect_tasks`: Inspect tasks ``mmsafety/salad``,
  ``mmsafety/vlsbench``, ``mmsafety/mmsafeaware`` and ``mmsafety/custom`` (registered
  through Inspect's entry point by ``pip install 'mmsafety[inspect]'``);
- :mod:`mmsafety.integrations.lmms_eval`: an lmms-eval task folder (YAML and ``utils.py``)
  per benchmark;
- :mod:`mmsafety.integrations.vlmevalkit`: VLMEvalKit's custom-dataset TSV per benchmark.

Every harness is judged by mmsafety's own judges and scored by :func:`mmsafety.scoring.score`
under the benchmark's policy, so its numbers equal ``mmsafety score`` on the same answers.
"""
