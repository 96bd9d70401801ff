"""Mutation fuzzer of the compiled PNG reader, ``segstats._native.count_chunk``.

Seeded with the generated corpus (tests/pngcorpus.py), it mutates PNGs at every
level: raw bytes (bit flips, inserts, deletes, truncation), chunks (length
fields, order, duplicates, new chunks, IDAT split and merge), IHDR fields, and
the inflated scanlines themselves (filter bytes, pixels, sizes), recompressed
so that the mutation reaches inflate and the unfilter/count kernels. CRCs are
fixed up after most mutations, so the walk does not stop every input at the
first CRC check.

Every result must be a well-formed tuple (code 0: sorted distinct values below
2**depth, positive counts summing to width*height). Each batch runs with both
inflate backends, with check_only=True and with the plain path, and the
results must agree (codes and counts; check_only: the same messages). Where it
is cheap, the verdict is compared with a second reader: the plain Python
reference of tests/pngcorpus.py (every kind), and Pillow's histogram for
non-interlaced 8-bit L/P images the compiled reader counted (fed only their
critical chunks, as segstats feeds Pillow). Disagreements are
minimised and written, with the input as hex, to ``OUT/findings.jsonl``.

Run it under AddressSanitizer + UBSan (builds a sanitized copy in a temporary
folder, then fuzzes for SECONDS):

    scripts/fuzz_native.sh 600 fuzz-out

(SANITIZE_EXTRA=-fno-sanitize=nonnull-attribute scripts/fuzz_native.sh ... fuzzes on past a
known report of that check; extra arguments after OUT go to this script, e.g. --seed 7),
or directly against the in-place build (python setup.py build_ext --inplace):

    python scripts/fuzz_native.py --seconds 60 --out fuzz-out

Before each call the batch is saved to ``OUT/pending.bin``; if the process
dies (a sanitizer report aborts it), find the item that crashes with

    python scripts/fuzz_native.py --replay fuzz-out/pending.bin --out fuzz-out

which runs each item of the batch in its own process (same environment) and
writes the crashing ones to ``OUT/crash-*.hex``.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.append(ROOT)  # last: a sanitized build on PYTHONPATH wins over the in-place one

import numpy as np  # noqa: E402
import pngcorpus as pc  # noqa: E402
from fuzz_mutations import fresh, join_chunks, mutate, parse_chunks  # noqa: E402

# Reference reader only below this many implied scanline bytes (it is plain Python).
REFERENCE_LIMIT = 300_000
# Seeds above this size are left out (they make slow batches and add little).
SEED_LIMIT = 200_000
BATCH = 48
# Share of batch inputs mutated from a valid seed (most hostile seeds stay refused whatever happens).
VALID_SHARE = 0.7
# Findings kept per family (kind + which codes disagree + the start of the messages).
FAMILY_LIMIT = 3
# A batch (with its minimisations) taking longer than this is a hang.
HANG_SECONDS = 300


# --------------------------------------------------------------------------- checks


def well_formed(result: Any) -> str | None:
    """What is wrong with one result tuple's shape (None if nothing)."""
    if not isinstance(result, tuple) or not result or not isinstance(result[0], int):
        return "not a tuple with an int code"
    code = result[0]
    if code == 0:
        if len(result) != 8 or not all(isinstance(x, int) for x in result[1:6]):
            return "code 0 tuple shape"
        _, w, h, depth, ctype, interlace, values, counts = result
        if not isinstance(values, bytes) or not isinstance(counts, bytes):
            return "values/counts not bytes"
        if ctype not in (0, 3, 4) or depth not in pc.DEPTHS[ctype] or interlace not in (0, 1):
            return "code 0 with a header the reader does not count"
        if not (0 < w < 1 << 31 and 0 < h < 1 << 31):
            return "code 0 size"
        if len(values) != len(counts) or len(values) % 8:
            return "values/counts lengths"
        v, c = pc.int64s(values), pc.int64s(counts)
        if len(v) == 0 and len(c) == 0:
            return None  # check_only
        if not (np.all(np.diff(v) > 0) and v[0] >= 0 and v[-1] < 1 << depth):
            return f"values not sorted distinct samples below 2**{depth}"
        if not (np.all(c > 0) and int(c.sum()) == w * h):
            return f"counts sum {int(c.sum())} != {w}x{h}"
        return None
    if code == 1:
        if len(result) != 7 or not isinstance(result[6], str) or result[4] not in (2, 6):
            return "code 1 tuple shape"
        return None
    if code in (2, 3):
        if len(result) != 2 or not isinstance(result[1], str) or not result[1]:
            return f"code {code} tuple shape"
        if pc.CONTROL.search(result[1]):
            return "raw control byte in the message"
        if code == 3 and not result[1][0].islower():
            return "message does not start lower case"
        return None
    if code == 4:
        return None if len(result) == 3 else "code 4 tuple shape"
    return f"unknown code {code}"


def implied_of(data: bytes) -> int | None:
    if len(data) < 33 or not data.startswith(pc.SIGNATURE) or data[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if ctype not in pc.DEPTHS or depth not in pc.DEPTHS[ctype] or interlace > 1 or not w or not h:
        return None
    return pc.implied_size(w, h, depth, ctype, interlace)


def reference_applies(data: bytes) -> bool:
    implied = implied_of(data)
    return implied is None or implied <= REFERENCE_LIMIT


def critical_only(data: bytes) -> bytes:
    """The signature and the critical chunks of ``data`` up to IEND, as segstats gives Pillow.

    segstats never shows Pillow an ancillary chunk (ancillary chunks are not
    interpreted, contract), so a malformed one (an APNG ``fdAT``) must not make
    the oracle refuse a file segstats counts. Only called for files the compiled
    reader counted, so the framing is known to be sound; written here rather
    than imported, so that the oracle does not lean on the code it checks.
    """
    parts, position = [data[:8]], 8
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if 65 <= kind[0] <= 90:  # upper-case first letter (bit 5 clear): critical
            parts.append(data[position:end])
        if kind == b"IEND":
            break
        position = end
    return b"".join(parts)


def pillow_histogram(data: bytes) -> list[int] | str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(critical_only(data))) as image:
            image.load()
            if image.mode not in ("L", "P"):
                return f"mode {image.mode}"
            return list(image.histogram()[:256])
    except Exception as exc:  # Pillow's own verdict, any kind
        return f"{type(exc).__name__}: {exc}"


def same_verdict(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Codes equal, and for counted/colour results the header and counts too (messages may differ)."""
    if a[0] != b[0]:
        return False
    if a[0] == 0:
        return a[:8] == b[:8]
    if a[0] == 1:
        return a[:6] == b[:6]
    return True


class Fuzzer:
    def __init__(self, native: Any, out: str, seed: int) -> None:
        self.native = native
        self.out = out
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self.codes: Counter[int] = Counter()
        self.seen: set[str] = set()
        self.families: Counter[str] = Counter()
        self.has_plain = True
        self.backends = ["zlib"]
        try:
            native.set_inflate("libdeflate")
            self.backends.append("libdeflate")
        except (AttributeError, RuntimeError):
            pass
        self.tmp = tempfile.mkdtemp(prefix="fuzz-native-")
        seeds = [c for c in pc.corpus() if len(c.data) <= SEED_LIMIT and c.max_pixels < 0]
        self.valid = [c for c in seeds if c.verdict in ("ok", "colour")]
        self.hostile = [c for c in seeds if c.verdict not in ("ok", "colour")]
        self.seeds = seeds
        self.unmutated = 0  # seeds already run as they are

    # One call of count_chunk, with the batch saved first (a sanitizer abort leaves it behind).
    def call(self, items: list[Any], max_pixels: Any, **options: Any) -> list[tuple[Any, ...]]:
        with open(os.path.join(self.out, "pending.bin"), "wb") as pending:
            header = json.dumps({"max_pixels": max_pixels, "options": options}).encode()
            pending.write(struct.pack(">I", len(header)) + header)
            for item in items:
                if isinstance(item, str):
                    with open(item, "rb") as handle:
                        raw = handle.read()
                else:
                    raw = bytes(item)
                pending.write(struct.pack(">I", len(raw)) + raw)
        return count(self.native, items, max_pixels, options)

    def finding(
        self, kind: str, data: bytes, detail: dict[str, Any], check: Callable[[bytes], bool], family: str = ""
    ) -> None:
        # A family (the kind and the shape of the disagreement) is reported a few times, not thousands.
        family = f"{kind}:{family}"
        if self.families[family] >= FAMILY_LIMIT:
            self.stats[f"repeat:{kind}"] += 1
            return
        small = minimise(data, check)
        key = hashlib.sha1(kind.encode() + small).hexdigest()[:12]
        if key in self.seen:
            return
        self.seen.add(key)
        self.families[family] += 1
        self.stats[f"finding:{kind}"] += 1
        record = {"kind": kind, "id": key, "hex": small.hex(), "original_size": len(data), **detail}
        with open(os.path.join(self.out, "findings.jsonl"), "a") as findings:
            findings.write(json.dumps(record, default=repr) + "\n")
        print(f"FINDING {kind} {key}: {small.hex()[:160]}", flush=True)

    def one(self, data: bytes, max_pixels: int, backend: str, **options: Any) -> tuple[Any, ...]:
        self.native.set_inflate(backend)
        return count(self.native, [data], max_pixels, options)[0]

    def batch(self) -> None:
        # First every seed as it is (the corpus itself under the sanitizers), then mutants.
        if self.unmutated < len(self.seeds):
            inputs = [c.data for c in self.seeds[self.unmutated : self.unmutated + BATCH]]
            self.unmutated += len(inputs)
            self.run_batch(inputs)
            return
        inputs = [
            mutate(
                self.rng,
                self.rng.choice(self.valid if self.rng.random() < VALID_SHARE else self.hostile).data,
            )
            for _ in range(BATCH)
        ]
        self.run_batch(inputs)

    def run_batch(self, inputs: list[bytes]) -> None:
        max_pixels = (
            self.rng.choice((-1, -1, -1, None, 100, 1 << 20)) if self.unmutated >= len(self.seeds) else -1
        )
        limit = -1 if max_pixels is None else max_pixels
        items: list[Any] = []
        for index, data in enumerate(inputs):
            form = self.rng.randrange(10)
            if form == 0:
                path = os.path.join(self.tmp, f"{index}.png")
                with open(path, "wb") as handle:
                    handle.write(data)
                items.append(path)
            elif form < 5:  # an exact-size heap buffer: ASan sees a read one byte past the end
                items.append(np.frombuffer(data, np.uint8).copy() if data else b"")
            else:
                items.append(data)
        runs: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for backend in self.backends:
            self.native.set_inflate(backend)
            runs[backend, "full"] = self.call(items, max_pixels)
            runs[backend, "check"] = self.call(items, max_pixels, check_only=True)
            runs[backend, "dense"] = self.call(items, max_pixels, dense=True)
            if self.has_plain:
                try:
                    runs[backend, "plain"] = self.call(items, max_pixels, plain=True)
                except TypeError:
                    self.has_plain = False
        self.stats["batches"] += 1
        self.stats["items"] += len(items)
        base = runs[self.backends[0], "full"]
        for index, data in enumerate(inputs):
            self.check_item(data, limit, {key: run[index] for key, run in runs.items()}, base[index])

    def check_item(self, data: bytes, limit: int, results: dict[tuple[str, str], Any], base: Any) -> None:
        self.codes[base[0]] += 1
        for key, result in results.items():
            problem = well_formed(result)
            if problem:
                self.finding(
                    "malformed-result",
                    data,
                    {"problem": problem, "run": key, "result": result},
                    lambda d, key=key, p=problem: well_formed(self.one(d, limit, key[0], **_opts(key))) == p,
                )
                return
        for (backend, mode), result in results.items():
            full = results[backend, "full"]
            if mode == "check":
                expected = (*full[:6], b"", b"") if full[0] == 0 else full
                agree = result == expected
            elif mode == "dense":  # rows read back as arrays: exactly the full result
                agree = result == full
            else:
                agree = same_verdict(result, base) if backend != self.backends[0] or mode != "full" else True
            if not agree:
                self.finding(
                    f"disagree-{backend}-{mode}",
                    data,
                    {"this": result, "baseline": base, "full_same_backend": full},
                    lambda d, b=backend, m=mode: not _agrees(self, d, limit, b, m),
                    family=f"{result[0]}/{base[0]}:{_gist(result)}/{_gist(base)}",
                )
                return
        if reference_applies(data):
            self.stats["reference-compared"] += 1
            reference = pc.reference_count(data, limit)
            if not same_verdict(base, reference):
                self.finding(
                    "disagree-reference",
                    data,
                    {"native": base, "reference": reference},
                    lambda d: (
                        reference_applies(d)
                        and not same_verdict(
                            self.one(d, limit, self.backends[0]), pc.reference_count(d, limit)
                        )
                    ),
                    family=f"{base[0]}/{reference[0]}:{_gist(base)}/{_gist(reference)}",
                )
                return
        if base[0] == 0 and base[4] in (0, 3) and base[3] == 8 and base[5] == 0:
            self.stats["pillow-compared"] += 1
            hist = pillow_histogram(data)
            if hist != _histogram(base):
                self.finding(
                    "disagree-pillow",
                    data,
                    {"native": base[:6], "pillow": hist if isinstance(hist, str) else "other histogram"},
                    lambda d: _pillow_disagrees(self, d, limit),
                    family=_gist(("", hist)) if isinstance(hist, str) else "histogram",
                )


def _gist(result: tuple[Any, ...]) -> str:
    """The words of a message without its numbers and addresses (what kind of refusal it is)."""
    if len(result) != 2 or not isinstance(result[1], str):
        return ""
    return re.sub(r"0x[0-9a-fA-F]+|\d+", "", result[1])[:40]


def _opts(key: tuple[str, str]) -> dict[str, Any]:
    return {"check": {"check_only": True}, "plain": {"plain": True}, "dense": {"dense": True}}.get(key[1], {})


def count(native: Any, items: list[Any], max_pixels: Any, options: dict[str, Any]) -> list[tuple[Any, ...]]:
    """count_chunk with ``options``; ``dense=True``: into a dense matrix, rows read back as arrays.

    A file counted into its row (code 5) is turned into the code-0 tuple its row
    stands for, so that the dense run must equal the plain one exactly.
    """
    options = dict(options)
    if not options.pop("dense", False):
        result: list[tuple[Any, ...]] = native.count_chunk(items, max_pixels, **options)
        return result
    matrix = np.zeros((len(items), 256), np.int64)
    out = []
    for index, result in enumerate(native.count_chunk(items, max_pixels, dense=matrix, **options)):
        if result[0] == 5:
            row = matrix[index]
            values = np.flatnonzero(row)
            result = (0, *result[1:6], values.astype("<i8").tobytes(), row[values].astype("<i8").tobytes())
        elif matrix[index].any():
            result = ("row written for a file not counted into it", *result)
        out.append(result)
    return out


def _agrees(fuzzer: Fuzzer, data: bytes, limit: int, backend: str, mode: str) -> bool:
    base = fuzzer.one(data, limit, fuzzer.backends[0])
    full = fuzzer.one(data, limit, backend)
    this = fuzzer.one(data, limit, backend, **_opts((backend, mode)))
    if mode == "check":
        return this == ((*full[:6], b"", b"") if full[0] == 0 else full)
    if mode == "dense":
        return this == full
    return same_verdict(this, base)


def _pillow_disagrees(fuzzer: Fuzzer, data: bytes, limit: int) -> bool:
    base = fuzzer.one(data, limit, fuzzer.backends[0])
    if not (base[0] == 0 and base[4] in (0, 3) and base[3] == 8 and base[5] == 0):
        return False
    return pillow_histogram(data) != _histogram(base)


def _histogram(result: tuple[Any, ...]) -> list[int]:
    """The 256 bins of a counted 8-bit result, as Pillow's histogram() gives them."""
    bins = [0] * 256
    for value, count in zip(pc.int64s(result[6]), pc.int64s(result[7]), strict=True):
        bins[int(value)] = int(count)
    return bins


def minimise(data: bytes, still_fails: Callable[[bytes], bool], budget: int = 400) -> bytes:
    """Greedy shrink: drop whole chunks, then byte ranges (halving), while the finding persists."""
    tries = 0

    def attempt(candidate: bytes) -> bool:
        nonlocal tries
        tries += 1
        try:
            return still_fails(candidate)
        except Exception:
            return False

    chunks = parse_chunks(data)
    if chunks:
        i = 1
        while i < len(chunks) and tries < budget:
            candidate = join_chunks(chunks[:i] + chunks[i + 1 :], fix_crc=False)
            if attempt(candidate):
                chunks = chunks[:i] + chunks[i + 1 :]
                data = candidate
            else:
                i += 1
        # Shrink chunk bodies, CRCs recomputed (a finding that needs a bad CRC just resists this).
        for i in range(len(chunks)):
            size = max(1, len(chunks[i][2]) // 2)
            while size >= 1 and tries < budget:
                position, shrunk = 0, False
                while position < len(chunks[i][2]) and tries < budget:
                    body = chunks[i][2][:position] + chunks[i][2][position + size :]
                    trial = [*chunks[:i], fresh(chunks[i][1], body), *chunks[i + 1 :]]
                    candidate = join_chunks(trial, fix_crc=False)
                    if attempt(candidate):
                        chunks, data, shrunk = trial, candidate, True
                    else:
                        position += size
                if not shrunk:
                    size //= 2
    size = max(1, len(data) // 2)
    while size >= 1 and tries < budget:
        position, shrunk = 0, False
        while position < len(data) and tries < budget:
            candidate = data[:position] + data[position + size :]
            if attempt(candidate):
                data, shrunk = candidate, True
            else:
                position += size
        if not shrunk:
            size //= 2
    return data


# --------------------------------------------------------------------------- replay


def read_pending(path: str) -> tuple[dict[str, Any], list[bytes]]:
    with open(path, "rb") as handle:
        blob = handle.read()
    (n,) = struct.unpack_from(">I", blob, 0)
    header = json.loads(blob[4 : 4 + n])
    items, position = [], 4 + n
    while position < len(blob):
        (size,) = struct.unpack_from(">I", blob, position)
        items.append(blob[position + 4 : position + 4 + size])
        position += 4 + size
    return header, items


def replay(path: str, out: str) -> int:
    header, items = read_pending(path)
    crashed = 0
    smallest: bytes | None = None
    # Each item as bytes and as an exact-size heap buffer (a bytes object has a NUL byte past its
    # end, which hides a one-byte over-read from ASan), with both backends and the batch's options.
    code = (
        "import sys, json, numpy as np, segstats._native as n\n"
        "h = json.loads(sys.argv[1]); data = sys.stdin.buffer.read()\n"
        "for b in ('zlib', 'libdeflate'):\n"
        "    try: n.set_inflate(b)\n"
        "    except Exception: continue\n"
        "    for item in (data, np.frombuffer(data, np.uint8).copy() if data else b''):\n"
        "        o = dict(h['options']); d = np.zeros((1, 256), np.int64) if o.pop('dense', 0) else None\n"
        "        n.count_chunk([item], h['max_pixels'], dense=d, **o)\n"
    )
    for index, data in enumerate(items):
        # Run from a neutral folder: with -c the current folder comes first on sys.path.
        child = subprocess.run(
            [sys.executable, "-c", code, json.dumps(header)],
            input=data,
            capture_output=True,
            timeout=120,
            cwd=tempfile.gettempdir(),
        )
        if child.returncode != 0:
            crashed += 1
            smallest = data if smallest is None or len(data) < len(smallest) else smallest
            name = os.path.join(out, f"crash-{hashlib.sha1(data).hexdigest()[:12]}.hex")
            with open(name, "w") as handle:
                handle.write(data.hex() + "\n")
            with open(name[:-4] + ".log", "wb") as handle:
                handle.write(child.stderr[-20000:])
            print(f"item {index} ({len(data)} bytes) crashes: {name}")
    print(f"replayed {len(items)} items with {header}: {crashed} crash(es)")
    if smallest is not None:
        print(f"smallest crashing item ({len(smallest)} bytes): {smallest.hex()}")
    return 1 if crashed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", default="fuzz-out")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--replay", default=None, help="a pending.bin to replay item by item")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.replay:
        return replay(args.replay, args.out)
    import segstats._native as native

    seed = args.seed if args.seed is not None else int(time.time())
    fuzzer = Fuzzer(native, args.out, seed)
    print(
        f"fuzzing segstats._native ({native.__file__}) for {args.seconds:.0f} s, seed {seed}, "
        f"backends {fuzzer.backends}, {len(fuzzer.seeds)} seeds",
        flush=True,
    )
    start = last = time.monotonic()
    while time.monotonic() - start < args.seconds:
        # A batch that hangs (an endless loop in the reader) shows its stack and ends the run.
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
        fuzzer.batch()
        faulthandler.cancel_dump_traceback_later()
        if time.monotonic() - last > 30:
            last = time.monotonic()
            print(f"{last - start:6.0f} s {dict(fuzzer.stats)} codes {dict(fuzzer.codes)}", flush=True)
    summary = {"seconds": round(time.monotonic() - start), "seed": seed, **fuzzer.stats}
    summary["codes"] = dict(fuzzer.codes)
    print("done:", json.dumps(summary), flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    os.remove(os.path.join(args.out, "pending.bin"))
    return 1 if any(key.startswith("finding:") for key in fuzzer.stats) else 0


if __name__ == "__main__":
    sys.exit(main())
