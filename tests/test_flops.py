"""Cost accounting: MACs from torch's flop counter, including the FFTs of spectral layers."""

from __future__ import annotations

import torch
from torch import nn

from nas.flops import complexity, count_flops, measure_latency_ms
from nas.models import preset


def test_macs_of_a_single_conv_match_the_formula() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    flops = count_flops(conv, torch.zeros(1, 3, 10, 10))
    assert flops // 2 == 8 * 3 * 3 * 3 * 10 * 10


def test_resnet18_macs_match_the_published_figure() -> None:
    # torchvision ResNet18_Weights meta "_ops": 1.814 GFLOPS (torchvision counts MACs there).
    macs = complexity(preset("resnet18")).macs
    assert abs(macs / 1e9 - 1.814) < 0.01


def test_spectral_downsampling_is_not_free() -> None:
    base = preset("resnet_narrow_fmnist")
    spectral = base.with_stages(
        [s.model_copy(update={"downsample": "spectral"}) for s in base.stages]
    )
    strided_macs = complexity(base).macs
    spectral_macs = complexity(spectral).macs
    # Unstrided convolutions before the crop plus the FFTs cost more than strided convolutions.
    assert spectral_macs > strided_macs


class CountingModel(nn.Module):
    """A model that counts its forward calls (to check what the latency clock brackets)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x)  # (N, 1, H, W)


def test_latency_is_the_median_of_the_timed_forwards_after_warmup() -> None:
    # A scripted clock, so the test does not depend on how loaded the machine is: forward i
    # (0-based) is bracketed by readings i * 10 s apart ... and takes (i + 1) ms.
    readings: list[float] = []
    for i in range(3 + 5):
        readings += [10.0 * i, 10.0 * i + (i + 1) / 1000]
    clock = iter(readings).__next__
    model = CountingModel()
    spec = preset("resnet_narrow_fmnist")
    spec = spec.replace(in_channels=1, resolution=8)
    ms = measure_latency_ms(model, spec, warmup=3, repeats=5, clock=clock)
    assert model.calls == 8
    # Timed forwards are i = 3..7 taking 4..8 ms: the median is 6 ms.
    assert abs(ms - 6.0) < 1e-6
    assert model.training  # restored


def test_latency_is_reported_only_when_asked() -> None:
    small = preset("resnet_narrow_fmnist")
    measured = complexity(small, latency=True)
    assert measured.latency_ms is not None and measured.latency_ms > 0
    assert complexity(small).latency_ms is None
