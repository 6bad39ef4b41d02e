"""Presets build the published architectures: parameter counts equal torchvision's figures."""

from __future__ import annotations

import pytest
import torch

from nas.flops import complexity, count_params
from nas.models import build_model, preset
from nas.scaling import EFFICIENTNET_COEFFICIENTS, scale

# Source: torchvision.models weight metadata ("num_params"), torchvision/models/resnet.py and
# torchvision/models/efficientnet.py (ResNet18_Weights ... EfficientNet_B7_Weights);
# torchvision/models/resnet.py ResNeXt50_32X4D_Weights, mobilenetv2.py MobileNet_V2_Weights,
# densenet.py DenseNet121_Weights / DenseNet169_Weights, squeezenet.py SqueezeNet1_0_Weights /
# SqueezeNet1_1_Weights, inception.py Inception_V3_Weights (aux_logits=True).
TORCHVISION_PARAMS = {
    "resnext50_32x4d": 25_028_904,
    "mobilenet_v2": 3_504_872,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "squeezenet1_0": 1_248_424,
    "squeezenet1_1": 1_235_496,
    "inception_v3": 27_161_264,
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
    [
        "resnet18_cifar",
        "resnet18_fmnist",
        "resnet_narrow_fmnist",
        "efficientnet_b0_fmnist",
        "squeezenet1_1_fmnist",
        "mobilenet_v2_fmnist",
        pytest.param("densenet121_fmnist", marks=pytest.mark.slow),
        pytest.param("inception_v3_fmnist", marks=pytest.mark.slow),
    ],
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


# Source: torchvision weight metadata "_ops" (GFLOPS, counted as multiply-adds) of
# MobileNet_V2_Weights.IMAGENET1K_V1 (0.301), ResNeXt50_32X4D_Weights.IMAGENET1K_V1 (4.23) and
# DenseNet121_Weights.IMAGENET1K_V1 (2.834). Same padding as ours, so the MACs agree too
# (SqueezeNet's and Inception-v3's unpadded layers do not: only their parameters are compared).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "gmacs"), [("mobilenet_v2", 0.301), ("resnext50_32x4d", 4.23), ("densenet121", 2.834)]
)
def test_macs_match_torchvision(name: str, gmacs: float) -> None:
    assert abs(complexity(preset(name)).macs / 1e9 - gmacs) < 0.005


def test_densenet_bc_transitions_halve_the_channels() -> None:
    spec = preset("densenet121")
    inputs = spec.stage_in_channels()
    for stage, cin in zip(spec.stages[1:], inputs[1:], strict=True):
        assert stage.extras["theta"] == 0.5
        assert stage.out_channels - stage.repeats * 32 == cin // 2
    assert [s.repeats for s in spec.stages] == [6, 12, 24, 16]
    assert spec.head.norm  # DenseNet's final BN-ReLU


def test_inception_v3_layout() -> None:
    spec = preset("inception_v3")
    aux = spec.head.aux_stage
    assert aux is not None and spec.stages[aux].out_channels == 768  # on Mixed_6e
    assert spec.stages[aux + 1].block == "inceptiond"
    model = build_model(spec)
    assert model.aux is not None
    assert count_params(model.aux) == 3_326_696  # torchvision InceptionAux(768, 1000)


def test_squeezenet_has_no_batch_norm_and_a_conv_classifier() -> None:
    for name in ("squeezenet1_0", "squeezenet1_1"):
        model = build_model(preset(name))
        assert not [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert isinstance(model.classifier, torch.nn.Sequential)
