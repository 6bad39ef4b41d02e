"""Spectral (Fourier-domain) resampling shared by ``SpectralPool`` and ``DiffStride``.

Both layers compute ``irfft2(mask * crop(rfft2(x)))``: keep the lowest frequencies of the
spectrum, optionally weigh them with a separable real mask, and transform back at the cropped
size. The whole map is linear and separable, so it is computed exactly as two small matrix
products per image, ``Y = Re(Q_h X P_w^T)``, with

    Q_h = G_h diag(m_h) F_h     (out_h x H: forward DFT rows kept, mask, inverse DFT)
    P_w = G_w diag(m_w) F_w     (out_w x W: same on the half spectrum, with irfft's weights)

instead of FFTs: on the small maps of a CNN these are dense GEMMs that cost about what
``torch.fft`` does (``bench/layers.py``), need no complex dtypes (so they run under autocast),
and equal the FFT form up to float rounding (``tests/layers`` checks both). Gradients reach the
mask, hence DiffStride's strides, through ``Q_h`` and ``P_w``.

Conventions (those of the reference ``google-research/diffstride`` ``pooling.py``):

* Crop layout: an output of length ``m`` on the two-sided (height) axis keeps the frequencies
  ``0 .. ceil(m/2)-1`` and ``-floor(m/2) .. -1``, i.e. the layout of a length-``m`` FFT; on the
  half-spectrum (width) axis it keeps columns ``0 .. m//2``.
* Normalization ``norm="forward"``: 1/(H W) on the forward transform, none on the inverse, so a
  constant image keeps its value and a band-limited image is exactly subsampled (TensorFlow's
  default puts 1/(h w) on the inverse, which scales the output by about ``S_h * S_w``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor

# Tolerance of the floor: 28 / 2.0000001 still gives 14.
_EPS = 1e-6


def max_stride(size: int) -> float:
    """The largest stride that still leaves a target of 2 pixels on an axis of ``size``."""
    return size / 2.0


def spectral_output_size(size: int, stride: float, axis: Literal["height", "width"]) -> int:
    """Output length of fixed spectral pooling: the reference's ``FixedSpectralPooling`` rule.

    ``floor(size / stride)``, at least 2; on the height (two-sided) axis also made even by
    dropping one: 14 at stride 2 gives 6 x 7, 28 at stride 3 gives 8 x 9. A stride of exactly
    1 leaves the axis as it is (the reference would drop a row of an odd height there).
    """
    if size < 2:
        raise ValueError(f"spectral downsampling needs an axis of length >= 2, got {size}")
    if not stride >= 1.0:  # also rejects NaN
        raise ValueError(f"spectral stride must be >= 1, got {stride}")
    if stride == 1.0:
        return size
    out = math.floor(size / stride + _EPS)
    if axis == "height":
        out -= out % 2
    return min(max(out, 2), size)


def two_sided_frequencies(out: int) -> list[int]:
    """Signed frequencies kept on a two-sided axis cropped to ``out``, in FFT order."""
    return list(range((out + 1) // 2)) + list(range(-(out // 2), 0))


def two_sided_positions(frequencies: list[int], size: int) -> list[float]:
    """Mask position ``p`` of each frequency of a two-sided axis of length ``size``.

    Even ``size`` (the reference's): ``p = f`` for ``f >= 0`` and ``|f| - 1`` for ``f < 0``.
    Odd ``size``: ``p = |f|``. (The reference's ``fftshift`` of its position vector puts the DC
    bin at ``p = 1`` on odd axes, an off-by-one; here the mask stays symmetric with DC at 0.)
    """
    shift = 1 if size % 2 == 0 else 0
    return [float(f) if f >= 0 else float(-f - shift) for f in frequencies]


@lru_cache(maxsize=256)
def _two_sided_basis(size: int, out: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin parts (out, size, kept) of ``G diag(.) F`` for the two-sided axis."""
    freqs = torch.tensor(two_sided_frequencies(out), dtype=torch.float64)  # (k,)
    a = torch.arange(out, dtype=torch.float64)[:, None, None] / out  # (out, 1, 1)
    n = torch.arange(size, dtype=torch.float64)[None, :, None] / size  # (1, size, 1)
    phase = 2 * math.pi * freqs[None, None, :] * (a - n)  # (out, size, k)
    return (
        (torch.cos(phase) / size).float().to(device),
        (torch.sin(phase) / size).float().to(device),
    )


@lru_cache(maxsize=256)
def _half_spectrum_basis(size: int, out: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin parts (out, size, out//2+1) of ``G diag(.) F`` with irfft's weights."""
    cols = torch.arange(out // 2 + 1, dtype=torch.float64)  # (k,)
    weight = torch.full_like(cols, 2.0)  # a column and its conjugate mirror
    weight[0] = 1.0
    if out % 2 == 0:
        weight[-1] = 1.0  # the output's Nyquist column has no mirror
    b = torch.arange(out, dtype=torch.float64)[:, None, None] / out  # (out, 1, 1)
    n = torch.arange(size, dtype=torch.float64)[None, :, None] / size  # (1, size, 1)
    phase = 2 * math.pi * cols[None, None, :] * (b - n)  # (out, size, k)
    return (
        (weight * torch.cos(phase) / size).float().to(device),
        (weight * torch.sin(phase) / size).float().to(device),
    )


def height_operator(size: int, out: int, mask: Tensor | None, device: torch.device) -> Tensor:
    """(2, out, size): real and imaginary parts of ``Q_h`` (mask over the kept frequencies)."""
    cos, sin = _two_sided_basis(size, out, device)
    if mask is None:
        return torch.stack([cos.sum(-1), sin.sum(-1)])
    return torch.stack([cos @ mask, sin @ mask])


def width_operator(size: int, out: int, mask: Tensor | None, device: torch.device) -> Tensor:
    """(2, out, size): real and imaginary parts of ``P_w`` (mask over the kept columns)."""
    cos, sin = _half_spectrum_basis(size, out, device)
    if mask is None:
        return torch.stack([cos.sum(-1), sin.sum(-1)])
    return torch.stack([cos @ mask, sin @ mask])


def apply_operators(x: Tensor, q: Tensor, p: Tensor) -> Tensor:
    """``Re(Q X P^T)`` for every (N, C) image: (N, C, H, W) -> (N, C, out_h, out_w).

    Two GEMMs over the whole batch: ``Z = X [P_re; P_im]^T`` on the width axis, then
    ``[Q_re, -Q_im] [Z_re; Z_im]`` on the height axis (``Re(Q Z) = Q_re Z_re - Q_im Z_im``).
    """
    n, c, h, w = x.shape
    out_h, out_w = q.shape[1], p.shape[1]
    p_cat = torch.cat([p[0], p[1]], 0).to(x.dtype)  # (2 out_w, W)
    q_cat = torch.cat([q[0], -q[1]], 1).to(x.dtype)  # (out_h, 2H)
    z = x.reshape(n * c * h, w) @ p_cat.T  # (N C H, 2 out_w)
    z = z.view(n * c, h, 2, out_w).permute(0, 3, 2, 1).reshape(n * c * out_w, 2 * h)
    y = z @ q_cat.T  # (N C out_w, out_h)
    return y.view(n, c, out_w, out_h).transpose(-1, -2)  # (N, C, out_h, out_w)


def spectral_resample(
    x: Tensor,
    out_h: int,
    out_w: int,
    mask_h: Tensor | None = None,
    mask_w: Tensor | None = None,
) -> Tensor:
    """``irfft2(mask * crop(rfft2(x)))`` at (out_h, out_w), by separable matrix products.

    ``mask_h`` weighs the ``out_h`` kept rows (FFT order), ``mask_w`` the ``out_w//2+1`` kept
    columns; None means 1.
    """
    h, w = x.shape[-2], x.shape[-1]
    q = height_operator(h, out_h, mask_h, x.device)  # (2, out_h, H)
    p = width_operator(w, out_w, mask_w, x.device)  # (2, out_w, W)
    return apply_operators(x, q, p)  # (N, C, out_h, out_w)


def spectral_resample_fft(
    x: Tensor,
    out_h: int,
    out_w: int,
    mask_h: Tensor | None = None,
    mask_w: Tensor | None = None,
) -> Tensor:
    """The same map computed with ``torch.fft`` (the definition; used to check the fast path)."""
    spec = torch.fft.rfft2(x.double(), norm="forward")  # (N, C, H, W//2+1)
    rows = torch.tensor([f % x.shape[-2] for f in two_sided_frequencies(out_h)], device=x.device)
    spec = spec[..., : out_w // 2 + 1].index_select(-2, rows)  # (N, C, out_h, out_w//2+1)
    if mask_h is not None:
        spec = spec * mask_h.double()[:, None]
    if mask_w is not None:
        spec = spec * mask_w.double()[None, :]
    y: Tensor = torch.fft.irfft2(spec, s=(out_h, out_w), norm="forward")  # (N, C, out_h, out_w)
    return y.to(x.dtype)
