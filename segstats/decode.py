"""One label file -> a histogram of its stored pixel values (the single-file API).

Scans go through :func:`segstats.decoders.decode_chunk` a chunk at a time;
these helpers run the same decoders on one file, for the API and the tests.
Every failure is a :class:`~segstats.errors.BadInputError` naming the file.
"""

from __future__ import annotations

from segstats._types import IntArray, ValueHistogram
from segstats.decoders import DEFAULT_MAX_PIXELS, Decoder, ReadOptions, decode_chunk
from segstats.errors import BadInputError
from segstats.sources.local import read_bytes


def decode_histogram(data: bytes, path: str, options: ReadOptions = ReadOptions()) -> ValueHistogram:
    """Count the stored pixel values of the label image held in ``data``.

    Args:
        data: the bytes of a PNG or TIFF label image.
        path: the file's name, used in error messages only.
        options: decoder choice, pixel limit, colour map.

    Raises:
        BadInputError: truncated, corrupt or non-label image, or over the pixel limit.
    """
    if not data:
        raise BadInputError(path, "empty file (0 bytes)")
    (result,) = decode_chunk([data], [path], options)
    if isinstance(result, BadInputError):
        raise result
    return result


def read_value_histogram(path: str, options: ReadOptions = ReadOptions()) -> ValueHistogram:
    """Read ``path`` and count its stored pixel values (see :func:`decode_histogram`)."""
    return decode_histogram(read_bytes(path), path, options)


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Decoder",
    "IntArray",
    "ReadOptions",
    "ValueHistogram",
    "decode_histogram",
    "read_bytes",
    "read_value_histogram",
]
