"""Lovász losses (Berman, Rannen Triki & Blaschko, "The Lovász-Softmax loss", CVPR 2018).

Both losses evaluate the Lovász extension of the Jaccard loss at a vector of
per-pixel errors ``e``: sort the errors in decreasing order, and with ``g`` the
foreground indicator in that order and ``G = sum g``,

.. math::
    J_k = 1 - \\frac{G - \\sum_{j \\le k} g_j}{G + \\sum_{j \\le k} (1 - g_j)}, \\qquad
    \\bar\\Delta(e) = \\sum_k e_{(k)} (J_k - J_{k-1}), \\quad J_0 = 0.

How it is computed (one integer sort per row, no autograd through the sort):

- The sort key is an integer built from the error's bit pattern (for a float
  ``e >= 0`` the pattern read as a signed integer grows with ``e``): ``MAX - bits``
  sorts the errors in decreasing order with an *ascending* integer sort, which torch
  runs as a radix sort on CPU, 2-5x faster than its float sort. The lowest bit of
  the key carries the foreground flag, so the sort alone gives ``g`` in sorted order.
  Softmax errors are in ``[0, 1]`` and the key keeps every bit of them; hinge errors
  are unbounded and lose their lowest mantissa bit to the flag, which can only swap
  two errors one ulp apart (a change of the value far below float rounding).
- The Jaccard steps ``J_k - J_{k-1}`` are computed in closed form from the running
  count of background pixels ``b_k`` (``U_k = G + b_k`` is the union): ``1 / U_k``
  at a foreground pixel, ``(U_k - k) / (U_k (U_k - 1))`` at a background one (no
  difference of nearly equal numbers, unlike ``diff(J)``), and scattered back to the
  pixels. They are the gradient of the loss with respect to the errors, so autograd
  only sees ``loss = sum(errors * steps)`` through a custom backward.
- The value is that sum over the true errors: equal to Berman's reference within
  float rounding. Among tied errors the order does not change the value (only which
  subgradient is returned).
- Ignored pixels get error 0 and the background flag: they sort after every error
  > 0, and pixels with error 0 contribute nothing (value or gradient) whatever
  their place.
- On CPU only the rows whose value is used are sorted (``classes="present"`` skips
  absent classes; an absent class under ``"all"`` has loss ``max(e)``, found without
  a sort), since reading a CPU tensor costs no device synchronisation; each row of
  >= 32768 pixels is a 1-D radix sort (shorter rows: one batched sort). On an
  accelerator every row goes through one batched sort, with no host synchronisation.
- No torch.compile needed (none is used).
- Target values are checked on every device without a host synchronisation
  (``torch._assert_async``); on CPU the assertion fails at once and becomes a
  ValueError naming the bad value.

Works in float32 and float64 (half / bfloat16 logits are computed in float32).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from segstats.losses._checks import (
    as_index,
    assert_on_device,
    autocast_off,
    check_classes,
    check_multiclass,
    check_reduction,
    check_same_shape,
    check_weight,
    reduce_class_terms,
    to_compute,
)
from segstats.losses._weights import WeightedLoss, WeightLike, resolve_weight, weight_for

# Per float dtype: (integer dtype of the same width, |x| mask, bits of 1.0, bits of +inf).
_BITS = {
    torch.float32: (torch.int32, 0x7FFFFFFF, 0x3F800000, 0x7F800000),
    torch.float64: (torch.int64, 0x7FFFFFFFFFFFFFFF, 0x3FF0000000000000, 0x7FF0000000000000),
}
# torch sorts with a radix sort on CPU only a 1-D integer tensor of at least this many
# elements (at::internal::GRAIN_SIZE); shorter rows go through one batched sort.
_RADIX_MIN = 32768


def _assert_valid_targets(target: Tensor, bad: Tensor, allowed: str) -> None:
    """Fail when any element of ``bad`` (a bool mask over ``target``) is set.

    Through :func:`~segstats.losses._checks.assert_on_device`, the one check every loss
    uses: no host synchronisation on any device (an accelerator asserts on the device),
    a ValueError at once on CPU, turned here into one naming the first bad value.
    """
    if bad.numel() == 0:
        return
    try:
        assert_on_device(~bad.any(), f"target contains a value that is not {allowed}")
    except ValueError:
        value = target[bad][:1].tolist()[0]  # CPU only (it raised): no synchronisation
        raise ValueError(f"target contains {value}, which is not {allowed}") from None


def _jaccard_steps(
    keys: Tensor, fg_total: Tensor | float, dtype: torch.dtype, k: Tensor | None = None
) -> Tensor:
    """Jaccard steps ``J_k - J_{k-1}`` of rows of sorted keys ``(R, W)``.

    The key's lowest bit is 1 for a background pixel; ``fg_total`` is ``G`` per row
    (``(R, 1)`` or a number). With ``b_k`` the running count of background pixels the
    union is ``U_k = G + b_k`` and the step is ``1 / U_k`` at a foreground pixel,
    ``(U_k - k) / (U_k (U_k - 1))`` at a background one: the difference of the two
    fractions worked out by hand, so no catastrophic cancellation as in ``diff(J)``.
    """
    width = keys.shape[-1]
    bg = (keys & 1).bool()
    # counts are exact in the float dtype up to 2**24 (float32); beyond, count in integers
    count_dtype = dtype if width <= 2**24 else keys.dtype
    union = torch.cumsum(bg, dim=-1, dtype=count_dtype).add_(fg_total).to(dtype)  # >= 1
    inv = union.reciprocal()
    if k is None:  # positions 1..W
        k = torch.arange(1, width + 1, dtype=dtype, device=keys.device)
    steps = torch.where(bg, (union - k).mul_(inv).div_(union - 1), inv)
    steps[:, :1] = inv[:, :1]  # J_1 = 1 / U_1 (the bg formula is 0/0 there when G = 0)
    return steps


def _decode(keys: Tensor, hinge: bool, source: Tensor, order: Tensor) -> Tensor:
    """The errors at sorted keys: softmax keys hold them exactly (``e`` = bits
    ``(C0 - key) >> 1``), hinge keys lost a bit, so those are read from ``source``."""
    if hinge:
        return source.gather(-1, order)
    one = _BITS[source.dtype][2]
    return torch.rsub(keys, 2 * one + 1).bitwise_right_shift_(1).view(source.dtype)


def _rows_cpu(
    keys: Tensor, errors: Tensor, fg_total: list[int], needed: list[bool], zero_key: int, hinge: bool
) -> tuple[Tensor, Tensor]:
    """Values ``(R,)`` and signed steps ``(R, W)`` of the needed rows, one at a time.

    Reading a CPU tensor costs no device synchronisation, so rows whose value is not
    used are skipped, a row without foreground takes its largest error (``G = 0``:
    steps 1, 0, 0, ...) without a sort, and the others are sorted one by one (a 1-D
    integer sort of >= 32768 elements is a radix sort) and cut at the first zero error
    (the rest, ignored pixels included, has no value nor gradient).
    """
    rows, width = keys.shape
    dtype = errors.dtype
    values = torch.zeros(rows, dtype=dtype)
    coef = torch.zeros(rows, width, dtype=dtype)
    limit = torch.tensor([zero_key], dtype=keys.dtype)
    positions = torch.arange(1, width + 1, dtype=dtype)
    sort_rows = [r for r in range(rows) if needed[r] and fg_total[r] > 0] if width else []
    presorted: dict[int, tuple[Tensor, Tensor]] = {}
    if sort_rows and width < _RADIX_MIN:  # no radix sort for short rows: one batched sort
        all_keys, all_order = torch.sort(keys[sort_rows], dim=-1)
        presorted = {r: (all_keys[j], all_order[j]) for j, r in enumerate(sort_rows)}
    for r in range(rows):
        if not needed[r] or width == 0:
            continue
        if fg_total[r] == 0:
            smallest, at = keys[r].min(dim=0)
            if int(smallest) < zero_key:
                values[r] = errors[r, at]
                coef[r, at] = 1.0
            continue
        order_keys, order = presorted[r] if presorted else torch.sort(keys[r])
        live = int(torch.searchsorted(order_keys, limit))
        if live == 0:
            continue
        order_keys, order = order_keys[:live], order[:live]
        steps = _jaccard_steps(order_keys[None], fg_total[r], dtype, positions[:live])[0]
        # a cascade sum (torch.sum), not a BLAS dot, which accumulates float32 in float32
        values[r] = (_decode(order_keys, hinge, errors[r], order) * steps).sum()
        coef[r].scatter_(0, order, torch.where((order_keys & 1).bool(), steps, steps.neg()))
    return values, coef


def _host_rows(z: Tensor) -> bool:
    """Whether the rows are processed one by one on the host (CPU tensors)."""
    return z.device.type == "cpu"


def _rows_batched(
    keys: Tensor, errors: Tensor, fg_total: Tensor, zero_key: int, hinge: bool
) -> tuple[Tensor, Tensor]:
    """As :func:`_rows_cpu` for every row at once, with shapes fixed by the input:
    no host synchronisation (accelerators, the meta device)."""
    dtype = errors.dtype
    order_keys, order = torch.sort(keys, dim=-1)
    steps = _jaccard_steps(order_keys, fg_total.reshape(-1, 1), dtype)
    steps.masked_fill_(order_keys >= zero_key, 0.0)  # zero errors and ignored pixels
    values = (_decode(order_keys, hinge, errors, order) * steps).sum(-1)
    signed = torch.where((order_keys & 1).bool(), steps, steps.neg())
    return values, torch.zeros_like(errors).scatter_(1, order, signed)


class _LovaszRows(torch.autograd.Function):
    """Lovász extension of the Jaccard loss for every (row, class); see the module doc.

    ``z`` ``(N, C, M)``: softmax probabilities (``hinge=False``, error ``|fg - z|``) or
    logits (``hinge=True``, error ``relu(1 - z s)``, ``s = +-1``). ``fg_total`` and
    ``needed`` ``(B, C)``: foreground count and whether the value is used. Returns
    ``(B, C)``; the backward multiplies the saved signed steps by the incoming
    gradient (the derivative of the error with respect to ``z`` is -1 at foreground,
    +1 at background, 0 where the error is 0).
    """

    @staticmethod
    def forward(
        ctx: Any,
        z: Tensor,
        fg: Tensor,
        valid: Tensor | None,
        fg_total: Tensor,
        needed: Tensor,
        per_image: bool,
        hinge: bool,
    ) -> Tensor:
        n, c, _ = z.shape
        # rows: (image, class) pairs with per_image, else classes over the whole batch
        zr, fgr = (z, fg) if per_image else (z.transpose(0, 1), fg.transpose(0, 1))
        invalid = None if valid is None else ~(valid if per_image else valid.transpose(0, 1))
        int_dtype, _, one, inf = _BITS[z.dtype]
        errors = torch.empty(zr.shape, dtype=z.dtype, device=z.device)  # rows contiguous
        if hinge:
            torch.where(fgr, 1 - zr, 1 + zr, out=errors)
        else:
            torch.where(fgr, 1 - zr, zr, out=errors)
        if invalid is not None:
            errors.masked_fill_(invalid, 0.0)  # error 0: no part in value or gradient
        bits = errors.view(int_dtype)
        if hinge:
            # relu through the bits (negative floats, -0.0 included, are negative
            # integers); the flag takes the lowest bit
            keys = torch.rsub(bits.clamp_min(0), inf).bitwise_and_(-2).bitwise_or_(~fgr)
            zero_key = inf
        else:
            # errors <= 1, so C0 - 2 bits (C0 = 2 bits(1.0) + 1) keeps every bit; xor
            # clears the lowest bit at foreground
            keys = torch.rsub(bits, 2 * one + 1, alpha=2).bitwise_xor_(fgr)
            zero_key = 2 * one
        rows = n * c if per_image else c
        width = errors.numel() // rows if rows else 0
        keys, errors = keys.view(rows, width), errors.view(rows, width)
        if _host_rows(z):
            values, coef = _rows_cpu(
                keys, errors, fg_total.reshape(-1).tolist(), needed.reshape(-1).tolist(), zero_key, hinge
            )
        else:
            values, coef = _rows_batched(keys, errors, fg_total, zero_key, hinge)
        # a NaN error (NaN logits) gets a key among the zero errors: make the value NaN
        # as it would be with a float sort (one read of the errors, no host sync)
        nan = errors.isnan().any() if hinge else errors.sum() * 0
        values = torch.where(nan, float("nan"), values) if hinge else values + nan
        ctx.save_for_backward(coef)
        ctx.per_image = per_image
        ctx.shape = zr.shape
        return values.view(n, c) if per_image else values.view(1, c)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (coef,) = ctx.saved_tensors
        grad_rows = (coef * grad.reshape(-1, 1)).view(ctx.shape)
        grad_z = grad_rows if ctx.per_image else grad_rows.transpose(0, 1)
        return grad_z, None, None, None, None, None, None


def lovasz_softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: int | None = None,
    per_image: bool = False,
    classes: str = "present",
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász-Softmax loss (Berman et al., CVPR 2018), multiclass.

    Per class :math:`c`, errors :math:`e_i = |[y_i = c] - p_{i,c}|` over kept pixels
    (softmax :math:`p`), and :math:`L_c = \bar\Delta_{J_c}(e)` (see the module
    docstring). The loss is :math:`\sum_{c \in S} w_c L_c / \sum_{c \in S} w_c` over
    ``S`` = classes present in the kept target (``"present"``) or all classes; with
    ``per_image``, the mean over all images of the per-image loss (an image with empty
    ``S`` counts as 0, as in Berman et al.'s reference code).

    Args:
        input: logits, at least two classes (one class: use :func:`lovasz_hinge_loss`).
        target: class indices in ``[0, C)`` or ``ignore_index`` (checked on every
            device without a host synchronisation; ValueError on CPU).
        weight: per-class weights (tensor, sequence or ``segstats weights`` file).
        ignore_index: target value that takes part in nothing.
        per_image: compute the loss per image and average.
        classes: ``"present"`` or ``"all"``.
        reduction: ``"mean"``, ``"sum"`` (unnormalised weighted sum over classes
            and images) or ``"none"`` (``(C,)`` or ``(N, C)`` weighted terms).

    Shape:
        input ``(N, C, *spatial)``, target ``(N, *spatial)``.

    Returns:
        The loss; 0.0 with zero gradients when every pixel is ignored.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)          # p = 0.5 everywhere
        >>> lovasz_softmax_loss(x, torch.tensor([[[0, 1]]])).item()
        0.5
    """
    check_reduction(reduction)
    check_classes(classes)
    check_multiclass(input, target)
    n, c, m = input.shape[0], input.shape[1], math.prod(input.shape[2:])  # N may be 0
    if c == 1:
        raise ValueError(
            f"lovasz_softmax_loss needs at least 2 classes, got input of shape {tuple(input.shape)}: "
            "the softmax of one class is constant 1 (loss 0, zero gradient); for one "
            "foreground channel use a binary mode, LovaszHingeLoss / lovasz_hinge_loss"
        )
    target = as_index(target)
    w = resolve_weight(weight)
    check_weight(w, c)
    bad = (target < 0) | (target >= c)
    if ignore_index is not None:
        bad &= target != ignore_index
    _assert_valid_targets(target, bad, f"a class in [0, {c}) nor ignore_index={ignore_index}")
    with autocast_off(input.device):
        p = F.softmax(to_compute(input), dim=1).reshape(n, c, m)
        t = target.reshape(n, 1, m)
        valid = None if ignore_index is None else t != ignore_index
        if (
            valid is not None and ignore_index is not None and 0 <= ignore_index < c
        ):  # then ignored pixels are no class's
            t = torch.where(valid, t, torch.full_like(t, c))
        fg = t == torch.arange(c, device=t.device).view(1, c, 1)
        fg_total = fg.sum(-1) if per_image else fg.sum((0, 2)).unsqueeze(0)
        present = fg_total > 0
        if valid is None:
            kept = torch.full(
                present.shape, m > 0 and (per_image or n > 0), dtype=torch.bool, device=p.device
            )
        else:
            kept = valid.any(-1) if per_image else valid.any(-1).any(0, keepdim=True)
            kept = kept.expand(present.shape)
        selected = present & kept if classes == "present" else kept
        losses = _LovaszRows.apply(p, fg, valid, fg_total, selected, per_image, False)  # type: ignore[no-untyped-call]
        return reduce_class_terms(losses, selected, weight_for(w, p), reduction, per_image)


class LovaszSoftmaxLoss(WeightedLoss):
    """Module form of :func:`lovasz_softmax_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = LovaszSoftmaxLoss(ignore_index=255, per_image=True)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: int | None = None,
        per_image: bool = False,
        classes: str = "present",
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        check_classes(classes)
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.classes = classes
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return lovasz_softmax_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            per_image=self.per_image,
            classes=self.classes,
            reduction=self.reduction,
        )


def lovasz_hinge_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: float | None = None,
    per_image: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász hinge loss (Berman et al., CVPR 2018) for binary / multilabel logits.

    Per channel :math:`c`, with signs :math:`s_i = 2 t_i - 1` and hinge errors
    :math:`e_i = 1 - x_i s_i` over kept elements, sorted by :math:`e` (descending),
    :math:`L_c = \sum_k \max(e_{(k)}, 0) (J_k - J_{k-1})`. The loss is the
    ``weight``-weighted mean over the channels, averaged over images with
    ``per_image``. Every channel counts in the mean: a channel whose elements are
    all ignored (in an image with ``per_image``, in the batch without) counts as 0
    and stays in the denominator (Berman's convention for an all-ignored image).

    Args:
        input: logits.
        target: binary targets (0 / 1, or ``ignore_index``), same shape as input
            (``(N, *spatial)`` is taken as one channel); checked on every device
            without a host synchronisation (ValueError on CPU).
        weight: per-channel weights.
        ignore_index: target value that takes part in nothing.
        per_image: compute the loss per image and average.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (as :func:`lovasz_softmax_loss`).

    Shape:
        input and target ``(N, C, *spatial)``.

    Returns:
        The loss; 0.0 with zero gradients when every element is ignored.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[2.0, -2.0]]])     # correct with margin 2
        >>> lovasz_hinge_loss(x, torch.tensor([[[1.0, 0.0]]])).item()
        0.0
    """
    check_reduction(reduction)
    if isinstance(target, Tensor) and isinstance(input, Tensor) and target.ndim == input.ndim - 1:
        target = target.unsqueeze(1)
    check_same_shape(input, target)
    bad = (target != 0) & (target != 1)
    if ignore_index is not None:
        bad &= target != ignore_index
    _assert_valid_targets(target, bad, f"0 or 1 and not ignore_index={ignore_index}")
    w = resolve_weight(weight)
    n, c, m = input.shape[0], input.shape[1], math.prod(input.shape[2:])  # N may be 0
    check_weight(w, c)
    with autocast_off(input.device):
        x = to_compute(input).reshape(n, c, m)
        t = target.reshape(n, c, m)
        valid = None if ignore_index is None else t != ignore_index
        fg = t == 1 if valid is None else (t == 1) & valid
        rows = (n, c) if per_image else (1, c)
        every = torch.ones(rows, dtype=torch.bool, device=x.device)
        fg_total = fg.sum(-1) if per_image else fg.sum((0, 2)).unsqueeze(0)
        losses = _LovaszRows.apply(x, fg, valid, fg_total, every, per_image, True)  # type: ignore[no-untyped-call]
        return reduce_class_terms(losses, every, weight_for(w, x), reduction, per_image)


class LovaszHingeLoss(WeightedLoss):
    """Module form of :func:`lovasz_hinge_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = LovaszHingeLoss(per_image=True)
        >>> x = torch.randn(2, 1, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 2, (2, 1, 8, 8)).float()).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: float | None = None,
        per_image: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return lovasz_hinge_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            per_image=self.per_image,
            reduction=self.reduction,
        )
