"""`mmsafety build custom`: an author's records file + folder of images, built like the built-in sets."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.env import subprocess_env
from huggingface_hub import DatasetCard
from mmsafety.builders.custom import CustomSet, build_custom, parse_mapping
from mmsafety.builders.custom.records_file import read_records
from PIL import Image

from mmsafety.cli import main
from mmsafety.data.build import build_with
from mmsafety.data.builder import SafetyBuilder
from mmsafety.data.catalog import load_benchmark
from mmsafety.data.images import image_value
from mmsafety.errors import InputError

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
@pytest.fixture
def built_csv(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> dict:
    """The sample set built from CSV on the command line (version 1.2.0, exported); its output and rows."""
    folder = write_set(tmp_path / "set")
    export = tmp_path / "export"
    code, out, err = build_cli(capsys, folder, "--export", export, "--version", "1.2.0", "--license", "cc-by-4.0")
    assert code == 0, err
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    dataset = datasets.load_dataset(REPO, split="test")
    rows = dataset.cast_column("image", datasets.Image(decode=False)).to_list()
    return {"folder": folder, "export": export, "out": out, "dataset": dataset, "rows": rows, "cache": hf_cache}


def test_a_csv_build_prints_its_summary(built_csv: dict) -> None:
    assert f"Built {REPO} 1.2.0: 3 rows" in built_csv["out"]
    assert f'load it:  datasets.load_dataset("{REPO}", split="test")' in built_csv["out"]


def test_a_csv_build_has_the_shared_columns_then_the_extra_ones(built_csv: dict) -> None:
    dataset = built_csv["dataset"]
    assert list(dataset.features) == ["id", "image", "query", "label", "category", "subcategory", "subset", "reference", "notes"]
    assert dataset.features["label"].names == ["safe", "unsafe", "oversensitive"]
    assert isinstance(dataset.features["image"], datasets.Image)


def test_a_csv_build_keeps_the_records_in_file_order(built_csv: dict) -> None:
    assert [r["id"] for r in built_csv["rows"]] == ["q1", "q2", "q3"]


def test_a_csv_query_keeps_its_line_break(built_csv: dict) -> None:
    assert built_csv["rows"][0]["query"] == "How do I get across\nthis road fast?"


def test_a_csv_build_reads_labels_by_name(built_csv: dict) -> None:
    names = built_csv["dataset"].features["label"]
    assert [names.int2str(r["label"]) for r in built_csv["rows"]] == ["unsafe", "safe", "oversensitive"]


def test_a_csv_build_takes_a_mapped_column(built_csv: dict) -> None:
    assert [r["category"] for r in built_csv["rows"]] == ["traffic", "traffic", "animals"]


def test_a_csv_build_leaves_absent_optional_columns_empty(built_csv: dict) -> None:
    assert [(r["subcategory"], r["reference"], r["subset"]) for r in built_csv["rows"]] == [("", "", "")] * 3


def test_a_csv_extra_column_keeps_its_text(built_csv: dict) -> None:
    assert [r["notes"] for r in built_csv["rows"]] == ["has, a comma", "", "friendly"]


def test_a_csv_build_keeps_the_image_bytes_under_their_names(built_csv: dict) -> None:
    for row, name in zip(built_csv["rows"], ("a.png", "b.jpg", "sub/c.webp")):
        assert row["image"]["bytes"] == (built_csv["folder"] / "images" / name).read_bytes()  # never re-encoded
        assert row["image"]["path"] == name


def test_a_csv_build_is_cached_under_its_repo_id_with_its_version(built_csv: dict) -> None:
    assert (built_csv["cache"] / CACHE_DIR / "default" / "1.2.0").is_dir()


def test_a_csv_build_loads_through_the_catalog(built_csv: dict) -> None:
    assert load_benchmark(REPO).num_rows == 3


def test_a_csv_export_holds_a_card_beside_one_parquet_file(built_csv: dict) -> None:
    export = built_csv["export"]
    assert sorted(p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file() and not p.name.startswith(".")) == [
        "README.md", "data/test-00000-of-00001.parquet",
    ]


def test_a_csv_export_keeps_the_image_bytes(built_csv: dict) -> None:
    table = pq.read_table(built_csv["export"] / "data" / "test-00000-of-00001.parquet")
    assert table.column("image").combine_chunks().field("bytes").to_pylist()[2] == (built_csv["folder"] / "images" / "sub" / "c.webp").read_bytes()


def test_a_csv_export_card_carries_the_sets_facts(built_csv: dict) -> None:
    card = DatasetCard.load(built_csv["export"] / "README.md")
    assert (card.data.version, card.data.license, card.data.pretty_name) == ("1.2.0", "cc-by-4.0", "street-risks")


def test_a_csv_export_card_names_the_records_digest(built_csv: dict) -> None:
    card = DatasetCard.load(built_csv["export"] / "README.md")
    digest = hashlib.sha256((built_csv["folder"] / "records.csv").read_bytes()).hexdigest()
    assert card.data.source_revision == f"records.csv (sha256 {digest[:12]}) and the images it names"


def test_a_csv_export_card_shows_how_to_load_the_set(built_csv: dict) -> None:
    assert f'load_dataset("{REPO}", split="test")' in DatasetCard.load(built_csv["export"] / "README.md").text


def test_a_csv_export_loads_with_the_same_features(built_csv: dict) -> None:
    assert datasets.load_dataset(str(built_csv["export"]), split="test").features == built_csv["dataset"].features


TYPED_RECORDS = [
    {"id": 1, "image": "a.png", "query": "Is this safe?", "label": "unsafe", "subset": None, "category": 7, "score": 0.5, "hard": True, "tags": ["x", "y"], "n": 3},
    {"id": 2, "image": "b.jpg", "query": "", "label": "safe", "score": 1, "hard": False, "tags": None, "n": 4},
]


@pytest.fixture
def built_jsonl(hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, datasets.Dataset]:
    folder = write_set(tmp_path / "set")
    jsonl = folder / "records.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in TYPED_RECORDS) + "\n\n", encoding="utf-8")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    result = build_custom(jsonl, folder / "images", REPO)
    return result, datasets.load_dataset(REPO, split="test")


def test_a_jsonl_build_gives_one_row_per_record(built_jsonl: tuple) -> None:
    assert (built_jsonl[0].rows, built_jsonl[0].repo_id) == (2, REPO)


def test_a_set_without_a_version_is_1_0_0(built_jsonl: tuple) -> None:
    assert built_jsonl[0].version == "1.0.0"


@pytest.mark.parametrize(("column", "dtype"), [("score", "float64"), ("hard", "bool"), ("n", "int64"), ("tags", "string")])
def test_a_jsonl_extra_column_keeps_the_type_its_values_share(built_jsonl: tuple, column: str, dtype: str) -> None:
    assert built_jsonl[1].features[column] == datasets.Value(dtype)


def test_jsonl_integer_ids_become_their_digits(built_jsonl: tuple) -> None:
    assert built_jsonl[1]["id"] == ["1", "2"]


def test_a_jsonl_optional_column_missing_or_null_is_empty(built_jsonl: tuple) -> None:
    assert built_jsonl[1]["subset"] == ["", ""]


def test_a_jsonl_integer_category_is_its_text(built_jsonl: tuple) -> None:
    assert built_jsonl[1]["category"] == ["7", ""]


def test_a_jsonl_empty_query_is_kept(built_jsonl: tuple) -> None:
    assert built_jsonl[1]["query"] == ["Is this safe?", ""]  # the audit reports it


def test_a_jsonl_mixed_extra_column_is_json_text(built_jsonl: tuple) -> None:
    assert built_jsonl[1]["tags"] == ['["x", "y"]', None]


def test_a_jsonl_number_column_of_ints_with_floats_is_floats(built_jsonl: tuple) -> None:
    assert built_jsonl[1]["score"] == [0.5, 1.0]


def test_parquet_records_build_through_a_mapping(hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_set(tmp_path / "set")
    parquet = folder / "records.parquet"
    pq.write_table(pa.Table.from_pylist([{"uid": "p1", "file": "sub/c.webp", "text": "hi", "safety": "oversensitive", "n": 7}]), parquet)
    build_custom(parquet, folder / "images", REPO, mapping=parse_mapping("id=uid,image=file, query=text,label=safety"), version="2.0.0")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    dataset = datasets.load_dataset(REPO, split="test")
    assert (dataset["id"], dataset.features["label"].int2str(dataset["label"])) == (["p1"], ["oversensitive"])


def test_a_parquet_integer_extra_column_stays_int64(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    parquet = folder / "records.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "p1", "image": "a.png", "query": "hi", "label": "safe", "n": 7}]), parquet)
    build_custom(parquet, folder / "images", REPO)
    assert load_benchmark(REPO).features["n"] == datasets.Value("int64")


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


def test_a_tsv_is_split_at_tabs_only(tmp_path: Path) -> None:
    tsv = tmp_path / "r.tsv"
    tsv.write_text("id\timage\tquery\tlabel\n1\ta.png\thi, there\tsafe\n", encoding="utf-8")
    assert read_records(tsv).rows == [{"id": "1", "image": "a.png", "query": "hi, there", "label": "safe"}]


def json_list(tmp_path: Path) -> Path:
    listed = tmp_path / "r.json"
    listed.write_text(json.dumps([{"id": 1, "image": "a.png", "query": "q", "label": "safe"}]), encoding="utf-8")
    return listed


def test_a_json_list_keeps_value_types(tmp_path: Path) -> None:
    assert read_records(json_list(tmp_path)).rows[0]["id"] == 1


def test_a_json_list_names_records_by_position(tmp_path: Path) -> None:
    assert read_records(json_list(tmp_path)).places == ["record 0"]


def test_a_ragged_crlf_csv_row_is_named_by_its_line(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes('id,query\r\n1,"two\r\nlines"\r\n2,a\u2028b\r\n\r\n3,x,extra\r\n'.encode())
    with pytest.raises(InputError, match=r"r\.csv: line 6: expected 2 fields \(id, query\), found 3"):
        read_records(csv_file)


def test_csv_values_keep_their_line_breaks(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes('\ufeffid,query\r\n1,"two\r\nlines"\r\n2,a\u2028b\r\n'.encode())
    assert read_records(csv_file).rows == [{"id": "1", "query": "two\r\nlines"}, {"id": "2", "query": "a\u2028b"}]


def test_csv_records_are_placed_at_the_line_they_start_on(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes('\ufeffid,query\r\n1,"two\r\nlines"\r\n2,a\u2028b\r\n'.encode())
    assert read_records(csv_file).places == ["line 2", "line 4"]


def test_jsonl_lines_end_at_newline_only(tmp_path: Path) -> None:
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_bytes(b'{"q": "a\xe2\x80\xa8b"}\r\n{"q": 2}\n')
    records = read_records(jsonl)
    assert ([r["q"] for r in records.rows], records.places) == (["a\u2028b", 2], ["line 1", "line 2"])


@pytest.fixture
def built_with_missing_images(hf_cache: Path, tmp_path: Path) -> tuple[object, Path]:
    folder = write_set(tmp_path / "set", rows=(*ROWS, "q4,gone.png,Where is it?,safe,,"))
    (folder / "images" / "b.jpg").write_bytes(image_bytes("JPEG", "green")[:-40])  # cut short
    export = tmp_path / "export"
    result = build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP), allow_missing_images=True, export_dir=export)
    return result, export


def test_allow_missing_images_leaves_the_rows_out(built_with_missing_images: tuple) -> None:
    result, _ = built_with_missing_images
    assert result.rows == 2
    assert result.left_out == {"image absent or unreadable upstream": ["q2", "q4"]}


def test_rows_left_out_for_their_images_are_listed_in_the_card(built_with_missing_images: tuple) -> None:
    result, export = built_with_missing_images
    assert DatasetCard.load(export / "README.md").data.left_out == result.left_out


class TwoRows(SafetyBuilder):
    """An author's own reader on the builder base: no checksums.tsv."""

    NAME = "two-rows"
    PINNED = False
    VERSION = datasets.Version("0.1.0")
    EXTRA_FEATURES = {"source": datasets.Value("string")}

    def plan(self, source):  # type: ignore[no-untyped-def]
        return ["1", "2"]

    def rows(self, source, plan):  # type: ignore[no-untyped-def]
        data = image_bytes("PNG", "white")
        for key in plan:
            example = {"id": key, "query": f"q{key}", "label": "safe", "category": "", "subcategory": "", "subset": "", "reference": "", "source": "mine"}
            yield key, example, image_value(data, name=f"{key}.png", file="mine", record=key)


def test_an_unpinned_builder_of_ones_own_has_no_pins(tmp_path: Path) -> None:
    assert TwoRows(cache_dir=str(tmp_path / "scratch")).pins() == {}


def test_the_builder_base_class_builds_an_authors_own_reader_under_a_repo_id(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = build_with(TwoRows, dataset_name="two-rows", repo_id="author/two-rows")
    assert (result.repo_id, result.rows) == ("author/two-rows", 2)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    assert datasets.load_dataset("author/two-rows", split="test")["source"] == ["mine", "mine"]


def test_the_custom_builder_has_no_pins(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    builder = CustomSet.define(records=folder / "records.csv", images=folder / "images", repo_id=REPO, mapping=parse_mapping(MAP))
    assert builder(cache_dir=str(tmp_path / "c")).pins() == {}


def test_the_built_in_builders_are_pinned() -> None:
    from mmsafety import benchmarks

    assert [benchmarks.require(name).builder_class().PINNED for name in ("mmsafeaware", "salad", "vlsbench")] == [True] * 3


def test_a_custom_set_registers_under_its_repo_id(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    builder = CustomSet.define(records=folder / "records.csv", images=folder / "images", repo_id=REPO, mapping=parse_mapping(MAP))(cache_dir=str(tmp_path / "c"))
    assert (builder.repo_id, builder.dataset_name) == (REPO, "street-risks")


def test_defining_a_custom_set_leaves_the_template_class_as_it_was(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    before = {name: getattr(CustomSet, name) for name in ("NAME", "VERSION", "PRETTY_NAME", "UPSTREAM", "EXTRA_FEATURES", "KNOWN_DEFECTS")}
    defined = CustomSet.define(records=folder / "records.csv", images=folder / "images", repo_id=REPO, mapping=parse_mapping(MAP), version="3.0.0")
    defined(cache_dir=str(tmp_path / "c"))
    assert {name: getattr(CustomSet, name) for name in before} == before


def test_two_custom_sets_keep_their_own_facts(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    first = CustomSet.define(records=folder / "records.csv", images=folder / "images", repo_id="a/first", mapping=parse_mapping(MAP), version="1.0.0")
    second = CustomSet.define(records=folder / "records.csv", images=folder / "images", repo_id="b/second", mapping=parse_mapping(MAP), version="2.0.0")
    assert [(c.NAME, str(c.VERSION)) for c in (first, second)] == [("first", "1.0.0"), ("second", "2.0.0")]


def test_the_custom_template_is_not_built_itself(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"CustomSet\.define"):
        CustomSet(cache_dir=str(tmp_path / "c"))


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


@pytest.fixture(params=sorted(BAD_INPUT))
def bad_build(request: pytest.FixtureRequest, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    """`mmsafety build custom ... --export` on one kind of bad input: exit code, stderr, what it left."""
    rows, header, message = BAD_INPUT[request.param]
    folder = write_set(tmp_path / "set", rows=rows, header=header or HEADER)
    export = tmp_path / "export"
    code, out, err = build_cli(capsys, folder, "--export", export)
    return {"code": code, "err": err, "message": message, "written": written(hf_cache), "export": export}


def test_bad_input_exits_2(bad_build: dict) -> None:
    assert bad_build["code"] == 2


def test_bad_input_is_one_line_naming_where_it_is(bad_build: dict) -> None:
    errors = [line for line in bad_build["err"].splitlines() if line.startswith("mmsafety build: error: ")]
    assert len(errors) == 1, bad_build["err"]
    assert re.search(bad_build["message"], errors[0]), errors[0]


def test_bad_input_writes_nothing(bad_build: dict) -> None:
    assert bad_build["written"] == [] and not bad_build["export"].exists()


def truncated_first_image(tmp_path: Path) -> Path:
    folder = write_set(tmp_path / "set")
    (folder / "images" / "a.png").write_bytes(image_bytes("PNG", "red")[:-20])
    return folder


def test_an_unreadable_image_is_named_by_its_records_line(hf_cache: Path, tmp_path: Path) -> None:
    folder = truncated_first_image(tmp_path)
    with pytest.raises(InputError) as caught:
        build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP))
    assert caught.value.file == str(folder / "records.csv")
    assert re.search(r"line 2 \(id q1\): column 'file': image a\.png: PNG image is truncated", str(caught.value)), str(caught.value)


def test_an_image_error_does_not_name_the_set_as_if_it_were_a_file(hf_cache: Path, tmp_path: Path) -> None:
    folder = truncated_first_image(tmp_path)
    with pytest.raises(InputError) as caught:
        build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP))
    assert not str(caught.value).startswith("street-risks")


def test_an_unreadable_image_error_suggests_leaving_the_row_out(hf_cache: Path, tmp_path: Path) -> None:
    folder = truncated_first_image(tmp_path)
    with pytest.raises(InputError, match="pass --allow-missing-images"):
        build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP))


def test_an_unreadable_image_writes_nothing(hf_cache: Path, tmp_path: Path) -> None:
    folder = truncated_first_image(tmp_path)
    with pytest.raises(InputError):
        build_custom(folder / "records.csv", folder / "images", REPO, mapping=parse_mapping(MAP))
    assert written(hf_cache) == []


def test_an_extra_jsonl_integer_beyond_64_bits_is_one_line_naming_its_place(
    hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_set(tmp_path / "set")
    records = [{"id": "a", "image": "a.png", "query": "q", "label": "safe", "n": 1},
               {"id": "b", "image": "b.jpg", "query": "q", "label": "safe", "n": 2**63}]
    (folder / "big.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "build", "custom", "--records", folder / "big.jsonl", "--images", folder / "images", "--repo-id", REPO)
    assert (code, err.count("\n")) == (2, 1), err
    assert re.search(r"big\.jsonl: line 2: column 'n': expected an integer within 64 bits .* found 9223372036854775808", err), err


def test_a_csv_field_over_128_kib_builds_as_from_jsonl(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    query = "x" * (200 * 1024)
    (folder / "long.csv").write_text(f"id,image,query,label\nq1,a.png,{query},unsafe\n", encoding="utf-8")
    (folder / "long.jsonl").write_text(json.dumps({"id": "q1", "image": "a.png", "query": query, "label": "unsafe"}) + "\n", encoding="utf-8")
    build_custom(folder / "long.jsonl", folder / "images", REPO)
    from_jsonl = load_benchmark(REPO)["query"]
    build_custom(folder / "long.csv", folder / "images", REPO)
    assert load_benchmark(REPO)["query"] == from_jsonl == [query]


@pytest.mark.parametrize(
    ("first", "second"),
    [("Cafe", "cafe"), ("cafe", " cafe "), ("caf\u00e9", "cafe\u0301")],
    ids=["case", "surrounding whitespace", "NFC and NFD"],
)
def test_ids_that_differ_only_in_spelling_are_warned_in_the_build_summary(
    first: str, second: str, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_set(tmp_path / "set")
    records = [{"id": first, "image": "a.png", "query": "q", "label": "safe"}, {"id": second, "image": "b.jpg", "query": "q", "label": "safe"}]
    (folder / "ids.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "build", "custom", "--records", folder / "ids.jsonl", "--images", folder / "images", "--repo-id", REPO)
    assert code == 0, err
    warning = next(line for line in out.splitlines() if "differ only by case" in line)
    assert first in warning and second in warning


def test_malformed_jsonl_is_named_by_its_line_column(tmp_path: Path) -> None:
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"id": 1}\n\n{"id": 2,}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl: line 3, column 10: malformed JSON"):
        read_records(jsonl)


def test_a_jsonl_line_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"id": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl: line 2: expected a JSON object, found a JSON list"):
        read_records(jsonl)


def test_a_csv_that_is_not_utf8_is_named_by_line(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_bytes(b"id,query\n1,caf\xe9\n")
    with pytest.raises(InputError, match=r"r\.csv: line 2: expected UTF-8 text"):
        read_records(csv_file)


def test_a_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_text("id,id\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: column 'id' appears twice in the header"):
        read_records(csv_file)


def test_an_unknown_records_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"expected a records file ending in \.csv, \.tsv, \.jsonl, \.json, \.parquet, found \.xlsx"):
        read_records(tmp_path / "r.xlsx")


def test_an_empty_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="expected a header row, found an empty file"):
        read_records(tmp_path / "empty.csv")


def test_a_json_value_of_the_wrong_type_is_named(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    jsonl = folder / "r.jsonl"
    jsonl.write_text(json.dumps({"id": 1, "image": "a.png", "query": 5, "label": "safe"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl: line 1 \(id 1\): column 'query': expected a string, found integer 5"):
        build_custom(jsonl, folder / "images", REPO)


def test_a_missing_required_column_suggests_a_mapping(hf_cache: Path, tmp_path: Path) -> None:
    folder = write_set(tmp_path / "set")
    jsonl = folder / "r.jsonl"
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


@pytest.fixture
def fresh_process_bad_build(hf_cache: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = write_set(tmp_path / "set", rows=("q1,a.png,Hi,harmful,,",))
    argv = [sys.executable, "-m", "mmsafety.cli", "build", "custom", "--records", "records.csv", "--images", "images", "--repo-id", REPO, "--map", MAP]
    return subprocess.run(argv, capture_output=True, text=True, cwd=folder, env=subprocess_env(), timeout=120), hf_cache


def test_the_command_in_a_fresh_process_exits_2_on_bad_input(fresh_process_bad_build: tuple) -> None:
    assert fresh_process_bad_build[0].returncode == 2


def test_the_command_in_a_fresh_process_reports_bad_input_in_one_line(fresh_process_bad_build: tuple) -> None:
    result, _ = fresh_process_bad_build
    assert (result.stdout, result.stderr) == (
        "",
        "mmsafety build: error: records.csv: line 2 (id q1): column 'safety': expected a label in safe, unsafe, oversensitive, found 'harmful'\n",
    )


def test_the_command_in_a_fresh_process_writes_nothing_on_bad_input(fresh_process_bad_build: tuple) -> None:
    assert written(fresh_process_bad_build[1]) == []
