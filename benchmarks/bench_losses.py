"""Forward + backward time of each segstats loss against F.cross_entropy and against the
same loss in segmentation_models_pytorch, kornia and MONAI where those are installed.

Usage::

    python benchmarks/bench_losses.py [--n 4] [--c 19] [--h 256] [--w 512] [--repeat 7]
        [--threads 2] [--only lovasz]

Every call of a row (the segstats loss, ``F.cross_entropy`` with the same weights and
ignore_index, and each third-party loss) runs in turn, repeat after repeat, so machine
noise affects all alike; the table gives medians in ms and the ratio to
``F.cross_entropy``. It ends with a Markdown table for the README.

The third-party losses are each library's own definition with the nearest options
(their numbers can differ from ours, e.g. in how classes are averaged); "-" where the
library has no such loss or is not installed. ``lovasz_softmax blobs`` uses
piecewise-constant label maps with a few classes per image (closer to real masks than
uniform noise, where every class is present everywhere).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

# benchmark the checkout this script lives in, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import segstats.losses as L

IGNORE = 255
Step = Callable[[], torch.Tensor]


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:  # not installed, or broken by a mismatched dependency
        return None


def _smp_losses() -> Any:
    """``segmentation_models_pytorch.losses`` without the package's ``__init__``
    (which imports timm / torchvision, unneeded here and broken by a mismatched
    torchvision in some environments): the losses subpackage needs only torch."""
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    if "segmentation_models_pytorch" not in sys.modules:
        stub = types.ModuleType("segmentation_models_pytorch")
        stub.__path__ = list(spec.submodule_search_locations)
        sys.modules["segmentation_models_pytorch"] = stub
    return _import("segmentation_models_pytorch.losses")


def _blobs(n: int, c: int, h: int, w: int, gen: torch.Generator, per_image: int = 4) -> torch.Tensor:
    """Piecewise-constant labels: ``per_image`` classes per image on 32x32-pixel cells."""
    coarse_h, coarse_w = max(h // 32, 1), max(w // 32, 1)
    out = []
    for _ in range(n):
        classes = torch.randperm(c, generator=gen)[:per_image]
        cells = classes[torch.randint(0, per_image, (1, 1, coarse_h, coarse_w), generator=gen)]
        out.append(F.interpolate(cells.float(), size=(h, w), mode="nearest").long()[0, 0])
    return torch.stack(out)


def _time_row(steps: list[Step], repeat: int) -> list[float]:
    """Median time of each step, the steps run in turn so load drifts hit all."""
    for step in steps:
        step()  # warm-up
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeat):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--c", type=int, default=19)
    parser.add_argument("--h", type=int, default=256)
    parser.add_argument("--w", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--only", default="", help="run only the rows whose name contains this")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.c, args.h, args.w, generator=gen).requires_grad_(True)
    y = torch.randint(0, args.c, (args.n, args.h, args.w), generator=gen)
    y[:, :8] = IGNORE  # a band of ignored pixels
    blobs = _blobs(args.n, args.c, args.h, args.w, gen)
    blobs[:, :8] = IGNORE
    weight = torch.rand(args.c, generator=gen) + 0.5
    xb = torch.randn(args.n, 1, args.h, args.w, generator=gen).requires_grad_(True)
    tb = torch.randint(0, 2, (args.n, 1, args.h, args.w), generator=gen)

    smp, kornia, monai = _smp_losses(), _import("kornia.losses"), _import("monai.losses")
    y1 = y.unsqueeze(1)
    y_mc = y.clamp_max(args.c - 1)  # kornia / MONAI rows without ignore_index
    w = weight

    def ce() -> torch.Tensor:
        return F.cross_entropy(x, y, weight=w, ignore_index=IGNORE)

    # name -> (segstats, {library: loss}); every callable returns a scalar of x or xb
    rows: dict[str, tuple[Step, dict[str, Step | None]]] = {
        "cross_entropy": (lambda: L.cross_entropy(x, y, weight=w, ignore_index=IGNORE), {}),
        "focal": (
            lambda: L.focal_loss(x, y, weight=w, ignore_index=IGNORE, gamma=2.0),
            {
                "smp": smp and (lambda: smp.FocalLoss("multiclass", ignore_index=IGNORE)(x, y)),
                "kornia": kornia
                and (lambda: kornia.focal_loss(x, y, alpha=None, reduction="mean", ignore_index=IGNORE)),
                "MONAI": monai
                and (
                    lambda: monai.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0)(
                        x, y1.clamp_max(args.c - 1)
                    )
                ),
            },
        ),
        "dice": (
            lambda: L.dice_loss(x, y, weight=w, ignore_index=IGNORE),
            {
                "smp": smp and (lambda: smp.DiceLoss("multiclass", ignore_index=IGNORE)(x, y)),
                "kornia": kornia and (lambda: kornia.dice_loss(x, y, ignore_index=IGNORE)),
                "MONAI": monai
                and (
                    lambda: monai.DiceLoss(softmax=True, to_onehot_y=True, batch=True)(x, y_mc.unsqueeze(1))
                ),
            },
        ),
        "jaccard": (
            lambda: L.jaccard_loss(x, y, weight=w, ignore_index=IGNORE),
            {
                "smp": smp and (lambda: smp.JaccardLoss("multiclass")(x, y_mc)),
                "MONAI": monai
                and (
                    lambda: monai.DiceLoss(softmax=True, to_onehot_y=True, batch=True, jaccard=True)(
                        x, y_mc.unsqueeze(1)
                    )
                ),
            },
        ),
        "tversky": (
            lambda: L.tversky_loss(x, y, weight=w, ignore_index=IGNORE, alpha=0.3, beta=0.7),
            {
                "smp": smp
                and (lambda: smp.TverskyLoss("multiclass", ignore_index=IGNORE, alpha=0.3, beta=0.7)(x, y)),
                "kornia": kornia and (lambda: kornia.tversky_loss(x, y, 0.3, 0.7, ignore_index=IGNORE)),
                "MONAI": monai
                and (
                    lambda: monai.TverskyLoss(
                        softmax=True, to_onehot_y=True, batch=True, alpha=0.3, beta=0.7
                    )(x, y_mc.unsqueeze(1))
                ),
            },
        ),
        "focal_tversky": (lambda: L.focal_tversky_loss(x, y, weight=w, ignore_index=IGNORE), {}),
        "dice per_image": (lambda: L.dice_loss(x, y, weight=w, ignore_index=IGNORE, per_image=True), {}),
        "ohem": (lambda: L.ohem_cross_entropy(x, y, weight=w, ignore_index=IGNORE), {}),
        "combo ce+dice": (
            lambda: L.combo_loss(x, y, terms={"ce": 1.0, "dice": 1.0}, weight=w, ignore_index=IGNORE),
            {
                "MONAI": monai
                and (
                    lambda: monai.DiceCELoss(softmax=True, to_onehot_y=True, batch=True)(x, y_mc.unsqueeze(1))
                ),
            },
        ),
        "lovasz_softmax": (
            lambda: L.lovasz_softmax_loss(x, y, weight=w, ignore_index=IGNORE),
            {
                "smp": smp and (lambda: smp.LovaszLoss("multiclass", ignore_index=IGNORE)(x, y)),
                "kornia": kornia and (lambda: kornia.lovasz_softmax_loss(x, y_mc)),
            },
        ),
        "lovasz_softmax blobs": (
            lambda: L.lovasz_softmax_loss(x, blobs, weight=w, ignore_index=IGNORE),
            {"smp": smp and (lambda: smp.LovaszLoss("multiclass", ignore_index=IGNORE)(x, blobs))},
        ),
        "lovasz_softmax per_image": (
            lambda: L.lovasz_softmax_loss(x, y, weight=w, ignore_index=IGNORE, per_image=True),
            {
                "smp": smp
                and (lambda: smp.LovaszLoss("multiclass", per_image=True, ignore_index=IGNORE)(x, y))
            },
        ),
        "lovasz_hinge": (
            lambda: L.lovasz_hinge_loss(xb, tb.float()),
            {
                "smp": smp and (lambda: smp.LovaszLoss("binary")(xb, tb)),
                "kornia": kornia and (lambda: kornia.lovasz_hinge_loss(xb, tb[:, 0])),
            },
        ),
    }
    libraries = ["smp", "kornia", "MONAI"]

    def step(loss_fn: Step) -> Step:
        def run() -> torch.Tensor:
            x.grad = None
            xb.grad = None
            loss = loss_fn()
            loss.backward()
            return loss

        return run

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"N={args.n} C={args.c} {args.h}x{args.w}, forward+backward, median of {args.repeat}"
    )
    table = []
    for name, (ours, refs) in rows.items():
        if args.only and args.only not in name:
            continue
        present = [lib for lib in libraries if refs.get(lib) is not None]
        steps = [step(ce), step(ours)] + [step(refs[lib]) for lib in present]  # type: ignore[arg-type]
        medians = _time_row(steps, args.repeat)
        base, t = medians[0], medians[1]
        cells = {lib: m for lib, m in zip(present, medians[2:], strict=True)}
        table.append((name, t, base, cells))
        others = "  ".join(f"{lib} {cells[lib] * 1e3:.1f} ({cells[lib] / t:.1f}x)" for lib in present)
        print(f"{name:<26} {t * 1e3:9.1f} ms  CE {base * 1e3:8.1f} ms  ratio {t / base:6.2f}  {others}")

    print(
        "\n| loss | segstats ms | / F.cross_entropy | "
        + " | ".join(f"{lib} ms (÷ segstats)" for lib in libraries)
        + " |"
    )
    print("|---|---:|---:|" + "---:|" * len(libraries))
    for name, t, base, cells in table:
        refs_md = " | ".join(
            f"{cells[lib] * 1e3:.0f} ({cells[lib] / t:.1f}x)" if lib in cells else "-" for lib in libraries
        )
        print(f"| {name} | {t * 1e3:.0f} | {t / base:.1f} | {refs_md} |")


if __name__ == "__main__":
    main()
