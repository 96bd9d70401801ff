"""Dice, Jaccard, Tversky and focal Tversky."""

from __future__ import annotations

import math

import pytest
import torch

import segstats.losses as L

# softmax probabilities of three pixels (class 0, class 1) and their targets:
# A (0.75, 0.25) -> 0, B (0.25, 0.75) -> 1, C (0.5, 0.5) -> 1, D ignored
# class 0: I = 0.75, P = 1.5, G = 1;  class 1: I = 1.25, P = 1.5, G = 2
PROBS = [[0.75, 0.25], [0.25, 0.75], [0.5, 0.5], [0.1, 0.9]]
TARGET = torch.tensor([[0, 1, 1, 255]])
D = [1.5 / 2.5, 2.5 / 3.5]
J = [0.75 / 1.75, 1.25 / 2.25]
T73 = [0.75 / (0.75 + 0.7 * 0.75 + 0.3 * 0.25), 1.25 / (1.25 + 0.7 * 0.25 + 0.3 * 0.75)]


def test_dice_closed_form(logits_for):
    x = logits_for(PROBS)
    kw = {"ignore_index": 255}
    assert L.dice_loss(x, TARGET, **kw).item() == pytest.approx(1 - sum(D) / 2)
    assert L.dice_loss(x, TARGET, weight=[1.0, 3.0], **kw).item() == pytest.approx(
        ((1 - D[0]) + 3 * (1 - D[1])) / 4
    )
    torch.testing.assert_close(
        L.dice_loss(x, TARGET, reduction="none", **kw),
        torch.tensor([1 - D[0], 1 - D[1]], dtype=torch.float64),
    )
    assert L.dice_loss(x, TARGET, reduction="sum", **kw).item() == pytest.approx(2 - sum(D))
    assert L.dice_loss(x, TARGET, log_loss=True, **kw).item() == pytest.approx(
        -(math.log(D[0]) + math.log(D[1])) / 2
    )
    smooth = L.dice_loss(x, TARGET, smooth=1.0, **kw).item()
    assert smooth == pytest.approx(1 - ((2.5 / 3.5) + (3.5 / 4.5)) / 2)


def test_jaccard_and_tversky_closed_form(logits_for):
    x = logits_for(PROBS)
    assert L.jaccard_loss(x, TARGET, ignore_index=255).item() == pytest.approx(1 - sum(J) / 2)
    assert L.tversky_loss(x, TARGET, ignore_index=255, alpha=0.7, beta=0.3).item() == (
        pytest.approx(1 - sum(T73) / 2)
    )
    focal = L.focal_tversky_loss(x, TARGET, ignore_index=255).item()
    assert focal == pytest.approx(((1 - T73[0]) ** 0.75 + (1 - T73[1]) ** 0.75) / 2)
    module = L.FocalTverskyLoss(ignore_index=255)
    assert (module.alpha, module.beta, module.gamma) == (0.7, 0.3, 0.75)
    assert module(x, TARGET).item() == pytest.approx(focal)


def test_present_vs_all():
    x = torch.zeros(1, 3, 2)  # p = 1/3 everywhere; class 2 absent from the target
    y = torch.tensor([[0, 1]])
    assert L.dice_loss(x, y).item() == pytest.approx(0.6)
    assert L.dice_loss(x, y, classes="all").item() == pytest.approx((0.6 + 0.6 + 1.0) / 3)


def test_per_image(logits_for):
    x = logits_for(PROBS[:3]).repeat(2, 1, 1)
    y = torch.tensor([[0, 1, 1], [1, 1, 1]])
    # image 2: only class 1 present: I = 1.5, P = 1.5, G = 3 -> D = 2/3
    expected = ((1 - sum(D) / 2) + (1 - 2 / 3)) / 2
    assert L.dice_loss(x, y, per_image=True).item() == pytest.approx(expected)
    none = L.dice_loss(x, y, per_image=True, reduction="none")
    assert none.shape == (2, 2) and none[1, 0] == 0
    # an image with every pixel ignored counts as 0 in the mean (Berman's convention)
    y_ign = torch.tensor([[0, 1, 1], [255, 255, 255]])
    assert L.dice_loss(x, y_ign, per_image=True, ignore_index=255).item() == pytest.approx(
        (1 - sum(D) / 2) / 2
    )


def test_tversky_half_half_is_dice():
    x = torch.randn(3, 5, 6, 7, dtype=torch.float64)
    y = torch.randint(0, 5, (3, 6, 7))
    y[0, 0] = 255
    w = torch.rand(5, dtype=torch.float64)
    for per_image in (False, True):
        for classes in ("present", "all"):
            kw = {"weight": w, "ignore_index": 255, "per_image": per_image, "classes": classes}
            torch.testing.assert_close(
                L.tversky_loss(x, y, alpha=0.5, beta=0.5, **kw), L.dice_loss(x, y, **kw)
            )
            # with smoothing, Tversky(0.5, 0.5, smooth=s) is Dice(smooth=2 s)
            torch.testing.assert_close(
                L.tversky_loss(x, y, smooth=0.5, **kw), L.dice_loss(x, y, smooth=1.0, **kw)
            )


def test_jaccard_dice_relation_per_class():
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 5, 6))
    d = 1 - L.dice_loss(x, y, reduction="none", classes="all")
    j = 1 - L.jaccard_loss(x, y, reduction="none", classes="all")
    torch.testing.assert_close(j, d / (2 - d))


def test_binary_and_multilabel():
    x = torch.zeros(1, 1, 4)  # p = 0.5
    t = torch.tensor([[[1.0, 1.0, 0.0, 255.0]]])
    # I = 1, P = 1.5, G = 2 over the three kept pixels
    assert L.dice_loss(x, t, mode="binary", ignore_index=255).item() == pytest.approx(1 - 2 / 3.5)
    assert L.dice_loss(x, t[:, 0], mode="binary", ignore_index=255).item() == pytest.approx(1 - 2 / 3.5)
    x2 = torch.zeros(1, 2, 3)
    t2 = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    # channel 0: D = 2 / 3.5, channel 1 absent ("present") or D = 0 ("all")
    assert L.dice_loss(x2, t2, mode="multilabel").item() == pytest.approx(1 - 2 / 3.5)
    assert L.dice_loss(x2, t2, mode="multilabel", classes="all").item() == pytest.approx(
        (1 - 2 / 3.5 + 1) / 2
    )
    with pytest.raises(ValueError, match="one channel"):
        L.dice_loss(x2, t2, mode="binary")


def test_errors():
    x = torch.randn(1, 3, 4)
    y = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="classes"):
        L.dice_loss(x, y, classes="some")
    with pytest.raises(ValueError, match="mode"):
        L.DiceLoss(mode="softmax")
    with pytest.raises(ValueError, match="smooth"):
        L.dice_loss(x, y, smooth=-1.0)
    with pytest.raises(ValueError, match=r"target must have shape .*\(1, 4\)"):
        L.dice_loss(x, torch.zeros(1, 5, dtype=torch.long))


@pytest.mark.parametrize("gamma", [1.5, 4 / 3, 0.75])
def test_focal_tversky_near_perfect_prediction_is_finite(gamma):
    # Confident, correct float32 predictions: I_c (a scatter_add) and P_c (a sum) are
    # rounded differently, so FP = P - I can come out slightly negative and
    # T_c slightly above 1; (1 - T_c) ** gamma must then be 0, not NaN.
    gen = torch.Generator().manual_seed(55)
    y = torch.randint(0, 3, (2, 12754), generator=gen)
    noise = torch.randn(2, 3, 12754, generator=gen) * 0.2
    x = (torch.nn.functional.one_hot(y, 3).permute(0, 2, 1) * 13.22 + noise).requires_grad_(True)
    terms = L.tversky_loss(x, y, gamma=gamma, reduction="none")
    assert torch.isfinite(terms).all() and (terms >= 0).all(), terms
    loss = L.tversky_loss(x, y, gamma=gamma)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert loss.item() < 1e-4


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_binary_target_out_of_range_is_an_error(mode):
    x = torch.randn(2, 1, 4, 4)
    t = torch.randint(0, 2, (2, 1, 4, 4)).float()
    t[1, 0, 2, 2] = 255
    with pytest.raises(ValueError, match=r"target contains 255.*\[0, 1\]"):
        L.dice_loss(x, t, mode=mode)
    with pytest.raises(ValueError, match=r"target contains 255"):
        L.TverskyLoss(mode=mode)(x, t)
    assert torch.isfinite(L.dice_loss(x, t, mode=mode, ignore_index=255))


@pytest.mark.parametrize("fn", [L.dice_loss, L.jaccard_loss, L.tversky_loss])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_eps_zero_with_an_ignored_image_has_finite_gradients(fn, classes):
    # eps=0 is allowed; an image with no kept pixel has P = G = I = 0, and 0 / 0 in
    # the (unselected) branch of torch.where still sent NaN into every gradient.
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (2, 4, 4))
    y[1] = 255
    loss = fn(x, y, ignore_index=255, eps=0.0, per_image=True, classes=classes)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad[1], torch.zeros_like(x.grad[1]))
    x0 = x.detach()[:1].requires_grad_(True)
    alone = fn(x0, y[:1], ignore_index=255, eps=0.0, per_image=True, classes=classes)
    alone.backward()
    # the ignored image counts as 0 in the mean over the 2 images
    torch.testing.assert_close(loss, alone / 2)
    torch.testing.assert_close(x.grad[:1], x0.grad / 2)
    x.grad = None
    all_ignored = fn(x, torch.full_like(y, 255), ignore_index=255, eps=0.0, classes=classes)
    all_ignored.backward()
    assert all_ignored.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def _brute_per_image_multilabel(x, t, ignore, kind, classes, weight, smooth, eps, alpha=0.5, beta=0.5):
    """The per-image multilabel mean, element by element in plain Python: an (image,
    channel) pair whose elements are all ignored counts as 0 and stays in the image's
    denominator (Berman's convention for an all-ignored image)."""
    n, c = x.shape[:2]
    xs = x.reshape(n, c, -1).tolist()
    ts = t.reshape(n, c, -1).tolist()
    per_image = []
    for i in range(n):
        num = den = 0.0
        for k in range(c):
            kept = [
                (1 / (1 + math.exp(-a)), b) for a, b in zip(xs[i][k], ts[i][k], strict=True) if b != ignore
            ]
            if not kept:
                num += 0.0
                den += weight[k]
                continue
            inter = sum(p * g for p, g in kept)
            psum = sum(p for p, _ in kept)
            gsum = sum(g for _, g in kept)
            if classes == "present" and gsum == 0:
                continue
            if kind == "dice":
                score = (2 * inter + smooth) / max(psum + gsum + smooth, eps)
            elif kind == "jaccard":
                score = (inter + smooth) / max(psum + gsum - inter + smooth, eps)
            else:
                fp, fn = psum - inter, gsum - inter
                score = (inter + smooth) / max(inter + alpha * fp + beta * fn + smooth, eps)
            num += weight[k] * (1 - score)
            den += weight[k]
        per_image.append(num / den if den > 0 else 0.0)
    return sum(per_image) / n


@pytest.mark.parametrize("kind", ["dice", "jaccard", "tversky"])
@pytest.mark.parametrize("classes", ["present", "all"])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_multilabel_per_image_all_ignored_pair_counts_as_zero(kind, classes, smooth):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64, generator=gen)
    t = torch.randint(0, 2, x.shape, generator=gen).to(torch.float64)
    t[0, 1] = 255  # image 0, channel 1: every element ignored
    t[1, 3] = 255  # image 1, channel 3 too
    t[1, 0, :2] = 255  # a partly ignored pair
    t[2, 2] = 0.0  # a kept pair with no positive (absent from "present")
    t[2, 0] = 255  # image 2, channel 0: all ignored
    weight = [0.5, 1.0, 2.0, 1.5]
    fn = {"dice": L.dice_loss, "jaccard": L.jaccard_loss, "tversky": L.tversky_loss}[kind]
    kw = {"alpha": 0.3, "beta": 0.7} if kind == "tversky" else {}
    got = fn(
        x,
        t,
        mode="multilabel",
        ignore_index=255,
        per_image=True,
        classes=classes,
        weight=weight,
        smooth=smooth,
        **kw,
    )
    expected = _brute_per_image_multilabel(
        x, t, 255, kind, classes, weight, smooth, 1e-7, **({"alpha": 0.3, "beta": 0.7} if kw else {})
    )
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # the all-ignored pairs are 0 in "none" and add nothing to "sum"
    terms = fn(
        x,
        t,
        mode="multilabel",
        ignore_index=255,
        per_image=True,
        classes=classes,
        weight=weight,
        smooth=smooth,
        reduction="none",
        **kw,
    )
    assert terms[0, 1].item() == 0.0 and terms[1, 3].item() == 0.0 and terms[2, 0].item() == 0.0


def test_multilabel_per_image_with_every_pair_ignored_is_zero():
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    t = torch.full((2, 3, 4), 255.0)
    loss = L.dice_loss(x, t, mode="multilabel", ignore_index=255, per_image=True)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))
    # binary mode per image: an all-ignored image is 0 in the mean over images, as before
    tb = torch.randint(0, 2, (2, 1, 4)).double()
    tb[1] = 255
    xb = x.detach()[:, :1]
    both = L.dice_loss(xb, tb, mode="binary", ignore_index=255, per_image=True)
    alone = L.dice_loss(xb[:1], tb[:1], mode="binary", ignore_index=255, per_image=True)
    assert both.item() == pytest.approx(alone.item() / 2, rel=1e-12)
