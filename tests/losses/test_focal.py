"""focal_loss / FocalLoss and binary_focal_loss / BinaryFocalLoss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import segstats.losses as L


def test_closed_form(logits_for):
    x = logits_for([[0.5, 0.5], [0.25, 0.75]])
    y = torch.tensor([[0, 1]])
    la = 0.25 * math.log(2)  # (1 - 0.5)^2 * -ln 0.5
    lb = 0.0625 * math.log(4 / 3)  # (1 - 0.75)^2 * -ln 0.75
    assert L.focal_loss(x, y).item() == pytest.approx((la + lb) / 2)
    assert L.focal_loss(x, y, weight=[2.0, 1.0]).item() == pytest.approx((2 * la + lb) / 3)
    assert L.focal_loss(x, y, reduction="sum").item() == pytest.approx(la + lb)
    none = L.focal_loss(x, y, weight=[2.0, 1.0], reduction="none")
    torch.testing.assert_close(none, torch.tensor([[2 * la, lb]], dtype=torch.float64))
    # gamma = 1: (1 - p) * -ln p
    assert L.focal_loss(x, y, gamma=1.0).item() == pytest.approx(
        (0.5 * math.log(2) + 0.25 * math.log(4 / 3)) / 2
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_zero_is_cross_entropy(reduction):
    x = torch.randn(3, 6, 5, 7, dtype=torch.float64)
    y = torch.randint(0, 6, (3, 5, 7))
    y[1, 2:] = -100
    w = torch.rand(6, dtype=torch.float64) + 0.1
    ours = L.focal_loss(x, y, weight=w, gamma=0.0, reduction=reduction)
    ref = F.cross_entropy(x, y, weight=w, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    y[y == -100] = 255
    y[0] = 255
    ours = L.FocalLoss(weight=w, gamma=0.0, ignore_index=255, reduction=reduction)(x, y)
    ref = F.cross_entropy(x, y, weight=w, ignore_index=255, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_focal_uses_log_softmax_no_clamp():
    # p_y underflows to 0 in float32: log p = -200 exactly, not log(eps)
    x = torch.tensor([[[200.0], [0.0]]])
    y = torch.tensor([[1]])
    assert L.focal_loss(x, y, gamma=2.0).item() == pytest.approx(200.0)
    # p_y rounds to 1: loss ~ 0, gradient finite for gamma < 1
    x = torch.tensor([[[50.0], [0.0]]], requires_grad=True)
    loss = L.focal_loss(x, torch.tensor([[0]]), gamma=0.5)
    loss.backward()
    assert torch.isfinite(x.grad).all() and loss.item() == pytest.approx(0.0, abs=1e-12)


def _torchvision_sigmoid_focal(x, t, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss's formula (reduction none), written out."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def test_binary_closed_form():
    x = torch.zeros(1, 1, 2)
    t = torch.tensor([[[1.0, 0.0]]])
    ln2 = math.log(2)
    assert L.binary_focal_loss(x, t).item() == pytest.approx(0.125 * ln2)
    assert L.binary_focal_loss(x, t, alpha=-1).item() == pytest.approx(0.25 * ln2)
    assert L.binary_focal_loss(x, t, reduction="sum").item() == pytest.approx(0.25 * ln2)
    t_ign = torch.tensor([[[1.0, 255.0]]])
    assert L.binary_focal_loss(x, t_ign, ignore_index=255).item() == pytest.approx(0.0625 * ln2)


@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("gamma", [0.0, 2.0, 1.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_matches_torchvision_formula(alpha, gamma, reduction):
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    t = torch.rand(2, 3, 4, 5, dtype=torch.float64).round()
    ref = _torchvision_sigmoid_focal(x, t, alpha, gamma)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    ours = L.BinaryFocalLoss(alpha=alpha, gamma=gamma, reduction=reduction)(x, t)
    torch.testing.assert_close(ours, ref)


def test_binary_ignore_and_weight():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    t = torch.rand(2, 3, 4, 5, dtype=torch.float64).round()
    t[0, :, 0] = -1
    keep = t != -1
    per = _torchvision_sigmoid_focal(x, torch.where(keep, t, 0), 0.25, 2.0)
    torch.testing.assert_close(L.binary_focal_loss(x, t, ignore_index=-1), per[keep].mean())
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    wf = w.view(1, 3, 1, 1).expand_as(per)
    expected = (per * wf)[keep].sum() / wf[keep].sum()
    torch.testing.assert_close(L.binary_focal_loss(x, t, ignore_index=-1, weight=w), expected)


def test_errors():
    with pytest.raises(ValueError, match="gamma"):
        L.FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match=r"shape of input \(1, 2, 3\)"):
        L.binary_focal_loss(torch.randn(1, 2, 3), torch.rand(1, 3))


def test_binary_target_out_of_range_is_an_error():
    # a 255 "void" label without ignore_index=255 gave a loss of about -1e8
    x = torch.randn(2, 1, 4, 4)
    t = torch.randint(0, 2, (2, 1, 4, 4)).float()
    t[0, 0, 0, 0] = 255
    with pytest.raises(ValueError, match=r"target contains 255.*\[0, 1\].*ignore_index=None"):
        L.binary_focal_loss(x, t)
    t[0, 0, 0, 0] = -0.5
    with pytest.raises(ValueError, match=r"target contains -0\.5"):
        L.BinaryFocalLoss()(x, t)
    t[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"target contains nan"):
        L.binary_focal_loss(x, t)
    t[0, 0, 0, 0] = 255
    assert torch.isfinite(L.binary_focal_loss(x, t, ignore_index=255))
    assert torch.isfinite(L.binary_focal_loss(x, t.clamp(max=1) * 0.3))  # soft targets
