"""PNG integrity checks: chunk framing, CRC-32, IHDR, pixel limit and the zlib stream.

A PNG file is an 8-byte signature followed by chunks ``length (4) | type (4) |
data (length) | CRC-32 of type + data (4)``, ending with ``IEND`` (PNG
specification, 3rd edition, sections 5.2-5.3). Decoders are lenient: Pillow
decodes a file whose IEND is missing or whose IDAT CRC is wrong without a word,
so a truncated download or a flipped bit could be counted as a good mask. This
check walks every chunk up to IEND and refuses the file instead. It costs one
CRC-32 pass over the bytes (zlib's, several GB/s).

:func:`check_png_stream` goes further for decoders that stop reading the
compressed stream once they have the pixels (Pillow does): reordered or
duplicated IDAT chunks then give wrong pixels without an error. It inflates the
whole IDAT stream once, discarding the output, and requires it to end exactly
(zlib verifies the Adler-32 of the data) with exactly the size IHDR implies.
"""

from __future__ import annotations

import struct
import zlib

from segstats.errors import BadInputError

# The eight bytes every PNG file starts with (PNG specification 5.2).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Largest chunk length the specification allows (2**31 - 1).
MAX_CHUNK_LENGTH = (1 << 31) - 1
# Bytes of a chunk that are not data: length, type and CRC.
CHUNK_OVERHEAD = 12
# Samples per pixel of each PNG colour type (grey, RGB, palette, grey+alpha, RGBA).
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 interlace passes: (x start, y start, x step, y step) (PNG specification 8.2).
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
# Output bytes inflated at a time while checking the stream (memory stays bounded).
INFLATE_STEP = 1 << 20


def _chunk_name(kind: bytes) -> str:
    return kind.decode("ascii", "backslashreplace")


def check_png_structure(data: bytes, path: str, max_pixels: int | None = None) -> None:
    """Refuse a PNG whose chunks are truncated, mis-framed or fail their CRC-32.

    Data that does not start with the PNG signature (TIFF, or not an image) is
    left to the decoder, except a file too short to hold the signature whose
    bytes are its beginning (a PNG truncated in the signature). With
    ``max_pixels``, an IHDR claiming more pixels is refused before anything is
    inflated.

    Raises:
        BadInputError: truncated file, missing IEND, bad chunk length or bad
            CRC, IHDR not first, or over the pixel limit.
    """
    if not data.startswith(PNG_SIGNATURE):
        if len(data) < len(PNG_SIGNATURE) and PNG_SIGNATURE.startswith(data):
            raise BadInputError(path, f"truncated file (ends at byte {len(data)}, in the PNG signature)")
        return
    view = memoryview(data)
    size = len(data)
    position = len(PNG_SIGNATURE)
    while True:
        if position + CHUNK_OVERHEAD > size:
            raise BadInputError(path, f"truncated file (ends at byte {size}, before the IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, position)
        name = _chunk_name(kind)
        if length > MAX_CHUNK_LENGTH:
            raise BadInputError(
                path, f"corrupt image data: chunk {name!r} at byte {position} claims {length} bytes"
            )
        end = position + CHUNK_OVERHEAD + length
        if end > size:
            raise BadInputError(
                path,
                f"truncated file ({name} chunk at byte {position} needs {length + CHUNK_OVERHEAD} "
                f"bytes, the file ends at byte {size})",
            )
        (stored,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[position + 4 : end - 4]) != stored:
            raise BadInputError(
                path, f"corrupt image data: bad CRC checksum in the {name} chunk at byte {position}"
            )
        if position == len(PNG_SIGNATURE):
            _check_ihdr(data, path, kind, length, max_pixels)
        if kind == b"IEND":
            return
        position = end


def _check_ihdr(data: bytes, path: str, kind: bytes, length: int, max_pixels: int | None) -> None:
    if kind != b"IHDR" or length != 13:
        raise BadInputError(path, "corrupt image data: the first chunk is not a 13-byte IHDR")
    width, height = struct.unpack_from(">II", data, len(PNG_SIGNATURE) + 8)
    if max_pixels is not None and width * height > max_pixels:
        raise BadInputError(
            path,
            f"image of {width}x{height} = {width * height} pixels is over "
            f"the limit of {max_pixels} pixels (decompression bomb?)",
        )


def expected_raw_size(
    width: int, height: int, bit_depth: int, colour_type: int, interlace: int
) -> int | None:
    """Bytes of filtered scanlines IHDR implies (one filter byte per row), or None if IHDR is invalid."""
    if colour_type not in CHANNELS or interlace not in (0, 1) or bit_depth not in (1, 2, 4, 8, 16):
        return None
    bits = bit_depth * CHANNELS[colour_type]

    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if interlace == 0:
        return rows(width, height)
    return sum(
        rows(
            (width - x0 + dx - 1) // dx if width > x0 else 0,
            (height - y0 + dy - 1) // dy if height > y0 else 0,
        )
        for x0, y0, dx, dy in ADAM7
    )


def _idat_chunks(data: bytes) -> int:
    """How many IDAT chunks a well-framed PNG holds (chunk headers only)."""
    count, position = 0, len(PNG_SIGNATURE)
    while position + CHUNK_OVERHEAD <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        count += kind == b"IDAT"
        if kind == b"IEND":
            break
        position += CHUNK_OVERHEAD + length
    return count


def check_png_stream(data: bytes, path: str, *, single_idat: bool = False) -> None:
    """Refuse a PNG whose IDAT zlib stream is split up, corrupt, short, long or unfinished.

    Call after :func:`check_png_structure` (which guarantees the chunk framing).
    The stream is inflated once without keeping the output. A file with a
    single IDAT chunk is skipped unless ``single_idat``: its CRC-32 already
    proves the stream is the one the encoder wrote, and Pillow refuses a stream
    that is cut short; only several IDAT chunks can be reordered, duplicated or
    dropped with every CRC still right (libpng writes 8 KiB chunks, Pillow 64 KiB).

    Raises:
        BadInputError: IDAT chunks not consecutive, zlib error (including a bad
            Adler-32), data after the end of the stream, or a size other than
            the one IHDR implies.
    """
    if not data.startswith(PNG_SIGNATURE) or (not single_idat and _idat_chunks(data) == 1):
        return
    width, height, bit_depth, colour_type, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    expected = expected_raw_size(width, height, bit_depth, colour_type, interlace)
    view = memoryview(data)
    inflater = zlib.decompressobj()
    produced = 0
    position = len(PNG_SIGNATURE)
    state = "before"  # -> "in" (IDAT run) -> "after"
    try:
        while position < len(data):
            length, kind = struct.unpack_from(">I4s", data, position)
            if kind == b"IDAT":
                if state == "after":
                    raise BadInputError(
                        path, f"corrupt image data: IDAT chunks are not consecutive (byte {position})"
                    )
                state = "in"
                pending: bytes | memoryview = view[position + 8 : position + 8 + length]
                while pending:
                    out = inflater.decompress(pending, INFLATE_STEP)
                    produced += len(out)
                    if expected is not None and produced > expected:
                        raise BadInputError(
                            path, f"corrupt image data: more than the {expected} bytes IHDR implies"
                        )
                    pending = inflater.unconsumed_tail
                    if inflater.eof:
                        break
            elif state == "in":
                state = "after"
            if kind == b"IEND":
                break
            position += CHUNK_OVERHEAD + length
        produced += len(inflater.flush())
    except zlib.error as exc:
        raise BadInputError(path, f"corrupt image data: invalid compressed image data ({exc})") from exc
    if state == "before":
        raise BadInputError(path, "corrupt image data: no image data (IDAT chunk)")
    if not inflater.eof:
        raise BadInputError(path, "truncated file (the compressed image data is cut short)")
    if inflater.unused_data:
        raise BadInputError(path, "corrupt image data: data after the end of the compressed image stream")
    if expected is not None and produced != expected:
        raise BadInputError(
            path, f"truncated file (image data holds {produced} of the {expected} bytes IHDR implies)"
        )
