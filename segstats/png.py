"""PNG facts and the one chunk walker every decoder goes through.

The walker itself is compiled (``segstats._native``, sources in
``segstats/_native/``): signature, every chunk's length and CRC-32, IHDR, the
critical chunks, the memory bound, the whole zlib stream (exactly the bytes
IHDR implies, nothing after it) and the filter byte of every row. It gives each
file one verdict, whichever decoder then turns its pixels into counts
(contract, "Label images"): this module turns its answers into Python objects.

The native call takes a chunk of files at once and releases the GIL for the
whole chunk, so threads of one process count files in parallel.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np

from segstats._types import DenseRow, IntArray, ValueHistogram
from segstats.errors import BadInputError, UsageError, describe_errno

# The eight bytes every PNG file starts with (PNG specification, 5.2).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour types (PNG specification, 11.2.2) and what they are called in messages.
COLOUR_TYPE_NAMES = {0: "grey", 2: "RGB colour", 3: "palette", 4: "grey+alpha", 6: "RGBA colour"}
# Colour types whose pixels are colours, read only through a colour map (--colors).
COLOUR_TYPES = frozenset({2, 6})
# Mode names reported in image_modes (Pillow's names where Pillow reads the kind exactly).
_MODE_NAMES = {
    (1, 0): "1",
    (2, 0): "L;2",
    (4, 0): "L;4",
    (8, 0): "L",
    (16, 0): "I;16",
    (1, 3): "P;1",
    (2, 3): "P;2",
    (4, 3): "P;4",
    (8, 3): "P",
    (8, 4): "LA",
    (16, 4): "LA;16",
    (8, 2): "RGB",
    (16, 2): "RGB;16",
    (8, 6): "RGBA",
    (16, 6): "RGBA;16",
}
# Result codes of segstats._native.count_chunk (see segstats/_native/module.c).
COUNTED, COLOUR, NOT_PNG, REFUSED, OS_ERROR, COUNTED_ROW = 0, 1, 2, 3, 4, 5
# The count_chunk interface this module speaks (segstats/_native/module.c, SEG_ABI).
NATIVE_ABI = 2
# What to do when the compiled reader is missing (a source tree that was not built).
NATIVE_HINT = "the native PNG reader is not built; install segstats with pip (pip install .)"


@functools.cache
def mode_name(bit_depth: int, color_type: int) -> str:
    """The mode name of a PNG kind (cached: asked once per file of a scan)."""
    return _MODE_NAMES.get((bit_depth, color_type), f"{bit_depth}-bit {color_type}")


class PngInfo(NamedTuple):
    """What a checked PNG's IHDR says."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int

    @property
    def mode(self) -> str:
        """The mode name of this kind (``L``, ``P``, ``I;16``, ``L;4``, ``LA``, ``RGB``...)."""
        return mode_name(self.bit_depth, self.color_type)

    @property
    def is_colour(self) -> bool:
        return self.color_type in COLOUR_TYPES

    def describe(self) -> str:
        interlaced = ", interlaced" if self.interlace else ""
        return f"{self.bit_depth}-bit {COLOUR_TYPE_NAMES.get(self.color_type, '?')} PNG{interlaced}"


class Counted(NamedTuple):
    """The walker read the file and counted its stored sample values."""

    info: PngInfo
    histogram: ValueHistogram


class NotCounted(NamedTuple):
    """A file the compiled reader checked but does not count: a colour PNG, or not a PNG.

    ``info`` is None when the data is not a PNG (a TIFF, or not an image).
    """

    info: PngInfo | None
    reason: str


Outcome = Counted | NotCounted | BadInputError
# What walk() gives when it was passed a dense matrix.
RowOutcome = Outcome | DenseRow


def _native_module() -> Any:
    try:
        from segstats import _native
    except ImportError as exc:  # pragma: no cover - only in an unbuilt source tree
        raise UsageError(f"{NATIVE_HINT} ({exc})") from None
    if not hasattr(_native, "count_chunk"):  # the source folder imported as a namespace package
        raise UsageError(NATIVE_HINT)
    if getattr(_native, "ABI", None) != NATIVE_ABI:  # a stale in-place build of older sources
        raise UsageError(f"the native PNG reader was built from other sources; rebuild it ({NATIVE_HINT})")
    return _native


def inflate_backend() -> str:
    """``"libdeflate"`` or ``"zlib"``: the inflate the compiled reader uses in this process."""
    return str(_native_module().inflate_backend())


def walk(
    items: Sequence[str | bytes], paths: Sequence[str], max_pixels: int | None, *, check_only: bool = False
) -> Sequence[Outcome]:
    """Check (and unless ``check_only``, count) each item: a local path to read, or bytes.

    One native call for all ``items``, the GIL released throughout. ``paths``
    name the items in messages. With ``check_only``, a PNG that passes every
    check comes back as :class:`Counted` with an empty histogram.
    """
    # Without a matrix the reader never answers DenseRow.
    return cast(Sequence[Outcome], walk_rows(items, paths, max_pixels, None, check_only=check_only))


def walk_rows(
    items: Sequence[str | bytes],
    paths: Sequence[str],
    max_pixels: int | None,
    dense: IntArray | None,
    *,
    check_only: bool = False,
) -> Sequence[RowOutcome]:
    """:func:`walk`, counting into ``dense`` (a zeroed ``(len(items), 256)`` int64 matrix).

    A counted file whose values all fit a row is written into its row and comes
    back as a :class:`~segstats._types.DenseRow`; other files as :func:`walk` says.
    """
    native = _native_module()
    limit = -1 if max_pixels is None else max_pixels
    results = native.count_chunk(list(items), limit, check_only, dense=dense)
    outcomes: list[RowOutcome] = []
    for path, result in zip(paths, results, strict=True):
        code = result[0]
        if code == COUNTED_ROW:  # first: the common case of a scan of 8-bit masks
            outcomes.append(DenseRow(result[1], result[2], mode_name(result[3], result[4])))
        elif code == COUNTED:
            info = PngInfo(*result[1:6])
            values: IntArray = np.frombuffer(result[6], dtype="<i8").astype(np.int64, copy=False)
            counts: IntArray = np.frombuffer(result[7], dtype="<i8").astype(np.int64, copy=False)
            histogram = ValueHistogram(values, counts, info.width, info.height, info.mode)
            outcomes.append(Counted(info, histogram))
        elif code == COLOUR:
            outcomes.append(NotCounted(PngInfo(*result[1:6]), str(result[6])))
        elif code == NOT_PNG:
            outcomes.append(NotCounted(None, str(result[1])))
        elif code == REFUSED:
            outcomes.append(BadInputError(path, str(result[1])))
        elif code == OS_ERROR:
            outcomes.append(BadInputError(path, describe_errno(int(result[1]), str(result[2]), listed=True)))
        else:  # pragma: no cover - a mismatch between the extension and this module
            raise RuntimeError(f"segstats._native returned an unknown result code {code!r}")
    return outcomes


def check(data: bytes, path: str, max_pixels: int | None) -> PngInfo | None:
    """Run every check on the PNG in ``data`` without counting: its IHDR, or None if not a PNG.

    Raises:
        BadInputError: the file is refused (the same verdict the counting path gives).
    """
    (outcome,) = walk([data], [path], max_pixels, check_only=True)
    if isinstance(outcome, BadInputError):
        raise outcome
    return outcome.info


def critical_chunks(data: bytes) -> bytes:
    """``data`` without its ancillary chunks (and without bytes after IEND).

    For Pillow, after :func:`check` accepted ``data``: ancillary chunks are never
    interpreted (contract), but Pillow refuses some malformed ones (an empty
    ``acTL`` or ``fdAT`` of an APNG), which would give the same file another
    verdict under ``--decoder pillow``. The walk trusts the framing: ``check``
    verified every length and CRC.
    """
    out = [data[:8]]
    offset = 8
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        end = offset + 12 + length
        kind = data[offset + 4 : offset + 8]
        if not kind[0] & 0x20:  # upper case first letter: critical (IHDR, PLTE, IDAT, IEND)
            out.append(data[offset:end])
        if kind == b"IEND":
            break
        offset = end
    return b"".join(out)
