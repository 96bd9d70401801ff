"""The PNG corpus checks itself: its encoder against Pillow, its verdicts against its reference reader.

tests/pngcorpus.py writes PNGs with its own encoder; Pillow reading every valid
case back as its source array is the independent check of that encoder. The
reference reader giving every case its expected verdict checks the hostile
cases really are what their names say (and the reference, which the fuzzer
uses as a second opinion). The last tests break verdicts on purpose: the
comparison must notice.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pngcorpus import (
    KINDS,
    PILLOW_REFUSES,
    Case,
    check_decoder,
    check_outcome,
    corpus,
    outcome_of,
    reference_count,
)

CASES = corpus()
VALID = [case for case in CASES if case.verdict in ("ok", "colour") and case.name not in PILLOW_REFUSES]


def pillow_view(samples: np.ndarray, ctype: int, depth: int) -> np.ndarray:
    """What Pillow's array of the image must be: its modes scale sub-byte grey and drop 16-bit colour to 8."""
    if ctype == 0 and depth < 8:
        return samples[..., 0] * (255 // ((1 << depth) - 1)) if depth > 1 else samples[..., 0].astype(bool)
    if ctype in (0, 3):
        return samples[..., 0]
    return samples >> 8 if depth == 16 else samples


@pytest.mark.parametrize("case", VALID, ids=lambda case: case.name)
def test_pillow_reads_the_source_array(case: Case) -> None:
    assert case.samples is not None and case.header is not None
    width, height, depth, ctype, interlace = case.header
    with Image.open(io.BytesIO(case.data)) as image:
        image.load()
        assert image.size == (width, height)
        assert (image.info.get("interlace", 0) != 0) == bool(interlace)
        got = np.asarray(image)
        if ctype == 4 and depth == 16:  # Pillow reads 16-bit grey+alpha as RGBA (grey repeated)
            got = got[..., [0, 3]]
    expected = pillow_view(case.samples.astype(np.int64), ctype, depth)
    assert got.shape == expected.shape, (got.shape, expected.shape, image.mode)
    assert np.array_equal(got.astype(np.int64), expected.astype(np.int64)), case.name


@pytest.mark.parametrize("name", sorted(PILLOW_REFUSES))
def test_pillow_refuses_what_the_rule_counts(name: str) -> None:
    """Pinned so that a Pillow release that stops refusing shows up (the list can then shrink)."""
    case = next(case for case in CASES if case.name == name)
    with (
        pytest.raises(ValueError, match="APNG contains truncated"),
        Image.open(io.BytesIO(case.data)) as image,
    ):
        image.load()


def test_every_kind_filter_and_interlace_is_covered() -> None:
    seen = {(case.header[3], case.header[2], case.header[4]) for case in VALID if case.header}
    for ctype, depth in KINDS.values():
        assert (ctype, depth, 0) in seen and (ctype, depth, 1) in seen, (ctype, depth)
    names = {case.name for case in CASES}
    for kind in KINDS:
        for ftype in (0, 1, 2, 3, 4, "mix"):
            assert any(name.startswith(f"{kind}-f{ftype}-i1") for name in names)


def test_reference_reader_gives_every_verdict() -> None:
    failures = [
        problem
        for case in CASES
        for problem in check_decoder(
            lambda data, case=case: outcome_of(reference_count(data, case.max_pixels)), [case]
        )
    ]
    assert not failures, "\n".join(failures[:20])


def test_check_outcome_notices_wrong_verdicts() -> None:
    ok = next(
        case for case in CASES if case.verdict == "ok" and case.values is not None and len(case.values) > 1
    )
    assert ok.values is not None and ok.counts is not None
    bad = next(case for case in CASES if case.name == "bad-crc-IDAT0")
    with pytest.raises(AssertionError, match="counts differ"):
        check_outcome(ok, ("ok", ok.values, ok.counts + np.eye(1, len(ok.counts), dtype=np.int64)[0]))
    with pytest.raises(AssertionError, match="values differ"):
        check_outcome(ok, ("ok", ok.values + 1, ok.counts))
    with pytest.raises(AssertionError, match="expected ok"):
        check_outcome(ok, ("refused", "corrupt image data: bad CRC"))
    with pytest.raises(AssertionError, match="expected refused"):
        check_outcome(bad, ("ok", ok.values, ok.counts))
    with pytest.raises(AssertionError, match="not of kind"):
        check_outcome(bad, ("refused", "truncated file (ends at byte 3)"))
    with pytest.raises(AssertionError, match="control bytes"):
        check_outcome(bad, ("refused", "corrupt image data: bad CRC checksum in the \x1b[2J chunk"))
    check_outcome(bad, ("refused", "corrupt image data: bad CRC checksum in the IDAT chunk at byte 57"))
