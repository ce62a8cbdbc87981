"""WildGuard's input format, read at run time from its authors' pinned release.

WildGuard (Han et al., 2024, arXiv:2406.18495; github.com/allenai/wildguard) is a text
classifier: given a human user's request and an AI assistant's response, it answers whether
the request is harmful, whether the response is a refusal and whether it is harmful. Its
authors fill one instruction template, ``WILDGUARD_INPUT_FORMAT`` in ``wildguard/utils.py``,
with ``prompt`` and ``response`` and send the result as it is (their guarded-inference example
serves the model behind vLLM's OpenAI API with a chat template that passes the one user
message through unchanged), at temperature 0 with up to 128 new tokens.

mmsafety carries no copy of that text. :func:`load_format` reads their file at run time —
from ``--source-dir`` (a checkout of their repository, or the file itself), else downloaded
from raw GitHub at the pinned commit (``MMSAFETY_GITHUB_URL`` replaces the host, for mirrors)
— checks its sha256 against ``wildguard_upstream.tsv`` and takes the template from its syntax
tree (parsed, never run). A deliberate newer upstream is pinned as a builder's is: hash it
with ``mmsafety checksums DIR --url-prefix URL`` and pass the file with ``--checksums``.

:class:`WildGuardFormat` stands where a rubric does in the LLM judge: it builds the request
(text only: the judge does not see the image) and keeps the answer's reading to
:func:`mmsafety.judges.guard_answers.read_wildguard`.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mmsafety.data.sources import PinnedFile, read_checksums, read_pinned
from mmsafety.errors import ChecksumError, InputError
from mmsafety.judges.guard_answers import GuardReading, read_wildguard
from mmsafety.judges.rubric import RequestFormat
from mmsafety.labels import LABELS
from mmsafety.transport.cache import sha256_text
from mmsafety.runs.records import Response, Sample

AUTHORS_FILE = "wildguard/utils.py"
"""The file of their release that holds the template (its path in their repository)."""
TEMPLATE_NAME = "WILDGUARD_INPUT_FORMAT"
PIN_FILE = "wildguard_upstream.tsv"
FORMAT_VERSION = "1"
SETTINGS: Mapping[str, Any] = {"temperature": 0.0, "max_tokens": 128}
"""The authors' generation settings (``WildGuardVLLM``: temperature 0, top_p 1, 128 new tokens)."""
REPOSITORY = "github.com/allenai/wildguard"


def pin(checksums: str | Path | None = None) -> PinnedFile:
    """The pinned ``wildguard/utils.py``: the packaged pin, or the row of a ``checksums.tsv``
    the user gives for a deliberate newer upstream (``--checksums``)."""
    if checksums is None:
        table = resources.files("mmsafety.judges").joinpath(PIN_FILE)
        with resources.as_file(table) as path:
            return read_checksums(Path(path))[AUTHORS_FILE]
    pins = read_checksums(Path(checksums))
    if AUTHORS_FILE not in pins:
        raise ChecksumError(
            f"expected a row for {AUTHORS_FILE} (WildGuard's template), found {len(pins)} other(s): "
            "hash a checkout of their repository with `mmsafety checksums DIR --url-prefix URL`",
            file=checksums,
        )
    return pins[AUTHORS_FILE]


def authors_bytes(
    source: str | Path | None = None, *, checksums: str | Path | None = None, download_dir: Path | None = None
) -> tuple[bytes, str, PinnedFile]:
    """Their ``wildguard/utils.py`` checked against the pin, where it came from, and the pin.

    ``source``: a checkout of their repository (a folder holding ``wildguard/utils.py``) or
    the file itself; ``None`` downloads it (once: later runs reuse the checked copy in
    ``download_dir``).
    """
    pinned = pin(checksums)
    data, where = read_pinned(
        AUTHORS_FILE,
        pinned,
        source,
        download_dir=download_dir,
        what=f"WildGuard's {AUTHORS_FILE}",
        newer="; if this is a deliberate newer upstream, pass --checksums FILE (from `mmsafety checksums`)",
        hint=f"WildGuard's input format is read from its authors' {AUTHORS_FILE}: pass --source-dir with a checkout of "
        f"{REPOSITORY} at the pinned commit (or the file itself)",
    )
    return data, where, pinned


def parse_template(data: bytes, *, file: str = AUTHORS_FILE) -> str:
    """``WILDGUARD_INPUT_FORMAT`` out of their file: a module-level string literal whose only
    fields are ``{prompt}`` and ``{response}``, each once."""
    try:
        tree = ast.parse(data.decode("utf-8"), filename=file)
    except (SyntaxError, UnicodeDecodeError) as error:
        raise InputError(f"expected WildGuard's Python source, found text that does not parse ({error})", file=file) from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == TEMPLATE_NAME for t in node.targets):
            value = node.value
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                raise InputError(f"expected {TEMPLATE_NAME} to be a string literal", file=file)
            fields = [name for _, name, _, _ in string.Formatter().parse(value.value) if name is not None]
            if sorted(fields) != ["prompt", "response"]:
                raise InputError(f"expected {TEMPLATE_NAME} to have the fields {{prompt}} and {{response}} once each, found {fields}", file=file)
            return value.value
    raise InputError(f"expected a module-level {TEMPLATE_NAME} in WildGuard's code, found none", file=file)


@dataclass(frozen=True)
class WildGuardFormat(RequestFormat):
    """WildGuard's request, in the place of a rubric in the LLM judge (text only)."""

    template: str
    source: str = AUTHORS_FILE
    sha256: str = ""
    name: str = "wildguard"
    image: bool = False
    structured: bool = False
    applies_to: tuple[str, ...] = LABELS

    def render(self, values: Mapping[str, str]) -> str:
        """Their template filled as their ``build_input_prompts`` fills it: the request and the
        response as given, nothing stripped."""
        return self.template.format(prompt=values["query"], response=values["response"])

    def request_messages(self, sample: Sample, response: Response) -> list[dict[str, Any]]:
        """One user message holding the filled template (no image: WildGuard reads text only)."""
        return [{"role": "user", "content": self.render({"query": sample.query, "response": response.text})}]

    def read(self, text: str | None) -> GuardReading:
        """Its three answers and their verdict (:func:`~mmsafety.judges.guard_answers.read_wildguard`)."""
        return read_wildguard(text)

    def json_schema(self) -> dict[str, Any]:  # never asked for: ``structured`` is false
        raise NotImplementedError("WildGuard answers in plain text")


def load_format(
    source: str | Path | None = None, *, checksums: str | Path | None = None, download_dir: Path | None = None
) -> WildGuardFormat:
    """WildGuard's request, read from the authors' pinned file (see :func:`authors_bytes`)."""
    data, where, pinned = authors_bytes(source, checksums=checksums, download_dir=download_dir)
    template = parse_template(data, file=where)
    digest = sha256_text(f"wildguard/{FORMAT_VERSION}\n{pinned.sha256}\n{template}")
    return WildGuardFormat(template=template, source=where, sha256=digest)
