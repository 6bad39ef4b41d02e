"""Cost accounting: MACs from torch's flop counter, including the FFTs of spectral layers."""

from __future__ import annotations

import torch
from torch import nn

from nas.flops import complexity, count_flops
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


def test_latency_is_measured_and_grows_with_the_work() -> None:
    small = preset("resnet_narrow_fmnist")
    wide = small.replace(
        stages=[{**s.model_dump(), "out_channels": s.out_channels * 4} for s in small.stages]
    )
    fast = complexity(small, latency=True)
    slow = complexity(wide, latency=True)
    assert fast.latency_ms is not None and slow.latency_ms is not None
    assert 0 < fast.latency_ms < slow.latency_ms  # 16x the MACs in the stages
    assert complexity(small).latency_ms is None
