"""What a reader must make of a corpus case, and the check of what a decoder made of it.

A decoder is any callable ``decode(data: bytes) -> outcome`` where outcome is
``("ok", values, counts)``, ``("colour", reason)``, ``("refused", message)`` or
``("notpng", reason)``; :func:`outcome_of` turns a ``count_chunk`` result tuple
into one, and :func:`check_decoder` runs cases through a decoder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pngforge import Png

# each cause has words no other cause needs.
CAUSES = {
    "truncated": r"^truncated file",
    "crc": r"^corrupt image data: .*CRC",
    "ihdr": r"IHDR",
    "chunk_type": r"chunk type|not an ASCII letter|bad chunk",
    "critical": r"critical",
    "palette": r"PLTE|palette",
    "no_idat": r"no (image data|IDAT)|IDAT",
    "idat_order": r"consecutive",
    # The zlib stream itself is broken (header, deflate data, Adler-32).
    "zlib": r"compressed|zlib|deflate|Adler|checksum",
    # The stream is cut short: inflate ran out of input before its end.
    # (libdeflate cannot tell a cut stream from bad data: either wording.)
    "short_stream": r"^truncated file|cut short|ends early|incomplete|compressed|deflate|zlib",
    # A complete stream with a size other than IHDR's.
    "size": r"IHDR implies|size",
    "trailing": r"after the end",
    # Anything wrong with the stream (a garbled stream can fail in any of the ways above).
    "stream": r"compressed|zlib|deflate|Adler|checksum|^truncated file|cut short|IHDR implies|after the end",
    "chunk_length": r"claims|length|^truncated file",
    "stream_not_memory": r"^(?!truncated file \(\d+ bytes of compressed image data cannot hold)"
    r".*(compressed|zlib|deflate|^truncated file|cut short|IHDR implies)",
    "filter": r"filter type",
    # (the implied size may be written as a number or as "more than 2^64")
    "memory": r"^truncated file \(\d+ bytes of compressed image data cannot hold the .*bytes IHDR implies\)",
    "limit": r"limit",
    "empty": r"^empty file",
}
# Valid cases Pillow refuses (its APNG reader checks acTL/fdAT): a Pillow-based decoder gives
# another verdict on these than the rule "ancillary chunks are not interpreted".
PILLOW_REFUSES = frozenset({"ancillary-apng-empty-actl", "ancillary-apng-stray-empty-fdat"})
# No raw control byte (C0, DEL) may reach a terminal through a message.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Case:
    """One PNG and the verdict a reader must give it.

    ``verdict`` is "ok" (counted: ``values``/``counts`` expected), "colour"
    (a valid RGB/RGBA PNG the counting reader leaves to others), "refused"
    (``cause`` a key of CAUSES) or "notpng".
    """

    name: str
    data: bytes
    verdict: str
    values: np.ndarray | None = None
    counts: np.ndarray | None = None
    header: tuple[int, int, int, int, int] | None = None  # width, height, depth, colour type, interlace
    cause: str = ""
    max_pixels: int = -1  # -1: no limit
    samples: np.ndarray | None = field(default=None, compare=False)  # the source, for encoder checks

    def __repr__(self) -> str:  # pytest ids and failure messages: never dump the bytes
        return f"Case({self.name!r}, {self.verdict}{' ' + self.cause if self.cause else ''})"


def counted_case(name: str, png: Png, data: bytes | None = None, max_pixels: int = -1) -> Case:
    """The valid case of ``png``: counts of the grey / index band, or "colour" for RGB(A)."""
    data = png.build() if data is None else data
    if png.ctype in (2, 6):
        return Case(name, data, "colour", header=png.header(), max_pixels=max_pixels, samples=png.samples)
    values, counts = np.unique(png.samples[..., 0].astype(np.int64), return_counts=True)
    return Case(
        name,
        data,
        "ok",
        values,
        counts.astype(np.int64),
        png.header(),
        max_pixels=max_pixels,
        samples=png.samples,
    )


def refused(name: str, data: bytes, cause: str, max_pixels: int = -1) -> Case:
    assert cause in CAUSES, cause
    return Case(name, data, "refused", cause=cause, max_pixels=max_pixels)


Outcome = tuple[Any, ...]
Decoder = Callable[[bytes], Outcome]


def int64s(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i8").astype(np.int64)


def outcome_of(result: tuple[Any, ...]) -> Outcome:
    """A ``count_chunk`` result tuple as a decoder outcome."""
    code = result[0]
    if code == 0:
        return ("ok", int64s(result[6]), int64s(result[7]))
    if code == 1:
        return ("colour", result[6])
    if code == 2:
        return ("notpng", result[1])
    if code == 3:
        return ("refused", result[1])
    return ("oserror", *result[1:])


def check_outcome(case: Case, outcome: Outcome) -> None:
    """Raise AssertionError unless ``outcome`` is the verdict ``case`` expects."""
    where = f"{case.name}: got {_short(outcome)}"
    assert outcome[0] == case.verdict, f"{where}, expected {case.verdict} {case.cause}"
    if case.verdict == "ok":
        assert case.values is not None and case.counts is not None
        values, counts = np.asarray(outcome[1]), np.asarray(outcome[2])
        assert values.tolist() == case.values.tolist(), f"{where}: values differ"
        assert counts.tolist() == case.counts.tolist(), f"{where}: counts differ"
    elif case.verdict == "refused":
        message = outcome[1]
        assert isinstance(message, str) and message, where
        assert not CONTROL.search(message), f"{where}: raw control bytes in the message"
        assert "\n" not in message, where
        assert re.search(CAUSES[case.cause], message), f"{where}: message is not of kind {case.cause!r}"


def _short(outcome: Outcome) -> str:
    if outcome[0] == "ok":
        return f"ok values={np.asarray(outcome[1]).tolist()[:8]} counts={np.asarray(outcome[2]).tolist()[:8]}"
    return repr(outcome)[:300]


def check_decoder(decode: Decoder, cases: Iterable[Case]) -> list[str]:
    """Every case through ``decode``; the failures, one line each (empty: all verdicts right)."""
    failures = []
    for case in cases:
        try:
            check_outcome(case, decode(case.data))
        except AssertionError as exc:
            failures.append(str(exc))
    return failures
