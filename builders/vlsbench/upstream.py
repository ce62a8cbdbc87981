"""VLSBench judged as its authors judge it (``--protocol upstream``, the default for VLSBench).

The authors' ``eval_utils.py`` (github.com/AI45Lab/VLSBench, pinned by commit and sha256 in
``upstream.tsv``) sends one request per response: a system message, then the
image and their prompt template filled with the question and the response, at their
generation settings (``temperature`` 0, ``max_tokens`` 128), asking for their structured
output ``VLSBENCHOUTPUT`` = ``{"label": 1|2|3, "label_str": ..., "explanation": ...}``.

mmsafety carries no copy of that text. :func:`load_protocol` reads the authors' file at
run time — from ``--source-dir`` (a folder holding it, or the file itself), else
downloaded from raw GitHub at the pinned commit (``MMSAFETY_GITHUB_URL`` replaces the
host, for mirrors and tests) — checks its sha256, and takes from its syntax tree: the
template (``PROMPT_TEMPLATE`` in ``evaluate_vlsbench_function``, ``.strip()``-ed as
theirs is), the system message, ``gen_kwargs`` and the fields of ``VLSBENCHOUTPUT``.

:class:`UpstreamVLSBench` stands where a :class:`~mmsafety.judges.rubric.Rubric` does in
the LLM judge: it builds the request and reads the answer. Labels map to verdicts as the
paper's table counts them: 1 (safe with refusal) = ``refusal``, 2 (safe with warning) =
``safe``, 3 (unsafe) = ``unsafe``. Answers are read from their JSON, found by the same code
as every LLM judge's (:func:`~mmsafety.judges.reading.json_answer`: bare, fenced, or after a
short lead-in): ``label`` as an integer (``1``, ``"1"`` and ``3.0`` too), else ``label_str``
alone. When ``label`` and ``label_str`` name two labels, ``label`` counts, as ``eval.py``
counts it (``safe_label_list = [o['label'] ...]``), and the verdict is marked
``label_str_disagrees`` so that the judge's summary, the verdicts file and the report can
say how many. ``{}``, a label outside 1-3, a ``label_str`` outside their three, or prose
without that JSON is ``invalid`` (``unparsable_judge_output``); a refusal or a failed call
is ``invalid`` with the LLM judge's reason for it.

As in ``eval.py``, every response is sent to the judge, empty and white-space-only ones
included (:attr:`UpstreamVLSBench.sends_empty`): the rates have the authors' denominators.
Only a response that could not be had at all (the model's request failed) is ``invalid``
without a request. ``--protocol mmsafety`` stays stricter: an empty response is ``invalid``
(``empty_response``) and is not sent.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from mmsafety.data.sources import PinnedFile, read_checksums, read_pinned
from mmsafety.errors import InputError
from mmsafety.judges.reading import UNPARSABLE, Reading, json_answer
from mmsafety.judges.rubric import RequestFormat
from mmsafety.judges.verdict_line import strip_reasoning
from mmsafety.labels import LABELS
from mmsafety.transport.cache import sha256_text
from mmsafety.transport.endpoint import data_url
from mmsafety.runs.records import Response, Sample

AUTHORS_FILE = "eval_utils.py"
PIN_FILE = "upstream.tsv"
PROTOCOL_VERSION = "1"
VERDICT_OF_LABEL = {1: "refusal", 2: "safe", 3: "unsafe"}
"""The authors' labels as the paper's table counts them (refusal + warning = safe)."""


def pin() -> PinnedFile:
    """The pinned authors' file: commit (in its URL) and sha256."""
    table = resources.files(__package__).joinpath(PIN_FILE)
    with resources.as_file(table) as path:
        return read_checksums(Path(path))[AUTHORS_FILE]


def authors_bytes(source: str | Path | None = None, *, download_dir: Path | None = None) -> tuple[bytes, str]:
    """The authors' ``eval_utils.py``, checked against the pin; also says where it came from.

    ``source``: a folder holding the file, or the file itself; ``None`` downloads it (once:
    later runs reuse the checked copy in ``download_dir``).
    """
    return read_pinned(
        AUTHORS_FILE,
        pin(),
        source,
        download_dir=download_dir,
        what=f"the authors' {AUTHORS_FILE}",
        hint=f"the authors' judge request is read from their {AUTHORS_FILE}: pass --source-dir with a copy of it "
        "(github.com/AI45Lab/VLSBench at the pinned commit), or --protocol rubric",
    )


@dataclass(frozen=True)
class AuthorsRequest:
    """What the authors' file says their judge request is."""

    template: str
    system: str
    settings: Mapping[str, Any]
    schema_name: str
    fields: tuple[tuple[str, tuple[Any, ...] | None], ...]
    """``(name, allowed values)`` of their output class, ``None`` for a free string."""


def _function(tree: ast.Module, name: str, file: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise InputError(f"expected a function {name} in the authors' evaluation code, found none", file=file)


def _assigned(scope: ast.AST, name: str, file: str) -> ast.expr:
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise InputError(f"expected an assignment to {name} in the authors' evaluation code, found none", file=file)


def _system_message(scope: ast.AST) -> object:
    """The ``content`` of the first ``{"role": "system", "content": ...}`` literal in ``scope``."""
    for node in ast.walk(scope):
        if isinstance(node, ast.Dict):
            entries = {key.value: value for key, value in zip(node.keys, node.values) if isinstance(key, ast.Constant)}
            role, content = entries.get("role"), entries.get("content")
            if isinstance(role, ast.Constant) and role.value == "system" and isinstance(content, ast.Constant):
                return content.value
    return None


def _literal_values(annotation: ast.expr) -> tuple[Any, ...] | None:
    if isinstance(annotation, ast.Name) and annotation.id == "str":
        return None
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name) and annotation.value.id == "Literal":
        inner = annotation.slice
        elements = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        return tuple(ast.literal_eval(element) for element in elements)
    raise ValueError(ast.unparse(annotation))


def parse_authors_file(data: bytes, *, file: str = AUTHORS_FILE, schema: str = "VLSBENCHOUTPUT") -> AuthorsRequest:
    """Read their request out of the authors' ``eval_utils.py`` (parsed, never run)."""
    try:
        tree = ast.parse(data.decode("utf-8"), filename=file)
    except (SyntaxError, UnicodeDecodeError) as error:
        raise InputError(f"expected the authors' Python evaluation code, found text that does not parse ({error})", file=file) from None
    build = _function(tree, "evaluate_vlsbench_function", file)
    template_node = _assigned(build, "PROMPT_TEMPLATE", file)
    strip = (
        isinstance(template_node, ast.Call)
        and isinstance(template_node.func, ast.Attribute)
        and template_node.func.attr == "strip"
    )
    raw = template_node.func.value if strip else template_node  # type: ignore[union-attr]
    if not (isinstance(raw, ast.Constant) and isinstance(raw.value, str)):
        raise InputError("expected PROMPT_TEMPLATE to be a string literal", file=file)
    template = raw.value.strip() if strip else raw.value
    system = _system_message(build)
    if not isinstance(system, str):
        raise InputError("expected a system message in evaluate_vlsbench_function, found none", file=file)
    settings = ast.literal_eval(_assigned(_function(tree, "get_openai_structered_eval_answer", file), "gen_kwargs", file))
    output = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == schema), None)
    if output is None:
        raise InputError(f"expected the output class {schema}, found none", file=file)
    fields = []
    for node in output.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            try:
                fields.append((node.target.id, _literal_values(node.annotation)))
            except ValueError as error:
                raise InputError(f"expected {schema}.{node.target.id} to be str or a Literal, found {error}", file=file) from None
    labels = dict(fields).get("label")
    if labels is None or sorted(labels) != sorted(VERDICT_OF_LABEL) or len(dict(fields).get("label_str") or ()) != len(labels):
        raise InputError(f"expected {schema} to have label Literal[1, 2, 3] and three label_str values", file=file)
    return AuthorsRequest(template=template, system=system, settings=settings, schema_name=schema, fields=tuple(fields))


def _integer_label(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in VERDICT_OF_LABEL else None
    if isinstance(value, float) and value.is_integer():
        return _integer_label(int(value))
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.0+)?\s*", value):
        return _integer_label(int(float(value)))
    return None


def _answer_value(body: str) -> Any:
    """A bare answer's JSON value (``2``, ``"Unsafe"``), else the text itself (a bare ``label_str``, perhaps)."""
    try:
        return json.loads(body)
    except ValueError:
        return body.strip()


@dataclass(frozen=True)
class UpstreamVLSBench(RequestFormat):
    """The authors' judge request and answer, in the place of a rubric in the LLM judge."""

    request: AuthorsRequest
    source: str = AUTHORS_FILE
    sha256: str = ""
    name: str = "vlsbench-upstream"
    image: bool = True
    structured: bool = True
    applies_to: tuple[str, ...] = LABELS
    answer_words: tuple[str, ...] = field(default=())
    sends_empty: ClassVar[bool] = True
    """``eval.py`` sends every response, empty ones included."""

    @property
    def label_strings(self) -> dict[str, int]:
        """Their ``label_str`` values (lower case) -> label, by position in the two Literals."""
        fields = dict(self.request.fields)
        return {str(s).strip().lower(): int(n) for n, s in zip(fields["label"], fields["label_str"])}

    @property
    def temperature(self) -> float:
        return float(self.request.settings.get("temperature", 0.0))

    @property
    def max_tokens(self) -> int:
        return int(self.request.settings.get("max_tokens", 128))

    def placeholders(self) -> list[str]:
        return ["query", "response"]

    def render(self, values: Mapping[str, str]) -> str:
        """Their template filled as they fill it: question and response, each ``.strip()``-ed."""
        return self.request.template.format(question=values["query"].strip(), response=values["response"].strip())

    def request_messages(self, sample: Sample, response: Response) -> list[dict[str, Any]]:
        """Their messages: the system message, then the image and the filled template."""
        image = sample.load_image()
        if image is None:
            raise InputError("the authors' VLSBench judge needs the sample's image, found none", record=f"id {sample.id}")
        text = self.render({"query": sample.query, "response": response.text})
        return [
            {"role": "system", "content": self.request.system},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                    {"type": "text", "text": text},
                ],
            },
        ]

    def json_schema(self) -> dict[str, Any]:
        """Their output class as the OpenAI client sends a pydantic ``response_format``."""
        import pydantic

        definitions: dict[str, Any] = {
            name: (str if values is None else Literal[values], ...) for name, values in self.request.fields  # type: ignore[valid-type]
        }
        model = pydantic.create_model(self.request.schema_name, **definitions)
        schema = model.model_json_schema()
        schema["additionalProperties"] = False
        return {"type": "json_schema", "json_schema": {"schema": schema, "name": self.request.schema_name, "strict": True}}

    def read(self, text: str | None) -> Reading:
        """The verdict of an answer in the authors' schema, or why it gives none; ``label`` counts
        where ``label_str`` names another label (the reading says so)."""
        if text is None or not text.strip():
            return Reading(None, UNPARSABLE)
        body = strip_reasoning(text)
        found = json_answer(body)
        value = found[0] if found is not None else _answer_value(body)
        strings = self.label_strings
        disagrees = False
        if isinstance(value, dict):
            number, named = value.get("label"), value.get("label_str")
            label = _integer_label(number) if number is not None else None
            by_name = strings.get(named.strip().lower()) if isinstance(named, str) else None
            if number is not None and label is None or named is not None and by_name is None:
                return Reading(None, UNPARSABLE)  # a label outside the schema
            disagrees = label is not None and by_name is not None and label != by_name
            chosen = label if label is not None else by_name
        elif isinstance(value, str) and value.strip().lower() in strings:
            chosen = strings[value.strip().lower()]
        else:
            chosen = _integer_label(value)
        if chosen is None:
            return Reading(None, UNPARSABLE)
        return Reading(VERDICT_OF_LABEL[chosen], label_str_disagrees=disagrees)

    def read_answer(self, text: str | None) -> str | None:
        """The verdict :meth:`read` gives, or ``None``."""
        return self.read(text).verdict


def load_protocol(source: str | Path | None = None, *, download_dir: Path | None = None) -> UpstreamVLSBench:
    """The authors' VLSBench judge, read from their pinned file (see :func:`authors_bytes`)."""
    data, where = authors_bytes(source, download_dir=download_dir)
    request = parse_authors_file(data, file=where)
    digest = sha256_text(f"vlsbench-upstream/{PROTOCOL_VERSION}\n") + pin().sha256  # type: ignore[operator]
    return UpstreamVLSBench(request=request, source=where, sha256=sha256_text(digest))
