"""Every decoder of the CLI (auto, fast, pillow) over the generated PNG corpus: one verdict per file.

The corpus (tests/pngcorpus.py: every kind x filter x interlace, and the hostile cases) knows
each file's answer from its source pixels (an independent per-pixel reference); here the
Python decoders, Pillow included, must give exactly that answer: the same counts, or a refusal.
"""

from __future__ import annotations

import re

import pytest
from pngcorpus import check_decoder, corpus

from segstats.decode import ReadOptions, decode_histogram
from segstats.errors import BadInputError

CASES = list(corpus())


def python_decoder(decoder: str, max_pixels: int):
    def decode(data: bytes) -> tuple:
        options = ReadOptions(decoder=decoder, max_pixels=None if max_pixels < 0 else max_pixels)
        try:
            histogram = decode_histogram(data, "x.png", options)
        except BadInputError as exc:
            return ("refused", exc.cause)
        return ("ok", histogram.values, histogram.counts)

    return decode


@pytest.mark.parametrize("decoder", ["auto", "fast", "pillow"])
def test_every_decoder_gives_the_corpus_verdicts(decoder):
    checked = [case for case in CASES if case.verdict in ("ok", "refused")]
    failures = [
        problem
        for case in checked
        for problem in check_decoder(python_decoder(decoder, case.max_pixels), [case])
    ]
    assert not failures, f"{len(failures)} of {len(checked)} wrong:\n" + "\n".join(failures[:30])


@pytest.mark.parametrize("decoder", ["auto", "fast", "pillow"])
def test_colour_and_non_png_cases(decoder):
    """Colour PNGs without --colors are refused (fast: not its kind); non-PNG data is refused too."""
    for case in CASES:
        if case.verdict not in ("colour", "notpng"):
            continue
        outcome = python_decoder(decoder, case.max_pixels)(case.data)
        assert outcome[0] == "refused", case
        if decoder == "fast":
            assert outcome[1].startswith("not readable by the fast decoder"), (case, outcome)
        elif case.verdict == "colour":
            assert re.search(r"colour image: colour masks need a colour map|16-bit colour", outcome[1]), (
                case,
                outcome,
            )
