"""Lovász-Softmax and Lovász hinge."""

from __future__ import annotations

import pytest
import torch

import segstats.losses as L

# A (0.75, 0.25) -> 0, B (0.25, 0.75) -> 0, C (0.5, 0.5) -> 1 (worked by hand from
# Berman's algorithm: class 0 errors sorted .75(g1) .5(g0) .25(g1), Jaccard steps
# .5, 1/6, 1/3; class 1 errors .75(g0) .5(g1) .25(g0), steps .5, .5, 0)
PROBS = [[0.75, 0.25], [0.25, 0.75], [0.5, 0.5]]
L0 = 0.75 * 0.5 + 0.5 / 6 + 0.25 / 3
L1 = 0.75 * 0.5 + 0.5 * 0.5


def test_softmax_closed_form(logits_for):
    x = logits_for(PROBS)
    y = torch.tensor([[0, 0, 1]])
    assert L.lovasz_softmax_loss(x, y).item() == pytest.approx((L0 + L1) / 2)
    assert L.lovasz_softmax_loss(x, y, weight=[1.0, 3.0]).item() == pytest.approx((L0 + 3 * L1) / 4)
    torch.testing.assert_close(
        L.lovasz_softmax_loss(x, y, reduction="none"), torch.tensor([L0, L1], dtype=torch.float64)
    )
    # an ignored pixel changes nothing
    x4 = torch.cat([x, torch.randn(1, 2, 1, dtype=torch.float64)], dim=2)
    y4 = torch.tensor([[0, 0, 1, 255]])
    assert L.lovasz_softmax_loss(x4, y4, ignore_index=255).item() == pytest.approx((L0 + L1) / 2)


def test_softmax_present_all_and_per_image(logits_for):
    x = logits_for([[*p, 1e-12] for p in PROBS])  # a third class, absent, p ~ 0
    y = torch.tensor([[0, 0, 1]])
    assert L.lovasz_softmax_loss(x, y).item() == pytest.approx((L0 + L1) / 2)
    # absent class under "all": the largest error, max p_2 ~ 0
    assert L.lovasz_softmax_loss(x, y, classes="all").item() == pytest.approx((L0 + L1) / 3, abs=1e-9)
    x2 = torch.cat([x, x.flip(2)])
    y2 = torch.cat([y, y.flip(1)])
    assert L.lovasz_softmax_loss(x2, y2, per_image=True).item() == pytest.approx((L0 + L1) / 2)
    assert L.lovasz_softmax_loss(x2, y2, per_image=True, reduction="none").shape == (2, 3)


def test_hinge_closed_form():
    # errors 1 - x s = [-1, 2, 1.5]; sorted 2(g1) 1.5(g0) -1(g1); steps .5, 1/6, 1/3
    x = torch.tensor([[[2.0, -1.0, 0.5]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 1.0, 0.0]]], dtype=torch.float64)
    assert L.lovasz_hinge_loss(x, t).item() == pytest.approx(2 * 0.5 + 1.5 / 6)
    t_ign = torch.tensor([[[1.0, 1.0, 0.0, 255.0]]], dtype=torch.float64)
    x4 = torch.cat([x, torch.tensor([[[9.0]]], dtype=torch.float64)], dim=2)
    assert L.lovasz_hinge_loss(x4, t_ign, ignore_index=255).item() == pytest.approx(1.25)
    assert L.LovaszHingeLoss()(x, t[:, 0]).item() == pytest.approx(1.25)


def test_no_python_loop_float64_and_large_c():
    x = torch.randn(2, 40, 9, 9, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 40, (2, 9, 9))
    loss = L.lovasz_softmax_loss(x, y, per_image=True)
    loss.backward()
    assert loss.dtype == torch.float64 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_softmax_ignore_index_that_is_a_class_index(per_image, classes):
    # ignore_index=0 (a "void = 0" dataset) must ignore those pixels exactly as
    # ignore_index=255 does: they are no class's foreground, not even class 0's.
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    y = torch.randint(1, 3, (2, 4, 5))
    y[0, 0] = 0
    y[1, :, :2] = 0
    y255 = torch.where(y == 0, 255, y)
    kw = {"per_image": per_image, "classes": classes, "reduction": "none"}
    torch.testing.assert_close(
        L.lovasz_softmax_loss(x, y, ignore_index=0, **kw),
        L.lovasz_softmax_loss(x, y255, ignore_index=255, **kw),
    )


def test_hinge_target_must_be_zero_or_one():
    x = torch.randn(2, 1, 4, 4)
    t = torch.randint(0, 2, (2, 1, 4, 4)).float()
    t[0, 0, 1, 1] = 255  # void label without ignore_index: was silently a negative
    with pytest.raises(ValueError, match=r"target contains 255.*0 or 1.*ignore_index=None"):
        L.lovasz_hinge_loss(x, t)
    t[0, 0, 1, 1] = 0.5  # a soft label was silently a negative too
    with pytest.raises(ValueError, match=r"target contains 0\.5"):
        L.LovaszHingeLoss()(x, t)
    t[0, 0, 1, 1] = 255
    assert torch.isfinite(L.lovasz_hinge_loss(x, t, ignore_index=255))


def test_per_image_counts_a_fully_ignored_image_as_zero():
    # Berman's reference averages over every image; one with no kept pixel adds 0
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4, 4))
    y[1] = 255
    both = L.lovasz_softmax_loss(x, y, ignore_index=255, per_image=True)
    alone = L.lovasz_softmax_loss(x[:1], y[:1], ignore_index=255, per_image=True)
    torch.testing.assert_close(both, alone / 2)
