"""Fixed spectral pooling (Rippel et al., 2015), the reference's ``FixedSpectralPooling``.

A hard crop of the spectrum to :func:`~nas.layers.spectral.spectral_output_size` (the
reference's rule: ``floor(n / s)``, the height made even), no mask and nothing learned; computed
by the separable matrix products of :mod:`nas.layers.spectral`. Differences from the reference:
``norm="forward"`` keeps the input's scale, and a stride of exactly 1 leaves an axis alone.
"""

from __future__ import annotations

from torch import Tensor, nn

from nas.layers.spectral import spectral_output_size, spectral_resample


class SpectralPool(nn.Module):
    """Downsample (N, C, H, W) by a fixed, possibly fractional, stride in the Fourier domain."""

    linear = True  # a linear map of the pixels: commutes with 1x1 convolutions

    def __init__(self, stride: float | tuple[float, float] = (2, 2)) -> None:
        super().__init__()
        sh, sw = (
            (float(stride), float(stride))
            if isinstance(stride, int | float)
            else (float(stride[0]), float(stride[1]))
        )
        if not (sh >= 1.0 and sw >= 1.0):
            raise ValueError(f"SpectralPool strides must be >= 1, got {(sh, sw)}")
        self.stride: tuple[float, float] = (sh, sw)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Output (H', W') for an input of (height, width)."""
        return (
            spectral_output_size(height, self.stride[0], "height"),
            spectral_output_size(width, self.stride[1], "width"),
        )

    def forward(self, x: Tensor) -> Tensor:
        out_h, out_w = self.output_size(x.shape[-2], x.shape[-1])
        return spectral_resample(x, out_h, out_w)  # (N, C, out_h, out_w)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"
