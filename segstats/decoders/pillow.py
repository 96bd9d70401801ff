"""The Pillow decoder: TIFF, colour masks through --colors, and ``--decoder pillow``.

A PNG reaches Pillow only after the compiled walker has checked it
(:func:`segstats.png.check`), because Pillow is lenient: it decodes files whose
IEND is missing, whose IDAT CRC is wrong or whose zlib stream is short (the
missing rows become 0). After the check, the file is one the walker would
count, so both paths give the same counts; two corrections make Pillow's
pixels the stored sample values: 2- and 4-bit grey samples, which Pillow scales
to 0..255 for display, are divided back, and bilevel pixels (0/255) become 0/1.
Grey+alpha counts the grey band.
"""

from __future__ import annotations

import io
import warnings
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from segstats._types import IntArray, ValueHistogram, histogram_from_dense
from segstats.decoders.base import DenseMatrix, FileResult, Item, ReadOptions, colour_refusal
from segstats.errors import BadInputError
from segstats.labels import UNKNOWN_LABEL_PREFIX, ColorTable, format_colour
from segstats.png import Counted, PngInfo, check, critical_chunks, walk
from segstats.sources.local import read_bytes

# Container formats accepted for label images; lossy formats would corrupt labels.
LABEL_FORMATS = frozenset({"PNG", "TIFF"})
# Largest value counted with a dense bincount for 32-bit images; above, np.unique.
DENSE_BINCOUNT_LIMIT = 1 << 20
# Colour masks: distinct colours counted with Pillow's getcolors (a C hash table);
# an image with more colours falls back to numpy.unique on packed pixels.
MAX_GETCOLORS = 1 << 16
# How many distinct unknown colours one error message lists.
MAX_COLOURS_SHOWN = 8
# PNG kinds Pillow cannot hold exactly (16-bit grey+alpha becomes 8-bit RGBA): the
# native reader counts them under every decoder, so the verdict stays the same.
NATIVE_ONLY_KINDS = frozenset({(16, 4)})
# Pillow's display scaling of low-bit grey samples: stored value = Pillow value / factor.
GREY_SCALE = {2: 85, 4: 17}


def _count_array(pixels: npt.NDArray[np.integer], width: int, height: int, mode: str) -> ValueHistogram:
    flat = pixels.reshape(-1)
    if flat.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ValueHistogram(empty, empty, width, height, mode)
    if flat.dtype in (np.uint8, np.uint16):
        return histogram_from_dense(np.bincount(flat), width, height, mode)
    low, high = int(flat.min()), int(flat.max())
    if low >= 0 and high < DENSE_BINCOUNT_LIMIT:
        return histogram_from_dense(np.bincount(flat), width, height, mode)
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


def _grey_rgb_histogram(image: Image.Image, path: str) -> ValueHistogram:
    """A grey mask saved as RGB(A): every pixel's R = G = B is its value, checked for every pixel."""
    width, height = image.size
    red, green, blue = (np.asarray(image.getchannel(band)) for band in "RGB")
    differ = (red != green) | (red != blue)
    if differ.any():
        y, x = np.argwhere(differ)[0].tolist()
        rgb = (int(red[y, x]), int(green[y, x]), int(blue[y, x]))
        raise BadInputError(
            path,
            f"--grey-rgb: {int(differ.sum())} pixels have bands that differ, the first at x={x}, y={y}: "
            f"{rgb}; this is a colour mask (use --colors)",
        )
    return histogram_from_dense(np.bincount(red.reshape(-1), minlength=1), width, height, image.mode)


def _unscale(histogram: ValueHistogram, factor: int) -> ValueHistogram:
    values: IntArray = histogram.values // factor
    return ValueHistogram(values, histogram.counts, histogram.width, histogram.height, histogram.mode)


def histogram_of_image(
    image: Image.Image, path: str, options: ReadOptions, info: PngInfo | None = None
) -> ValueHistogram:
    """The stored values of a decoded image (``info``: the IHDR of a checked PNG, else None)."""
    colors = options.colors
    mode = image.mode
    width, height = image.size
    name = info.mode if info is not None else mode
    if mode in ("L", "P"):
        # Pillow's C histogram of the raw bytes: for P these are palette indices.
        dense = histogram_from_dense(np.asarray(image.histogram(), dtype=np.int64), width, height, name)
        if info is not None and info.color_type == 0 and info.bit_depth in GREY_SCALE:
            return _unscale(dense, GREY_SCALE[info.bit_depth])
        return dense
    if mode == "LA" and (info is None or not info.is_colour):
        bins = image.getchannel(0).histogram()  # the grey band; alpha is not a label
        return histogram_from_dense(np.asarray(bins, dtype=np.int64), width, height, name)
    if mode == "1":
        bins = image.histogram()  # Pillow stores bilevel pixels as 0 and 255
        return histogram_from_dense(np.asarray([bins[0], bins[255]], dtype=np.int64), width, height, name)
    if mode.startswith("I;16"):
        return _count_array(np.asarray(image, dtype=np.uint16), width, height, name)
    if mode == "I":
        return _count_array(np.asarray(image, dtype=np.int32), width, height, name)
    if mode in ("RGB", "RGBA") and colors is not None:
        return _colour_histogram(image, path, colors)
    if mode in ("RGB", "RGBA") and options.grey_rgb:
        return _grey_rgb_histogram(image, path)
    if mode in ("RGB", "RGBA"):
        raise BadInputError(path, f"{mode} colour image: colour masks need a colour map (--colors FILE)")
    raise BadInputError(path, f"unsupported image mode {mode}; label images must be 1, L, P, LA, I;16 or I")


def decode(data: bytes, path: str, options: ReadOptions, info: PngInfo | None = None) -> ValueHistogram:
    """Decode ``data`` with Pillow and count its stored values.

    ``info`` is the walker's IHDR when ``data`` is a PNG that passed
    :func:`segstats.png.check` (the caller's duty); None for other data.

    Raises:
        BadInputError: not a PNG/TIFF label image, corrupt, or over ``max_pixels``.
    """
    if not data:
        raise BadInputError(path, "empty file (0 bytes)")
    max_pixels = options.max_pixels
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
                return histogram_of_image(image, path, options, info)
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


def decode_chunk(
    items: Sequence[Item], paths: Sequence[str], options: ReadOptions, dense: DenseMatrix = None
) -> list[FileResult]:
    """``--decoder pillow``: every file through Pillow, PNGs after the native checks.

    ``dense`` is not used: Pillow's results are histograms (the caller fills rows).
    """
    del dense
    results: list[FileResult] = []
    for item, path in zip(items, paths, strict=True):
        try:
            results.append(_decode_item(item, path, options))
        except BadInputError as exc:
            results.append(exc)
    return results


def _decode_item(item: Item, path: str, options: ReadOptions) -> ValueHistogram:
    data = item if isinstance(item, bytes) else read_bytes(path)
    info = check(data, path, options.max_pixels)
    if info is not None and (info.bit_depth, info.color_type) in NATIVE_ONLY_KINDS:
        (outcome,) = walk([data], [path], options.max_pixels)
        if isinstance(outcome, Counted):
            return outcome.histogram
        raise outcome if isinstance(outcome, BadInputError) else BadInputError(path, outcome.reason)
    if info is not None and info.is_colour:
        refusal = colour_refusal(info, path, options)
        if refusal is not None:
            raise refusal
    return decode(critical_chunks(data) if info is not None else data, path, options, info)
