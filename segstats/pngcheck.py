"""PNG chunk framing and CRC-32 checks, before any decoder sees the bytes.

A PNG file is an 8-byte signature followed by chunks ``length (4) | type (4) |
data (length) | CRC-32 of type + data (4)``, ending with ``IEND`` (PNG
specification, 3rd edition, sections 5.2-5.3). Decoders are lenient: Pillow
decodes a file whose IEND is missing or whose IDAT CRC is wrong without a word,
so a truncated download or a flipped bit could be counted as a good mask. This
check walks every chunk up to IEND and refuses the file instead. It costs one
CRC-32 pass over the bytes (zlib's, several GB/s).
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


def _chunk_name(kind: bytes) -> str:
    return kind.decode("ascii", "backslashreplace")


def check_png_structure(data: bytes, path: str) -> None:
    """Refuse a PNG whose chunks are truncated, mis-framed or fail their CRC-32.

    Data that does not start with the PNG signature (TIFF, or not an image) is
    left to the decoder, except a file too short to hold the signature whose
    bytes are its beginning (a PNG truncated in the signature).

    Raises:
        BadInputError: truncated file, missing IEND, bad chunk length or bad CRC.
    """
    if not data.startswith(PNG_SIGNATURE):
        if len(data) < len(PNG_SIGNATURE) and PNG_SIGNATURE.startswith(data):
            raise BadInputError(path, f"truncated PNG: the file ends at byte {len(data)}, in the signature")
        return
    view = memoryview(data)
    size = len(data)
    position = len(PNG_SIGNATURE)
    while True:
        if position + CHUNK_OVERHEAD > size:
            raise BadInputError(path, f"truncated PNG: the file ends at byte {size} before the IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, position)
        name = _chunk_name(kind)
        if length > MAX_CHUNK_LENGTH:
            raise BadInputError(path, f"corrupt PNG: chunk {name!r} at byte {position} has length {length}")
        end = position + CHUNK_OVERHEAD + length
        if end > size:
            raise BadInputError(
                path,
                f"truncated PNG: the {name} chunk at byte {position} needs {length} data bytes "
                f"but the file ends at byte {size}",
            )
        (stored,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[position + 4 : end - 4]) != stored:
            raise BadInputError(path, f"corrupt PNG: bad CRC in the {name} chunk at byte {position}")
        if kind == b"IEND":
            return
        position = end
