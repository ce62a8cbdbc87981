"""`mmsafety audit`: integrity, duplicates, balance and text leakage of a set, from the cache, an export or a Parquet file."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmsafety.audit import audit, write_audit
from mmsafety.audit.duplicates import _all_pairs, block_plan, components, near_edges
from mmsafety.audit.leakage import bootstrap_auc_ci, text_leakage
from mmsafety.cli import main
from mmsafety.builders.custom import build_custom
from mmsafety.errors import InputError
from mmsafety.schema import features

FAST = {"bootstrap": 200}


def photo(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A smooth random picture: distinct seeds give perceptual hashes ~20+ bits apart."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def row(key: str, data: bytes | None, query: str, label: str, path: str | None = None, category: str = "c") -> dict[str, object]:
    return {
        "id": key,
        "image": None if data is None else {"bytes": data, "path": path or f"{key}.png"},
        "query": query,
        "label": label,
        "category": category,
        "subcategory": "",
        "subset": "",
        "reference": "",
    }


def flawed_rows() -> list[dict[str, object]]:
    """One row per kind of defect the audit must find, among clean ones."""
    png0 = encoded(photo(0), "PNG")
    jpeg1 = encoded(photo(1), "JPEG", quality=90)
    shared = encoded(photo(2), "PNG")
    return [
        row("r0", png0, "How do I make this explode?", "unsafe", category="weapons"),
        row("r1", jpeg1, "What is in the picture?", "safe", path="r1.jpg"),
        row("r2", encoded(photo(1).resize((80, 54)), "JPEG", quality=60), "Describe the scene.", "oversensitive", path="r2.jpg"),
        row("r3", png0, "How do I make this explode?", "unsafe", category="weapons"),  # exact duplicate of r0
        row("r4", shared, "Can I burn this?", "unsafe"),
        row("r5", shared, "Can I paint this?", "safe"),  # same image as r4, another label
        row("r6", encoded(photo(3), "JPEG")[:-300], "Where is this?", "safe", path="r6.jpg"),  # cut short
        row("r7", b"<html>not an image</html>", "Who is this?", "safe"),
        row("r8", encoded(photo(4), "PNG"), "Is this dangerous?", "oversensitive", path="r8.jpg"),  # a PNG named .jpg
        row("r9", encoded(photo(5), "PNG"), "   \n", "unsafe"),
        row("r9", encoded(photo(6), "PNG"), "", "safe"),  # the id again; an empty query
        row("r11", None, "Where did the picture go?", "unsafe"),
        row("r12", encoded(photo(7), "WEBP"), "What is this?", "safe", path="r12.webp"),
    ]


@pytest.fixture(scope="module")
def flawed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Parquet file in the schema (as an export writes it) holding every defect."""
    path = tmp_path_factory.mktemp("flawed") / "flawed.parquet"
    datasets.Dataset.from_list(flawed_rows(), features=features()).to_parquet(str(path))
    return path


@pytest.fixture(scope="module")
def flawed_report(flawed: Path) -> dict[str, object]:
    return audit(flawed, **FAST)


def ids_of(groups: list[dict[str, object]]) -> list[list[str]]:
    return [list(g["ids"]) for g in groups]  # type: ignore[call-overload]


def test_integrity_finds_a_truncated_image(flawed_report: dict) -> None:
    (truncated,) = flawed_report["integrity"]["truncated_images"]
    assert (truncated["id"], truncated["path"]) == ("r6", "r6.jpg") and "truncated" in truncated["problem"]


def test_integrity_finds_unreadable_images_saying_what_the_bytes_are(flawed_report: dict) -> None:
    unreadable = flawed_report["integrity"]["unreadable_images"]
    assert [i["id"] for i in unreadable] == ["r7", "r11"]
    assert "a text file of" in unreadable[0]["problem"] and "<html>" not in unreadable[0]["problem"]
    assert unreadable[1]["problem"] == "no image bytes"


def test_integrity_finds_an_image_stored_under_another_formats_extension(flawed_report: dict) -> None:
    assert flawed_report["integrity"]["format_mismatches"] == [{"id": "r8", "path": "r8.jpg", "format": "PNG"}]


def test_integrity_finds_empty_and_whitespace_only_queries(flawed_report: dict) -> None:
    assert flawed_report["integrity"]["empty_queries"] == ["r9", "r9"]


def test_integrity_finds_a_repeated_id_with_its_rows(flawed_report: dict) -> None:
    assert flawed_report["integrity"]["duplicate_ids"] == [{"id": "r9", "rows": [9, 10]}]


def test_integrity_finds_no_unknown_label_in_a_set_of_known_ones(flawed_report: dict) -> None:
    assert flawed_report["integrity"]["unknown_labels"] == []


def test_duplicates_finds_an_exact_query_and_image_repeat(flawed_report: dict) -> None:
    assert flawed_report["duplicates"]["exact"] == [{"ids": ["r0", "r3"], "labels": ["unsafe", "unsafe"]}]


def test_duplicates_finds_one_image_under_two_labels(flawed_report: dict) -> None:
    dups = flawed_report["duplicates"]
    assert ids_of(dups["identical_images_different_labels"]) == [["r4", "r5"]]
    assert dups["identical_images"] == 2  # r0/r3 and r4/r5


def test_duplicates_groups_a_resized_reencoded_copy_as_a_near_duplicate(flawed_report: dict) -> None:
    near = flawed_report["duplicates"]["near"]
    assert (near["threshold"], near["count"], near["different_labels"]) == (4, 1, 1)
    (group,) = near["groups"]
    assert group["ids"] == ["r1", "r2"] and group["labels"] == ["safe", "oversensitive"]
    assert group["images"] == 2 and 0 < group["max_distance"] <= 4
    assert near["hashed_images"] == 10  # all but the truncated one and the two unreadable ones


def test_balance_counts_label_by_category(flawed_report: dict) -> None:
    balance = flawed_report["balance"]
    assert balance["labels"] == {"safe": 6, "unsafe": 5, "oversensitive": 2}
    assert balance["by_category"]["weapons"] == {"safe": 0, "unsafe": 2, "oversensitive": 0, "total": 2}
    assert balance["by_category"]["c"]["total"] == 11
    assert balance["single_label_categories"] == ["weapons"]


def test_audit_json_holds_the_whole_audit(flawed_report: dict, tmp_path: Path) -> None:
    json_path, _ = write_audit(flawed_report, tmp_path / "out")
    assert json.loads(json_path.read_text()) == flawed_report


@pytest.mark.parametrize(
    "line",
    [
        "| exact (query, image) duplicates | 1 groups |",
        "- id r8: `r8.jpg` holds a PNG image",
        "- 2 images, up to ",
        "| weapons | 0 | 2 | 0 | 2 |",
        "## Text leakage",
    ],
)
def test_audit_md_shows_each_finding(flawed_report: dict, tmp_path: Path, line: str) -> None:
    _, md_path = write_audit(flawed_report, tmp_path / "out")
    assert line in md_path.read_text()


# -- leakage -------------------------------------------------------------------------------------
RISKY = ["bomb", "poison", "knife", "steal", "attack", "weapon", "drug", "hack"]
HARMLESS = ["cake", "garden", "puppy", "music", "bicycle", "painting", "soup", "kite"]
FILLER = ["how", "do", "i", "use", "this", "the", "with", "near", "picture", "today", "my", "friend"]


def sentences(rng: np.random.Generator, n: int, words: list[str]) -> list[str]:
    return [" ".join([*rng.choice(FILLER, 5), *rng.choice(words, 2), *rng.choice(FILLER, 3)]) for _ in range(n)]


def test_leakage_is_high_when_the_text_gives_the_label_away() -> None:
    rng = np.random.default_rng(0)
    queries = sentences(rng, 60, RISKY) + sentences(rng, 60, HARMLESS)
    labels = ["unsafe"] * 60 + ["safe"] * 30 + ["oversensitive"] * 30
    leak = text_leakage(queries, labels, bootstrap=300)
    assert leak["status"] == "done" and leak["unsafe"] == 60 and leak["benign"] == 60
    assert leak["roc_auc"] > 0.95 and leak["ci95"][0] > 0.85 and leak["ci95"][0] <= leak["roc_auc"] <= leak["ci95"][1]
    assert leak["reading"].startswith("high")
    assert {f["term"] for f in leak["features"]["unsafe"][:8]} & set(RISKY)
    assert {f["term"] for f in leak["features"]["benign"][:8]} & set(HARMLESS)
    top = leak["features"]["unsafe"][0]
    assert top["weight"] > 0 and top["unsafe_queries"] > top["benign_queries"]


def test_leakage_is_at_chance_when_the_text_says_nothing() -> None:
    rng = np.random.default_rng(1)
    queries = sentences(rng, 200, RISKY + HARMLESS)
    labels = list(rng.choice(["unsafe", "safe"], 200))
    leak = text_leakage(queries, labels, bootstrap=300)
    assert leak["status"] == "done"
    assert leak["roc_auc"] < 0.6 and leak["ci95"][0] < 0.5
    assert leak["reading"].startswith("none")  # (cross-validation on noise tends to score under 0.5)


def test_leakage_on_a_large_set_is_fitted_on_a_stratified_sample_and_says_so() -> None:
    rng = np.random.default_rng(1)
    labels = ["unsafe" if i % 4 else "safe" for i in range(400)]
    queries = [" ".join([*rng.choice(FILLER, 5), rng.choice(RISKY if label == "unsafe" else HARMLESS)]) for label in labels]
    result = text_leakage(queries, labels, bootstrap=50, max_rows=200)
    assert result["sampled"] == "200 of 400 rows, stratified by label"
    assert (result["unsafe"], result["benign"]) == (300, 100)  # the set's counts, not the sample's
    assert result["roc_auc"] > 0.9


def test_leakage_is_skipped_with_a_reason_for_a_single_label() -> None:
    leak = text_leakage(["a", "b", "c"], ["unsafe"] * 3)
    assert leak["status"] == "skipped"
    assert leak["reason"] == "every sample is labelled unsafe: with a single label there is nothing to tell apart"
    few = text_leakage(["a", "b", "b"], ["unsafe", "safe", "safe"])
    assert few["status"] == "skipped" and "too few distinct queries" in few["reason"]


def test_the_vectorised_bootstrap_matches_sklearn_on_each_resample() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.4 * y, 2)  # rounded: ties too
    for seed in range(5):
        low, high = bootstrap_auc_ci(y, scores, n_boot=1, seed=seed)
        picks = np.random.default_rng(seed).integers(0, 300, size=(1, 300))[0]
        assert low == pytest.approx(roc_auc_score(y[picks], scores[picks])) == high


@pytest.mark.parametrize("threshold", [0, 1, 3, 4, 7, 12])
def test_near_edges_finds_exactly_the_pairs_within_the_distance(threshold: int) -> None:
    rng = np.random.default_rng(threshold)
    base = rng.integers(0, 2**63, 60, dtype=np.uint64)
    near = base ^ (np.uint64(1) << rng.integers(0, 64, 60).astype(np.uint64))
    nearer = near ^ (np.uint64(3) << rng.integers(0, 62, 60).astype(np.uint64))
    hashes = np.unique(np.concatenate([base, near, nearer]))
    edges = near_edges(hashes, threshold)
    brute = [
        (i, j, bin(int(hashes[i]) ^ int(hashes[j])).count("1"))
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= threshold
    ]
    assert sorted(map(tuple, edges.tolist())) == sorted(brute)


@pytest.mark.parametrize(("count", "threshold"), [(20_000, 4), (6_000, 6), (3_000, 4)])
def test_near_edges_keyed_on_several_blocks_finds_what_all_pairs_find(count: int, threshold: int) -> None:
    """Keys of several blocks (chosen for the count) lose no pair within the distance: the
    same edges as comparing every pair, on random hashes with planted near copies."""
    rng = np.random.default_rng(count)
    base = rng.integers(0, 2**64, count, dtype=np.uint64)
    flips = rng.integers(0, 64, (count // 4, threshold))
    near = base[: count // 4].copy()
    for column in range(threshold):
        near ^= np.uint64(1) << flips[:, column].astype(np.uint64)
    hashes = np.unique(np.concatenate([base, near]))
    expected = _all_pairs(hashes, threshold)
    edges = near_edges(hashes, threshold)
    assert len(expected) >= count // 8
    assert sorted(map(tuple, edges.tolist())) == sorted(map(tuple, expected.tolist()))


def test_block_plan_keys_on_more_blocks_as_hashes_grow() -> None:
    assert block_plan(1_000, 4) == (5, 1)
    blocks, agree = block_plan(200_000, 4)
    assert agree >= 2 and 64 * agree // blocks >= 18


def test_near_duplicates_chain_into_one_group() -> None:
    assert components(6, np.array([[0, 2, 1], [2, 5, 3], [1, 4, 2]])).tolist() == [0, 1, 0, 3, 1, 0]


def test_many_rows_sharing_few_images_are_hashed_once_per_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmsafety.audit.scan as scan_module

    decoded = []
    real = scan_module._inspect_bytes
    monkeypatch.setattr(scan_module, "_inspect_bytes", lambda data, digest, path: decoded.append(digest) or real(data, digest, path))
    pictures = [encoded(photo(40 + i), "PNG") for i in range(5)] + [encoded(photo(40).resize((90, 60)), "PNG")]
    rows = [row(f"r{i}", pictures[i % len(pictures)], f"query {i}", "unsafe" if i % 2 else "safe") for i in range(600)]
    path = tmp_path / "shared.parquet"
    datasets.Dataset.from_list(rows, features=features()).to_parquet(str(path))
    near = audit(path, **FAST)["duplicates"]["near"]
    assert len(decoded) == len(set(decoded)) == 6
    assert near["hashed_images"] == 600 and near["distinct_hashes"] <= 6
    (group,) = near["groups"]
    assert group["images"] == 2 and len(group["ids"]) == 200  # picture 0 and its resized copy, 100 rows each


def test_ids_equal_but_for_case_whitespace_or_unicode_form_are_listed(tmp_path: Path) -> None:
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    path = tmp_path / "ids.parquet"
    keys = [nfc, nfd, "Knife", "knife ", "other"]
    rows = [row(key, encoded(photo(60 + i), "PNG"), f"q {i}", "unsafe") for i, key in enumerate(keys)]
    datasets.Dataset.from_list(rows, features=features()).to_parquet(str(path))
    report = audit(path, **FAST)
    assert report["integrity"]["near_identical_ids"] == [[nfc, nfd], ["Knife", "knife "]]
    assert report["integrity"]["duplicate_ids"] == []
    # listed, a warning: `--strict` passes them (duplicate ids would fail it)
    assert main(["audit", str(path), "--out", str(tmp_path / "out"), "--bootstrap", "50", "--strict"]) == 0


# -- image paths inside a dataset ----------------------------------------------------------------
SECRET = "hf_TOKEN_do_not_leak_9f8e7d"


def path_rows(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A Parquet file whose image column holds paths: a secret text file, devices, a FIFO, a real PNG."""
    import os

    secret = tmp_path / "token.png"
    secret.write_text(SECRET)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    picture = tmp_path / "real.png"
    picture.write_bytes(encoded(photo(70), "PNG"))
    paths = {"secret": str(secret), "zero": "/dev/zero", "fifo": str(fifo), "missing": str(tmp_path / "gone.png"), "real": str(picture)}
    table = pa.table({
        "id": list(paths),
        "image": pa.array([{"bytes": None, "path": p} for p in paths.values()], pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "query": [f"q {key}" for key in paths],
        "label": ["unsafe"] * len(paths),
    })
    target = tmp_path / "paths.parquet"
    pq.write_table(table, target)
    return target, paths


def test_an_image_path_that_is_not_a_regular_image_file_is_a_finding(tmp_path: Path) -> None:
    target, _ = path_rows(tmp_path)
    unreadable = {i["id"]: i["problem"] for i in audit(target, **FAST)["integrity"]["unreadable_images"]}
    assert set(unreadable) == {"secret", "zero", "fifo", "missing"}
    assert unreadable["secret"] == "path not read: not an image by its header"
    assert unreadable["zero"] == unreadable["fifo"] == "path not read: not a regular file"


def test_nothing_of_a_non_image_file_reaches_the_audit_files(tmp_path: Path) -> None:
    target, _ = path_rows(tmp_path)
    audit(target, tmp_path / "out", **FAST)
    for name in ("audit.json", "audit.md"):
        text = (tmp_path / "out" / name).read_text()
        assert SECRET[:6] not in text and SECRET.encode().hex()[:12] not in text


def test_a_regular_image_file_named_by_path_is_audited(tmp_path: Path) -> None:
    target, _ = path_rows(tmp_path)
    assert audit(target, **FAST)["duplicates"]["near"]["hashed_images"] == 1


# -- inputs and the command ---------------------------------------------------------------------
def write_custom_set(folder: Path) -> None:
    (folder / "images").mkdir(parents=True)
    lines = ["id,image,query,label,category"]
    for i in range(12):
        name = f"{i}.png"
        (folder / "images" / name).write_bytes(encoded(photo(100 + i), "PNG"))
        label = "unsafe" if i % 2 else "safe"
        lines.append(f"{i},{name},{'how to hurt with it' if i % 2 else 'how to enjoy it'} {i},{label},{'a' if i < 6 else 'b'}")
    lines.append("12,0.png,how to enjoy it 0,safe,a")  # exact duplicate of row 0
    (folder / "records.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_repo_id_an_export_folder_and_its_parquet_give_one_report(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_custom_set(tmp_path / "set")
    export = tmp_path / "export"
    build_custom(tmp_path / "set" / "records.csv", tmp_path / "set" / "images", "author/audited", export_dir=export)
    code = main(["audit", "author/audited", "--out", str(tmp_path / "out"), "--bootstrap", "200"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("Audited author/audited (repo, 13 rows) in ")
    assert "duplicates: 1 exact (query, image) groups (0/12); 0 identical images under different labels" in out
    assert "leakage:    text-only ROC-AUC 1.000" in out
    assert f"wrote:      {tmp_path / 'out' / 'audit.json'}, {tmp_path / 'out' / 'audit.md'}" in out
    from_repo = json.loads((tmp_path / "out" / "audit.json").read_text())
    from_export = audit(export, **FAST)
    from_parquet = audit(export / "data" / "test-00000-of-00001.parquet", **FAST)
    for report, kind in ((from_export, "export"), (from_parquet, "parquet")):
        assert report["dataset"]["kind"] == kind
        for section in ("integrity", "duplicates", "balance", "leakage"):
            assert report[section] == from_repo[section], section
    assert from_repo["duplicates"]["exact"] == [{"ids": ["0", "12"], "labels": ["safe", "safe"]}]
    assert from_repo["balance"]["by_category"] == {
        "a": {"safe": 4, "unsafe": 3, "total": 7},
        "b": {"safe": 3, "unsafe": 3, "total": 6},
    }
    assert set(from_repo["timings"]) >= {"read", "images", "duplicates", "leakage"}


def plain_parquet(path: Path, labels: list[str]) -> Path:
    """A Parquet file of the four required columns only, one distinct picture per row."""
    images = [encoded(photo(9 + i), "PNG") for i in range(len(labels))]
    queries = [f"query {i}" for i in range(len(labels))]
    pq.write_table(pa.table({"id": [chr(97 + i) for i in range(len(labels))], "image": images, "query": queries, "label": labels}), path)
    return path


def test_strict_exits_1_on_findings(flawed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(flawed), "--out", str(tmp_path), "--bootstrap", "50", "--strict"]) == 1
    out, err = capsys.readouterr()
    assert "--strict: found 2 unreadable_images, 1 truncated_images" in err and "1 exact (query, image) duplicate groups" in err
    assert "1 exact (query, image) groups (r0/r3)" in out and "1 truncated images" in out and "2 unreadable images" in out
    assert main(["audit", str(flawed), "--out", str(tmp_path), "--bootstrap", "50"]) == 0
    capsys.readouterr()
    # an integrity finding alone is enough; a clean set passes
    unknown = plain_parquet(tmp_path / "unknown.parquet", ["unsafe", "harmful"])
    assert main(["audit", str(unknown), "--out", str(tmp_path / "u"), "--strict"]) == 1
    assert "1 unknown labels" in capsys.readouterr().out
    clean = plain_parquet(tmp_path / "clean.parquet", ["unsafe", "safe", "oversensitive"])
    assert main(["audit", str(clean), "--out", str(tmp_path / "c"), "--strict"]) == 0
    assert "duplicates: 0 exact (query, image) groups" in capsys.readouterr().out


def test_a_plain_parquet_with_string_labels_and_an_unknown_label(tmp_path: Path) -> None:
    report = audit(plain_parquet(tmp_path / "plain.parquet", ["unsafe", "harmful"]), **FAST)
    assert report["integrity"]["unknown_labels"] == [{"id": "b", "label": "harmful"}]
    assert report["balance"]["labels"] == {"unsafe": 1, "harmful": 1}
    assert report["balance"]["single_label_categories"] == []  # one category, both labels in it


def test_a_set_of_one_label_has_no_single_label_category_to_report(tmp_path: Path) -> None:
    report = audit(plain_parquet(tmp_path / "unsafe.parquet", ["unsafe"] * 3), **FAST)
    assert report["balance"]["labels"] == {"unsafe": 3}
    assert report["balance"]["single_label_categories"] == []  # every category is single-label: nothing stands out
    assert report["leakage"]["status"] == "skipped"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nobody/nothing", "benchmark 'nobody/nothing' is not built in"),
        ("no such thing!", "expected a repo id built in the cache (ORG/NAME), an exported folder or a .parquet file"),
    ],
)
def test_a_target_that_is_not_there_is_one_line_exit_2(target: str, message: str, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmsafety audit: error: ") and message in err and err.count("\n") == 1


def test_a_parquet_without_the_schema_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": ["x"]}), path)
    with pytest.raises(InputError, match=r"other\.parquet: expected the columns id, image, query, label, found no 'id', 'image', 'query', 'label'"):
        audit(path)


def test_without_the_audit_extra_the_command_names_the_install(
    flawed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "imagehash", None)  # import imagehash -> ImportError
    assert main(["audit", str(flawed)]) == 2
    err = capsys.readouterr().err
    assert err == "mmsafety audit: error: the audit needs imagehash: pip install 'mmsafety[audit]'\n"


# -- the real MMSafeAware ------------------------------------------------------------------------
SEVEN_PAIRS = [["78", "2220"], ["82", "2223"], ["83", "2224"], ["84", "2232"], ["95", "2277"], ["435", "1136"], ["843", "1084"]]


def test_the_real_mmsafeaware_build_has_the_seven_known_duplicate_pairs(upstream: Path, hf_cache: Path, tmp_path: Path) -> None:
    from mmsafety.data.build import build

    build("mmsafeaware", source_dir=upstream / "mmsafeaware", allow_missing_images=True)
    report = audit("mmsafety/mmsafeaware", tmp_path / "out", **FAST)
    assert report["dataset"]["rows"] == 1446
    assert ids_of(report["duplicates"]["exact"]) == SEVEN_PAIRS
    assert {"id": "2037", "path": "images2/2037.png", "format": "JPEG"} in report["integrity"]["format_mismatches"]
    assert not report["integrity"]["unreadable_images"] and not report["integrity"]["truncated_images"]
    assert report["balance"]["labels"] == {"unsafe": 1020, "oversensitive": 426}
    assert report["leakage"]["status"] == "done" and 0.5 < report["leakage"]["roc_auc"] <= 1.0
    assert "78 (oversensitive), 2220 (oversensitive)" in (tmp_path / "out" / "audit.md").read_text()


@pytest.mark.parametrize("numpy_has_bitwise_count", [True, False], ids=["numpy 2", "numpy 1"])
def test_popcount_counts_every_bit(numpy_has_bitwise_count: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmsafety.audit.duplicates import popcount

    if not numpy_has_bitwise_count:
        monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy < 2: the byte table counts
    rng = np.random.default_rng(7)
    values = np.concatenate([
        np.array([0, 1, 2**63, 2**64 - 1, 0xFF00FF00FF00FF00, 0x0123456789ABCDEF], dtype=np.uint64),
        rng.integers(0, 2**64 - 1, 40, dtype=np.uint64, endpoint=True),
    ]).reshape(2, 23)
    expected = [[int(v).bit_count() for v in row] for row in values.tolist()]
    assert popcount(values).tolist() == expected
    assert popcount(values, native=False).tolist() == expected
