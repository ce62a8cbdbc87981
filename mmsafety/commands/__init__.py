"""Sub-commands of the ``mmsafety`` command line, one module each."""
