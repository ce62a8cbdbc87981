"""Labelling responses by hand: a stratified sample of one run's responses as a self-contained
HTML page (:mod:`~mmsafety.labelling.page`), drawn by :mod:`~mmsafety.labelling.sample`, whose
download is a human verdicts file (:mod:`mmsafety.runs.human`). ``mmsafety label`` runs it."""
