"""Reading archives and metadata strictly: hostile members, truncation, malformed JSON, bad records.

The unit tests call ``mmsafety.data.archives`` and ``mmsafety.data.jsonfiles`` directly; the CLI tests
build SaLAD and VLSBench from hostile sources and check the contract of bad input: exit
status 2, one line naming the file and the member or record, nothing built, nothing
exported, nothing written outside the target.
"""

from __future__ import annotations

import gzip
import json
import random
import tarfile
from pathlib import Path

import pytest

from helpers.archives import (
    assert_nothing_built,
    error_line,
    files_under,
    run_cli,
    tar_file,
    tar_special,
    tiny_jpeg,
    tiny_png,
    write_json,
    write_tar,
    write_zip,
    zip_symlink,
)
from mmsafety.data import archives
from mmsafety.data.archives import TarMembers, ZipMembers, member_path
from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.data.jsonfiles import Record, check_unique_ids, load_json_list

# -- metadata -------------------------------------------------------------------------------


def test_malformed_json_is_located_by_file_line_column() -> None:
    with pytest.raises(InputError) as caught:
        load_json_list(b'[\n  {"a": 1},\n  {"a": 2,,}\n]', file="data.json")
    assert str(caught.value).startswith("data.json: line 3, column 11: malformed JSON")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1}', "expected a JSON list of records, found a JSON object"),
        (b"[]", "expected records, found an empty list"),
        (b'[{"a": 1}, 7]', "record 1: expected a JSON object, found a JSON integer"),
        (b'[{"a": "\xff"}]', "byte 8: expected UTF-8 text"),
    ],
)
def test_json_that_is_not_a_list_of_records(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_json_list(data, file="data.json")


def test_record_errors_name_the_record_index_with_its_id() -> None:
    record = Record({"instruction_id": 12, "instruction": 5, "flag": True}, file="data.json", index=3)
    assert str(_error(lambda: record.integer("flag"))) == (
        "data.json: record 3: expected the field 'flag' to be an integer, found a JSON boolean True"
    )
    record.id = record.integer("instruction_id")
    assert str(_error(lambda: record.string("instruction"))) == (
        "data.json: record 3 (id 12): expected the field 'instruction' to be a string, found a JSON integer 5"
    )
    assert "record 3 (id 12): expected the field 'image_path', found only 'instruction_id', 'instruction', 'flag'" in str(
        _error(lambda: record.string("image_path"))
    )
    assert "expected exactly one of the fields 'text' or 'query', found neither" in str(_error(lambda: record.one_of("text", "query")))


def test_duplicate_ids_name_both_records() -> None:
    records = [Record({}, file="data.json", index=i) for i in range(3)]
    for record, key in zip(records, (4, 5, 4)):
        record.id = key
    with pytest.raises(InputError, match=r"data.json: record 2 \(id 4\): duplicate id 4 \(first at record 0 \(id 4\)\)"):
        check_unique_ids(((r.id, r) for r in records), file="data.json")


def _error(call: object) -> InputError:
    with pytest.raises(InputError) as caught:
        call()  # type: ignore[operator]
    return caught.value


# -- member names and zips -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.png", "imgs/../../evil.png", "/etc/evil.png", "\\evil.png", "C:/evil.png", "..\\evil.png"])
def test_member_names_that_escape_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="refusing an? (absolute member name|member name that escapes)"):
        member_path(name, archive="x.zip")


def test_member_names_are_normalised() -> None:
    assert member_path("./imgs//0.png", archive="x") == "imgs/0.png"


def test_zip_members_found_by_name_or_unique_base_name(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "image.zip", [("image/A_1.jpg", tiny_jpeg(1)), ("B_2.png", tiny_png(2)), ("x/C.png", b"1"), ("y/C.png", b"2")])
    with ZipMembers(path, archive="image.zip") as members:
        assert members.find("B_2.png") == "B_2.png"
        assert members.find("A_1.jpg") == "image/A_1.jpg"
        assert members.find("C.png") is None  # two members by that base name: ambiguous
        assert members.read("image/A_1.jpg") == tiny_jpeg(1)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (("../evil.png", b"x"), "member '../evil.png': refusing a member name that escapes"),
        (("/tmp/evil.png", b"x"), "member '/tmp/evil.png': refusing an absolute member name"),
        (zip_symlink("link.png", "/etc/passwd"), "member 'link.png': refusing a member that is not a regular file (a symbolic link)"),
    ],
)
def test_hostile_zip_members_are_refused(tmp_path: Path, member: tuple[object, bytes], message: str) -> None:
    path = write_zip(tmp_path / "image.zip", [("A_1.png", tiny_png()), member])  # type: ignore[list-item]
    with pytest.raises(InputError) as caught:
        ZipMembers(path, archive="image.zip")
    assert str(caught.value).startswith("image.zip: ") and message in str(caught.value)


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "image.zip", [(f"{i}.png", tiny_png(i)) for i in range(5)])
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(InputError, match="image.zip: expected a readable zip archive, found a damaged or truncated one"):
        ZipMembers(path, archive="image.zip")


def test_zip_member_with_bad_crc_is_refused(tmp_path: Path) -> None:
    data = tiny_png(1) * 4
    path = write_zip(tmp_path / "image.zip", [("1.png", data)])
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"1.png") + 5 + 10] ^= 0xFF  # a byte of the compressed data
    path.write_bytes(bytes(raw))
    with ZipMembers(path, archive="image.zip") as members, pytest.raises(InputError, match="member '1.png': cannot read the member"):
        members.read("1.png")


# -- tars ---------------------------------------------------------------------------------------


def test_tar_members_read_in_any_order(tmp_path: Path) -> None:
    path = write_tar(
        tmp_path / "imgs.tar",
        [tar_special("imgs", tarfile.DIRTYPE), tar_file("imgs/2.png", tiny_png(2)), tar_file("./imgs/0.png", tiny_png(0)), tar_file("imgs/extra.png", b"?")],
    )
    with TarMembers(path, archive="imgs.tar", wanted={"imgs/0.png", "imgs/1.png", "imgs/2.png"}, folders={"imgs"}) as members:
        assert sorted(members.by_name) == ["imgs/0.png", "imgs/2.png"]  # only wanted members are kept; imgs/1.png is absent
        assert "imgs/0.png" in members and "imgs/1.png" not in members and "imgs/extra.png" not in members
        assert [members.read(name) for name in ("imgs/0.png", "imgs/2.png", "imgs/0.png")] == [tiny_png(0), tiny_png(2), tiny_png(0)]
        assert members.tar.members == []  # tarfile's own list of every header is not kept


def test_compressed_tar_reads_too(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "imgs.tar.gz", [tar_file("./imgs/0.png", tiny_png(0)), tar_file("imgs/1.png", tiny_png(1))], mode="w:gz")
    with TarMembers(path, archive="imgs.tar.gz", wanted={"imgs/0.png", "imgs/1.png"}) as members:
        assert [members.read("imgs/1.png"), members.read("imgs/0.png")] == [tiny_png(1), tiny_png(0)]  # backwards: slow but correct


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tar_file("../evil.png", b"x"), "member '../evil.png': refusing a member name that escapes"),
        (tar_file("imgs/../../evil.png", b"x"), "refusing a member name that escapes"),
        (tar_file("/etc/evil.png", b"x"), "member '/etc/evil.png': refusing an absolute member name"),
        (tar_special("imgs/1.png", tarfile.SYMTYPE, "/etc/passwd"), "member 'imgs/1.png': refusing a member that is not a regular file (a symbolic link to '/etc/passwd')"),
        (tar_special("imgs/1.png", tarfile.LNKTYPE, "imgs/0.png"), "not a regular file (a hard link to 'imgs/0.png')"),
        (tar_special("imgs/dev", tarfile.CHRTYPE), "not a regular file (a device)"),
        (tar_special("imgs/fifo", tarfile.FIFOTYPE), "not a regular file (a FIFO)"),
        (tar_special("elsewhere", tarfile.DIRTYPE), "member 'elsewhere': refusing an unexpected folder member"),
    ],
)
def test_hostile_tar_members_are_refused(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], message: str) -> None:
    path = write_tar(tmp_path / "imgs.tar", [tar_file("imgs/0.png", tiny_png(0)), member])
    with pytest.raises(InputError) as caught:
        TarMembers(path, archive="imgs.tar", wanted={"imgs/0.png", "imgs/1.png"}, folders={"imgs"})
    assert str(caught.value).startswith("imgs.tar: ") and message in str(caught.value)


def test_wanted_member_twice_is_refused(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "imgs.tar", [tar_file("imgs/0.png", tiny_png(0)), tar_file("./imgs/0.png", tiny_png(1))])
    with pytest.raises(InputError, match="member './imgs/0.png': refusing an archive that holds this member twice"):
        TarMembers(path, archive="imgs.tar", wanted={"imgs/0.png"})


def test_oversized_wanted_member_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 100)
    path = write_tar(tmp_path / "imgs.tar", [tar_file("imgs/big.png", bytes(101)), tar_file("imgs/0.png", bytes(101))])
    with pytest.raises(InputError, match="member 'imgs/0.png': refusing a member of 101 bytes"):
        TarMembers(path, archive="imgs.tar", wanted={"imgs/0.png"})  # an unwanted one is only skipped


@pytest.mark.parametrize("cut", ["inside a member's data", "between two members", "inside a header", "before the end marker"])
def test_truncated_tar_is_refused_on_opening(tmp_path: Path, cut: str) -> None:
    path = write_tar(tmp_path / "imgs.tar", [tar_file(f"imgs/{i}.png", bytes(2000)) for i in range(3)])
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
    length = {
        "inside a member's data": last.offset_data + 100,
        "between two members": last.offset,
        "inside a header": last.offset + 100,
        "before the end marker": last.offset_data + 2048,
    }[cut]
    path.write_bytes(path.read_bytes()[:length])
    with pytest.raises(InputError, match="imgs.tar: expected a complete tar archive, found a damaged or truncated one"):
        TarMembers(path, archive="imgs.tar", wanted={"imgs/0.png"})


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_tar_truncated_after_opening_is_refused_on_reading(tmp_path: Path, mode: str) -> None:
    data = [random.Random(i).randbytes(64 << 10) for i in range(3)]  # incompressible: more than any read-ahead buffer
    path = write_tar(tmp_path / "imgs.tar", [tar_file(f"imgs/{i}.png", data[i]) for i in range(3)], mode=mode)
    with TarMembers(path, archive="imgs.tar", wanted={"imgs/0.png", "imgs/2.png"}) as members:
        assert members.read("imgs/0.png") == data[0]
        with path.open("r+b") as file:  # the same file, cut short under the open archive
            file.truncate(path.stat().st_size // 2)
        with pytest.raises(InputError) as caught:
            members.read("imgs/2.png")
    assert str(caught.value).startswith("imgs.tar: member 'imgs/2.png': expected a complete tar archive, found a damaged or truncated one")


def test_truncated_compressed_tar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "imgs.tar.gz"
    compressed = gzip.compress(write_tar(tmp_path / "plain.tar", [tar_file("imgs/0.png", tiny_png(0))]).read_bytes())
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(InputError, match="imgs.tar.gz: expected a complete tar archive, found a damaged or truncated one"):
        TarMembers(path, archive="imgs.tar.gz", wanted={"imgs/0.png"})


def test_not_an_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "imgs.tar"
    path.write_bytes(b"<html>Not Found</html>")
    with pytest.raises(InputError, match="imgs.tar: expected a complete tar archive"):
        TarMembers(path, archive="imgs.tar", wanted=set())


# -- the CLI on hostile sources: exit 2, one line, nothing written -----------------------------------


def vlsbench_source(root: Path, members: list[tuple[tarfile.TarInfo, bytes | None]] | None = None, *, records: list[dict] | None = None) -> Path:
    """A VLSBench folder: ``data.json`` of two records and an ``imgs.tar``."""
    records = records if records is not None else [
        {
            "instruction_id": i,
            "instruction": f"question {i}",
            "image_path": f"imgs/{i}.png",
            "category": "Violent",
            "sub_category": "Weapon-Related Violence",
            "source": "generation",
            "image_description": f"description {i}",
            "safety_reason": f"reason {i}",
        }
        for i in range(2)
    ]
    write_json(root / "data.json", records)
    write_tar(root / "imgs.tar", members if members is not None else [tar_file(f"imgs/{i}.png", tiny_png(i)) for i in range(2)])
    return root


def salad_source(root: Path, members: list[tuple[object, bytes]] | None = None, *, records: list[dict] | None = None) -> Path:
    """A SaLAD folder as the Hub has it: ``data.json`` of two records and an ``image.zip``."""
    records = records if records is not None else [
        {"id": 1, "text": "q1", "category": "Exercise", "safety type": "unsafe", "safety warning": "w1", "image": "E_1.png"},
        {"id": 2, "text": "q2", "category": "Food", "safety type": "safe", "safe suggestion": "s2", "image": "F_2.png"},
    ]
    write_json(root / "data.json", records)
    write_zip(root / "image.zip", members if members is not None else [("E_1.png", tiny_png(1)), ("F_2.png", tiny_png(2))])  # type: ignore[arg-type]
    return root


HOSTILE_VLSBENCH = {
    "tar-slip": ([tar_file("imgs/0.png", tiny_png(0)), tar_file("../../evil.png", b"x")], "imgs.tar: member '../../evil.png': refusing a member name that escapes"),
    "absolute": ([tar_file("/tmp/evil.png", b"x")], "imgs.tar: member '/tmp/evil.png': refusing an absolute member name"),
    "symlink": ([tar_special("imgs/0.png", tarfile.SYMTYPE, "/etc/passwd")], "imgs.tar: member 'imgs/0.png': refusing a member that is not a regular file (a symbolic link"),
    "hardlink": ([tar_file("imgs/0.png", tiny_png(0)), tar_special("imgs/1.png", tarfile.LNKTYPE, "imgs/0.png")], "(a hard link to 'imgs/0.png')"),
}
HOSTILE_SALAD = {
    "zip-slip": ([("E_1.png", tiny_png(1)), ("../../evil.png", b"x")], "image.zip: member '../../evil.png': refusing a member name that escapes"),
    "absolute": ([("/tmp/evil.png", b"x")], "image.zip: member '/tmp/evil.png': refusing an absolute member name"),
    "symlink": ([zip_symlink("E_1.png", "/etc/passwd")], "image.zip: member 'E_1.png': refusing a member that is not a regular file (a symbolic link)"),
}


def run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def build_hostile(benchmark: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, set[str], str]:
    """Build ``benchmark`` from hostile archive ``case`` with --export: (exit status, stderr, files before, expected message)."""
    hostile, write_source = (HOSTILE_VLSBENCH, vlsbench_source) if benchmark == "vlsbench" else (HOSTILE_SALAD, salad_source)
    members, message = hostile[case]
    source = write_source(tmp_path / "src", members)
    checksums = _unpinned(tmp_path, benchmark)
    before = files_under(tmp_path)
    argv = ["build", benchmark, "--source-dir", str(source), "--export", str(tmp_path / "out"), "--checksums", str(checksums)]
    code, stderr = run_in_process(argv, capsys)
    return code, stderr, before, message


HOSTILE_CASES = [("vlsbench", case) for case in sorted(HOSTILE_VLSBENCH)] + [("salad", case) for case in sorted(HOSTILE_SALAD)]


@pytest.mark.parametrize(("benchmark", "case"), HOSTILE_CASES)
def test_a_hostile_archive_exits_2_naming_the_member(
    benchmark: str, case: str, tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stderr, _, message = build_hostile(benchmark, case, tmp_path, capsys)
    assert code == 2
    assert message in error_line(stderr)


@pytest.mark.parametrize(("benchmark", "case"), HOSTILE_CASES)
def test_a_hostile_archive_writes_nothing(benchmark: str, case: str, tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, before, _ = build_hostile(benchmark, case, tmp_path, capsys)
    assert_nothing_built(benchmark)
    assert files_under(tmp_path) - before <= {p for p in files_under(tmp_path) if p.startswith("hf-home/")}
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize(
    ("benchmark", "damage", "message"),
    [
        ("vlsbench", "truncate", "imgs.tar: expected a complete tar archive, found a damaged or truncated one"),
        ("salad", "truncate", "image.zip: expected a readable zip archive, found a damaged or truncated one"),
        ("vlsbench", "corrupt image", "1 image(s) upstream lists are absent or unreadable, ids 1"),
        ("salad", "corrupt image", "1 image(s) upstream lists are absent or unreadable, ids 2"),
    ],
)
def test_damaged_archive_or_image_exits_2(benchmark: str, damage: str, message: str, tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if benchmark == "vlsbench":
        source = vlsbench_source(tmp_path / "src", [tar_file("imgs/0.png", tiny_png(0)), tar_file("imgs/1.png", b"GIF89a not really")])
        archive = source / "imgs.tar"
    else:
        source = salad_source(tmp_path / "src", [("E_1.png", tiny_png(1)), ("F_2.png", tiny_png(2)[:-12])])
        archive = source / "image.zip"
    if damage == "truncate":
        data = archive.read_bytes()
        archive.write_bytes(data[:1800] if benchmark == "vlsbench" else data[: len(data) // 2])  # in the 2nd member / the zip's directory lost
    code, stderr = run_in_process(
        ["build", benchmark, "--source-dir", str(source), "--export", str(tmp_path / "out"), "--checksums", str(_unpinned(tmp_path, benchmark))], capsys
    )
    assert code == 2
    assert message in error_line(stderr)
    assert_nothing_built(benchmark)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("benchmark", "mutate", "message"),
    [
        ("vlsbench", lambda r: r[1].pop("safety_reason"), "data.json: record 1 (id 1): expected the field 'safety_reason', found only"),
        ("vlsbench", lambda r: r[0].update(instruction_id="0"), "data.json: record 0: expected the field 'instruction_id' to be an integer, found a JSON string '0'"),
        ("vlsbench", lambda r: r[1].update(instruction_id=0), "data.json: record 1 (id 0): duplicate id 0 (first at record 0 (id 0))"),
        ("vlsbench", lambda r: r[1].update(image_path="../../etc/passwd"), "data.json: record 1 (id 1): image path '../../etc/passwd' escapes the archive"),
        ("salad", lambda r: r[1].update({"safety type": "harmful"}), "data.json: record 1 (id 2): expected the field 'safety type' to be one of 'unsafe', 'safe', found 'harmful'"),
        ("salad", lambda r: r[0].pop("text"), "data.json: record 0 (id 1): expected exactly one of the fields 'text' or 'query', found neither"),
        ("salad", lambda r: r[1].update(id=1), "data.json: record 1 (id 1): duplicate id 1 (first at record 0 (id 1))"),
        ("salad", lambda r: r[0].update(category="Cooking"), "data.json: record 0 (id 1): expected a category among Activity, Exercise"),
        ("salad", lambda r: r[0].update(image="/etc/passwd"), "data.json: record 0: image path '/etc/passwd' escapes the archive"),
    ],
)
def test_bad_record_exits_2_naming_the_record(benchmark: str, mutate: object, message: str, tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make = vlsbench_source if benchmark == "vlsbench" else salad_source
    source = make(tmp_path / "src")
    records = json.loads((source / "data.json").read_text())
    mutate(records)  # type: ignore[operator]
    write_json(source / "data.json", records)
    code, stderr = run_in_process(["build", benchmark, "--source-dir", str(source), "--checksums", str(_unpinned(tmp_path, benchmark))], capsys)
    assert code == 2
    assert message in error_line(stderr)
    assert_nothing_built(benchmark)


def test_malformed_json_on_the_command_line_is_one_located_line(tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = vlsbench_source(tmp_path / "src")
    (source / "data.json").write_text('[\n  {"instruction_id": 0,\n   "instruction": "x"\n  }\n  {"instruction_id": 1}\n]\n')
    code, stderr = run_in_process(["build", "vlsbench", "--source-dir", str(source), "--checksums", str(_unpinned(tmp_path, "vlsbench"))], capsys)
    assert code == 2
    assert "data.json: line 5, column 3: malformed JSON: Expecting ',' delimiter" in error_line(stderr)
    assert_nothing_built("vlsbench")


def _unpinned(tmp_path: Path, benchmark: str) -> Path:
    """A checksums.tsv that accepts any data.json (the bad-input tests edit it)."""
    path = tmp_path / f"{benchmark}-checksums.tsv"
    files = {"vlsbench": ("data.json", "imgs.tar"), "salad": ("data.json", "image.zip", "data/data.json", "data/image.zip")}[benchmark]
    path.write_text("path\tsize\tsha256\turl\n" + "".join(f"{name}\t-\t-\thttps://example.invalid/{name}\n" for name in files))
    return path


def test_cli_subprocess_refuses_a_tar_slip(tmp_path: Path, hf_cache: Path) -> None:
    """The real command line, in its own process: exit status 2 and one line on stderr."""
    vls = vlsbench_source(tmp_path / "vls", HOSTILE_VLSBENCH["tar-slip"][0])
    result = run_cli(["build", "vlsbench", "--source-dir", str(vls), "--export", str(tmp_path / "out"), "--checksums", str(_unpinned(tmp_path, "vlsbench"))])
    assert result.returncode == 2, result.stderr
    assert error_line(result.stderr).startswith("mmsafety build: error: imgs.tar: member '../../evil.png': refusing")
    assert_nothing_built("vlsbench")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.png").exists()


def test_cli_subprocess_refuses_a_zip_slip(tmp_path: Path, hf_cache: Path) -> None:
    """The real command line, in its own process: exit status 2 and one line on stderr."""
    sal = salad_source(tmp_path / "sal", HOSTILE_SALAD["zip-slip"][0])
    result = run_cli(["build", "salad", "--source-dir", str(sal), "--export", str(tmp_path / "out")])
    assert result.returncode == 2, result.stderr
    assert error_line(result.stderr).startswith("mmsafety build: error: image.zip: member '../../evil.png': refusing")
    assert_nothing_built("salad")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.png").exists()
