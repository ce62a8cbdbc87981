"""The evaluate Space's widget: this folder's module, its card and a table to type verdicts into.

A Hugging Face Space runs ``python app.py`` (``app_file`` in README.md's header).
"""

import sys
from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    # `python app.py` puts this folder first on sys.path, where a module named like the package would shadow the
    # installed mmsafety package the module imports: leave it out while loading, then put it
    # back (the widget reads the card from sys.path[0]).
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != here]
    module = evaluate.load(str(here), "default")
    sys.path.insert(0, str(here))
    launch_gradio_widget(module)
