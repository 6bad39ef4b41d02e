"""DiffStride: spectral pooling with a learnable stride (Riad et al., ICLR 2022).

Follows the reference ``LearnableSpectralPooling`` of ``google-research/diffstride``
(``diffstride/pooling.py``) in (N, C, H, W) layout:

1. Fourier transform of the input over (H, W), W as the half spectrum (``rfft2``).
2. A separable ramp mask per axis, ``m(p) = clip((R + T - p) / R, 0, 1)``, over the reference's
   frequency positions ``p``, around the target ``T_h = (H / S_h) / 2`` on the two-sided axis
   and ``T_w = (W / S_w) / 2 + 1`` on the half-spectrum axis; ``R`` is the smoothness.
3. Crop to the frequencies where the mask is non-zero. The crop size is an integer computed
   from the detached strides (stop-gradient): compute and output shrink as the stride grows,
   and the output is about ``H / S + 2R`` pixels (the ramp lies outside the target box).
4. Multiply by the mask: this is where the strides get their gradient.
5. Inverse transform at the cropped size.

Steps 1-5 are computed as two small matrix products (see :mod:`nas.layers.spectral`), equal to
the FFT formulation up to rounding. The strides live in ``[max(lower_bound, n / (n - R)), n / 2]``
per axis: the lower end, as in the reference, keeps the top of the ramp inside the spectrum so
a stride of 1 still gets gradient; the upper end leaves a target of at least 2 pixels.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from nas.layers.spectral import (
    max_stride,
    spectral_resample,
    two_sided_frequencies,
    two_sided_positions,
)
from nas.readout import StrideReadout

Smoothness = float | Literal["auto"]
Ramp = Literal["outside", "inside"]
RAMPS: tuple[str, ...] = ("outside", "inside")
AUTO_SMOOTHNESS_DIVISOR = 16.0
AUTO_SMOOTHNESS_RANGE = (1.0, 4.0)


def auto_smoothness(size: int) -> float:
    """``R`` for an axis of ``size`` pixels: ``size / 16`` within ``[1, 4]``.

    The paper's R = 4 is a quarter of a 32-pixel CIFAR input's frequency axis: on the 14- and
    7-pixel maps of a small-image network a fixed R = 4 spans the whole spectrum and the layer
    cannot shrink the map. One frequency bin (R = 1) is the least that always leaves a position
    on the ramp, so the strides always get a gradient.
    """
    low, high = AUTO_SMOOTHNESS_RANGE
    return min(high, max(low, size / AUTO_SMOOTHNESS_DIVISOR))


def resolve_smoothness(smoothness: Smoothness, size: int) -> float:
    """The ramp width on an axis of ``size`` pixels (``"auto"`` resolved by the size)."""
    return auto_smoothness(size) if smoothness == "auto" else float(smoothness)


INSIDE_CROP_THRESHOLD = 0.01
"""With the ramp inside, positions whose mask is at most this are cropped too: a stride a hair
under an integer would otherwise keep a row (and its cost) at weight ~0."""


def _reach(target: float, smoothness: float, placement: Ramp) -> float:
    """The crop keeps positions ``p < reach``: ``T + R`` with the ramp outside the target (the
    reference: mask > 0), ``T - 0.01 R`` inside it (mask > 0.01)."""
    if placement == "outside":
        return target + smoothness
    return target - INSIDE_CROP_THRESHOLD * smoothness


def stride_bounds(
    size: int, smoothness: float, lower_bound: float, placement: Ramp = "outside"
) -> tuple[float, float]:
    """``(low, high)`` stride bounds on an axis of ``size`` pixels.

    Outside: the reference's ``n / (n - R)`` keeps the top of the ramp inside the spectrum, so
    a stride at its floor still gets a gradient. Inside: the ramp lies within the spectrum at
    any stride >= 1, so the floor is ``lower_bound``.
    """
    if placement == "inside" or size <= smoothness:
        low = lower_bound
    else:
        low = max(lower_bound, size / (size - smoothness))
    return min(low, max_stride(size)), max_stride(size)


def kept_rows(size: int, stride: float, smoothness: float, placement: Ramp = "outside") -> int:
    """Rows of the two-sided axis whose mask is non-zero (``p < reach``): the output height."""
    reach = _reach(size / stride / 2.0, smoothness, placement)
    kept = min(math.ceil(reach), size // 2 + size % 2)  # distinct positions p < reach
    kept = max(kept, min(1 + size % 2, size // 2 + size % 2))  # at least 2 rows out
    return 2 * kept - (size % 2)


def kept_columns(
    size: int, stride: float, smoothness: float, placement: Ramp = "outside"
) -> tuple[int, int]:
    """(columns with a non-zero mask, output width) on the half-spectrum axis."""
    reach = _reach(size / stride / 2.0 + 1.0, smoothness, placement)
    columns = min(max(math.ceil(reach), 2), size // 2 + 1)
    width = size if columns == size // 2 + 1 else 2 * (columns - 1)
    return columns, width


def ramp(
    positions: Tensor, target: Tensor, smoothness: float, placement: Ramp = "outside"
) -> Tensor:
    """The adaptive-span mask: ``clip((R + T - p) / R, 0, 1)`` outside, ``clip((T - p) / R)``
    inside (1 up to ``T - R``, 0 from ``T`` on)."""
    top = smoothness + target if placement == "outside" else target
    return ((top - positions) / smoothness).clamp(0.0, 1.0)


class DiffStride(nn.Module):
    """Spectral downsampling with a trainable stride ``(S_h, S_w)``.

    ``smoothness`` is the ramp width ``R`` in frequency bins, or ``"auto"`` (per axis from the
    input size, :func:`auto_smoothness`). ``ramp`` places the ramp ``outside`` the target (the
    reference: output about ``H / S + 2R`` pixels) or ``inside`` it (output about ``H / S``,
    the size fixed spectral pooling gives; the top ``R`` frequencies of the band are weighed
    down instead): see :func:`ramp`.

    One instance may be applied several times per forward (main branch and 1x1 shortcut of a
    residual block, as in the reference ResNet): the same input size gives the same output
    size, and every use contributes gradient to the stride.
    """

    linear = True  # a linear map of the pixels: commutes with 1x1 convolutions

    def __init__(
        self,
        init_stride: float | tuple[float, float] = (2.0, 2.0),
        smoothness: Smoothness = 4.0,
        lower_bound: float = 1.0,
        ramp: Ramp = "outside",
        learnable: bool = True,
    ) -> None:
        super().__init__()
        sh, sw = (
            (float(init_stride), float(init_stride))
            if isinstance(init_stride, int | float)
            else (float(init_stride[0]), float(init_stride[1]))
        )
        if not lower_bound >= 1.0:
            raise ValueError(f"lower_bound must be >= 1, got {lower_bound}")
        if not (sh >= lower_bound and sw >= lower_bound):
            raise ValueError(f"init_stride must be >= lower_bound={lower_bound}, got {(sh, sw)}")
        if smoothness != "auto" and not (
            isinstance(smoothness, int | float) and float(smoothness) > 0.0
        ):
            raise ValueError(f"smoothness must be > 0 or 'auto', got {smoothness!r}")
        if ramp not in RAMPS:
            raise ValueError(f"ramp must be one of {RAMPS}, got {ramp!r}")
        self.smoothness: Smoothness = "auto" if smoothness == "auto" else float(smoothness)
        self.lower_bound = float(lower_bound)
        self.placement: Ramp = ramp
        # learnable=False holds the strides at their init: the same operator, no learning (the
        # ablation that tells the learning from the smooth spectral crop)
        self.stride_param = nn.Parameter(
            torch.tensor([sh, sw], dtype=torch.float32), requires_grad=learnable
        )
        self.init_stride = (sh, sw)
        # Bounds for the last input size seen: (low_h, high_h), (low_w, high_w).
        self._bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
        # ((H, W), (H', W')) of the last forward.
        self._sizes: tuple[tuple[int, int], tuple[int, int]] | None = None

    def smoothness_for(self, height: int, width: int) -> tuple[float, float]:
        """``(R_h, R_w)`` for an input of ``(height, width)``."""
        return (
            resolve_smoothness(self.smoothness, height),
            resolve_smoothness(self.smoothness, width),
        )

    def bounds(self, height: int, width: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((low_h, high_h), (low_w, high_w))`` for an input of ``(height, width)``."""
        r_h, r_w = self.smoothness_for(height, width)
        return (
            stride_bounds(height, r_h, self.lower_bound, self.placement),
            stride_bounds(width, r_w, self.lower_bound, self.placement),
        )

    @property
    def last_bounds(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The bounds at the last input size seen (None before the first forward)."""
        return self._bounds

    @torch.no_grad()
    def clamp_(self) -> DiffStride:
        """Project the strides in place onto their bounds (after optimizer steps)."""
        if self._bounds is None:
            self.stride_param.clamp_(min=self.lower_bound)
            return self
        for axis, (low, high) in enumerate(self._bounds):
            self.stride_param[axis].clamp_(low, high)
        return self

    def effective_stride(self) -> Tensor:
        """The strides (2,), differentiable (for the complexity regularizer)."""
        return self.stride_param

    @property
    def stride(self) -> tuple[float, float]:
        """Current strides ``(S_h, S_w)``, detached, for logging."""
        sh, sw = self.stride_param.detach().cpu().tolist()
        return (float(sh), float(sw))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Output (H', W') for an input of (height, width) at the current strides."""
        (lo_h, hi_h), (lo_w, hi_w) = self.bounds(height, width)
        r_h, r_w = self.smoothness_for(height, width)
        sh, sw = self.stride
        out_h = kept_rows(height, min(max(sh, lo_h), hi_h), r_h, self.placement)
        _, out_w = kept_columns(width, min(max(sw, lo_w), hi_w), r_w, self.placement)
        return out_h, out_w

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2], x.shape[-1]
        if min(h, w) < 2:
            raise ValueError(f"DiffStride needs H, W >= 2, got {(h, w)}")
        self._bounds = self.bounds(h, w)
        self.clamp_()  # the reference assigns the bounded value to the parameter itself
        sh, sw = self.stride  # stop-gradient: integer crop sizes
        r_h, r_w = self.smoothness_for(h, w)
        out_h = kept_rows(h, sh, r_h, self.placement)
        columns, out_w = kept_columns(w, sw, r_w, self.placement)
        stride = self.stride_param  # (2,), differentiable
        pos_h = torch.tensor(
            two_sided_positions(two_sided_frequencies(out_h), h), device=x.device
        )  # (out_h,)
        pos_w = torch.arange(columns, device=x.device, dtype=torch.float32)  # (out_w//2+1,)
        mask_h = ramp(pos_h, h / stride[0] / 2.0, r_h, self.placement)  # (out_h,)
        mask_w = ramp(pos_w, w / stride[1] / 2.0 + 1.0, r_w, self.placement)  # (out_w//2+1,)
        self._sizes = ((h, w), (out_h, out_w))
        return spectral_resample(x, out_h, out_w, mask_h, mask_w)  # (N, C, out_h, out_w)

    def readout(self) -> StrideReadout | None:
        """What this layer learned (None before its first forward)."""
        if self._bounds is None or self._sizes is None:
            return None
        (lo_h, hi_h), (lo_w, hi_w) = self._bounds
        return StrideReadout(
            init=self.init_stride,
            learned=self.stride,
            low=(lo_h, lo_w),
            high=(hi_h, hi_w),
            input_size=self._sizes[0],
            output_size=self._sizes[1],
        )

    def extra_repr(self) -> str:
        sh, sw = self.stride
        return f"stride=({sh:.3f}, {sw:.3f}), smoothness={self.smoothness}, ramp={self.placement}"


def diffstride_layers(model: nn.Module) -> list[DiffStride]:
    """The DiffStride modules of ``model`` in registration order, shared instances once."""
    return [m for m in model.modules() if isinstance(m, DiffStride)]


@torch.no_grad()
def clamp_strides_(model: nn.Module) -> None:
    """Apply :meth:`DiffStride.clamp_` to every DiffStride of ``model``."""
    for layer in diffstride_layers(model):
        layer.clamp_()


def complexity_regularizer(model: nn.Module, weight: float = 1.0) -> Tensor:
    """``weight * sum_l prod_{j<=l} 1 / (S_h,j * S_w,j)`` over the DiffStride layers.

    The paper's computational-complexity penalty: term ``l`` is proportional to the number of
    pixels after layer ``l``. Differentiable w.r.t. the strides; a 0-dim 0.0 without DiffStride.
    """
    layers = diffstride_layers(model)
    param = next(model.parameters(), None)
    total = torch.zeros((), device=param.device if param is not None else None)
    running = torch.ones((), device=total.device)
    for layer in layers:
        stride = layer.effective_stride()
        running = running / (stride[0] * stride[1])
        total = total + running
    return weight * total
