"""Batch-level, vectorized augmentation: random crop with zero padding and horizontal flips."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas.errors import DataError


@dataclass(frozen=True)
class Augment:
    """Random crop after zero padding by ``crop_padding`` pixels (per-sample offsets) and hflip.

    Applied to normalized batches, so the zero padding is the per-channel mean colour.
    """

    crop_padding: int = 0
    hflip: bool = False

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise DataError(
                f"crop_padding must be >= 0, got {self.crop_padding}", field="crop_padding"
            )

    @property
    def active(self) -> bool:
        """Whether this augmentation changes anything."""
        return self.crop_padding > 0 or self.hflip

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch ``x`` of shape (B, C, H, W); returns a new tensor of the same shape."""
        if x.ndim != 4:
            raise DataError(f"expected a (B, C, H, W) batch, got {tuple(x.shape)}", field="x")
        device = generator.device if generator is not None else torch.device("cpu")
        if self.crop_padding > 0:
            x = _random_crop(x, self.crop_padding, generator, device)
        if self.hflip:
            flip = torch.rand(x.shape[0], generator=generator, device=device) < 0.5
            x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
        return x


def _random_crop(
    x: torch.Tensor, pad: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator, device=device)
    offsets = offsets.to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # (B, H+2p, W+2p, C)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
