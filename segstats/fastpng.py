"""A fused label-PNG reader: chunks -> inflate -> unfilter + histogram in one compiled pass.

General PNG decoders spend most of their time on a label mask undoing the
per-row filters (PNG specification, section 9: None, Sub, Up, Average, Paeth)
into a full image, which is then histogrammed in a second pass. Label masks
need only the histogram, so this module:

1. walks the chunks (signature, ``IHDR``, ``IDAT``..., ``IEND``), checking
   every length against the file size and every chunk's CRC-32;
2. refuses images over the pixel limit from ``IHDR`` alone, before inflating;
3. inflates the concatenated ``IDAT`` data with libdeflate (imagecodecs) or
   zlib into a buffer of exactly the size ``IHDR`` implies, never more;
4. runs one numba kernel (``nogil``, cached on disk) that undoes the filters
   row by row in one row buffer and counts only where a sample differs from
   the row above (masks are piecewise constant: most rows repeat most of the
   row above), skipping unchanged 8-byte words without looking at their bytes.

Supported: non-interlaced 8-bit grayscale (``L``), 8-bit palette (``P``,
indices are counted) and 16-bit grayscale (``I;16``, big-endian samples).
Anything else -- other colour types or bit depths, interlacing, animated PNG,
unknown critical chunks, non-PNG data -- raises :class:`Unsupported`, and the
caller falls back to Pillow. Structural damage (truncation, bad CRC, bad
``IHDR``, bad zlib data, a bad filter type) raises
:class:`~segstats.errors.BadInputError` naming the file and the cause.

Compared with Pillow the fast path is stricter in two places: it checks the
CRC of ``IDAT`` chunks (Pillow skips it) and requires the ``IEND`` chunk to be
present and whole (Pillow stops reading once the pixels are complete).

numba and imagecodecs are optional (``pip install 'segstats[fast]'``); both
are imported lazily, never when this module is imported. Without numba the
fast path is unavailable; without imagecodecs inflation falls back to zlib.
The compiled kernel is cached by numba (``cache=True``): next to this file in
``__pycache__`` when that is writable, otherwise in the user's cache folder,
or in ``NUMBA_CACHE_DIR`` when that is set.
"""

from __future__ import annotations

import functools
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segstats.decode import IntArray, ValueHistogram, _from_dense
from segstats.errors import BadInputError, UsageError

# The eight bytes every PNG file starts with (PNG specification, 5.2).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Largest chunk length the PNG specification allows (2**31 - 1).
MAX_CHUNK_LENGTH = (1 << 31) - 1
# Bytes of a chunk besides its data: length, type and CRC (4 each).
CHUNK_OVERHEAD = 12
# IHDR data length (PNG specification, 11.2.2).
IHDR_LENGTH = 13
# Supported (bit depth, colour type) -> bytes per pixel.
SUPPORTED_KINDS = {(8, 0): 1, (8, 3): 1, (16, 0): 2}
# Valid bit depths per colour type (PNG specification, table 11.1).
VALID_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Critical chunks this reader understands; another critical chunk means "let Pillow decide".
KNOWN_CRITICAL = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})
# Largest inflated/compressed size ratio deflate can reach (about 1032:1), with a margin.
MAX_DEFLATE_RATIO = 1100
# Inflate buffers up to this size are kept for the next file of the same thread.
MAX_KEPT_BUFFER = 32 << 20
# Under --decoder auto, a scan of fewer pixels (estimated) than this reads with Pillow:
# loading numba and the cached kernel costs ~0.65 s once, the fast path saves ~1.7-3 ns
# per pixel, so below ~300 M pixels (~150 Cityscapes or ~1700 CamVid masks) it does not pay.
FAST_MIN_PIXELS = 300_000_000
# Files whose IHDR is read to estimate the pixels of a scan.
ESTIMATE_SAMPLES = 8
# Mode names used when Pillow's own table is not available (what Pillow >= 10.4 reports).
FALLBACK_MODES = {(8, 0): "L", (8, 3): "P", (16, 0): "I;16"}

ByteArray = npt.NDArray[np.uint8]


class Unsupported(Exception):
    """The data is not a PNG this reader handles; the reason is the message."""


@dataclass(frozen=True)
class PngHeader:
    """What ``IHDR`` says, and where the image data lies."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int
    idat: bytes

    @property
    def bytes_per_pixel(self) -> int:
        return SUPPORTED_KINDS[(self.bit_depth, self.color_type)]

    @property
    def row_bytes(self) -> int:
        return self.width * self.bytes_per_pixel

    @property
    def inflated_size(self) -> int:
        """Bytes of filtered image data: one filter-type byte, then the row, per row."""
        return self.height * (1 + self.row_bytes)


def _corrupt(path: str, cause: str) -> BadInputError:
    return BadInputError(path, f"corrupt image data: {cause}")


def _check_ihdr(path: str, body: bytes, max_pixels: int | None) -> tuple[int, int, int, int, int]:
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not (0 < width <= MAX_CHUNK_LENGTH and 0 < height <= MAX_CHUNK_LENGTH):
        raise _corrupt(path, f"bad IHDR: image size {width}x{height}")
    if depth not in VALID_BIT_DEPTHS.get(color, ()):
        raise _corrupt(path, f"bad IHDR: bit depth {depth} with colour type {color}")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise _corrupt(
            path, f"bad IHDR: compression {compression}, filter method {filtering}, interlace {interlace}"
        )
    if max_pixels is not None and width * height > max_pixels:
        raise BadInputError(
            path,
            f"image of {width}x{height} = {width * height} pixels is over "
            f"the limit of {max_pixels} pixels (decompression bomb?)",
        )
    return width, height, depth, color, interlace


def parse_png(data: bytes, path: str, max_pixels: int | None) -> PngHeader:
    """Walk the chunks of ``data``, check lengths and CRCs, and gather the ``IDAT`` data.

    Raises:
        Unsupported: not a PNG, or a PNG kind this reader does not handle.
        BadInputError: truncated or corrupt file, or over ``max_pixels``.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise Unsupported("not a PNG file")
    view = memoryview(data)
    size = len(data)
    offset = len(PNG_SIGNATURE)
    header: tuple[int, int, int, int, int] | None = None
    idat_parts: list[memoryview] = []
    idat_done = False
    while True:
        if offset + CHUNK_OVERHEAD > size:
            missing = "IHDR" if header is None else ("IDAT" if not idat_parts else "IEND")
            raise BadInputError(path, f"truncated file (ends at byte {size}, before the {missing} chunk)")
        (length,) = struct.unpack_from(">I", data, offset)
        kind = bytes(view[offset + 4 : offset + 8])
        name = kind.decode("latin-1")
        if length > MAX_CHUNK_LENGTH:
            raise _corrupt(path, f"chunk {name!r} at byte {offset} claims {length} bytes")
        if not kind.isalpha() or not kind.isascii():
            raise _corrupt(path, f"bad chunk type {kind!r} at byte {offset}")
        end = offset + 8 + length
        if end + 4 > size:
            raise BadInputError(
                path,
                f"truncated file ({name} chunk at byte {offset} needs {length + CHUNK_OVERHEAD} "
                f"bytes, the file ends {size - offset} bytes after it starts)",
            )
        (stored_crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(view[offset + 4 : end]) != stored_crc:
            raise _corrupt(path, f"bad CRC checksum in the {name} chunk at byte {offset}")
        body = view[offset + 8 : end]
        if header is None:
            if kind != b"IHDR" or length != IHDR_LENGTH:
                raise _corrupt(path, f"the first chunk is {name} of {length} bytes, not IHDR")
            header = _check_ihdr(path, bytes(body), max_pixels)
            width, height, depth, color, interlace = header
            if (depth, color) not in SUPPORTED_KINDS:
                raise Unsupported(f"bit depth {depth} with colour type {color}")
            if interlace:
                raise Unsupported("interlaced PNG")
        elif kind == b"IDAT":
            if idat_done:
                raise Unsupported("IDAT chunks are not consecutive")
            idat_parts.append(body)
        elif kind == b"IEND":
            break
        else:
            if idat_parts:
                idat_done = True
            if kind == b"IHDR":
                raise _corrupt(path, f"a second IHDR chunk at byte {offset}")
            if kind in (b"acTL", b"fcTL", b"fdAT"):
                raise Unsupported("animated PNG")
            if kind[0:1].isupper() and kind not in KNOWN_CRITICAL:
                raise Unsupported(f"unknown critical chunk {name}")
        offset = end + 4
    if not idat_parts:
        raise _corrupt(path, "no image data (IDAT chunk)")
    width, height, depth, color, interlace = header
    return PngHeader(width, height, depth, color, interlace, b"".join(idat_parts))


# --------------------------------------------------------------------- inflate
_BUFFERS = threading.local()


def _buffer(size: int) -> ByteArray:
    """A writable buffer of ``size`` bytes, reused by the next call in this thread.

    Reuse matters for threads: a fresh multi-megabyte buffer per file costs page
    faults, which threads of one process take under one lock.
    """
    if size > MAX_KEPT_BUFFER:
        return np.empty(size, dtype=np.uint8)
    kept: ByteArray | None = getattr(_BUFFERS, "array", None)
    if kept is None or kept.size < size:
        kept = np.empty(size, dtype=np.uint8)
        _BUFFERS.array = kept
    return kept[:size]


def _inflate_libdeflate(codec: Any, compressed: bytes, expected: int) -> ByteArray:
    # libdeflate writes at most ``expected`` bytes: more data is LIBDEFLATE_INSUFFICIENT_SPACE.
    out: ByteArray = codec.deflate_decode(compressed, out=_buffer(expected))
    return out


def _inflate_zlib(compressed: bytes, expected: int) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(compressed, expected)
    # all pixels are there: the rest of the stream may hold its end and Adler-32, no more data
    if len(out) == expected and not inflater.eof and inflater.decompress(inflater.unconsumed_tail, 1):
        raise ValueError("more image data than the IHDR size")
    if not inflater.eof:
        raise EOFError("the compressed image data ends early")
    return out


def inflate(header: PngHeader, path: str) -> ByteArray:
    """The filtered image data, exactly ``header.inflated_size`` bytes.

    The array may be a buffer this thread reuses for the next file: use it
    before inflating again.

    Raises:
        BadInputError: invalid or truncated zlib data, or a size other than IHDR's.
    """
    expected = header.inflated_size
    if expected > MAX_DEFLATE_RATIO * len(header.idat) + 1024:
        # too little data to hold the image: refuse before allocating ``expected`` bytes
        raise BadInputError(
            path,
            f"truncated file ({len(header.idat)} bytes of compressed image data cannot hold "
            f"the {expected} bytes IHDR implies)",
        )
    codec = _imagecodecs()
    try:
        if codec is not None:
            out = _inflate_libdeflate(codec, header.idat, expected)
        else:
            out = np.frombuffer(_inflate_zlib(header.idat, expected), dtype=np.uint8)
    except EOFError as exc:
        raise BadInputError(path, f"truncated file (image data: {exc})") from exc
    except (ValueError, zlib.error) as exc:
        raise _corrupt(path, f"invalid compressed image data ({exc})") from exc
    except Exception as exc:  # imagecodecs.DeflateError
        cause = str(exc)
        if "INSUFFICIENT_SPACE" in cause:
            cause = "more image data than the IHDR size"
        raise _corrupt(path, f"invalid compressed image data ({cause})") from exc
    if len(out) != expected:
        raise BadInputError(
            path, f"truncated file (image data holds {len(out)} of the {expected} bytes IHDR implies)"
        )
    return out


# ---------------------------------------------------------------------- kernel
def _load_u64_python(array: ByteArray, index: int) -> np.uint64:
    """``array[index:index + 8]`` as a little-endian uint64, at any alignment.

    The plain-Python form of ``_load_u64``, for running the kernel uncompiled
    (a test does); :func:`_compile` sets ``_load_u64`` to
    :func:`_unaligned_load_intrinsic` before numba compiles the kernel.
    """
    return np.uint64(int.from_bytes(array[index : index + 8].tobytes(), "little"))


_load_u64: Any = _load_u64_python


def _unaligned_load_intrinsic() -> Any:
    """A numba intrinsic for :func:`_load_u64`: one 8-byte load with alignment 1.

    A ``uint64`` view of a byte array at an odd offset would tell LLVM the data
    is 8-byte aligned, which it may exploit (aligned vector loads); this load
    promises nothing about alignment. The byte order is the machine's, little-endian
    on every platform numba supports.
    """
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def load_u64(typingctx: Any, array: Any, index: Any) -> Any:
        signature = types.uint64(array, index)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            data = context.make_array(sig.args[0])(context, builder, args[0]).data
            pointer = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
            return builder.load(pointer, align=1)

        return signature, codegen

    return load_u64


def _unfilter_count(raw: ByteArray, height: int, row_bytes: int, bpp: int, hist: IntArray) -> int:
    """Undo the PNG filters row by row and add every pixel's value to ``hist``.

    ``raw`` holds ``height`` rows of ``1 + row_bytes`` bytes (filter type, then
    the filtered row). ``bpp`` is 1 (8-bit samples, ``hist`` of 256 bins) or 2
    (16-bit big-endian samples, 65536 bins). With ``a`` the byte ``bpp`` to the
    left, ``b`` the byte above and ``c`` the one above ``a`` (0 outside the
    image), filter 1 (Sub) adds ``a``, 2 (Up) adds ``b``, 3 (Average) adds
    ``floor((a + b) / 2)`` and 4 (Paeth) adds whichever of ``a, b, c`` is
    closest to ``a + b - c`` (ties: a, then b), all modulo 256 (PNG
    specification, section 9).

    Counting by differences: label masks change little from one row to the
    next, so the kernel keeps one row (updated in place, 8 zero bytes of left
    padding, whole 64-bit words) and counts only where a sample changes. Every
    sample starts as 0 for all ``height`` rows (``hist[0] += height * width``);
    a sample that changes from ``u`` to ``v`` in row ``y`` holds ``v`` in the
    ``height - y`` rows from there on, so ``hist[v] += height - y`` and
    ``hist[u] -= height - y``. The totals are exact integers.

    Word-level shortcuts (8 bytes at once), all exact:

    - Up (2) with a zero word leaves the word as it was (``b + 0``); otherwise a
      carry-less 8-lane add.
    - Paeth (4) with a zero word, where the ``bpp`` bytes to the left did not
      change in this row (so ``a == c`` at the word's first byte), leaves the
      word as it was: with ``a == c`` the predictor is ``b`` (``pb == 0``), so
      each byte equals the one above and ``a == c`` holds for the next byte.
    - Sub (1) with a zero word repeats the sample to its left.
    - None (0) is the word itself.

    Other words (Average, non-zero Sub or Paeth words) go byte by byte.

    Returns -1, or the first row whose filter type is not 0-4 (``hist`` is
    then partly updated). The caller has checked ``raw.size == height * (1 +
    row_bytes)``, so no index leaves the arrays (numba does not check bounds).
    The word arithmetic assumes a little-endian machine (as every platform
    numba supports is). Compiled with numba (nogil, cached).
    """
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    high1 = np.uint64(0x8080808080808080)
    repeat8 = np.uint64(0x0101010101010101)
    repeat16 = np.uint64(0x0001000100010001)
    zero = np.uint64(0)
    top_shift = np.uint64(64 - 8 * bpp)  # the last ``bpp`` bytes of a word, in its top bits
    words = (row_bytes + 7) // 8
    full_words = row_bytes // 8
    row = np.zeros(8 + words * 8, dtype=np.uint8)  # the previous row, becoming this row
    save = np.zeros(16, dtype=np.uint8)  # old contents of the word left of this one, and of this one
    row64 = row.view(np.uint64)
    save64 = save.view(np.uint64)
    stride = row_bytes + 1
    hist[0] += height * (row_bytes // bpp)
    for y in range(height):
        base = y * stride
        kind = raw[base]
        if kind > 4:
            return y
        weight = height - y
        start = base + 1
        # the row's filtered bytes are read in place as 64-bit words: rows start at any
        # byte, so _load_u64 loads with alignment 1 (a uint64 view would claim 8)
        synced = True  # the bytes left of this word did not change in this row
        old_left = zero  # the previous row's contents of the word left of this one
        k = 0
        while k < words:
            # tight scans over the whole words this row leaves as they were; the last,
            # partial word, and a Paeth zero word right after a change, go on below
            if kind == 2 or (kind == 4 and synced):
                first = k
                while k < full_words and _load_u64(raw, start + 8 * k) == zero:
                    k += 1
                if k > first:
                    old_left = row64[k]  # word k - 1, unchanged
                    synced = True
            elif kind == 0:
                first = k
                while k < full_words and _load_u64(raw, start + 8 * k) == row64[k + 1]:
                    k += 1
                if k > first:
                    old_left = row64[k]
            if k >= words:
                break
            lo = 8 * k
            if k < full_words:
                word = _load_u64(raw, start + lo)
            else:  # the last, partial word (zero-padded)
                word = zero
                for j in range(row_bytes - lo):
                    word |= np.uint64(raw[start + lo + j]) << np.uint64(8 * j)
            old = row64[k + 1]
            if kind == 0:
                new = word
            elif kind == 2:
                new = ((word & low7) + (old & low7)) ^ ((word ^ old) & high1)
            elif kind == 1 and word == zero and lo + 8 <= row_bytes:
                if bpp == 1:
                    new = np.uint64(row[7 + lo]) * repeat8
                else:
                    new = (np.uint64(row[6 + lo]) | (np.uint64(row[7 + lo]) << np.uint64(8))) * repeat16
            else:
                save64[0] = old_left
                save64[1] = old
                for j in range(min(8, row_bytes - lo)):
                    x = 8 + lo + j
                    a = np.int32(row[x - bpp])
                    b = np.int32(save[8 + j])
                    if kind == 1:
                        pred = a
                    elif kind == 2:
                        pred = b
                    elif kind == 3:
                        pred = (a + b) >> 1
                    elif kind == 4:
                        c = np.int32(save[8 + j - bpp])
                        pa = abs(b - c)
                        pb = abs(a - c)
                        pc = abs(a + b - 2 * c)
                        if pa <= pb and pa <= pc:
                            pred = a
                        elif pb <= pc:
                            pred = b
                        else:
                            pred = c
                    else:
                        pred = np.int32(0)
                    row[x] = (np.int32(raw[start + lo + j]) + pred) & 0xFF
                new = row64[k + 1]
            if new != old:
                row64[k + 1] = new
                save64[1] = old
                if bpp == 1:
                    for j in range(8):
                        new_value = row[8 + lo + j]
                        old_value = save[8 + j]
                        if new_value != old_value:
                            hist[new_value] += weight
                            hist[old_value] -= weight
                else:
                    for j in range(0, 8, 2):
                        new_value = (np.int64(row[8 + lo + j]) << 8) | np.int64(row[9 + lo + j])
                        old_value = (np.int64(save[8 + j]) << 8) | np.int64(save[9 + j])
                        if new_value != old_value:
                            hist[new_value] += weight
                            hist[old_value] -= weight
                synced = (new >> top_shift) == (old >> top_shift)
            else:
                synced = True
            old_left = old
            k += 1
    return -1


_KERNEL_LOCK = threading.Lock()
_KERNEL: list[Callable[..., int] | None] = []  # [] not tried yet; [None] numba unavailable
_CODEC: list[Any] = []  # [] not tried yet; [None] imagecodecs (libdeflate) unavailable


def kernel() -> Callable[..., int] | None:
    """The compiled kernel, or None when numba cannot be imported (imported lazily, once)."""
    if _KERNEL:
        return _KERNEL[0]
    with _KERNEL_LOCK:
        if not _KERNEL:
            _KERNEL.append(_compile())
    return _KERNEL[0]


def _compile() -> Callable[..., int] | None:
    global _load_u64
    try:
        import numba

        _load_u64 = _unaligned_load_intrinsic()  # resolved by numba when it compiles the kernel
    except Exception:  # ImportError, or a numba/numpy/llvmlite version mismatch
        return None
    try:
        compiled: Callable[..., int] = numba.njit(nogil=True, cache=True)(_unfilter_count)
    except RuntimeError:  # no writable cache location: compile in memory each run
        compiled = numba.njit(nogil=True)(_unfilter_count)
    return compiled if _works(compiled) else None


def _works(compiled: Callable[..., int]) -> bool:
    """Compile (or load from the cache) and check the kernel on two tiny images.

    A numba or llvmlite release that cannot build the kernel then means "no fast
    path" (Pillow reads everything), never an error in the middle of a scan.
    """
    try:
        # 2 rows of 9 bytes, 8-bit: row 0 None [0..8], row 1 Up with +1 on byte 8 only
        raw = np.zeros(20, dtype=np.uint8)
        raw[1:10] = np.arange(9)
        raw[10], raw[19] = 2, 1
        hist = np.zeros(256, dtype=np.int64)
        if compiled(raw, 2, 9, 1, hist) != -1:
            return False
        expected = np.zeros(256, dtype=np.int64)
        expected[:9] += 1
        expected[[0, 1, 2, 3, 4, 5, 6, 7, 9]] += 1
        return bool(np.array_equal(hist, expected))
    except Exception:
        return False


def _imagecodecs() -> Any:
    if not _CODEC:
        try:
            import imagecodecs

            _CODEC.append(imagecodecs if imagecodecs.DEFLATE.available else None)
        except Exception:
            _CODEC.append(None)
    return _CODEC[0]


def available() -> bool:
    """Whether the fast path can run here (numba importable)."""
    return kernel() is not None


def _estimated_pixels(paths: Sequence[str]) -> int:
    """Pixels of the scan, from the IHDR of a few files spread over ``paths`` (0 if not PNG)."""
    step = max(1, len(paths) // ESTIMATE_SAMPLES)
    sampled = paths[::step][:ESTIMATE_SAMPLES]
    pixels = 0
    for path in sampled:
        try:
            with open(path, "rb") as handle:
                head = handle.read(24)
        except OSError:
            continue
        if len(head) == 24 and head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":  # not truncated
            width, height = struct.unpack_from(">II", head, 16)
            pixels += width * height
    return pixels * len(paths) // max(1, len(sampled))


def choose_decoder(paths: Sequence[str], decoder: str) -> str:
    """The decoder a scan of ``paths`` uses: ``auto`` becomes ``pillow`` where the fast path cannot pay.

    ``auto`` stays ``auto`` (the fast path where it applies) when numba is
    already loaded, or when numba is installed and the scan holds at least
    ``FAST_MIN_PIXELS`` pixels (estimated from a few PNG headers). Results are
    identical either way; only the speed differs.
    """
    if decoder != "auto":
        return decoder
    if _KERNEL:  # numba already tried in this process
        return "auto" if _KERNEL[0] is not None else "pillow"
    import importlib.util

    if importlib.util.find_spec("numba") is None:
        return "pillow"
    return "auto" if _estimated_pixels(paths) >= FAST_MIN_PIXELS else "pillow"


@functools.cache
def _pillow_mode(bit_depth: int, color_type: int) -> str:
    """The mode Pillow gives this kind of PNG, so both paths report the same mode."""
    try:
        from PIL import PngImagePlugin

        return str(PngImagePlugin._MODES[(bit_depth, color_type)][0])
    except Exception:
        return FALLBACK_MODES[(bit_depth, color_type)]


def _count(compiled: Callable[..., int], header: PngHeader, path: str, hist: IntArray) -> None:
    """Inflate and run the kernel, adding the values of the image to ``hist`` (zeroed on error)."""
    raw = inflate(header, path)
    if raw.size != header.inflated_size:  # inflate() guarantees it; the kernel relies on it
        raise BadInputError(path, "truncated file (image data size differs from IHDR)")
    bad_row = compiled(raw, header.height, header.row_bytes, header.bytes_per_pixel, hist)
    if bad_row >= 0:
        hist[:] = 0
        kind = int(raw[bad_row * (header.row_bytes + 1)])
        raise _corrupt(path, f"bad filter type {kind} in row {bad_row}")


def decode_histogram(data: bytes, path: str, max_pixels: int | None) -> ValueHistogram:
    """Count the raw pixel values of the PNG in ``data`` (same result as the Pillow path).

    Raises:
        Unsupported: not a PNG kind this reader handles, or numba is not installed.
        BadInputError: truncated or corrupt file, or over ``max_pixels``.
    """
    compiled = kernel()
    if compiled is None:
        raise Unsupported("numba is not installed")
    header = parse_png(data, path, max_pixels)
    hist = np.zeros(256 if header.bytes_per_pixel == 1 else 65536, dtype=np.int64)
    _count(compiled, header, path, hist)
    mode = _pillow_mode(header.bit_depth, header.color_type)
    return _from_dense(hist, header.width, header.height, mode)


def count_into(data: bytes, path: str, max_pixels: int | None, out: IntArray) -> tuple[int, int, str] | None:
    """Count an 8-bit L or P PNG into ``out`` (256 zeroed bins); None for any other file.

    The batch form of :func:`decode_histogram` (``segstats.reduce`` gives each
    file of a chunk one row of a matrix and classifies them all at once):
    ``out[v]`` becomes the number of pixels of value ``v`` and the result is
    ``(width, height, mode)``. None means "not counted here" -- not a PNG,
    another kind (16-bit, interlaced...), or numba missing -- and the caller
    reads the file the usual way, which reports unsupported files as that
    path does.

    Raises:
        BadInputError: truncated or corrupt file, or over ``max_pixels`` (``out`` stays zero).
    """
    compiled = kernel()
    if compiled is None:
        return None
    try:
        header = parse_png(data, path, max_pixels)
    except Unsupported:
        return None
    if header.bytes_per_pixel != 1:
        return None
    _count(compiled, header, path, out)
    return header.width, header.height, _pillow_mode(header.bit_depth, header.color_type)


def read_fast(data: bytes, path: str, max_pixels: int | None, *, required: bool) -> ValueHistogram | None:
    """The fast path for ``decode.decode_histogram``: a histogram, or None to use Pillow.

    With ``required`` (``--decoder fast``) there is no fallback: a file the fast
    path cannot read is a :class:`BadInputError`, and a missing numba a
    :class:`UsageError`.
    """
    try:
        return decode_histogram(data, path, max_pixels)
    except Unsupported as exc:
        if not required:
            return None
        if kernel() is None:
            raise UsageError(
                "--decoder fast needs numba (pip install 'segstats[fast]'); use --decoder auto"
            ) from None
        raise BadInputError(
            path, f"not readable by the fast decoder ({exc}); use --decoder auto or pillow"
        ) from None


__all__ = [
    "PNG_SIGNATURE",
    "PngHeader",
    "Unsupported",
    "available",
    "choose_decoder",
    "count_into",
    "decode_histogram",
    "inflate",
    "kernel",
    "parse_png",
    "read_fast",
]
