"""What a user runs: ``segstats scan`` as a whole process, against Pillow-based scripts.

This checks the issue's targets (whole process, default install, 2 workers, warm page
cache, ratio to Pillow decode-only in the same run): VOC-like >= x3.0, ADE20K-like >=
x5.0, Cityscapes-like >= x4.0; >= x30 the naive per-class loop at 19 classes
(Cityscapes-like); ``-j2`` >= x1.7 ``-j1`` on Cityscapes-like; peak RSS <= 100 MB
scanning 20,000 files; ``segstats --help`` start-up no worse than segstats 0.1
(``--startup-against DIR``, a checkout of it).

Every measured method is a whole process started from a fresh interpreter and timed
from start to exit (start-up, imports, listing the folder, reading, counting, writing):

- ``segstats scan FOLDER -k K --ignore-index 255 -j N -o out.json -q``, every other
  option at its default (``--decoder auto``, the local thread backend);
- Pillow decode-only: ``Image.open`` + ``load()`` of every file, no counting, in a
  ``multiprocessing.Pool(N)`` and in a ``ThreadPoolExecutor(N)``; the one with the
  lower median is the baseline of the targets (its best case); measured on every kind;
- Pillow + ``np.bincount`` of every image, in a ``Pool(N)``;
- the naive per-class loop, ``(a == c).sum()`` per class per image, in a ``Pool(N)``.

Sizes: the issue measured on 12,031 VOC2012 + SBD ("aug") palette masks, 20,210 ADE20K
masks (its train split) and Cityscapes-size masks, and a scan's fixed cost (~0.65 s of
start-up and imports) weighs less the more files it reads, so the default kinds have
those file counts (the table's rows, in this order):

- ``vocaug``: VOC-like ~500x375 palette masks (``make_masks`` kind ``voc500``), the
  2,913 distinct ones (VOC2012's train + val count) repeated to 12,031 files: the
  VOC-like target row;
- ``ade20k``: ADE20K-like 680x510 grey with every row Sub-filtered, 2,000 distinct
  (ADE20K's val count) repeated to 20,210 files;
- ``cityscapes``: Cityscapes-like 2048x1024 grey, 500 distinct (Cityscapes' val count)
  repeated to 2,975 files (its train split), the folder the ``-j1`` / ``-jN`` run uses too.

``--kinds voc500`` adds the 2,913 distinct VOC-like masks alone as an extra row (no
target check: the VOC-like target is checked on ``vocaug``). "Repeated": the distinct
masks, in turn, under new names in a folder of their own, as hard links (no disk space;
a copy where the filesystem cannot link): each file is read, decoded and counted as a
distinct one would be (segstats de-duplicates paths, not inodes), but the page cache
holds only the distinct masks' bytes.

The slow baselines are measured only where a target needs them or where they are cheap
(``--baselines``, default ``needed``): the naive loop on Cityscapes-like (the x30 target;
~1 min per run at 2 workers), np.bincount on the VOC-like kinds (~11 s per run on 12,031
files). On 20,210 ADE20K-like files the naive loop (150 classes) would take ~6 min per
run and np.bincount ~40 s, np.bincount on 2,975 Cityscapes-like files ~35 s: ``--baselines
all`` (or e.g. ``bincount:cityscapes``) measures them; the table prints ``-`` where not
measured. Timed rounds per kind: 5 on VOC-like, 3 on the ADE20K-like and Cityscapes-like
sets (their runs are the longest), shown in the table's ``rounds`` column; ``--repeat``
sets them all. The default run takes ~13-14 minutes on 2 cores (data already made).

The baseline scripts (``--show-scripts``) list the folder as segstats does, inside
the timed process. Masks come from ``benchmarks/make_masks.py`` (made here when
missing). The page cache is warmed (every file read once), every method runs once
untimed (the baselines' counts are checked against segstats'), then the rounds run the
methods interleaved (A B C A B C ...). Reported: each method's median wall time, its
min-max, the ratio of medians (baseline / segstats) and the median of the per-round
ratios. Also, each as interleaved rounds: ``segstats scan -j1`` vs ``-jN`` on the
Cityscapes-like set (2,975 files); the peak RSS of ``segstats scan`` on 20,000 small
files vs a process that only imports segstats (``ru_maxrss`` from ``os.wait4``, as
``/usr/bin/time -v`` reports it: every process is started by a small launcher script
that waits for it and times it); the start-up of ``python -m segstats --help`` vs
``python -c "import PIL.Image, numpy"`` (and, with ``--startup-against DIR``, vs the
same command in another checkout).

segstats is run from this checkout (``PYTHONPATH``; build the extension in place
first: ``python setup.py build_ext --inplace``; the checkout is byte-compiled first, as
an install is), or with ``--installed`` as installed
in this interpreter (``pip install .``), from a scratch folder.

Usage::

    python benchmarks/bench_scan.py --startup-against OLD_CHECKOUT   # the README's table
    python benchmarks/bench_scan.py --quick    # smoke run: few files, 2 rounds
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import glob
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import make_masks  # noqa: E402


@dataclass(frozen=True)
class Kind:
    label: str
    classes: int  # -k
    target: float | None  # segstats / Pillow decode-only, whole processes, 2 workers (None: no check)
    source: str  # the make_masks kind
    distinct: int  # distinct masks made by make_masks ...
    files: int  # ... repeated (hard links) to this many files, if more
    quick: tuple[int, int]  # (distinct, files) under --quick
    rounds: int  # timed rounds by default
    needed: frozenset[str] = frozenset()  # the slow baselines `--baselines needed` measures


BINCOUNT, NAIVE = frozenset({"bincount"}), frozenset({"naive"})
VOC_LABEL = "VOC-like ~500x375 P, 21 classes + 255"
KINDS = {
    # the issue measured VOC on the 12,031 masks of VOC2012 + SBD ("aug")
    "vocaug": Kind(VOC_LABEL, 21, 3.0, "voc500", 2913, 12_031, quick=(120, 240), rounds=5, needed=BINCOUNT),
    # ADE20K's train split: 20,210 masks (the naive loop at 150 classes: ~6 min per run)
    "ade20k": Kind(
        "ADE20K-like 680x510 L, Sub rows, 150 classes + 0",
        151,
        5.0,
        "ade20k",
        2000,
        20_210,
        quick=(80, 160),
        rounds=3,
    ),
    # Cityscapes' train split: 2,975 masks
    "cityscapes": Kind(
        "Cityscapes-like 2048x1024 L, 19 classes + 255",
        19,
        4.0,
        "cityscapes",
        500,
        2975,
        quick=(24, 48),
        rounds=3,
        needed=NAIVE,
    ),
    # VOC2012's segmentation train + val alone (an extra row: the VOC-like target is vocaug's)
    "voc500": Kind(VOC_LABEL, 21, None, "voc500", 2913, 2913, quick=(120, 120), rounds=5, needed=BINCOUNT),
}
DEFAULT_KINDS = ["vocaug", "ade20k", "cityscapes"]
# The slow baselines (--baselines): key -> method name.
SLOW = {"bincount": "Pillow + np.bincount", "naive": "naive per-class loop"}
IGNORE_INDEX = 255
# Targets of the issue (2 workers): vs the naive loop at 19 classes (Cityscapes-like),
# -jN / -j1 on Cityscapes-like, peak RSS scanning 20,000 files.
NAIVE_TARGET, SCALING_TARGET, RSS_TARGET_MB = 30.0, 1.7, 100.0
# The -j1 / -jN run scans the cityscapes kind's folder (Cityscapes' train split, 2,975 files);
# the peak-RSS run scans RSS_FILES small ones.
SCALING_KIND, RSS_FILES, QUICK_RSS_FILES = "cityscapes", make_masks.MANY_FILES, 2_000
# -j1 vs -jN rounds: a pair takes ~4 s, and the ratio of two 1-3 s runs moves by +-5% on a
# shared machine: more rounds than the long kinds get.
SCALING_ROUNDS = 9
# Files handed to a Pool worker at once by the baselines (amortises the pickling).
CHUNKSIZE = 16

# The baselines, as a user would write them. Each lists the folder the way segstats
# does (recursively, *.png, sorted) inside the timed process.
SCRIPTS = {
    # Every measured process is started by this small one, which times it and reads its
    # rusage (os.wait4): ru_maxrss keeps the high-water mark of the process from before its
    # exec, i.e. of the process it was forked from, so that must be small (not this
    # benchmark, which has imported numpy).
    "launch.py": """\
import json, os, subprocess, sys, time

log, argv = sys.argv[1], sys.argv[2:]
with open(log, "wb") as output:
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
cpu = usage.ru_utime + usage.ru_stime  # with the children it waited for (Pool workers)
print(json.dumps({"exit": process.returncode, "wall": wall, "cpu": cpu, "maxrss": usage.ru_maxrss}))
""",
    "pillow_decode.py": """\
import glob, os, sys
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool

from PIL import Image


def load(path):
    with Image.open(path) as image:
        image.load()


if __name__ == "__main__":
    folder, pool_kind, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))
    if pool_kind == "threads":
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(load, paths):
                pass
    else:
        with Pool(workers) as pool:
            for _ in pool.imap_unordered(load, paths, chunksize=CHUNKSIZE):
                pass
""",
    "pillow_bincount.py": """\
import glob, json, os, sys
from multiprocessing import Pool

import numpy as np
from PIL import Image


def count(path):
    with Image.open(path) as image:
        return np.bincount(np.asarray(image).ravel(), minlength=256)


if __name__ == "__main__":
    folder, workers, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))
    total = np.zeros(256, dtype=np.int64)
    with Pool(workers) as pool:
        for counts in pool.imap_unordered(count, paths, chunksize=CHUNKSIZE):
            total += counts
    with open(output, "w") as handle:
        json.dump({"num_images": len(paths), "counts": total.tolist()}, handle)
""",
    "naive_per_class.py": """\
import functools, glob, json, os, sys
from multiprocessing import Pool

import numpy as np
from PIL import Image


def count(path, num_classes):
    with Image.open(path) as image:
        a = np.asarray(image)
    return np.array([(a == c).sum() for c in range(num_classes)], dtype=np.int64)


if __name__ == "__main__":
    folder, workers, num_classes, output = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))
    total = np.zeros(num_classes, dtype=np.int64)
    with Pool(workers) as pool:
        for counts in pool.imap_unordered(
            functools.partial(count, num_classes=num_classes), paths, chunksize=CHUNKSIZE
        ):
            total += counts
    with open(output, "w") as handle:
        json.dump({"num_images": len(paths), "counts": total.tolist()}, handle)
""",
}


@dataclass
class Run:
    wall: float  # seconds, start to exit
    cpu: float  # user + system seconds of the process and of its waited-for children (workers)
    maxrss_mb: float  # peak resident set of the process (or of its largest waited-for child)


@dataclass
class Method:
    name: str
    argv: list[str]
    output: str | None = None  # the JSON file the process writes
    env: dict[str, str] | None = None  # default: SETUP's
    cwd: str | None = None
    runs: list[Run] = field(default_factory=list)

    def walls(self) -> list[float]:
        return [run.wall for run in self.runs]

    def median(self) -> float:
        return statistics.median(self.walls())


@dataclass
class Setup:
    """How the measured processes find segstats: set once in main() (--installed or not)."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = ROOT
    scripts: str = ""  # the folder of the baseline scripts and launch.py


SETUP = Setup()


def checkout_env(checkout: str) -> dict[str, str]:
    """This process's environment with ``checkout`` first on the module path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([checkout, *filter(None, [env.get("PYTHONPATH")])])
    return env


def compile_checkout(checkout: str) -> None:
    """Byte-compile ``checkout``'s segstats as ``pip install .`` does at install time.

    Why: run from a checkout under ``PYTHONDONTWRITEBYTECODE=1`` (set on some machines,
    this sandbox included), every process would recompile ~40 modules (~0.1 s) that a
    user's install never recompiles; the Pillow scripts' imports are compiled already.
    """
    import compileall

    compileall.compile_dir(os.path.join(checkout, "segstats"), quiet=2)


def run_process(method: Method) -> Run:
    """Run ``method`` to its end (through launch.py): wall time, CPU time, peak RSS of that process."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        launcher = [sys.executable, os.path.join(SETUP.scripts, "launch.py"), log.name]
        done = subprocess.run(
            [*launcher, *method.argv],
            cwd=method.cwd or SETUP.cwd,
            env=method.env or SETUP.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"launch.py failed: {shlex.join(method.argv)}\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout)
        if result["exit"] != 0:
            tail = log.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"exit code {result['exit']}: {shlex.join(method.argv)}\n{tail}")
    # ru_maxrss: KiB on Linux, bytes on macOS
    rss_mb = result["maxrss"] / (2**20 if sys.platform == "darwin" else 2**10)
    return Run(result["wall"], result["cpu"], rss_mb)


def interleave(methods: list[Method], repeat: int) -> None:
    """One untimed warm-up run of each, then ``repeat`` rounds A B C ..., A B C ..."""
    for method in methods:
        run_process(method)
    for _ in range(repeat):
        for method in methods:
            method.runs.append(run_process(method))


def png_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))


def warm_page_cache(folder: str) -> int:
    paths = png_files(folder)
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    return len(paths)


def scan(folder: str, classes: int, jobs: int, output: str) -> Method:
    options = ["-k", str(classes), "--ignore-index", str(IGNORE_INDEX), "-j", str(jobs), "-o", output, "-q"]
    return Method(f"segstats -j{jobs}", [sys.executable, "-m", "segstats", "scan", folder, *options], output)


def kind_methods(name: str, folder: str, jobs: int, work: str, slow: set[str]) -> dict[str, Method]:
    """The methods measured on kind ``name``: segstats, Pillow decode-only (both pools), and the
    slow baselines in ``slow`` ("bincount", "naive"). Keys: "segstats", "processes", "threads",
    then those of ``slow``."""
    classes, out = KINDS[name].classes, os.path.join(work, f"{name}-%s.json")

    def script(file: str, *args: str) -> list[str]:
        return [sys.executable, os.path.join(work, file), folder, *args]

    methods = {
        "segstats": scan(folder, classes, jobs, out % "scan"),
        "processes": Method(
            "Pillow decode-only, processes", script("pillow_decode.py", "processes", str(jobs))
        ),
        "threads": Method("Pillow decode-only, threads", script("pillow_decode.py", "threads", str(jobs))),
    }
    if "bincount" in slow:
        argv = script("pillow_bincount.py", str(jobs), out % "bc")
        methods["bincount"] = Method(SLOW["bincount"], argv, out % "bc")
    if "naive" in slow:
        argv = script("naive_per_class.py", str(jobs), str(classes), out % "naive")
        methods["naive"] = Method(SLOW["naive"], argv, out % "naive")
    return methods


def read_json(path: str) -> dict[str, Any]:
    with open(path) as handle:
        result: dict[str, Any] = json.load(handle)
    return result


def repeated(source: str, count: int, dest: str) -> str:
    """``count`` files in ``dest``: the masks of ``source`` in turn under new names.

    Each is a hard link to its source (no disk space; a copy where the filesystem cannot
    link). A folder already there is kept if it has ``count`` files and its last one has the
    bytes of the source mask it stands for (so a folder made from another set of masks is not).
    """
    sources = png_files(source)
    names = sorted(os.listdir(dest)) if os.path.isdir(dest) else []
    last = sources[(count - 1) % len(sources)]
    if len(names) == count and filecmp.cmp(os.path.join(dest, names[-1]), last, shallow=False):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    for index in range(count):
        original, name = sources[index % len(sources)], os.path.join(dest, f"mask_{index:05d}.png")
        try:
            os.link(original, name)
        except OSError:  # another filesystem, or one without hard links
            shutil.copyfile(original, name)
    return dest


def check_counts(name: str, methods: dict[str, Method], files: int) -> None:
    """The baselines counted what segstats counted (so they did the work they claim)."""
    loaded = {m.name: read_json(m.output) for m in methods.values() if m.output}
    stats = loaded.pop(methods["segstats"].name)
    problems = [f"segstats read {stats['num_images']} of {files} images"] * (stats["num_images"] != files)
    for method, result in loaded.items():
        counts = result["counts"]
        same = counts[: stats["num_classes"]] == stats["pixel_counts"] and result["num_images"] == files
        if len(counts) > IGNORE_INDEX:  # np.bincount: every value, the void one too
            same = same and counts[IGNORE_INDEX] == stats["ignored_pixels"]
        if not same:
            problems.append(f"{method} counted differently from segstats")
    if problems:
        raise SystemExit(f"{name}: " + "; ".join(problems))


def ratio(baseline: Method, method: Method) -> float:
    """Ratio of the medians: how many times faster ``method`` is."""
    return baseline.median() / method.median()


def per_round_ratio(baseline: Method, method: Method) -> float:
    """Median over the rounds of (baseline time / method time) within each round."""
    return statistics.median(b / m for b, m in zip(baseline.walls(), method.walls(), strict=True))


def fmt_time(method: Method, digits: int = 2) -> str:
    walls = method.walls()
    return f"{method.median():.{digits}f} s [{min(walls):.{digits}f}-{max(walls):.{digits}f}]"


def fmt_ratio(baseline: Method, method: Method) -> str:
    return f"x{ratio(baseline, method):.2f} (x{per_round_ratio(baseline, method):.2f})"


def machine_facts() -> dict[str, str]:
    facts = {
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    if hasattr(os, "sched_getaffinity"):
        facts["usable_cpus"] = str(len(os.sched_getaffinity(0)))
    try:
        with open("/proc/cpuinfo") as handle:
            models = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        facts["cpu"] = models[0]
    except (OSError, IndexError):
        facts["cpu"] = platform.processor() or platform.machine()
    probe = (
        "import numpy, PIL, segstats, segstats.png as p; print(p.inflate_backend(), "
        "segstats.__version__, numpy.__version__, PIL.__version__, segstats.__file__)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=SETUP.cwd, env=SETUP.env, capture_output=True, text=True
    )
    if found.returncode != 0:
        raise SystemExit(f"segstats cannot be imported by the measured processes:\n{found.stderr}")
    keys = ["inflate", "segstats", "numpy", "pillow", "segstats_file"]
    facts.update(zip(keys, found.stdout.split(), strict=True))
    return facts


def bench_startup(repeat: int, against: str | None) -> list[Method]:
    methods = [
        Method("python -m segstats --help", [sys.executable, "-m", "segstats", "--help"]),
        Method('python -c "import PIL.Image, numpy"', [sys.executable, "-c", "import PIL.Image, numpy"]),
        Method('python -c "pass"', [sys.executable, "-c", "pass"]),
    ]
    if against:
        other = os.path.abspath(against)
        name = f"python -m segstats --help, in {other}"
        methods.insert(1, Method(name, methods[0].argv, env=checkout_env(other), cwd=other))
    interleave(methods, repeat)
    return methods


@dataclass
class KindResult:
    files: int
    distinct: int
    rounds: int
    methods: dict[str, Method]  # kind_methods' keys


def parse_baselines(tokens: list[str], kinds: list[str]) -> dict[str, set[str]]:
    """``--baselines`` tokens, in order -> the slow baselines measured on each kind.

    ``needed``: each kind's ``needed`` ones (the naive loop on Cityscapes-like, np.bincount on
    the VOC-like kinds); ``all``: both everywhere; ``none``: none (so far);
    ``METHOD:KIND[,KIND...]`` (METHOD ``bincount`` or ``naive``): that one on those kinds too.
    """
    chosen: dict[str, set[str]] = {kind: set() for kind in kinds}
    for token in tokens:
        if token in ("needed", "all", "none"):
            for kind, slow in chosen.items():
                if token == "none":
                    slow.clear()
                slow.update(KINDS[kind].needed if token == "needed" else SLOW if token == "all" else ())
            continue
        method, _, names = token.partition(":")
        unknown = [kind for kind in names.split(",") if kind not in chosen]
        if method not in SLOW or not names or unknown:
            raise SystemExit(
                f"--baselines {token}: expected needed, all, none or METHOD:KIND[,KIND...] with METHOD "
                f"one of {', '.join(SLOW)} and each KIND one of --kinds ({', '.join(kinds)})"
            )
        for kind in names.split(","):
            chosen[kind].add(method)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", "-j", type=int, default=2, help="workers of every method (default 2)")
    parser.add_argument(
        "--repeat",
        "-r",
        type=int,
        help="timed rounds of every kind and of -j1 vs -jN (default: "
        + ", ".join(f"{name} {kind.rounds}" for name, kind in KINDS.items())
        + f", -j1 vs -jN {SCALING_ROUNDS}; --quick 2)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: few files, 2 rounds")
    parser.add_argument(
        "--kinds",
        nargs="*",
        default=DEFAULT_KINDS,
        choices=list(KINDS),
        help=f"mask sets, one table row each (default {' '.join(DEFAULT_KINDS)}; voc500: an extra row)",
    )
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=["needed"],
        metavar="SPEC",
        help="where the slow baselines run: needed (default: the naive loop on cityscapes, "
        "np.bincount on vocaug and voc500), all, none, or METHOD:KIND[,KIND...] with METHOD "
        "bincount or naive (added to what comes before it, e.g. `needed bincount:cityscapes`)",
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip -j1 vs -jN")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS run")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timing")
    parser.add_argument(
        "--startup-against", metavar="DIR", help="time `segstats --help` in this checkout too"
    )
    parser.add_argument("--installed", action="store_true", help="run the installed segstats, not ./segstats")
    parser.add_argument(
        "--data", help="mask folder (default benchmarks/data; --quick: benchmarks/data/quick)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write every timing to FILE")
    parser.add_argument("--show-scripts", action="store_true", help="print the baseline scripts and exit")
    args = parser.parse_args()
    scripts = {name: text.replace("CHUNKSIZE", str(CHUNKSIZE)) for name, text in SCRIPTS.items()}
    if args.show_scripts:
        print("\n".join(f"# {name}\n{text}" for name, text in scripts.items()))
        return
    baselines = parse_baselines(args.baselines, args.kinds)

    def rounds(kind: str | None) -> int:  # None: -j1 vs -jN
        return args.repeat or (2 if args.quick else KINDS[kind].rounds if kind else SCALING_ROUNDS)

    data = args.data or (os.path.join(make_masks.DATA_DIR, "quick") if args.quick else make_masks.DATA_DIR)
    began, load = time.perf_counter(), os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results: dict[str, KindResult] = {}
    extra: dict[str, tuple[int, list[Method]]] = {}  # scaling, rss, startup: (files, methods)
    with tempfile.TemporaryDirectory(prefix="bench_scan-") as work:
        if args.installed:
            SETUP.cwd = work  # not the checkout: its ./segstats would come first
        else:
            SETUP.env = checkout_env(ROOT)
            compile_checkout(ROOT)
        if args.startup_against:
            compile_checkout(args.startup_against)
        facts = machine_facts()
        SETUP.scripts = work
        for name, text in scripts.items():
            with open(os.path.join(work, name), "w") as handle:
                handle.write(text)

        def masks(name: str) -> tuple[str, int, int]:
            """Kind ``name``'s folder (made if missing), its files (page cache warmed), distinct masks."""
            kind = KINDS[name]
            distinct, count = kind.quick if args.quick else (kind.distinct, kind.files)
            print(
                f"{name}: making/checking {count:,} files ({distinct:,} distinct masks) in {data} ...",
                file=sys.stderr,
                flush=True,
            )
            folder = make_masks.make_kind(kind.source, distinct, data)
            if count != distinct:
                folder = repeated(folder, count, os.path.join(data, f"{name}-{count}"))
            return folder, warm_page_cache(folder), distinct

        for name in args.kinds:
            started = time.perf_counter()
            folder, files, distinct = masks(name)
            methods = kind_methods(name, folder, args.jobs, work, baselines[name])
            interleave(list(methods.values()), rounds(name))
            check_counts(name, methods, files)
            results[name] = KindResult(files, distinct, rounds(name), methods)
            summary = ", ".join(f"{m.name} {m.median():.2f} s" for m in methods.values())
            took = time.perf_counter() - started
            print(f"{name}: {summary} ({took:.0f} s)", file=sys.stderr, flush=True)
        if not args.no_scaling:
            folder, files, distinct = masks(SCALING_KIND)
            classes = KINDS[SCALING_KIND].classes
            scans = [scan(folder, classes, j, os.path.join(work, f"j{j}.json")) for j in (1, args.jobs)]
            interleave(scans, rounds(None))
            one, many = (read_json(m.output or "") for m in scans)
            if one["pixel_counts"] != many["pixel_counts"] or one["num_images"] != files:
                raise SystemExit(f"segstats -j1 and -j{args.jobs} counted differently on {folder}")
            extra["scaling"] = (files, scans)
            facts["scaling_note"] = (
                f"{distinct:,} distinct masks, repeated" if files != distinct else "all distinct"
            )
        if not args.no_rss:
            count = QUICK_RSS_FILES if args.quick else RSS_FILES
            print(f"many: making/checking {count:,} masks in {data} ...", file=sys.stderr, flush=True)
            folder = make_masks.make_many(data, count)
            files = warm_page_cache(folder)
            imports = Method('python -c "import segstats"', [sys.executable, "-c", "import segstats"])
            floor = Method('python -c "pass"', [sys.executable, "-c", "pass"])
            extra["rss"] = (
                files,
                [scan(folder, 19, args.jobs, os.path.join(work, "many.json")), imports, floor],
            )
            interleave(extra["rss"][1], 1 if args.quick else 3)
        if not args.no_startup:
            print("start-up ...", file=sys.stderr, flush=True)
            extra["startup"] = (0, bench_startup(4 if args.quick else 20, args.startup_against))
    facts["seconds"] = f"{time.perf_counter() - began:.0f}"
    if load is not None:
        facts["load"] = f"{load:.2f} / {os.getloadavg()[0]:.2f}"
    report(args, facts, results, extra)
    if args.json:
        raw: dict[str, Any] = {"facts": facts, "command": shlex.join(sys.argv)}
        raw["kinds"] = {
            k: {
                "files": r.files,
                "distinct": r.distinct,
                "rounds": r.rounds,
                **{m.name: [vars(run) for run in m.runs] for m in r.methods.values()},
            }
            for k, r in results.items()
        }
        raw.update({k: {m.name: [vars(r) for r in m.runs] for m in ms} for k, (_, ms) in extra.items()})
        with open(args.json, "w") as handle:
            json.dump(raw, handle, indent=1)


def report(
    args: argparse.Namespace,
    facts: dict[str, str],
    results: dict[str, KindResult],
    extra: dict[str, tuple[int, list[Method]]],
) -> None:
    jobs = args.jobs
    now = datetime.datetime.now(datetime.timezone.utc)
    command = shlex.join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT), *sys.argv[1:]])
    usable = f" ({facts['usable_cpus']} usable)" if "usable_cpus" in facts else ""
    print(f"Measured {now:%Y-%m-%d %H:%M} UTC with `{command}`")
    print(
        f"on {facts['platform']}, {facts['cpu']}, {facts['cpu_count']} CPUs{usable}; {facts['python']}, "
        f"segstats {facts['segstats']} (inflate: {facts['inflate']}), numpy {facts['numpy']}, "
        f"Pillow {facts['pillow']}; {facts['seconds']} s"
        + (f", load average {facts['load']} before / after." if "load" in facts else ".")
    )
    checks: list[tuple[str, str, str, str]] = []

    def check(label: str, measured: str, target: str, ok: bool | None, otherwise: str = "") -> None:
        checks.append((label, measured, target, otherwise if ok is None else "met" if ok else "**MISSED**"))

    if results:
        print(
            f"\nWhole processes from a fresh interpreter, {jobs} workers, warm page cache, interleaved "
            "rounds (the `rounds` column; fewer on the sets whose runs are longest). Time: median "
            "[min-max] wall seconds. Ratio: baseline median / segstats median (in brackets: the median "
            "of the per-round ratios). Files: the distinct masks repeated under new names (hard links) "
            "up to the count of the dataset the issue measured. `-`: not measured (--baselines).\n"
        )
        print(
            f"| masks | files | rounds | `segstats scan -j{jobs}` | Pillow decode-only "
            f"| Pillow + np.bincount, Pool({jobs}) | naive per-class loop, Pool({jobs}) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        methods, files, kind = result.methods, result.files, KINDS[name]
        seg = methods["segstats"]
        pillow = min((methods["processes"], methods["threads"]), key=Method.median)
        label = kind.label + (f", {result.distinct:,} distinct" if result.distinct != files else "")
        cells = [label, f"{files:,}", str(result.rounds), f"{fmt_time(seg)}, {files / seg.median():,.0f}/s"]
        cells.append(f"{fmt_time(pillow)} {fmt_ratio(pillow, seg)}, {pillow.name.split(', ')[1]}")
        cells += [
            f"{fmt_time(methods[k])} {fmt_ratio(methods[k], seg)}" if k in methods else "-" for k in SLOW
        ]
        print("| " + " | ".join(cells) + " |")
        short = kind.label.split(" ")[0]
        if kind.target is not None:
            fast = ratio(pillow, seg)
            check(
                f"{short} vs Pillow decode-only, {files:,} files",
                f"x{fast:.2f}",
                f">= {kind.target}",
                fast >= kind.target,
            )
        if kind.classes == 19:
            naive = methods.get("naive")
            versus = ratio(naive, seg) if naive else None
            check(
                f"{short} vs the naive loop, 19 classes, {files:,} files",
                "-" if versus is None else f"x{versus:.1f}",
                f">= {NAIVE_TARGET:g}",
                None if versus is None else versus >= NAIVE_TARGET,
                "not measured (--baselines)",
            )
    if results:
        print("\nCPU seconds (user + system, with the workers), median of the rounds:\n")
        names = {
            "segstats": f"segstats -j{jobs}",
            "processes": "Pillow decode-only, processes",
            "threads": "Pillow decode-only, threads",
            **SLOW,
        }
        print("| masks | files | " + " | ".join(names.values()) + " |\n|---|---:|" + "---:|" * len(names))
        for name, result in results.items():
            cells = [
                f"{statistics.median(r.cpu for r in result.methods[k].runs):.2f}"
                if k in result.methods
                else "-"
                for k in names
            ]
            print(f"| {KINDS[name].label} | {result.files:,} | " + " | ".join(cells) + " |")
    if "scaling" in extra:
        files, (one, many) = extra["scaling"]
        fast = ratio(one, many)
        print(
            f"\nCityscapes-like, {files:,} files ({facts['scaling_note']}), `segstats scan`, "
            f"{len(one.runs)} interleaved rounds: "
            f"-j1 {fmt_time(one)}, -j{jobs} {fmt_time(many)}: {fmt_ratio(one, many)}."
        )
        check(
            f"Cityscapes-like -j{jobs} vs -j1, {files:,} files",
            f"x{fast:.2f}",
            f">= {SCALING_TARGET}",
            fast >= SCALING_TARGET,
        )
    if "rss" in extra:
        files, (seg, imports, floor) = extra["rss"]
        peak, base, least = (max(r.maxrss_mb for r in m.runs) for m in (seg, imports, floor))
        print(
            f"\nPeak RSS (ru_maxrss of the one process, from os.wait4; the highest of {len(seg.runs)} runs): "
            f"`segstats scan -j{jobs}` of {files:,} 160x120 masks {peak:.0f} MB ({fmt_time(seg)}); "
            f'`python -c "import segstats"` {base:.0f} MB; `python -c "pass"` {least:.0f} MB (a floor: '
            "ru_maxrss counts the launcher the process was forked from)."
        )
        check(
            f"peak RSS, {files:,} files",
            f"{peak:.0f} MB (import alone {base:.0f} MB)",
            f"<= {RSS_TARGET_MB:g} MB",
            peak <= RSS_TARGET_MB,
        )
    if "startup" in extra:
        startup = extra["startup"][1]
        print(f"\nStart-up, {len(startup[0].runs)} interleaved rounds, median [min-max]:\n")
        print("\n".join(f"- `{m.name}`: {fmt_time(m, 3)}" for m in startup))
        helped, floor = startup[0], next(m for m in startup if "PIL" in m.name)
        extra_ms = 1e3 * (helped.median() - floor.median())
        measured = f"{helped.median():.3f} s ({extra_ms:+.0f} ms vs PIL + numpy)"
        ok: bool | None = None
        if args.startup_against:
            measured += f", other checkout {startup[1].median():.3f} s"
            ok = helped.median() <= 1.05 * startup[1].median()
        check(
            "`python -m segstats --help`", measured, "no worse than before (+5%)", ok, "see --startup-against"
        )
    print("\n| check | measured | target | |\n|---|---:|---:|---|")
    for label, measured, target, shown in checks:
        print(f"| {label} | {measured} | {target} | {shown} |")


if __name__ == "__main__":
    main()
