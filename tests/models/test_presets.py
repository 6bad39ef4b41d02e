"""Presets build the published architectures: parameter counts equal torchvision's figures."""

from __future__ import annotations

import pytest
import torch

from nas.flops import count_params
from nas.models import build_model, preset
from nas.scaling import EFFICIENTNET_COEFFICIENTS, scale

# Source: torchvision.models weight metadata ("num_params"), torchvision/models/resnet.py and
# torchvision/models/efficientnet.py (ResNet18_Weights ... EfficientNet_B7_Weights).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
}


@pytest.mark.parametrize(("name", "expected"), sorted(TORCHVISION_PARAMS.items()))
def test_parameter_count_matches_torchvision(name: str, expected: int) -> None:
    assert count_params(build_model(preset(name))) == expected


@pytest.mark.parametrize("variant", range(1, 8))
def test_efficientnet_variants_come_from_b0_by_scaling(variant: int) -> None:
    width, depth, resolution, _ = EFFICIENTNET_COEFFICIENTS[variant]
    scaled = scale(preset("efficientnet_b0"), width=width, depth=depth, resolution=resolution)
    published = preset(f"efficientnet_b{variant}")
    assert scaled.stages == published.stages
    assert scaled.resolution == published.resolution == resolution


@pytest.mark.parametrize(
    "name",
    ["resnet18_cifar", "resnet18_fmnist", "resnet_narrow_fmnist", "efficientnet_b0_fmnist"],
)
def test_small_image_presets_run_on_their_input(name: str) -> None:
    spec = preset(name)
    model = build_model(spec)
    x = torch.randn(2, spec.in_channels, spec.resolution, spec.resolution)
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize("kind", ["strided", "spectral", "diffstride"])
@pytest.mark.parametrize("family", ["resnet_narrow_fmnist", "efficientnet_b0_fmnist"])
def test_every_stage_takes_every_downsampling_kind(family: str, kind: str) -> None:
    base = preset(family)
    spec = base.with_stages([s.model_copy(update={"downsample": kind}) for s in base.stages])
    model = build_model(spec)
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
