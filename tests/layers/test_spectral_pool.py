"""Fixed spectral pooling and the shared size rule."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.layers.diffstride import DiffStride
from nas.layers.resnet import Shortcut
from nas.layers.spectral import spectral_output_size, spectral_resample_fft
from nas.layers.spectral_pool import SpectralPool


@pytest.mark.parametrize(
    ("size", "stride", "height", "width"),
    [
        # The reference FixedSpectralPooling (google-research/diffstride pooling.py, build()):
        # strided_height = height // stride, minus its remainder mod 2, at least 2;
        # strided_width = width // stride, at least 2.
        (28, 2, 14, 14),
        (14, 2, 6, 7),  # 7 -> 6 on the height: the 14 px at stride 2 -> 6 x 7
        (28, 3, 8, 9),  # 9.33 -> 9 -> 8 x 9
        (32, 2, 16, 16),
        (32, 4, 8, 8),
        (32, 3, 10, 10),  # 10.67 -> 10
        (32, 1.5, 20, 21),  # 21.33 -> 21 -> 20 x 21
        (28, 2.5, 10, 11),  # 11.2 -> 11 -> 10 x 11
        (7, 2, 2, 3),  # 3.5 -> 3 -> 2 x 3
        (3, 2, 2, 2),  # at least 2
        (32, 16, 2, 2),
        (32, 100, 2, 2),  # past n / 2: still 2 pixels
        (28, 1, 28, 28),
        (7, 1, 7, 7),  # stride 1 leaves an axis alone (the reference would give 6 x 7)
        (2, 1, 2, 2),
        (28, 2.0000001, 14, 14),  # float noise does not drop to the next size
    ],
)
def test_spectral_output_size_table(size: int, stride: float, height: int, width: int) -> None:
    assert spectral_output_size(size, stride, "height") == height
    assert spectral_output_size(size, stride, "width") == width


@pytest.mark.parametrize(("size", "stride"), [(1, 1.0), (28, 0.5), (28, math.nan)])
def test_spectral_output_size_rejects(size: int, stride: float) -> None:
    with pytest.raises(ValueError):
        spectral_output_size(size, stride, "height")


def test_spectral_pool_rejects_stride_below_one() -> None:
    with pytest.raises(ValueError):
        SpectralPool((0.5, 2))


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (32, 28), (9, 13)])
@pytest.mark.parametrize("stride", [(1, 1), (2, 2), (2, 1), (3, 4), (1.5, 2.5), (16, 16)])
def test_hard_crop_equals_the_fft_definition(
    size: tuple[int, int], stride: tuple[float, float]
) -> None:
    # A hard crop at spectral_output_size, no mask: irfft2(crop(rfft2(x))) with norm="forward".
    x = torch.randn(2, 3, *size)
    expected = (
        spectral_output_size(size[0], stride[0], "height"),
        spectral_output_size(size[1], stride[1], "width"),
    )
    layer = SpectralPool(stride)
    y = layer(x)
    assert y.shape == (2, 3, *expected)
    assert layer.output_size(*size) == expected
    torch.testing.assert_close(y, spectral_resample_fft(x, *expected), atol=2e-5, rtol=1e-4)


def _band_limited(n: int) -> torch.Tensor:
    """Sum of cosines with all |frequencies| < n/4: zero spectrum at and above the new Nyquist."""
    i = torch.arange(n, dtype=torch.float64)
    r, c = torch.meshgrid(i, i, indexing="ij")
    two_pi = 2 * math.pi
    x = (
        0.7
        + torch.cos(two_pi * (3 * r + 5 * c) / n + 0.3)
        + 0.5 * torch.cos(two_pi * (-7 * r + 2 * c) / n - 1.1)
        + torch.sin(two_pi * 7 * c / n)
        + 0.25 * torch.cos(two_pi * (6 * r - 7 * c) / n)
    )
    return x[None, None]  # (1, 1, n, n)


def test_band_limited_signal_is_exactly_subsampled() -> None:
    # With norm="forward" the crop + irfft2 evaluates the same trigonometric polynomial on the
    # coarse grid, so it equals x[::2, ::2] exactly. Frequencies must stay below the new Nyquist
    # (|f| < 8 for 32 -> 16): the crop keeps f = -8 but not +8, so a Nyquist cosine would be
    # halved, which is why the construction stops at 7.
    x = _band_limited(32).float()
    y = SpectralPool((2, 2))(x)
    assert y.shape == (1, 1, 16, 16)
    torch.testing.assert_close(y, x[..., ::2, ::2], atol=1e-5, rtol=0)


def test_constant_image_keeps_its_value() -> None:
    x = torch.full((1, 2, 28, 30), 3.0)
    for stride in [(2, 2), (3, 1.5), (14, 15)]:
        torch.testing.assert_close(
            SpectralPool(stride)(x), torch.full_like(SpectralPool(stride)(x), 3.0)
        )


def test_stride_one_is_identity() -> None:
    x = torch.randn(2, 3, 28, 27)
    torch.testing.assert_close(SpectralPool(1)(x), x, atol=1e-5, rtol=1e-5)


def test_reduced_precision_input_keeps_dtype() -> None:
    x = torch.randn(1, 2, 16, 16, dtype=torch.bfloat16)
    assert SpectralPool(2)(x).dtype == torch.bfloat16


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(2, 40),
    w=st.integers(2, 40),
    sh=st.floats(1.0, 30.0, width=32),
    sw=st.floats(1.0, 30.0, width=32),
)
def test_output_size_property(h: int, w: int, sh: float, sw: float) -> None:
    x = torch.randn(1, 1, h, w)
    expected = (spectral_output_size(h, sh, "height"), spectral_output_size(w, sw, "width"))
    assert min(expected) >= 2
    assert expected[0] <= h and expected[1] <= w
    assert expected[0] % 2 == 0 or expected[0] == h  # the height is even unless untouched
    assert expected[1] == max(2, min(w, math.floor(w / sw + 1e-6)))  # the width: floor
    assert tuple(SpectralPool((sh, sw))(x).shape[-2:]) == expected


@pytest.mark.parametrize(
    "pool",
    [
        SpectralPool((2, 3)),
        DiffStride((2.3, 1.7), smoothness="auto", ramp="inside"),
        DiffStride((2.0, 2.0), smoothness=4.0),
    ],
    ids=["spectral", "diffstride-inside", "diffstride-paper"],
)
def test_shortcut_pools_first_and_equals_the_reference_order(pool: torch.nn.Module) -> None:
    # A linear pool commutes with the 1x1 projection: the shortcut pools the fewer input
    # channels first; the reference order is conv1x1 -> pool -> BN.
    torch.manual_seed(0)
    shortcut = Shortcut(8, 16, (1, 1), pool, project=True).eval()
    x = torch.randn(2, 8, 14, 14)
    y = shortcut(x)
    assert shortcut.conv is not None and shortcut.bn is not None
    reference = shortcut.bn(pool(shortcut.conv(x)))
    torch.testing.assert_close(y, reference, atol=1e-5, rtol=1e-4)


def test_a_max_pool_shortcut_keeps_the_conv_first() -> None:
    torch.manual_seed(0)
    pool = torch.nn.MaxPool2d(3, 2, 1)
    shortcut = Shortcut(4, 8, (1, 1), pool, project=True).eval()
    x = torch.randn(2, 4, 8, 8)
    assert shortcut.conv is not None and shortcut.bn is not None
    torch.testing.assert_close(shortcut(x), shortcut.bn(pool(shortcut.conv(x))))
