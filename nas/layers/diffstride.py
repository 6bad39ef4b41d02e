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

import torch
from torch import Tensor, nn

from nas.layers.spectral import (
    max_stride,
    spectral_resample,
    two_sided_frequencies,
    two_sided_positions,
)


def stride_bounds(size: int, smoothness: float, lower_bound: float) -> tuple[float, float]:
    """``(low, high)`` stride bounds on an axis of ``size`` pixels."""
    low = lower_bound if size <= smoothness else max(lower_bound, size / (size - smoothness))
    return min(low, max_stride(size)), max_stride(size)


def kept_rows(size: int, stride: float, smoothness: float) -> int:
    """Rows of the two-sided axis whose mask is non-zero (``p < T + R``): the output height."""
    reach = size / stride / 2.0 + smoothness  # T + R
    kept = min(math.ceil(reach), size // 2 + size % 2)  # distinct positions p < T + R
    return 2 * kept - (size % 2)


def kept_columns(size: int, stride: float, smoothness: float) -> tuple[int, int]:
    """(columns with a non-zero mask, output width) on the half-spectrum axis."""
    reach = size / stride / 2.0 + 1.0 + smoothness  # T + R
    columns = min(math.ceil(reach), size // 2 + 1)
    width = size if columns == size // 2 + 1 else 2 * (columns - 1)
    return columns, width


def ramp(positions: Tensor, target: Tensor, smoothness: float) -> Tensor:
    """The adaptive-span mask ``clip((R + T - p) / R, 0, 1)``."""
    return ((smoothness + target - positions) / smoothness).clamp(0.0, 1.0)


class DiffStride(nn.Module):
    """Spectral downsampling with a trainable stride ``(S_h, S_w)``.

    One instance may be applied several times per forward (main branch and 1x1 shortcut of a
    residual block, as in the reference ResNet): the same input size gives the same output
    size, and every use contributes gradient to the stride.
    """

    def __init__(
        self,
        init_stride: float | tuple[float, float] = (2.0, 2.0),
        smoothness: float = 4.0,
        lower_bound: float = 1.0,
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
        if not smoothness > 0.0:
            raise ValueError(f"smoothness must be > 0, got {smoothness}")
        self.smoothness = float(smoothness)
        self.lower_bound = float(lower_bound)
        self.stride_param = nn.Parameter(torch.tensor([sh, sw], dtype=torch.float32))
        # Bounds for the last input size seen: (low_h, high_h), (low_w, high_w).
        self._bounds: tuple[tuple[float, float], tuple[float, float]] | None = None

    def _set_bounds(self, height: int, width: int) -> None:
        self._bounds = (
            stride_bounds(height, self.smoothness, self.lower_bound),
            stride_bounds(width, self.smoothness, self.lower_bound),
        )

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
        (lo_h, hi_h), (lo_w, hi_w) = (
            stride_bounds(height, self.smoothness, self.lower_bound),
            stride_bounds(width, self.smoothness, self.lower_bound),
        )
        sh, sw = self.stride
        out_h = kept_rows(height, min(max(sh, lo_h), hi_h), self.smoothness)
        _, out_w = kept_columns(width, min(max(sw, lo_w), hi_w), self.smoothness)
        return out_h, out_w

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2], x.shape[-1]
        if min(h, w) < 2:
            raise ValueError(f"DiffStride needs H, W >= 2, got {(h, w)}")
        self._set_bounds(h, w)
        self.clamp_()  # the reference assigns the bounded value to the parameter itself
        sh, sw = self.stride  # stop-gradient: integer crop sizes
        r = self.smoothness
        out_h = kept_rows(h, sh, r)
        columns, out_w = kept_columns(w, sw, r)
        stride = self.stride_param  # (2,), differentiable
        pos_h = torch.tensor(
            two_sided_positions(two_sided_frequencies(out_h), h), device=x.device
        )  # (out_h,)
        pos_w = torch.arange(columns, device=x.device, dtype=torch.float32)  # (out_w//2+1,)
        mask_h = ramp(pos_h, h / stride[0] / 2.0, r)  # (out_h,)
        mask_w = ramp(pos_w, w / stride[1] / 2.0 + 1.0, r)  # (out_w//2+1,)
        return spectral_resample(x, out_h, out_w, mask_h, mask_w)  # (N, C, out_h, out_w)

    def extra_repr(self) -> str:
        sh, sw = self.stride
        return f"stride=({sh:.3f}, {sw:.3f}), smoothness={self.smoothness}"


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
