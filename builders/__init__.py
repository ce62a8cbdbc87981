"""One folder per benchmark: its builder (a :class:`mmsafety.data.builder.SafetyBuilder`),
``checksums.tsv``, ``CITATIONS.bib``, ``published.json`` and card text. Which benchmarks
exist, and what each one is, is :mod:`mmsafety.benchmarks`' to say.
"""
