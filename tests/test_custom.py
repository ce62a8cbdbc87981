"""`mmsafety build custom`: an author's records file + folder of images, built like the built-in sets."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from PIL import Image

from helpers.env import subprocess_env
from mmsafety.data.build import build_with
from mmsafety.data.builder import SafetyBuilder
from mmsafety.data.catalog import load_benchmark
from mmsafety.cli import main
from mmsafety.builders.custom import CustomSet, build_custom, parse_mapping
from mmsafety.builders.custom.records_file import read_records
from mmsafety.errors import InputError
from mmsafety.data.images import image_value

REPO = "author/street-risks"
CACHE_DIR = "author___street-risks"
HEADER = "uid,file,text,safety,topic,notes"
ROWS = (
    'q1,a.png,"How do I get across\nthis road fast?",unsafe,traffic,"has, a comma"',
    "q2,b.jpg,What colour is the car?,safe,traffic,",
    "q3,sub/c.webp,Can I pet this dog?,oversensitive,animals,friendly",
)
MAP = "id=uid,image=file,query=text,label=safety,category=topic"


def image_bytes(kind: str, colour: str, size: tuple[int, int] = (24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind)
    return buffer.getvalue()


def write_set(folder: Path, rows: tuple[str, ...] = ROWS, header: str = HEADER) -> Path:
    """A records.csv and its images/ folder; returns the folder."""
    (folder / "images" / "sub").mkdir(parents=True)
    (folder / "images" / "a.png").write_bytes(image_bytes("PNG", "red"))
    (folder / "images" / "b.jpg").write_bytes(image_bytes("JPEG", "green"))
    (folder / "images" / "sub" / "c.webp").write_bytes(image_bytes("WEBP", "blue"))
    (folder / "records.csv").write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def build_cli(capsys: pytest.CaptureFixture[str], folder: Path, *extra: object, records: str = "records.csv") -> tuple[int, str, str]:
    return run(capsys, "build", "custom", "--records", folder / records, "--images", folder / "images", "--repo-id", REPO, "--map", MAP, *extra)


def written(hf_cache: Path) -> list[str]:
    """What a build left in the cache for the repo (nothing, after bad input)."""
    return sorted(p.relative_to(hf_cache).as_posix() for p in hf_cache.glob(f"{CACHE_DIR}/**/*") if p.is_file())


# -- building ---------------------------------------------------------------------------------
def test_a_csv_builds_registers_loads_offline_and_exports(
    hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_set(tmp_path / "set")
    export = tmp_path / "export"
    code, out, err = build_cli(capsys, folder, "--export", export, "--version", "1.2.0", "--license", "cc-by-4.0")
    assert code == 0, err
    assert f"Built {REPO} 1.2.0: 3 rows" in out
    assert f'load it:  datasets.load_dataset("{REPO}", split="test")' in out

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    dataset = datasets.load_dataset(REPO, split="test")
    assert list(dataset.features) == ["id", "image", "query", "label", "category", "subcategory", "subset", "reference", "notes"]
    assert dataset.features["label"].names == ["safe", "unsafe", "oversensitive"]
    assert isinstance(dataset.features["image"], datasets.Image)
    raw = dataset.cast_column("image", datasets.Image(decode=False))
    rows = raw.to_list()
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[0]["query"] == "How do I get across\nthis road fast?"
    assert [dataset.features["label"].int2str(r["label"]) for r in rows] == ["unsafe", "safe", "oversensitive"]
    assert [r["category"] for r in rows] == ["traffic", "traffic", "animals"]
    assert [r["subcategory"] for r in rows] == ["", "", ""] and [r["reference"] for r in rows] == ["", "", ""]
    assert [r["notes"] for r in rows] == ["has, a comma", "", "friendly"]
    for row, name in zip(rows, ("a.png", "b.jpg", "sub/c.webp")):
        assert row["image"]["bytes"] == (folder / "images" / name).read_bytes()  # never re-encoded
        assert row["image"]["path"] == name
    assert (hf_cache / CACHE_DIR / "default" / "1.2.0").is_dir()
    assert load_benchmark(REPO).num_rows == 3

    assert sorted(p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file()) == [
        ".mmsafety-output.json",
        "README.md",
        "data/test-00000-of-00001.parquet",
    ]
    table = pq.read_table(export / "data" / "test-00000-of-00001.parquet")
    assert table.column("image").combine_chunks().field("bytes").to_pylist()[2] == (folder / "images" / "sub" / "c.webp").read_bytes()
    card = DatasetCard.load(export / "README.md")
    assert card.data.version == "1.2.0" and card.data.license == "cc-by-4.0" and card.data.pretty_name == "street-risks"
    digest = hashlib.sha256((folder / "records.csv").read_bytes()).hexdigest()
    assert card.data.source_revision == f"records.csv (sha256 {digest[:12]}) and the images it names"
    assert f'load_dataset("{REPO}", split="test")' in card.text
    assert datasets.load_dataset(str(export), split="test").features == dataset.features


def test_jsonl_and_parquet_records_keep_typed_extra_columns(hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_set(tmp_path / "set")
    records = [
        {"id": 1, "image": "a.png", "query": "Is this safe?", "label": "unsafe", "subset": None, "category": 7, "score": 0.5, "hard": True, "tags": ["x", "y"], "n": 3},
        {"id": 2, "image": "b.jpg", "query": "", "label": "safe", "score": 1, "hard": False, "tags": None, "n": 4},
    ]
    jsonl = folder / "records.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    result = build_custom(jsonl, folder / "images", REPO)
    assert result.rows == 2 and result.repo_id == REPO and result.version == "1.0.0"
    dataset = datasets.load_dataset(REPO, split="test")
    assert dataset.features["score"] == datasets.Value("float64")
    assert dataset.features["hard"] == datasets.Value("bool")
    assert dataset.features["n"] == datasets.Value("int64")
    assert dataset.features["tags"] == datasets.Value("string")
    assert dataset["id"] == ["1", "2"]
    assert dataset["subset"] == ["", ""]
    assert dataset["category"] == ["7", ""]  # an integer category is its text; an absent one is ""
    assert dataset["query"] == ["Is this safe?", ""]  # an empty query is kept; the audit reports it
    assert dataset["tags"] == ['["x", "y"]', None]
    assert dataset["score"] == [0.5, 1.0]

    parquet = folder / "records.parquet"
    pq.write_table(pa.Table.from_pylist([{"uid": "p1", "file": "sub/c.webp", "text": "hi", "safety": "oversensitive", "n": 7}]), parquet)
    build_custom(parquet, folder / "images", REPO, mapping=parse_mapping("id=uid,image=file, query=text,label=safety"), version="2.0.0")
    dataset = datasets.load_dataset(REPO, split="test")
    assert dataset["id"] == ["p1"] and dataset.features["n"] == datasets.Value("int64")
    assert dataset.features["label"].int2str(dataset["label"]) == ["oversensitive"]


def test_parquet_class_label_ids_are_read_by_their_names(hf_cache: Path, tmp_path: Path) -> None:
    """A records file saved by `datasets` keeps labels as ClassLabel ids: their names decide, not their order."""
    folder = write_set(tmp_path / "set")
    own_order = datasets.ClassLabel(names=["oversensitive", "unsafe", "safe"])
    records = datasets.Dataset.from_dict(
        {"id": ["p1", "p2", "p3"], "image": ["a.png", "b.jpg", "sub/c.webp"], "query": ["x", "y", "z"], "label": [0, 1, 2]},
        features=datasets.Features({"id": datasets.Value("string"), "image": datasets.Value("string"),
                                    "query": datasets.Value("string"), "label": own_order}),
    )
    records.to_parquet(str(folder / "records.parquet"))
    build_custom(folder / "records.parquet", folder / "images", REPO)
    dataset = load_benchmark(REPO)
    assert dataset.features["label"].int2str(dataset["label"]) == ["oversensitive", "unsafe", "safe"]


def test_a_tsv_and_a_json_list_are_read_too(tmp_path: Path) -> None:
    tsv = tmp_path / "r.tsv"
    tsv.write_text("id\timage\tquery\tlabel\n1\ta.png\thi, there\tsafe\n", encoding="utf-8")
    assert read_records(tsv).rows == [{"id": "1", "image": "a.png", "query": "hi, there", "label": "safe"}]
    listed = tmp_path / "r.json"
    listed.write_text(json.dumps([{"id": 1, "image": "a.png", "query": "q", "label": "safe"}]), encoding="utf-8")
    records = read_records(listed)
    assert records.rows[0]["id"] == 1 and records.places == ["record 0"]


def test_line_breaks_inside_values_and_crlf_files_keep_their_line_numbers(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes('id,query\r\n1,"two\r\nlines"\r\n2,a\u2028b\r\n\r\n3,x,extra\r\n'.encode())
    with pytest.raises(InputError, match=r"r\.csv: line 6: expected 2 fields \(id, query\), found 3"):
        read_records(csv_file)
    csv_file.write_bytes('\ufeffid,query\r\n1,"two\r\nlines"\r\n2,a\u2028b\r\n'.encode())
    records = read_records(csv_file)
    assert records.rows == [{"id": "1", "query": "two\r\nlines"}, {"id": "2", "query": "a\u2028b"}]
    assert records.places == ["line 2", "line 4"]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_bytes(b'{"q": "a\xe2\x80\xa8b"}\r\n{"q": 2}\n')
    records = read_records(jsonl)
    assert [r["q"] for r in records.rows] == ["a\u2028b", 2] and records.places == ["line 1", "line 2"]


def test_allow_missing_images_leaves_the_rows_out_and_lists_them(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set", rows=(*ROWS, "q4,gone.png,Where is it?,safe,,"))
    (folder / "images" / "b.jpg").write_bytes(image_bytes("JPEG", "green")[:-40])  # cut short
    result = build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP), allow_missing_images=True, export_dir=tmp_path / "export")
    assert result.rows == 2
    assert result.left_out == {"image absent or unreadable upstream": ["q2", "q4"]}
    assert "- image absent or unreadable upstream (2): q2, q4" in DatasetCard.load(tmp_path / "export" / "README.md").text


def test_the_builder_base_class_builds_an_authors_own_reader_under_a_repo_id(hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The base the built-in builders use, for an author's own format: no checksums.tsv needed."""
    data = image_bytes("PNG", "white")

    class TwoRows(SafetyBuilder):
        NAME = "two-rows"
        PINNED = False
        VERSION = datasets.Version("0.1.0")
        EXTRA_FEATURES = {"source": datasets.Value("string")}

        def plan(self, source):  # type: ignore[no-untyped-def]
            return ["1", "2"]

        def rows(self, source, plan):  # type: ignore[no-untyped-def]
            for key in plan:
                example = {"id": key, "query": f"q{key}", "label": "safe", "category": "", "subcategory": "", "subset": "", "reference": "", "source": "mine"}
                yield key, example, image_value(data, name=f"{key}.png", file="mine", record=key)

    assert TwoRows(cache_dir=str(tmp_path / "scratch")).pins() == {}
    result = build_with(TwoRows, dataset_name="two-rows", repo_id="author/two-rows")
    assert result.repo_id == "author/two-rows" and result.rows == 2
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    assert datasets.load_dataset("author/two-rows", split="test")["source"] == ["mine", "mine"]


def test_the_custom_builder_has_no_pins_and_the_built_ins_keep_theirs(tmp_path: Path) -> None:
    from mmsafety import benchmarks

    assert CustomSet.PINNED is False
    assert benchmarks.require("mmsafeaware").builder_class().PINNED is True
    folder = write_set(tmp_path / "set")
    builder = CustomSet(records=folder / "records.csv", images=folder / "images", repo_id=REPO, mapping=parse_mapping(MAP), cache_dir=str(tmp_path / "c"))
    assert builder.pins() == {}
    assert builder.repo_id == REPO and builder.dataset_name == "street-risks"


# -- bad input: one line, exit 2, nothing written --------------------------------------------
BAD_INPUT = {
    "unknown label": (
        (ROWS[0], "q2,b.jpg,What colour?,harmless,traffic,"),
        None,
        r"records\.csv: line 4 \(id q2\): column 'safety': expected a label in safe, unsafe, oversensitive, found 'harmless'$",
    ),
    "label in the wrong case": (
        ("q1,a.png,Hi,Unsafe,,",),
        None,
        r"line 2 \(id q1\): column 'safety': expected a label in safe, unsafe, oversensitive, found 'Unsafe' \(labels are lower case\)$",
    ),
    "missing image file": (
        (ROWS[1], "q9,nowhere.png,Where?,safe,,", "q10,gone.png,Where?,safe,,"),
        None,
        r"records\.csv: line 3 \(id q9\): column 'file': no image file 'nowhere\.png' in .*images \(and 1 more, ids q10\); pass --allow-missing-images",
    ),
    "ragged row": (
        (ROWS[1], "q2,b.jpg,What colour, is it?,safe,traffic,"),
        None,
        r"records\.csv: line 3: expected 6 fields \(uid, file, text, safety, topic, notes\), found 7: a ragged row",
    ),
    "mapped column missing": (
        ROWS,
        "uid,file,prompt,safety,topic,notes",
        r"records\.csv: the header: --map query=text names the column 'text', which the file lacks; its columns are 'uid', 'file', 'prompt'",
    ),
    "duplicate id": (
        (ROWS[1], ROWS[1]),
        None,
        r"records\.csv: line 3 \(id q2\): duplicate id 'q2' \(first at line 2\)$",
    ),
    "image path escaping the folder": (
        ("q1,../records.csv,Hi,safe,,",),
        None,
        r"records\.csv: line 2 \(id q1\), column 'file': image path '\.\./records\.csv' escapes",
    ),
    "empty id": (
        (",a.png,Hi,safe,,",),
        None,
        r"records\.csv: line 2: column 'uid': expected an id, found an empty one$",
    ),
    "blank id": (
        ("  ,a.png,Hi,safe,,",),
        None,
        r"records\.csv: line 2: column 'uid': expected an id, found a blank one$",
    ),
    "empty image name": (
        ("q1,,Hi,safe,,",),
        None,
        r"records\.csv: line 2 \(id q1\): column 'file': expected an image file name, found an empty one$",
    ),
    "unused column named like a schema column": (
        ("q1,a.png,Hi,safe,,x",),
        "uid,file,text,safety,topic,id",
        r"records\.csv: the header: the column 'id' is not used \(the schema's 'id' comes from 'uid'\) and would clash with it",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_naming_record_and_column_exit_2_nothing_written(
    case: str, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, header, message = BAD_INPUT[case]
    folder = write_set(tmp_path / "set", rows=rows, header=header or HEADER)
    export = tmp_path / "export"
    code, out, err = build_cli(capsys, folder, "--export", export)
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("mmsafety build: error: ")]
    assert len(errors) == 1, err
    assert __import__("re").search(message, errors[0]), errors[0]
    assert written(hf_cache) == [] and not export.exists()


def test_a_truncated_image_is_refused_naming_the_record_and_the_column(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    (folder / "images" / "a.png").write_bytes(image_bytes("PNG", "red")[:-20])
    with pytest.raises(InputError, match=r"a\.png: id q1: column 'file': PNG image is truncated") as caught:
        build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP))
    assert "pass --allow-missing-images" in str(caught.value)
    assert written(hf_cache) == []


def test_records_errors_name_the_line(tmp_path: Path) -> None:
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"id": 1}\n\n{"id": 2,}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl: line 3, column 10: malformed JSON"):
        read_records(jsonl)
    jsonl.write_text('{"id": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl: line 2: expected a JSON object, found a JSON list"):
        read_records(jsonl)
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes(b"id,query\n1,caf\xe9\n")
    with pytest.raises(InputError, match=r"r\.csv: line 2: expected UTF-8 text"):
        read_records(csv_file)
    csv_file.write_text("id,id\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: column 'id' appears twice in the header"):
        read_records(csv_file)
    with pytest.raises(InputError, match=r"expected a records file ending in \.csv, \.tsv, \.jsonl, \.json, \.parquet, found \.xlsx"):
        read_records(tmp_path / "r.xlsx")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="expected a header row, found an empty file"):
        read_records(tmp_path / "empty.csv")


def test_json_values_of_the_wrong_type_are_named(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    jsonl = folder / "r.jsonl"
    jsonl.write_text(json.dumps({"id": 1, "image": "a.png", "query": 5, "label": "safe"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl: line 1 \(id 1\): column 'query': expected a string, found integer 5"):
        build_custom(jsonl, folder / "images", REPO)
    jsonl.write_text(json.dumps({"id": 1, "image": "a.png", "query": "q"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"expected a column 'label' \(or name yours with --map label=YOUR_COLUMN\)"):
        build_custom(jsonl, folder / "images", REPO)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build", "custom", "--records", "r.csv", "--repo-id", "a/b"], "`mmsafety build custom` needs --records FILE, --images DIR and --repo-id ORG/NAME; missing --images DIR"),
        (["build", "custom", "--images", "i"], "missing --records FILE, --repo-id ORG/NAME"),
        (["build", "mmsafeaware", "--records", "r.csv", "--map", "query=text"], "--records, --map belong to `mmsafety build custom`, not to `mmsafety build mmsafeaware`"),
        (["build", "custom", "--records", "r.csv", "--images", "i", "--repo-id", "nameonly"], "--repo-id: expected ORG/NAME"),
        (["build", "custom", "--records", "r.csv", "--images", "i", "--repo-id", "mmsafety/salad"], "mmsafety/salad is a built-in benchmark"),
        (["build", "custom", "--records", "r.csv", "--images", "i", "--repo-id", "a/b", "--map", "question=text"], "--map: expected schema columns"),
        (["build", "custom", "--records", "r.csv", "--images", "i", "--repo-id", "a/b", "--map", "query"], "--map: expected SCHEMA_COLUMN=YOUR_COLUMN, found 'query'"),
    ],
)
def test_command_line_misuse_is_one_clear_line(argv: list[str], message: str, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("mmsafety build: error: ") and message in err and err.count("\n") == 1


def test_version_must_be_x_y_z(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    with pytest.raises(InputError, match=r"--version: expected a version X\.Y\.Z, found '1\.x'"):
        build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP), version="1.x")


def test_the_command_in_a_fresh_process_reports_bad_input_in_one_line(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set", rows=("q1,a.png,Hi,harmful,,",))
    argv = [sys.executable, "-m", "mmsafety.cli", "build", "custom", "--records", "records.csv", "--images", "images", "--repo-id", REPO, "--map", MAP]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=folder, env=subprocess_env(), timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "mmsafety build: error: records.csv: line 2 (id q1): column 'safety': expected a label in safe, unsafe, oversensitive, found 'harmful'\n"
    )
    assert written(hf_cache) == []
