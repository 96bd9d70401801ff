"""Forward + backward time of each segstats loss against F.cross_entropy, in one run.

Usage::

    python benchmarks/bench_losses.py [--n 4] [--c 19] [--h 256] [--w 512] [--repeat 10]

Prints the median time per call and the ratio to ``F.cross_entropy`` with the same
weights and ignore_index (the baseline is timed in the same process, alternating
call by call with each loss, so machine noise affects both alike).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

# benchmark the checkout this script lives in, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import segstats.losses as L


def _time_pair(
    base: Callable[[], torch.Tensor], fn: Callable[[], torch.Tensor], repeat: int
) -> tuple[float, float]:
    """Median times of ``base`` and ``fn``, run alternately so load drifts hit both."""
    base()
    fn()  # warm-up
    t_base, t_fn = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        base()
        t_base.append(time.perf_counter() - start)
        start = time.perf_counter()
        fn()
        t_fn.append(time.perf_counter() - start)
    return statistics.median(t_base), statistics.median(t_fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--c", type=int, default=19)
    parser.add_argument("--h", type=int, default=256)
    parser.add_argument("--w", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--skip-lovasz", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.c, args.h, args.w, generator=gen).requires_grad_(True)
    y = torch.randint(0, args.c, (args.n, args.h, args.w), generator=gen)
    y[:, :8] = 255  # a band of ignored pixels
    weight = torch.rand(args.c, generator=gen) + 0.5

    def run(loss_fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def step() -> torch.Tensor:
            x.grad = None
            loss = loss_fn()
            loss.backward()
            return loss

        return step

    baseline = run(lambda: F.cross_entropy(x, y, weight=weight, ignore_index=255))
    cases: dict[str, Callable[[], torch.Tensor]] = {
        "cross_entropy": lambda: L.cross_entropy(x, y, weight=weight, ignore_index=255),
        "focal": lambda: L.focal_loss(x, y, weight=weight, ignore_index=255, gamma=2.0),
        "dice": lambda: L.dice_loss(x, y, weight=weight, ignore_index=255),
        "jaccard": lambda: L.jaccard_loss(x, y, weight=weight, ignore_index=255),
        "tversky": lambda: L.tversky_loss(x, y, weight=weight, ignore_index=255, alpha=0.3, beta=0.7),
        "focal_tversky": lambda: L.focal_tversky_loss(x, y, weight=weight, ignore_index=255),
        "dice per_image": lambda: L.dice_loss(x, y, weight=weight, ignore_index=255, per_image=True),
        "ohem": lambda: L.ohem_cross_entropy(x, y, weight=weight, ignore_index=255),
        "combo ce+dice": lambda: L.combo_loss(
            x, y, terms={"ce": 1.0, "dice": 1.0}, weight=weight, ignore_index=255
        ),
    }
    if not args.skip_lovasz:
        cases["lovasz_softmax"] = lambda: L.lovasz_softmax_loss(x, y, weight=weight, ignore_index=255)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"N={args.n} C={args.c} {args.h}x{args.w}, forward+backward, "
        f"median of {args.repeat}"
    )
    print(f"{'loss':<16} {'ms':>9} {'F.cross_entropy ms':>19} {'ratio':>7}")
    for name, fn in cases.items():
        base, t = _time_pair(baseline, run(fn), args.repeat)
        print(f"{name:<16} {t * 1e3:9.1f} {base * 1e3:19.1f} {t / base:7.2f}")


if __name__ == "__main__":
    main()
