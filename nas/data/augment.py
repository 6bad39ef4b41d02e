"""Batch-level, vectorized augmentation: random crop with background padding and hflips."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas.errors import DataError


@dataclass(frozen=True)
class Augment:
    """Random crop after padding by ``crop_padding`` pixels (per-sample offsets) and hflip.

    Applied to normalized batches: ``fill`` is the padding value per channel, the normalized
    background (``ImageData.background``: a raw 0, black, as torchvision's ``RandomCrop`` pads
    before normalizing). Without it the padding is 0, the per-channel mean colour: grey on
    Fashion-MNIST's black background.
    """

    crop_padding: int = 0
    hflip: bool = False
    fill: tuple[float, ...] | None = None

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
            x = _random_crop(x, self.crop_padding, generator, device, self.fill)
        if self.hflip:
            flip = torch.rand(x.shape[0], generator=generator, device=device) < 0.5
            x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
        return x


def _pad(x: torch.Tensor, pad: int, fill: tuple[float, ...] | None) -> torch.Tensor:
    """``x`` padded by ``pad`` on every side with ``fill[c]`` on channel ``c`` (0 without)."""
    if fill is None or not any(fill):
        return F.pad(x, (pad, pad, pad, pad))
    if len(fill) != x.shape[1]:
        raise DataError(f"fill has {len(fill)} values for {x.shape[1]} channels", field="fill")
    b, c, h, w = x.shape
    value = torch.tensor(fill, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    padded = value.expand(b, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad : pad + h, pad : pad + w] = x
    return padded


def _random_crop(
    x: torch.Tensor,
    pad: int,
    generator: torch.Generator | None,
    device: torch.device,
    fill: tuple[float, ...] | None = None,
) -> torch.Tensor:
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator, device=device)
    offsets = offsets.to(x.device)
    padded = _pad(x, pad, fill).permute(0, 2, 3, 1)  # (B, H+2p, W+2p, C)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
