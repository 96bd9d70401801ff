"""segstats audit's options (issue 14): every file bad, --max-imbalance, --min-image-share,
--allow, mixed sizes as a note, --against with --sort/--limit and one missing-classes finding
per direction, --from-stats (and --against STATS.json), and scan's reading options."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from labelmasks import write_mask
from typer.testing import CliRunner

import segstats
from segstats.audit import INFO, WARNING, audit
from segstats.cli import app
from segstats.errors import UsageError
from segstats.findings import FINDING_KINDS, compress_ids

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------- every file bad
@pytest.fixture
def all_bad(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a signature and nothing else
    (folder / "b.png").write_text("not an image")
    return folder


@pytest.mark.parametrize("extra", [[], ["-k", "21"], ["-k", "21", "--json"], ["-k", "21", "--strict"]])
def test_a_folder_of_bad_files_exits_2_naming_the_first(all_bad, extra):
    result = invoke("audit", all_bad, *extra)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    prefix = (
        f"error: no label image could be read: all 2 files were skipped (the first: {all_bad / 'a.png'}: "
    )
    assert len(errors) == 1 and errors[0].startswith(prefix), result.stderr
    assert result.stdout == ""  # no report of nothing


def test_an_against_split_of_bad_files_exits_2(all_bad, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    write_mask(good / "a.png", np.array([[0, 1]]), "L")
    result = invoke("audit", good, "-k", "21", "--against", all_bad)
    assert result.exit_code == 2 and f"(the first: {all_bad / 'a.png'}: " in result.stderr
    assert result.stdout == ""


# ----------------------------------------------------------- thresholds
@pytest.fixture
def skewed(tmp_path):
    """10 images of 10x10, K = 3: class 1 has 5 pixels in images 0 and 1, class 2 one pixel
    in image 0, class 0 the rest: pixels [989, 10, 1], images [10, 2, 1]."""
    folder = tmp_path / "skewed"
    folder.mkdir()
    for index in range(10):
        array = np.zeros((10, 10), dtype=np.int64)
        if index < 2:
            array[0, :5] = 1
        if index == 0:
            array[9, 9] = 2
        write_mask(folder / f"{index}.png", array, "L")
    return folder


def findings_of(folder, *extra):
    result = invoke("audit", folder, "-k", "3", "--json", *extra)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return document, {f["code"]: f for f in document["findings"]}


def test_skewed_counts_are_what_the_fixture_says(skewed):
    document, _ = findings_of(skewed)
    assert [c["pixels"] for c in document["classes"]] == [989, 10, 1]
    assert [c["images"] for c in document["classes"]] == [10, 2, 1]


@pytest.mark.parametrize(
    ("limit", "severity"),
    [(None, WARNING), ("988.9", WARNING), ("989", INFO), ("1000", INFO), ("1", WARNING)],
)
def test_max_imbalance(skewed, limit, severity):
    extra = [] if limit is None else ["--max-imbalance", limit]
    document, by_code = findings_of(skewed, *extra)
    ratio = by_code["imbalance-ratio"]
    assert ratio["value"] == 989 / 1 and ratio["severity"] == severity  # "above": strictly
    assert document["thresholds"]["max_imbalance"] == (100.0 if limit is None else float(limit))


@pytest.mark.parametrize(
    ("share", "rare"),
    [(None, []), ("0.1", []), ("0.15", [2]), ("0.2", [2]), ("0.21", [1, 2]), ("0", [])],
)
def test_min_image_share(skewed, share, rare):
    extra = [] if share is None else ["--min-image-share", share]
    document, _ = findings_of(skewed, *extra)
    found = [f["classes"][0] for f in document["findings"] if f["code"] == "rare-class"]
    assert found == rare  # class 2 is in 1/10 of the images, class 1 in 2/10: "fewer than"
    assert document["thresholds"]["min_image_share"] == (0.01 if share is None else float(share))
    assert document["thresholds"]["dominant_share"] == 0.5


def test_thresholds_in_the_python_api(skewed):
    stats = segstats.scan(skewed, num_classes=3)
    report = audit(stats, max_imbalance=1000, min_image_share=0.15)
    by_code = {f.code: f for f in report.findings}
    assert by_code["imbalance-ratio"].severity == INFO
    assert by_code["rare-class"].classes == (2,)
    assert "fewer than 15%" in by_code["rare-class"].message
    assert report.to_dict()["thresholds"] == {
        "max_imbalance": 1000,
        "min_image_share": 0.15,
        "dominant_share": 0.5,
    }
    with pytest.raises(UsageError, match="--max-imbalance must be a finite ratio >= 1"):
        audit(stats, max_imbalance=0.5)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-imbalance", "0.5", "--max-imbalance must be a finite ratio >= 1, got 0.5"),
        ("--max-imbalance", "nan", "--max-imbalance must be a finite ratio >= 1"),
        ("--max-imbalance", "inf", "use --allow imbalance-ratio"),
        ("--min-image-share", "1.5", "--min-image-share must be a fraction between 0 and 1, got 1.5"),
        ("--min-image-share", "-0.1", "--min-image-share must be a fraction between 0 and 1"),
    ],
)
def test_bad_thresholds_are_refused_before_reading(tmp_path, option, value, message):
    result = invoke("audit", tmp_path / "missing", option, value)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "no such file" not in result.stderr


# ----------------------------------------------------------- --allow and severities
def test_allow_kinds_that_strict_does_not_count(skewed):
    base = ["audit", skewed, "-k", "3", "--strict"]
    assert invoke(*base).exit_code == 1  # dominant class 0, ratio 989 > 100
    assert invoke(*base, "--allow", "dominant-class").exit_code == 1  # the ratio still counts
    result = invoke(*base, "--allow", "dominant-class", "--allow", "imbalance-ratio")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sum(line.startswith("warning (allowed): ") for line in lines) == 2
    assert not any(line.startswith("warning: ") for line in lines)
    assert lines[-1] == "no warnings counted by --strict (2 allowed: dominant-class, imbalance-ratio)"
    result = invoke(*base, "--json", "--allow", "imbalance-ratio")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["allow"] == ["imbalance-ratio"]
    assert {f["code"]: f["allowed"] for f in document["findings"]} == {
        "dominant-class": False,
        "imbalance-ratio": True,
    }


def test_an_unknown_kind_is_a_usage_error_listing_the_kinds(tmp_path):
    result = invoke("audit", tmp_path / "missing", "--allow", "rare")
    assert result.exit_code == 2
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line == f"error: --allow: unknown finding kind 'rare'; the kinds are: {', '.join(FINDING_KINDS)}"
    write_mask(tmp_path / "a.png", np.array([[0, 1]]), "L")
    with pytest.raises(UsageError, match="unknown finding kind 'rare'"):
        audit(segstats.scan(tmp_path / "a.png"), allow=["rare-class", "rare"])


def test_mixed_sizes_are_a_note(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 1], [1, 0]]), "L")  # 2x2
    write_mask(tmp_path / "b.png", np.array([[0, 1, 0, 1], [1, 0, 1, 0]]), "L")  # 4x2
    result = invoke("audit", tmp_path, "-k", "2", "--strict")
    assert result.exit_code == 0, result.output
    assert "note: images have 2 different sizes: 2x2 (1), 4x2 (1)" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "no warnings"
    report = audit(segstats.scan(tmp_path, num_classes=2))
    assert [(f.code, f.severity) for f in report.findings] == [
        ("imbalance-ratio", INFO),
        ("mixed-sizes", INFO),
    ]


def test_every_kind_has_a_description():
    assert all(text for text in FINDING_KINDS.values())


# ----------------------------------------------------------- --against
def test_compress_ids():
    assert compress_ids([]) == ""
    assert compress_ids([4]) == "4"
    assert compress_ids([3, 7, 12, 13, 14, 15, 16, 17, 18, 19, 20]) == "3, 7, 12-20"
    assert compress_ids([9, 1, 2, 2, 3]) == "1-3, 9"  # sorted, duplicates once
    assert compress_ids(list(range(0, 40, 2)), limit=3) == "0, 2, 4, and 17 more"
    assert compress_ids([1, 2, 3, 7, 8, 20], limit=1) == "1-3, and 3 more"


@pytest.fixture
def splits(tmp_path):
    """train: classes 0..29 (class c has 10 + c pixels), val: classes {0, 1, 2, 10, 20..29, 35};
    K = 40. Missing from val: 3-9 and 11-19 (16 classes); missing from train: 35."""
    train, val = tmp_path / "train", tmp_path / "val"
    train.mkdir()
    val.mkdir()
    values = np.concatenate([np.full(10 + c, c) for c in range(30)])
    write_mask(train / "a.png", values.reshape(1, -1), "L")
    kept = [0, 1, 2, 10, *range(20, 30), 35]
    write_mask(val / "a.png", np.repeat(np.array(kept), 3).reshape(1, -1), "L")
    return train, val


def test_missing_classes_are_one_finding_per_direction(splits):
    train, val = splits
    result = invoke("audit", train, "--against", val, "-k", "40")
    assert result.exit_code == 0, result.output
    missing = [line for line in result.stdout.splitlines() if "missing from" in line]
    assert missing == [
        f"warning: 16 classes of {train} are missing from {val}: 3-9, 11-19",
        f"warning: class 35 of {val} is missing from {train}",
    ]
    report = audit(
        segstats.scan(train, num_classes=40),
        against=segstats.scan(val, num_classes=40),
        label="t",
        against_label="v",
    )
    grouped = [f for f in report.findings if f.code == "missing-from-split"]
    assert [f.classes for f in grouped] == [(*range(3, 10), *range(11, 20)), (35,)]
    assert [f.value for f in grouped] == [16, 1]


def section_ids(text: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^ +(\d+) ", text, re.M)]


@pytest.mark.parametrize(
    ("sort", "limit", "ids"),
    [
        ("share", "3", [29, 28, 27]),
        ("share", "-3", [37, 38, 39]),  # 0 pixels (absent but for 35 in val): by id
        ("id", "4", [0, 1, 2, 3]),
        ("images", "2", [29, 28]),  # one image each: by pixels
    ],
)
def test_against_follows_sort_and_limit(splits, sort, limit, ids):
    train, val = splits
    result = invoke("audit", train, "--against", val, "-k", "40", "--sort", sort, "--limit", limit)
    assert result.exit_code == 0, result.output
    main, rest = result.stdout.split("\nfirst: ", 1)
    comparison = rest.split("Jensen-Shannon")[0]
    assert section_ids(main) == ids and section_ids(comparison) == ids
    assert result.stdout.count(f"... {40 - len(ids)} more classes (--limit 0 shows all)") == 2


def test_against_json_lists_every_class_in_sort_order(splits):
    train, val = splits
    result = invoke("audit", train, "--against", val, "-k", "40", "--sort", "share", "--limit", "3", "--json")
    document = json.loads(result.stdout)
    order = [c["class_id"] for c in document["classes"]]
    assert order == [*range(29, -1, -1), *range(30, 40)]  # pixels descending, the absent ones by id
    assert [c["class_id"] for c in document["against"]["classes"]] == order
    shares = {c["class_id"]: c["other_share"] for c in document["against"]["classes"]}
    assert shares[35] == 3 / 45 and shares[3] == 0.0


# ----------------------------------------------------------- --from-stats
@pytest.fixture
def scanned(skewed, tmp_path):
    stats = tmp_path / "stats.json"
    assert invoke("scan", skewed, "-k", "3", "-o", stats).exit_code == 0
    return skewed, stats


def test_from_stats_reads_no_image_and_gives_the_same_audit(scanned, tmp_path):
    folder, stats = scanned
    from_labels = json.loads(invoke("audit", folder, "-k", "3", "--json", "--examples", "0").stdout)
    for path in folder.iterdir():
        path.unlink()  # nothing left to read
    result = invoke("audit", "--from-stats", stats, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["classes"] == from_labels["classes"]
    assert document["findings"] == from_labels["findings"]  # one size, one mode: no mixed-* either way
    assert document["image_sizes"] == {} and document["examples_per_class"] is None
    assert "scanned" not in result.stderr and "note: --examples" not in result.stderr
    table = invoke(
        "audit", "--from-stats", stats, "--strict", "--allow", "dominant-class", "--max-imbalance", "1000"
    )
    assert table.exit_code == 0, table.output


def test_from_stats_says_once_that_there_are_no_examples(scanned):
    _, stats = scanned
    result = invoke("audit", "--from-stats", stats, "--examples", "2", "--json")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "--examples" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ")
    assert all(c["examples"] is None for c in json.loads(result.stdout)["classes"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["PATH"], "give either label PATHs or --from-stats, not both"),
        (["--shard", "0/2"], "--shard, --backend and --scheduler apply to reading labels"),
        (["--backend", "dask"], "--shard, --backend and --scheduler apply to reading labels"),
        (["-k", "4"], "--num-classes 4 differs from 3"),
        (["--ignore-index", "255"], "--ignore-index 255 differs from None"),
        (["--colors", "colors.json"], "--colors and --map apply when reading label images"),
    ],
)
def test_from_stats_refusals(scanned, extra, message):
    folder, stats = scanned
    extra = [str(folder) if e == "PATH" else e for e in extra]
    result = invoke("audit", "--from-stats", stats, *extra)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_from_stats_of_a_missing_or_bad_document(tmp_path):
    result = invoke("audit", "--from-stats", tmp_path / "none.json")
    assert result.exit_code == 2 and str(tmp_path / "none.json") in result.stderr
    (tmp_path / "bad.json").write_text("{}")
    result = invoke("audit", "--from-stats", tmp_path / "bad.json")
    assert result.exit_code == 2 and str(tmp_path / "bad.json") in result.stderr
    assert "Traceback" not in result.output


def test_against_a_document(splits, tmp_path):
    train, val = splits
    val_stats, train_stats = tmp_path / "val.json", tmp_path / "train.json"
    assert invoke("scan", val, "-k", "40", "-o", val_stats).exit_code == 0
    assert invoke("scan", train, "-k", "40", "-o", train_stats).exit_code == 0
    scanned = json.loads(invoke("audit", train, "-k", "40", "--against", val, "--json").stdout)["against"]
    for main in ([train], ["--from-stats", train_stats]):
        result = invoke("audit", *main, "-k", "40", "--against", val_stats, "--json")
        assert result.exit_code == 0, result.output
        against = json.loads(result.stdout)["against"]
        assert against["classes"] == scanned["classes"]
        assert against["js_divergence"] == scanned["js_divergence"]
        assert against["other_label"] == str(val_stats)
    # a document and label paths, or two documents: refused
    for extra in ([val_stats, val], [val_stats, train_stats]):
        result = invoke("audit", train, "--against", extra[0], "--against", extra[1])
        assert result.exit_code == 2 and "--against takes label paths or one STATS.json" in result.stderr
    # --from-stats with a scanned --against split: the read options apply to that scan
    result = invoke("audit", "--from-stats", train_stats, "--against", val, "--decoder", "pillow", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["against"]["classes"] == scanned["classes"]


# ----------------------------------------------------------- scan's reading options
def test_audit_has_every_reading_option_of_scan():
    import typer

    group = typer.main.get_command(app)

    def options(name, hidden=False):
        return {
            o for p in group.commands[name].params if getattr(p, "hidden", False) == hidden for o in p.opts
        }

    reading = {"--decoder", "--shard", "--backend", "--scheduler", "--jobs"}
    reading |= {"--fetch-concurrency", "--fetch-max-bytes", "--fetch-retries"}
    assert reading <= options("scan") and reading <= options("audit")
    assert "--skip-errors" in options("audit", hidden=True)  # accepted, always on


def test_shard_and_decoder(tmp_path):
    arrays = []
    for index in range(6):
        array = np.zeros((3, 4), dtype=np.int64)
        array[0, : index + 1 if index < 4 else 0] = 1
        array[2, 3] = 2 if index % 2 else 0
        write_mask(tmp_path / f"{index}.png", array, "L")
        arrays.append(array)
    result = invoke("audit", tmp_path, "-k", "3", "--shard", "1/2", "--json", "--decoder", "pillow")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    picked = arrays[1::2]  # files 1, 3, 5 of the sorted list
    assert document["num_images"] == 3
    assert [c["pixels"] for c in document["classes"]] == [
        sum(int((a == c).sum()) for a in picked) for c in range(3)
    ]
    assert "shard 1/2: 3 of 6 files" in result.stderr
    fast = json.loads(
        invoke("audit", tmp_path, "-k", "3", "--shard", "1/2", "--json", "--decoder", "fast").stdout
    )
    assert fast["classes"] == document["classes"]
    result = invoke("audit", tmp_path, "-k", "3", "--decoder", "jpeg")
    assert result.exit_code == 2 and "jpeg" in result.stderr
