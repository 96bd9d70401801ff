"""--files-from / --root / --template: list files with comments, blanks, stems, stdin, bad lines."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segstats.errors import BadInputError, UsageError
from segstats.sources.lists import read_file_list, read_list_entries


@pytest.fixture
def voc(tmp_path):
    """A VOC-like tree: VOC2012/SegmentationClass/<stem>.png and an ImageSets list."""
    root = tmp_path / "VOC2012"
    (root / "SegmentationClass").mkdir(parents=True)
    (root / "ImageSets").mkdir()
    for stem in ("2007_000032", "2007_000039", "2007_000063"):
        (root / "SegmentationClass" / f"{stem}.png").write_bytes(b"png")
    return root


def test_stems_with_template_and_root(voc):
    listing = voc / "ImageSets" / "train.txt"
    listing.write_text("# VOC train split\n2007_000063\n\n   \n2007_000032\r\n  2007_000039  \n")
    paths = read_file_list(str(listing), root=str(voc), template="SegmentationClass/{}.png")
    seg = voc / "SegmentationClass"
    assert paths == [str(seg / "2007_000063.png"), str(seg / "2007_000032.png"), str(seg / "2007_000039.png")]


def test_relative_to_the_current_directory_by_default(voc, monkeypatch):
    monkeypatch.chdir(voc)
    listing = voc / "list.txt"
    listing.write_text("\ufeffSegmentationClass/2007_000032.png\n./SegmentationClass/2007_000039.png\n")
    assert read_file_list(str(listing)) == [
        os.path.join("SegmentationClass", "2007_000032.png"),
        os.path.join("SegmentationClass", "2007_000039.png"),
    ]


def test_absolute_entries_ignore_root(voc, tmp_path):
    target = str(voc / "SegmentationClass" / "2007_000032.png")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{target}\n")
    assert read_file_list(str(listing), root=str(tmp_path / "elsewhere")) == [target]


@pytest.mark.parametrize("stream", [io.StringIO("a.png\n# c\nb.png\n"), io.BytesIO(b"a.png\n# c\nb.png\n")])
def test_stdin(tmp_path, stream):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"x")
    assert read_file_list("-", root=str(tmp_path), stdin=stream) == [
        str(tmp_path / "a.png"),
        str(tmp_path / "b.png"),
    ]


def test_missing_file_names_the_list_and_line(voc):
    listing = voc / "ImageSets" / "val.txt"
    listing.write_text("2007_000032\n# gone:\n2007_999999\n2007_000039\n2007_888888\n")
    with pytest.raises(BadInputError) as info:
        read_file_list(str(listing), root=str(voc), template="SegmentationClass/{}.png")
    message = str(info.value)
    assert message.startswith(f"{listing}: line 3: ")
    assert "2007_999999.png: no such file" in message
    assert "(and 1 more: lines 5)" in message


def test_missing_files_skipped_with_a_callback(voc):
    listing = voc / "val.txt"
    listing.write_text("2007_000032\n2007_999999\n")
    skipped = []
    paths = read_file_list(
        str(listing),
        root=str(voc),
        template="SegmentationClass/{}.png",
        on_missing=lambda path, error: skipped.append((path, error)),
    )
    assert paths == [str(voc / "SegmentationClass" / "2007_000032.png")]
    assert skipped == [
        (str(voc / "SegmentationClass" / "2007_999999.png"), f"no such file (listed in {listing} line 2)")
    ]


def test_directory_entry_is_bad_input(voc):
    listing = voc / "list.txt"
    listing.write_text("SegmentationClass\n")
    with pytest.raises(BadInputError, match="line 1: .*SegmentationClass: is a directory"):
        read_file_list(str(listing), root=str(voc))


def test_duplicates_name_both_lines(voc):
    listing = voc / "list.txt"
    listing.write_text("2007_000032\n2007_000039\n# again\n2007_000032\n")
    with pytest.raises(BadInputError) as info:
        read_list_entries(str(listing), root=str(voc), template="SegmentationClass/{}.png")
    assert (
        str(info.value)
        == f"{listing}: lines 1 and 4 both list {voc / 'SegmentationClass' / '2007_000032.png'}"
    )


def test_duplicates_after_normalising(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.png\nsub/../a.png\n./a.png\nb.png\nb.png\n")
    with pytest.raises(
        BadInputError, match=r"lines 1, 2 and 3 all list a.png \(and 1 more entries listed twice\)"
    ):
        read_list_entries(str(listing))


def test_stdin_is_named_in_messages():
    with pytest.raises(BadInputError, match=r"^<stdin>: lines 1 and 2 both list x.png$"):
        read_list_entries("-", stdin=io.StringIO("x.png\nx.png\n"))


def test_bad_lines_and_lists(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"a.png\nb\x00.png\n")
    with pytest.raises(BadInputError, match="line 2: contains a NUL character"):
        read_list_entries(str(listing))
    with pytest.raises(BadInputError, match=r"missing.txt: no such file \(--files-from\)"):
        read_list_entries(str(tmp_path / "missing.txt"))
    with pytest.raises(BadInputError, match="is a directory"):
        read_list_entries(str(tmp_path))
    with pytest.raises(UsageError, match="must contain {}"):
        read_list_entries(str(listing), template="SegmentationClass/x.png")


def test_undecodable_names_are_kept(tmp_path):
    name = os.fsdecode(b"caf\xe9.png")  # latin-1 bytes in a list file
    (tmp_path / name).write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"caf\xe9.png\n")
    assert read_file_list(str(listing), root=str(tmp_path)) == [os.path.join(str(tmp_path), name)]


def test_empty_list(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("# nothing\n\n")
    assert read_file_list(str(listing)) == []


def test_remote_entries_are_joined_not_checked(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a\nsub/b\n")
    paths = read_file_list(str(listing), root="s3://bucket/VOC2012", template="SegmentationClass/{}.png")
    assert paths == [
        "s3://bucket/VOC2012/SegmentationClass/a.png",
        "s3://bucket/VOC2012/SegmentationClass/sub/b.png",
    ]
    listing.write_text("s3://other/c.png\nd.png\n")
    assert read_file_list(str(listing), root="gs://b/x") == ["s3://other/c.png", "gs://b/x/d.png"]


entry_names = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            entry_names.map(lambda s: ("entry", s)),
            st.sampled_from(["", "   ", "\t"]).map(lambda s: ("blank", s)),
            st.text(alphabet="abc #", max_size=5).map(lambda s: ("comment", "#" + s)),
        ),
        max_size=20,
    ),
    crlf=st.booleans(),
)
def test_generated_lists(tmp_path_factory, lines, crlf):
    folder = tmp_path_factory.mktemp("gen")
    text = ("\r\n" if crlf else "\n").join(value for _, value in lines)
    names = [value for kind, value in lines if kind == "entry"]
    listing = folder / "list.txt"
    listing.write_text(text, newline="")
    if len(set(names)) != len(names):
        with pytest.raises(BadInputError, match="list"):
            read_list_entries(str(listing), root="r", template="{}.png")
        return
    entries = read_list_entries(str(listing), root="r", template="{}.png")
    expected_lines = [n for n, (kind, _) in enumerate(lines, start=1) if kind == "entry"]
    assert [e.path for e in entries] == [os.path.join("r", f"{n}.png") for n in names]
    assert [e.line for e in entries] == expected_lines
