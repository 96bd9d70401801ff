"""Cost of the losses' target-value check (forward + backward, with and without it), in one run.

Usage::

    python benchmarks/bench_loss_checks.py [--n 4] [--c 19] [--h 256] [--w 512] [--repeat 15]

Each loss runs forward + backward on ``(N, C, H, W)`` float32 logits (a band of
ignored pixels), alternately with the check as shipped and with the check replaced
by a no-op (patched into the loss modules' namespaces), so machine noise affects
both alike. Prints the median time of each, the difference and its share of the
call, the minimum of each (less exposed to other processes on a shared machine), and
the median and minimum time of the check alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# benchmark the checkout this script lives in, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import segstats.losses as L
import segstats.losses.cross_entropy
import segstats.losses.dice
import segstats.losses.focal
import segstats.losses.ohem

CHECKS = ("check_target_values", "check_binary_target_values")
MODULES = [segstats.losses.cross_entropy, segstats.losses.dice, segstats.losses.focal, segstats.losses.ohem]


def _set_checks(enabled: bool, saved: dict[tuple[Any, str], Any]) -> None:
    for module in MODULES:
        for name in CHECKS:
            if hasattr(module, name):
                setattr(module, name, saved[(module, name)] if enabled else (lambda *a, **k: None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--c", type=int, default=19)
    parser.add_argument("--h", type=int, default=256)
    parser.add_argument("--w", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.c, args.h, args.w, generator=gen).requires_grad_(True)
    y = torch.randint(0, args.c, (args.n, args.h, args.w), generator=gen)
    y[:, :8] = 255
    xb = torch.randn(args.n, 1, args.h, args.w, generator=gen).requires_grad_(True)
    tb = torch.randint(0, 2, (args.n, 1, args.h, args.w), generator=gen).float()
    tb[:, :, :8] = 255
    weight = torch.rand(args.c, generator=gen) + 0.5
    cases: dict[str, tuple[torch.Tensor, Callable[[], torch.Tensor]]] = {
        "cross_entropy": (x, lambda: L.cross_entropy(x, y, weight=weight, ignore_index=255)),
        "focal": (x, lambda: L.focal_loss(x, y, weight=weight, ignore_index=255)),
        "ohem": (x, lambda: L.ohem_cross_entropy(x, y, weight=weight, ignore_index=255)),
        "dice": (x, lambda: L.dice_loss(x, y, weight=weight, ignore_index=255)),
        "binary_focal": (xb, lambda: L.binary_focal_loss(xb, tb, ignore_index=255)),
        "dice_binary": (xb, lambda: L.dice_loss(xb, tb, mode="binary", ignore_index=255)),
    }
    saved = {(m, n): getattr(m, n) for m in MODULES for n in CHECKS if hasattr(m, n)}
    from segstats.losses._checks import check_binary_target_values, check_target_values

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, shape {tuple(x.shape)}")
    header = f"{'loss':<14} {'with (ms)':>10} {'without':>10} {'diff':>8} {'share':>7}"
    print(f"{header} {'min with':>9} {'min w/o':>8}")
    for name, (inp, fn) in cases.items():
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(args.repeat + 1):
            for enabled in (True, False):
                _set_checks(enabled, saved)
                inp.grad = None
                start = time.perf_counter()
                fn().backward()
                if i:  # the first round warms up
                    times[enabled].append(time.perf_counter() - start)
        _set_checks(True, saved)
        with_, without = statistics.median(times[True]), statistics.median(times[False])
        diff = with_ - without
        lo_with, lo_without = min(times[True]) * 1e3, min(times[False]) * 1e3
        print(
            f"{name:<14} {with_ * 1e3:10.2f} {without * 1e3:10.2f} {diff * 1e3:8.2f} {diff / with_:7.1%}"
            f" {lo_with:9.2f} {lo_without:8.2f}"
        )
    for label, check in (
        ("multiclass check alone", lambda: check_target_values(y, args.c, 255)),
        ("binary check alone", lambda: check_binary_target_values(tb, 255)),
    ):
        alone = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            check()
            alone.append(time.perf_counter() - start)
        print(f"{label}: median {statistics.median(alone) * 1e3:.2f} ms, min {min(alone) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
