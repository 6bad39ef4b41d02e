"""The separable matrix path of nas.layers.spectral against its torch.fft definition."""

from __future__ import annotations

import pytest
import torch

from nas.layers.spectral import (
    height_operator,
    spectral_resample,
    spectral_resample_fft,
    two_sided_frequencies,
    two_sided_positions,
    width_operator,
)

# (H, W, out_h, out_w): even and odd sizes, full size, odd crops, crops down to 2.
CASES = [
    (8, 8, 4, 4),
    (8, 8, 8, 8),
    (7, 9, 7, 9),
    (7, 9, 3, 5),
    (7, 9, 2, 2),
    (28, 27, 14, 13),
    (28, 27, 22, 18),
    (28, 28, 2, 2),
    (5, 6, 4, 3),
    (32, 16, 17, 2),
]


@pytest.mark.parametrize(("h", "w", "out_h", "out_w"), CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_matrix_path_equals_fft_path(h: int, w: int, out_h: int, out_w: int, masked: bool) -> None:
    gen = torch.Generator().manual_seed(h * 1000 + w * 10 + out_h + out_w)
    x = torch.randn(2, 3, h, w, generator=gen)
    mask_h = torch.rand(out_h, generator=gen) if masked else None
    mask_w = torch.rand(out_w // 2 + 1, generator=gen) if masked else None
    fast = spectral_resample(x, out_h, out_w, mask_h, mask_w)
    slow = spectral_resample_fft(x, out_h, out_w, mask_h, mask_w)
    assert fast.shape == slow.shape == (2, 3, out_h, out_w)
    torch.testing.assert_close(fast, slow, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize(("h", "w", "out_h", "out_w"), CASES[::2])
def test_mask_gradients_match_fft_path(h: int, w: int, out_h: int, out_w: int) -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 2, h, w, generator=gen)
    weights = torch.randn(2, 2, out_h, out_w, generator=gen)
    grads = []
    for fn in (spectral_resample, spectral_resample_fft):
        mask_h = torch.rand(out_h, generator=torch.Generator().manual_seed(1)).requires_grad_()
        mask_w = torch.rand(out_w // 2 + 1, generator=torch.Generator().manual_seed(2))
        mask_w.requires_grad_()
        loss = (fn(x, out_h, out_w, mask_h, mask_w) * weights).sum()
        grads.append(torch.autograd.grad(loss, (mask_h, mask_w)))
    for fast, slow in zip(*grads, strict=True):
        torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)


def test_operators_have_the_documented_shapes() -> None:
    device = torch.device("cpu")
    assert height_operator(28, 22, None, device).shape == (2, 22, 28)
    assert width_operator(27, 18, torch.ones(10), device).shape == (2, 18, 27)


def test_full_size_without_mask_is_identity() -> None:
    x = torch.randn(1, 2, 9, 12)
    torch.testing.assert_close(spectral_resample(x, 9, 12), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n", [2, 4, 8, 28])
def test_positions_follow_the_reference_on_even_axes(n: int) -> None:
    # Reference pooling.py: fftshift(concat(reverse(r[n % 2:]), r)), r = range(n // 2 + n % 2).
    r = torch.arange(n // 2 + n % 2, dtype=torch.float64)
    reference = torch.fft.fftshift(torch.cat([r[n % 2 :].flip(0), r]))
    assert two_sided_positions(two_sided_frequencies(n), n) == reference.tolist()


@pytest.mark.parametrize("n", [3, 5, 7, 27])
def test_positions_are_symmetric_on_odd_axes(n: int) -> None:
    # On odd axes the reference's fftshift is off by one (it would give DC p = 1 and f = -1
    # p = 0); the layer uses p = |f|, the reference's layout rolled the other way (ifftshift),
    # so the mask is Hermitian-symmetric.
    r = torch.arange(n // 2 + n % 2, dtype=torch.float64)
    centered = torch.cat([r[n % 2 :].flip(0), r])
    positions = two_sided_positions(two_sided_frequencies(n), n)
    assert positions == torch.fft.ifftshift(centered).tolist()
    assert positions == [float(abs(f)) for f in two_sided_frequencies(n)]
    assert torch.fft.fftshift(centered).tolist()[0] == 1.0  # the reference: DC at p = 1


def test_positions_by_hand() -> None:
    assert two_sided_frequencies(8) == [0, 1, 2, 3, -4, -3, -2, -1]
    assert two_sided_positions(two_sided_frequencies(8), 8) == [0, 1, 2, 3, 3, 2, 1, 0]
    assert two_sided_frequencies(5) == [0, 1, 2, -2, -1]
    assert two_sided_positions(two_sided_frequencies(5), 5) == [0, 1, 2, 2, 1]
    # A crop of an even axis to 4 keeps frequencies 0, 1, -2, -1 (positions 0, 1, 1, 0).
    assert two_sided_positions(two_sided_frequencies(4), 8) == [0, 1, 1, 0]
