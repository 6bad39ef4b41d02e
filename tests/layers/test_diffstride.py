"""DiffStride: learnable spectral stride (reference google-research/diffstride) and its regularizer.

The reference mask on an axis is ``m(p) = clip((R + T - p) / R, 0, 1)`` over the frequency
positions ``p``, with ``T_h = H / S_h / 2`` on the two-sided (height) axis and
``T_w = W / S_w / 2 + 1`` on the half-spectrum (width) axis. The ramp lies outside the target
``T`` and the spectrum is cropped where the mask is non-zero (``p < T + R``), so the output is
about ``H / S + 2R`` pixels.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from nas.layers.diffstride import (
    DiffStride,
    auto_smoothness,
    clamp_strides_,
    complexity_regularizer,
    kept_columns,
    kept_rows,
)
from nas.layers.spectral_pool import SpectralPool

# ---------------------------------------------------------------------------------------------
# An independent FFT implementation of the reference formula.
# ---------------------------------------------------------------------------------------------


def reference_diffstride(
    x: Tensor, stride: Tensor, smoothness: float, placement: str = "outside"
) -> Tensor:
    """rfft2 -> reference masks -> crop where mask > 0 -> irfft2, all with norm="forward".

    ``placement="inside"``: the ramp ends at the target, ``clip((T - p) / R, 0, 1)``, and the
    crop keeps the positions whose mask is above 0.01.

    ``stride`` (2,) is taken as given (already within its bounds). Output width: irfft's
    ``2 * (columns - 1)``, except when the whole half spectrum of an odd width is kept, where the
    layer keeps the input width (the TF reference would give ``W - 1`` there).
    """
    h, w = x.shape[-2:]
    spec = torch.fft.rfft2(x.double(), norm="forward")  # (N, C, H, W//2+1)
    r = torch.arange(h // 2 + h % 2, dtype=torch.float64)
    # The TF reference calls fftshift here; it equals ifftshift on even axes. On odd axes
    # fftshift is off by one (DC would get p = 1 and the mask would not be Hermitian); the layer
    # uses the symmetric layout p = |f|, which is ifftshift.
    pos_h = torch.fft.ifftshift(torch.cat([r[h % 2 :].flip(0), r]))  # (H,)
    pos_w = torch.arange(w // 2 + 1, dtype=torch.float64)  # (W//2+1,)
    s = stride.double()
    top = smoothness if placement == "outside" else 0.0
    floor = 0.0 if placement == "outside" else 0.01
    mask_h = ((top + h / s[0] / 2 - pos_h) / smoothness).clamp(0, 1)
    mask_w = ((top + w / s[1] / 2 + 1 - pos_w) / smoothness).clamp(0, 1)
    spec = spec * mask_h[:, None] * mask_w[None, :]
    rows = torch.nonzero(mask_h.detach() > floor)[:, 0]
    cols = torch.nonzero(mask_w.detach() > floor)[:, 0]
    spec = spec.index_select(-2, rows).index_select(-1, cols)
    out_w = w if len(cols) == w // 2 + 1 else 2 * (len(cols) - 1)
    return torch.fft.irfft2(spec, s=(len(rows), out_w), norm="forward")


def clamped(size: int, stride: float, smoothness: float) -> float:
    """The stride bounded to ``[n / (n - R), n / 2]`` (lower_bound 1, n > R)."""
    return min(max(stride, size / (size - smoothness)), size / 2)


def band_limited(n: int, max_freq: int) -> Tensor:
    """(1, 1, n, n) sum of cosines with all frequencies |f| <= max_freq on both axes."""
    i = torch.arange(n, dtype=torch.float64)
    r, c = torch.meshgrid(i, i, indexing="ij")
    k = 2 * math.pi / n
    f = max_freq
    x = (
        0.7
        + torch.cos(k * (f * r + (f - 1) * c) + 0.3)
        + 0.5 * torch.cos(k * (-f * r + 2 * c) - 1.1)
        + torch.sin(k * f * c)
        + 0.25 * torch.cos(k * ((f - 1) * r - f * c))
    )
    return x[None, None].float()


# ---------------------------------------------------------------------------------------------
# Output size
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "stride", "smoothness", "expected"),
    [
        # H=28, S=2, R=4: T=7, mask > 0 for p < 11 -> p = 0..10, 11 distinct positions, each
        # twice on an even axis -> 22 rows. W: T_w = 28/2/2 + 1 = 8, columns c < 12 -> 12
        # columns -> irfft width 2 * (12 - 1) = 22.
        ((28, 28), (2.0, 2.0), 4.0, (22, 22)),
        # Stride 1 is raised to 28/24: T=12, p < 16 -> capped at the 14 distinct positions ->
        # 28 rows; T_w = 13, c < 17 -> all 15 columns -> 28.
        ((28, 28), (1.0, 1.0), 4.0, (28, 28)),
        # H=32, S=4: T=4, p < 8 -> 8 positions -> 16 rows; T_w = 5, c < 9 -> 9 columns -> 16.
        ((32, 32), (4.0, 4.0), 4.0, (16, 16)),
        # Upper bound S = n/2 = 14: T=1, p < 5 -> 10 rows; T_w = 2, c < 6 -> 6 columns -> 10.
        ((28, 28), (14.0, 14.0), 4.0, (10, 10)),
        ((28, 28), (50.0, 50.0), 4.0, (10, 10)),  # bounded to 14 first
        # Odd: H=27, S=3: T=4.5, p < 8.5 -> p = 0..8, 9 positions, p=0 once on an odd axis ->
        # 2*9 - 1 = 17 rows. W=27: T_w = 5.5, c < 9.5 -> 10 columns -> 2 * 9 = 18.
        ((27, 27), (3.0, 3.0), 4.0, (17, 18)),
        # H=32, S=1.5: T=10.67, p < 14.67 -> 15 positions -> 30 rows. W=28, S=2.5:
        # T_w = 6.6, c < 10.6 -> 11 columns -> 20.
        ((32, 28), (1.5, 2.5), 4.0, (30, 20)),
        # R=2: H=28, S=2: T=7, p < 9 -> 18 rows; T_w = 8, c < 10 -> 10 columns -> 18.
        ((28, 28), (2.0, 2.0), 2.0, (18, 18)),
        # H=32, S=2.5: T=6.4, p < 10.4 -> 11 positions -> 22 rows; T_w = 7.4, c < 11.4 -> 12
        # columns -> 22.
        ((32, 32), (2.5, 2.5), 4.0, (22, 22)),
        # Odd width at its lower bound keeps the whole half spectrum and the input width.
        ((28, 27), (1.0, 1.0), 4.0, (28, 27)),
    ],
)
def test_output_size_by_hand(
    size: tuple[int, int],
    stride: tuple[float, float],
    smoothness: float,
    expected: tuple[int, int],
) -> None:
    layer = DiffStride(stride, smoothness=smoothness)
    assert layer.output_size(*size) == expected
    assert layer(torch.randn(2, 3, *size)).shape == (2, 3, *expected)
    assert layer.output_size(*size) == expected  # also after the in-place clamp


def test_kept_rows_and_columns_helpers() -> None:
    assert kept_rows(28, 2.0, 4.0) == 22
    assert kept_rows(27, 3.0, 4.0) == 17
    assert kept_columns(28, 2.0, 4.0) == (12, 22)
    assert kept_columns(27, 3.0, 4.0) == (10, 18)
    assert kept_columns(27, 27 / 23, 4.0) == (14, 27)


def test_output_shrinks_monotonically_as_the_stride_grows() -> None:
    x = torch.randn(1, 1, 32, 32)
    strides = (1.0, 1.3, 1.7, 2.0, 2.6, 3.3, 4.0, 6.0, 8.0, 12.0, 16.0)
    sizes = [DiffStride((s, s))(x).shape[-2:] for s in strides]
    heights = [s[0] for s in sizes]
    widths = [s[1] for s in sizes]
    assert heights == sorted(heights, reverse=True)
    assert widths == sorted(widths, reverse=True)
    # 32 at the lower bound; at 16: T=1, p < 5 -> 10 rows, T_w=2, c < 6 -> 10 columns.
    assert sizes[0] == (32, 32) and sizes[-1] == (10, 10)
    assert len(set(heights)) >= 6  # it really moves, not just two plateaus


def test_smaller_smoothness_gives_smaller_outputs() -> None:
    x = torch.randn(1, 1, 32, 32)
    for stride in (2.0, 3.0, 5.0):
        sizes = [DiffStride(stride, smoothness=r)(x).shape[-2:] for r in (8.0, 4.0, 2.0, 1.0)]
        for bigger, smaller in itertools.pairwise(sizes):
            assert smaller[0] <= bigger[0] and smaller[1] <= bigger[1]
        assert sizes[-1][0] < sizes[1][0] and sizes[-1][1] < sizes[1][1]  # R=1 < R=4


def test_stride_bounds_are_applied_in_place_by_forward() -> None:
    layer = DiffStride((1.0, 100.0))
    assert layer.stride == (1.0, 100.0)  # raw parameter before any forward
    layer(torch.randn(1, 1, 28, 24))
    sh, sw = layer.stride
    assert sh == pytest.approx(28 / 24) and sw == 12.0


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(4, 64),
    w=st.integers(4, 64),
    uh=st.floats(0.0, 1.0),
    uw=st.floats(0.0, 1.0),
    smoothness=st.sampled_from([1.0, 2.0, 4.0]),
)
def test_output_size_property(h: int, w: int, uh: float, uw: float, smoothness: float) -> None:
    sh, sw = 1.0 + uh * (h / 2 - 1.0), 1.0 + uw * (w / 2 - 1.0)  # strides in [1, n/2]
    layer = DiffStride((sh, sw), smoothness=smoothness)
    expected = layer.output_size(h, w)
    out = tuple(layer(torch.randn(1, 1, h, w)).shape[-2:])
    assert out == expected
    assert 2 <= out[0] <= h and 2 <= out[1] <= w


# ---------------------------------------------------------------------------------------------
# Forward and gradients against the FFT reference
# ---------------------------------------------------------------------------------------------

REFERENCE_CASES = [
    ((28, 28), (2.0, 2.0), 4.0),
    # Stride 1 is raised in place to n/(n-R): 28/25 and 30/27, T_h = 12.5, T_w = 14.5. (With
    # R=4 on an even axis the bound makes T an integer, a position sits on the clip's kink and
    # the float32 layer and the float64 reference may pick different one-sided derivatives.)
    ((28, 30), (1.0, 1.0), 3.0),
    ((32, 27), (1.7, 2.6), 4.0),
    ((15, 20), (3.1, 1.4), 4.0),
    ((9, 13), (4.5, 6.5), 4.0),  # upper bounds n/2
    ((28, 28), (2.3, 3.7), 2.0),
    ((17, 16), (2.2, 1.9), 1.5),
]


@pytest.mark.parametrize(("size", "stride", "smoothness"), REFERENCE_CASES)
def test_forward_and_stride_gradient_match_the_fft_reference(
    size: tuple[int, int], stride: tuple[float, float], smoothness: float
) -> None:
    torch.manual_seed(0)
    h, w = size
    x = torch.randn(2, 3, h, w)
    layer = DiffStride(stride, smoothness=smoothness)
    y = layer(x)

    bounded = (clamped(h, stride[0], smoothness), clamped(w, stride[1], smoothness))
    torch.testing.assert_close(
        layer.stride_param.detach().double(),
        torch.tensor(bounded, dtype=torch.float64),
        rtol=1e-6,
        atol=0.0,
    )
    assert_matches_reference(layer, x, y, smoothness, "outside")


def assert_matches_reference(
    layer: DiffStride, x: Tensor, y: Tensor, smoothness: float, placement: str
) -> None:
    """The layer's output ``y`` and its stride gradient equal the FFT reference's."""
    ref_stride = layer.stride_param.detach().clone().requires_grad_()
    y_ref = reference_diffstride(x, ref_stride, smoothness, placement=placement)
    assert y.shape == y_ref.shape
    torch.testing.assert_close(y.double(), y_ref, atol=2e-5, rtol=1e-4)
    weights = torch.randn(y.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((y.double() * weights).sum(), layer.stride_param)
    (grad_ref,) = torch.autograd.grad((y_ref * weights).sum(), ref_stride)
    assert grad_ref.abs().min() > 1e-3  # the comparison is not between zeros
    torch.testing.assert_close(grad.double(), grad_ref.double(), rtol=1e-4, atol=1e-6)


INSIDE_CASES = [
    ((28, 28), (2.3, 2.6), 1.75),
    ((28, 30), (1.0, 1.0), 1.0),  # the floor is 1 inside: no raise, the ramp still bites
    ((32, 27), (1.7, 2.6), 2.0),
    ((15, 20), (3.1, 1.4), 1.0),
    ((14, 14), (2.2, 2.7), 1.0),
    ((17, 16), (2.2, 1.9), 1.5),
]


@pytest.mark.parametrize(("size", "stride", "smoothness"), INSIDE_CASES)
def test_inside_ramp_matches_the_fft_definition(
    size: tuple[int, int], stride: tuple[float, float], smoothness: float
) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, *size)
    layer = DiffStride(stride, smoothness=smoothness, ramp="inside")
    y = layer(x)
    assert layer.stride == pytest.approx(stride)  # within [1, n/2]: not moved by the clamp
    assert_matches_reference(layer, x, y, smoothness, "inside")


@pytest.mark.parametrize(
    ("size", "stride", "smoothness", "expected"),
    [
        # Inside, the crop keeps p < T - 0.01 R: H=28, S=2: T=7 -> p = 0..6 -> 14 rows;
        # T_w = 8 -> columns 0..7 -> 14 wide: the size of fixed spectral pooling.
        ((28, 28), (2.0, 2.0), 1.75, (14, 14)),
        # A hair under 2 does not add a row at weight ~0: T = 7.0035, p < 6.986 -> 14.
        ((28, 28), (1.999, 1.999), 1.75, (14, 14)),
        # H=14, S=2: T=3.5 -> p = 0..3 -> 8 rows (p = 3 at weight 0.5); T_w = 4.5 -> 5
        # columns -> 8 wide.
        ((14, 14), (2.0, 2.0), 1.0, (8, 8)),
        # H=7 (odd), S=3.5: T=1 -> p < 0.99 would leave 1 row; at least p = 0, 1 -> 3 rows.
        ((7, 7), (3.5, 3.5), 1.0, (3, 2)),
        # Stride 1 keeps the whole map.
        ((28, 27), (1.0, 1.0), 1.75, (28, 27)),
    ],
)
def test_inside_output_size_by_hand(
    size: tuple[int, int],
    stride: tuple[float, float],
    smoothness: float,
    expected: tuple[int, int],
) -> None:
    layer = DiffStride(stride, smoothness=smoothness, ramp="inside")
    assert layer.output_size(*size) == expected
    assert layer(torch.randn(2, 3, *size)).shape == (2, 3, *expected)


def test_inside_ramp_at_r1_and_an_integer_target_is_fixed_spectral_pooling() -> None:
    # Every kept frequency has mask 1 when T is an integer and R = 1: a hard crop.
    torch.manual_seed(0)
    x = torch.randn(2, 3, 28, 28)
    pooled = SpectralPool((2, 2))(x)
    learned = DiffStride((2.0, 2.0), smoothness=1.0, ramp="inside")(x)
    torch.testing.assert_close(learned, pooled, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("size", "expected"), [(7, 1.0), (14, 1.0), (16, 1.0), (28, 1.75), (32, 2.0), (224, 4.0)]
)
def test_auto_smoothness_is_a_sixteenth_of_the_axis_within_1_and_4(
    size: int, expected: float
) -> None:
    assert auto_smoothness(size) == expected
    layer = DiffStride(2.0, smoothness="auto", ramp="inside")
    assert layer.smoothness_for(size, 14) == (expected, 1.0)


def test_auto_smoothness_lets_small_maps_shrink_where_r4_cannot() -> None:
    # The case: with R = 4 a 7-pixel map keeps all 7 pixels at any stride.
    x = torch.randn(1, 2, 7, 7)
    assert DiffStride(3.0, smoothness=4.0)(x).shape[-2:] == (7, 7)
    assert DiffStride(3.0, smoothness="auto", ramp="inside")(x).shape[-2:] == (3, 4)
    # Outside with R = 1: T = 7/3/2 = 1.17, p < 2.17 -> 3 positions -> 5 rows; T_w = 2.17,
    # c < 3.17 -> all 4 columns of the half spectrum -> the input width, 7.
    assert DiffStride(3.0, smoothness="auto")(x).shape[-2:] == (5, 7)


def test_inside_floor_is_the_lower_bound_and_stride_one_still_learns() -> None:
    layer = DiffStride((1.0, 1.0), smoothness="auto", ramp="inside")
    layer(torch.randn(4, 3, 28, 28)).square().mean().backward()
    assert layer.stride == (1.0, 1.0)  # not raised to n / (n - R)
    assert layer.last_bounds == ((1.0, 14.0), (1.0, 14.0))
    grad = layer.stride_param.grad
    assert grad is not None and torch.all(grad.abs() > 1e-5)


def test_gradients_reach_the_strides() -> None:
    torch.manual_seed(0)
    for stride in [(2.0, 1.5), (1.0, 1.0)]:  # 1.0: raised to n/(n-R), the ramp still bites
        layer = DiffStride(stride)
        layer(torch.randn(4, 3, 28, 28)).square().mean().backward()
        grad = layer.stride_param.grad
        assert grad is not None
        assert torch.all(grad.abs() > 1e-4), (stride, grad)


def test_shared_instance_two_uses_consistent_and_both_contribute() -> None:
    torch.manual_seed(0)
    layer = DiffStride((2.5, 2.0))
    a, b = torch.randn(2, 4, 28, 28), torch.randn(2, 8, 28, 28)

    ya, yb = layer(a), layer(b)
    # H: T = 5.6, p < 9.6 -> 10 positions -> 20 rows; W: T_w = 8, c < 12 -> 22.
    assert ya.shape[-2:] == yb.shape[-2:] == (20, 22)

    grads = []
    for loss in (ya.square().mean(), yb.square().mean()):
        (g,) = torch.autograd.grad(loss, layer.stride_param, retain_graph=True)
        grads.append(g)
    assert all(torch.all(g.abs() > 1e-4) for g in grads)

    (ya.square().mean() + yb.square().mean()).backward()
    assert layer.stride_param.grad is not None
    torch.testing.assert_close(layer.stride_param.grad, grads[0] + grads[1])


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "stride"),
    [((28, 28), 2.0), ((8, 8), 2.0), ((28, 30), 5.0), ((5, 7), 1.3), ((27, 16), 1.0)],
)
def test_constant_image_keeps_its_value(size: tuple[int, int], stride: float) -> None:
    # The DC bin has p = 0 < T, so its mask is 1.
    y = DiffStride(stride)(torch.full((1, 2, *size), 3.0))
    torch.testing.assert_close(y, torch.full_like(y, 3.0))


def test_band_limited_signal_passes_at_stride_one() -> None:
    # 32 at stride 1 -> 32/28: T = 14, the mask is 1 for p <= 14, so |f| <= 7 is untouched.
    x = band_limited(32, 7)
    y = DiffStride(1.0)(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_band_limited_signal_is_exactly_subsampled() -> None:
    # 32 at S=4: T = 4, p < 8 -> 16 rows; T_w = 5, c < 9 -> 16 columns. The mask is 1 for
    # p <= 4 (|f| <= 4) and c <= 5, so a signal with |f| <= 4 is evaluated on the coarse grid.
    x = band_limited(32, 4)
    y = DiffStride(4.0)(x)
    assert y.shape == (1, 1, 16, 16)
    torch.testing.assert_close(y, x[..., ::2, ::2], atol=1e-5, rtol=0)


def test_output_is_continuous_where_the_crop_grows() -> None:
    # 28 at R=4: T + R = 14/S + 4 crosses 11 at S = 2 (rows) and T_w + R = 14/S + 5 crosses 12
    # (columns): just below S = 2 the crop grows from 22 to 24 but the entering frequencies have
    # mask ~0, so the kept spectrum is (almost) the same on both sides of the jump.
    torch.manual_seed(0)
    x = torch.randn(1, 1, 28, 28)
    above = DiffStride(2.0 + 1e-4)(x)
    below = DiffStride(2.0 - 1e-4)(x)
    assert above.shape[-2:] == (22, 22) and below.shape[-2:] == (24, 24)

    # Compare frequencies strictly below the 22-grid's Nyquist (rows -10..10, columns 0..10).
    def low(y: Tensor) -> Tensor:
        spec = torch.fft.rfft2(y, norm="forward")
        return torch.cat([spec[..., :11, :11], spec[..., -10:, :11]], dim=-2)

    torch.testing.assert_close(low(below), low(above), atol=1e-3, rtol=0)


# ---------------------------------------------------------------------------------------------
# Learning the stride
# ---------------------------------------------------------------------------------------------


def test_learned_stride_grows_under_the_regularizer() -> None:
    model = nn.Sequential(DiffStride((1.5, 1.5)), DiffStride((1.5, 1.5)))
    x = torch.randn(2, 1, 32, 32)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        model(x)  # sets the bounds from the input size
        complexity_regularizer(model).backward()
        opt.step()
        clamp_strides_(model)
    first = model[0]
    assert isinstance(first, DiffStride)
    assert min(first.stride) > 1.5 + 1.0, first.stride


def test_learned_stride_shrinks_when_frequencies_are_rewarded() -> None:
    # Maximizing the output energy (sum of kept, masked |X(f)|^2 by Parseval) prefers keeping
    # more frequencies, i.e. a smaller stride.
    torch.manual_seed(0)
    layer = DiffStride((3.0, 3.0))
    x = torch.randn(4, 2, 32, 32)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        (-layer(x).square().mean()).backward()
        opt.step()
        layer.clamp_()
    assert max(layer.stride) < 3.0 - 1.0, layer.stride
    assert min(layer.stride) >= 32 / 28 - 1e-6


# ---------------------------------------------------------------------------------------------
# Regularizer, bounds, arguments
# ---------------------------------------------------------------------------------------------


def test_regularizer_value_on_a_known_model() -> None:
    shared = DiffStride((2.0, 2.0))
    model = nn.Sequential(shared, DiffStride((2.0, 1.5)), shared)  # shared counted once
    # layer 1: 1 / (2 * 2) = 1/4; layer 2: 1/4 * 1 / (2 * 1.5) = 1/12; total 1/4 + 1/12 = 1/3
    expected = 1 / (2 * 2) + 1 / (2 * 2) * 1 / (2 * 1.5)
    assert expected == pytest.approx(1 / 3)
    value = complexity_regularizer(model)
    assert value.dim() == 0
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert complexity_regularizer(model, weight=0.5).item() == pytest.approx(expected / 2, rel=1e-6)
    value.backward()
    assert shared.stride_param.grad is not None and torch.all(shared.stride_param.grad < 0)


def test_regularizer_without_diffstride_is_zero() -> None:
    value = complexity_regularizer(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU()))
    assert value.dim() == 0 and value.item() == 0.0


def test_strides_stay_within_bounds_after_aggressive_updates() -> None:
    # 28 x 24 at R=4: S_h in [28/24, 14], S_w in [24/20, 12].
    low_h, high_h, low_w, high_w = 28 / 24, 14.0, 24 / 20, 12.0
    layer = DiffStride((2.0, 2.0))
    x = torch.randn(1, 1, 28, 24)
    layer(x)
    opt = torch.optim.SGD(layer.parameters(), lr=1e3)
    for sign, expected in ((1.0, (10, 10)), (-1.0, (28, 24))):  # push far up, then far down
        for _ in range(3):
            opt.zero_grad()
            (-sign * layer.effective_stride().sum()).backward()
            opt.step()
            # Out of bounds now; output_size and forward both bound it.
            assert layer.output_size(28, 24) == expected
            y = layer(x)
            assert y.shape[-2:] == expected
            sh, sw = layer.stride  # forward clamped the parameter in place
            assert low_h - 1e-6 <= sh <= high_h and low_w - 1e-6 <= sw <= high_w
            layer.clamp_()
            sh_raw, sw_raw = layer.stride_param.tolist()
            assert low_h - 1e-6 <= sh_raw <= high_h and low_w - 1e-6 <= sw_raw <= high_w
        sh, sw = layer.stride
        if sign > 0:
            assert (sh, sw) == (high_h, high_w)
        else:
            assert sh == pytest.approx(low_h) and sw == pytest.approx(low_w)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        DiffStride((0.5, 2.0))
    with pytest.raises(ValueError):
        DiffStride(smoothness=0.0)
    with pytest.raises(ValueError):
        DiffStride(lower_bound=0.5)
    with pytest.raises(ValueError):
        DiffStride()(torch.randn(1, 1, 1, 8))


def test_a_frozen_layer_is_the_same_map_with_no_stride_gradient() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 14, 14)
    learned = DiffStride((2.4, 1.7), smoothness="auto", ramp="inside")
    frozen = DiffStride((2.4, 1.7), smoothness="auto", ramp="inside", learnable=False)
    torch.testing.assert_close(learned(x), frozen(x), rtol=0, atol=0)
    frozen(x.requires_grad_()).sum().backward()
    assert frozen.stride_param.grad is None and x.grad is not None


def test_frozen_must_be_0_or_1() -> None:
    from nas.errors import SpecError
    from nas.spec import ArchSpec

    with pytest.raises(SpecError) as info:
        ArchSpec.from_string("t:r16:c1:n5:relu:stem_c8:basic_r1_s2_c8_diffstride_frozen=2:head_d0")
    assert info.value.field == "stages[0].extras.frozen"
