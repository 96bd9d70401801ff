"""One label file -> a histogram of its raw pixel values.

This is the Pillow path: it decodes with Pillow and counts values with a C-level
histogram (Pillow's own ``Image.histogram()`` for 1/L/P, ``numpy.bincount`` for
16- and 32-bit images). It never materialises a per-class mask. Every failure is
turned into a :class:`~segstats.errors.BadInputError` naming the file and cause.
"""

from __future__ import annotations

import errno
import io
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from segstats.errors import BadInputError
from segstats.labels import UNKNOWN_LABEL_PREFIX, ColorTable, format_colour
from segstats.pngcheck import check_png_stream, check_png_structure
from segstats.remote import is_remote

# Image modes read as class indices (contract: 1, L, P, I;16, I).
LABEL_MODES = frozenset({"1", "L", "P", "I;16", "I;16L", "I;16B", "I;16N", "I"})
# Container formats accepted for label images; lossy formats would corrupt labels.
LABEL_FORMATS = frozenset({"PNG", "TIFF"})
# Default pixel limit per image, the same as Pillow's decompression-bomb limit.
DEFAULT_MAX_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)
# Largest value counted with a dense bincount for 32-bit images; above, np.unique.
DENSE_BINCOUNT_LIMIT = 1 << 20
# Colour masks: distinct colours counted with Pillow's getcolors (a C hash table);
# an image with more colours falls back to numpy.unique on packed pixels.
MAX_GETCOLORS = 1 << 16
# How many distinct unknown colours one error message lists.
MAX_COLOURS_SHOWN = 8
# Decoder choices: fast path where it applies (else Pillow), fast path only, Pillow only.
DECODERS = ("auto", "fast", "pillow")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ValueHistogram:
    """Raw pixel values of one image and how often each occurs.

    ``values`` are sorted and unique; ``counts[i]`` pixels hold ``values[i]``;
    all counts are positive and sum to ``width * height``.
    """

    values: IntArray
    counts: IntArray
    width: int
    height: int
    mode: str

    @property
    def num_pixels(self) -> int:
        return self.width * self.height


def _from_dense(dense: npt.NDArray[np.integer], width: int, height: int, mode: str) -> ValueHistogram:
    counts: IntArray = np.asarray(dense, dtype=np.int64)
    values = np.flatnonzero(counts).astype(np.int64)
    return ValueHistogram(values, counts[values], width, height, mode)


def _count_array(pixels: npt.NDArray[np.integer], width: int, height: int, mode: str) -> ValueHistogram:
    flat = pixels.reshape(-1)
    if flat.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ValueHistogram(empty, empty, width, height, mode)
    if flat.dtype == np.uint16 or flat.dtype == np.uint8:
        return _from_dense(np.bincount(flat), width, height, mode)
    low, high = int(flat.min()), int(flat.max())
    if low >= 0 and high < DENSE_BINCOUNT_LIMIT:
        return _from_dense(np.bincount(flat), width, height, mode)
    values, counts = np.unique(flat, return_counts=True)
    return ValueHistogram(values.astype(np.int64), counts.astype(np.int64), width, height, mode)


def _colour_histogram(image: Image.Image, path: str, colors: ColorTable) -> ValueHistogram:
    """An RGB/RGBA colour mask -> histogram of the class ids its colours map to.

    Pixels are packed as ``r << 16 | g << 8 | b`` (alpha ignored); each distinct
    colour is looked up in ``colors`` (sorted ``(packed, class)`` pairs). A colour
    missing from it is an unknown label value: BadInputError naming the colours.
    """
    width, height = image.size
    found = image.getcolors(MAX_GETCOLORS)
    if found is not None:
        counts = np.array([count for count, _ in found], dtype=np.int64)
        rgb = np.array([colour[:3] for _, colour in found if isinstance(colour, tuple)], dtype=np.int64)
        rgb = rgb.reshape(-1, 3)
        packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    else:
        pixels = np.asarray(image)[..., :3].astype(np.uint32)
        flat = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        packed, counts = np.unique(flat, return_counts=True)
        packed, counts = packed.astype(np.int64), counts.astype(np.int64)
    keys = np.array([key for key, _ in colors], dtype=np.int64)
    classes = np.array([value for _, value in colors], dtype=np.int64)
    slot = np.minimum(np.searchsorted(keys, packed), keys.size - 1)
    known = keys[slot] == packed
    if not known.all():
        unknown = np.unique(packed[~known])
        shown = ", ".join(format_colour(int(v)) for v in unknown[:MAX_COLOURS_SHOWN])
        if unknown.size > MAX_COLOURS_SHOWN:
            shown += f", ... ({unknown.size} distinct)"
        raise BadInputError(
            path,
            f"{UNKNOWN_LABEL_PREFIX}colours {shown} in {int(counts[~known].sum())} pixels "
            "(colours missing from --colors are unknown)",
        )
    values, inverse = np.unique(classes[slot], return_inverse=True)
    summed = np.zeros(values.shape, dtype=np.int64)
    np.add.at(summed, inverse, counts)
    return ValueHistogram(values.astype(np.int64), summed, width, height, image.mode)


def _histogram_of_image(image: Image.Image, path: str, colors: ColorTable | None = None) -> ValueHistogram:
    mode = image.mode
    width, height = image.size
    if mode in ("L", "P"):
        # Pillow's C histogram of the raw bytes: for P these are palette indices.
        return _from_dense(np.asarray(image.histogram(), dtype=np.int64), width, height, mode)
    if mode == "1":
        bins = image.histogram()  # Pillow stores bilevel pixels as 0 and 255
        return _from_dense(np.asarray([bins[0], bins[255]], dtype=np.int64), width, height, mode)
    if mode.startswith("I;16"):
        return _count_array(np.asarray(image, dtype=np.uint16), width, height, mode)
    if mode == "I":
        return _count_array(np.asarray(image, dtype=np.int32), width, height, mode)
    if mode in ("RGB", "RGBA") and colors is not None:
        return _colour_histogram(image, path, colors)
    if mode in ("RGB", "RGBA"):
        raise BadInputError(path, f"{mode} colour image: colour masks need a colour map (--colors FILE)")
    raise BadInputError(path, f"unsupported image mode {mode}; label images must be 1, L, P, I;16 or I")


def describe_os_error(exc: OSError) -> str:
    """A short lower-case cause for an OS-level failure to read a file."""
    if isinstance(exc, FileNotFoundError):
        return "file not found (was it deleted during the scan?)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return exc.strerror.lower() if exc.strerror else str(exc)


@dataclass(frozen=True)
class ReadOptions:
    """How label files are read (the same for every file of a scan).

    Attributes:
        decoder: "auto" (fast path where it applies, else Pillow), "fast" or "pillow".
        max_pixels: refuse images with more pixels than this (None: no limit).
        colors: sorted ``(packed_rgb, class)`` pairs (``segstats.labels.colour_table``);
            when given, RGB/RGBA masks are read through it, else they are refused.
            1/L/P/I images are never affected (P stays palette indices).
    """

    decoder: str = "auto"
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    colors: ColorTable | None = None

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            from segstats.errors import UsageError

            raise UsageError(f"unknown decoder {self.decoder!r}; choose one of {', '.join(DECODERS)}")


def read_bytes(path: str) -> bytes:
    """The whole file, opened for reading only.

    Raises:
        BadInputError: the file cannot be read (missing, permissions, a directory...).
    """
    if is_remote(path):  # s3://, gs://, https://...: read here, on the worker, with fsspec
        from segstats.remote import read_remote_bytes

        return read_remote_bytes(path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInputError(path, describe_os_error(exc)) from exc


def read_value_histogram(path: str, options: ReadOptions = ReadOptions()) -> ValueHistogram:
    """Read ``path`` and count its raw pixel values (see :func:`decode_histogram`)."""
    return decode_histogram(read_bytes(path), path, options)


def decode_histogram(data: bytes, path: str, options: ReadOptions = ReadOptions()) -> ValueHistogram:
    """Count the raw pixel values of the label image held in ``data``.

    The ``fast`` decoder (:mod:`segstats.fastpng`) reads 8-bit L/P and 16-bit
    grayscale PNGs; under ``auto`` every other file, or every file when numba
    is missing, goes to Pillow. Both paths give identical histograms.

    Args:
        data: the bytes of a PNG or TIFF label image (modes 1, L, P, I;16, I).
        path: the file's name, used in error messages only.
        options: decoder choice and pixel limit.

    Raises:
        BadInputError: truncated, corrupt or non-label image, or over the pixel limit.
    """
    if not data:
        raise BadInputError(path, "empty file (0 bytes)")
    if options.decoder != "pillow":
        from segstats.fastpng import read_fast

        histogram = read_fast(data, path, options.max_pixels, required=options.decoder == "fast")
        if histogram is not None:
            return histogram
    return _decode_with_pillow(data, path, options.max_pixels, options.colors)


def _decode_with_pillow(
    data: bytes, path: str, max_pixels: int | None, colors: ColorTable | None = None
) -> ValueHistogram:
    # Pillow accepts a missing IEND, bad IDAT CRCs and stops reading IDAT once it has the pixels
    check_png_structure(data, path, max_pixels)
    check_png_stream(data, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in LABEL_FORMATS:
                    raise BadInputError(path, f"{image.format} file, not a PNG or TIFF label image")
                width, height = image.size
                if max_pixels is not None and width * height > max_pixels:
                    raise BadInputError(
                        path,
                        f"image of {width}x{height} = {width * height} pixels is over "
                        f"the limit of {max_pixels} pixels (decompression bomb?)",
                    )
                image.load()
                return _histogram_of_image(image, path, colors)
    except BadInputError:
        raise
    except Image.DecompressionBombError as exc:
        raise BadInputError(path, f"over the pixel limit (decompression bomb?): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise BadInputError(path, "not an image file (or a format Pillow cannot read)") from exc
    except (SyntaxError, zlib.error, EOFError, ValueError) as exc:
        raise BadInputError(path, f"corrupt image data: {exc}") from exc
    except OSError as exc:
        message = str(exc)
        if "truncated" in message:
            raise BadInputError(path, f"truncated file ({message})") from exc
        raise BadInputError(path, f"corrupt image data: {message}") from exc
    except MemoryError as exc:
        raise BadInputError(path, "out of memory while decoding") from exc
