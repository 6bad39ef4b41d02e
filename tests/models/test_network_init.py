"""Network.reset_parameters: He convolutions, unit BN, PyTorch's default for linear classifiers
(bench/engine.py --part init measured it 3.7 points above N(0, 0.01) on the test split)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.layers.dynamic_conv import KernelAttention
from nas.models import build_model, preset
from nas.presets import parse_spec

SPEC = "resnet:r28:c1:n10:relu:stem_c16:basic_r1_c16:basic_r1_s2_c32:basic_r1_s2_c64:head_d0"


def assert_pytorch_default(linear: nn.Linear) -> None:
    """Weights and bias uniform in +-1/sqrt(fan_in) (``nn.Linear.reset_parameters``)."""
    bound = 1 / math.sqrt(linear.in_features)
    weight, bias = linear.weight.detach(), linear.bias.detach()
    assert float(weight.abs().max()) <= bound and float(bias.abs().max()) <= bound
    assert float(bias.abs().min()) > 0
    # uniform: SD bound / sqrt(3); N(0, 0.01) would have 0.01
    sd = float(weight.std())
    assert abs(sd - bound / math.sqrt(3)) < 0.15 * bound / math.sqrt(3), (sd, bound)


def test_the_linear_classifier_keeps_pytorchs_default() -> None:
    torch.manual_seed(0)
    model = build_model(parse_spec(SPEC))
    assert isinstance(model.classifier, nn.Linear) and model.classifier.in_features == 64
    assert_pytorch_default(model.classifier)
    conv = model.stages[1][0].conv1
    he = math.sqrt(2 / (conv.out_channels * 9))  # fan-out
    assert abs(float(conv.weight.detach().std()) - he) < 0.1 * he


def test_the_auxiliary_classifier_too_and_the_other_layers_keep_theirs() -> None:
    torch.manual_seed(0)
    spec = parse_spec(
        "contract:r16:c1:n10:relu:stem_c8:dynamic_r1_c32_kernels=2:inceptiona_r1_s2_c256:"
        "head_d0_aux1"
    )
    model = build_model(spec)
    assert model.aux is not None
    assert_pytorch_default(model.aux.fc)
    attention = next(m for m in model.modules() if isinstance(m, KernelAttention))
    for linear in (attention.reduce, attention.expand):  # near-uniform kernel attention at start
        assert float(linear.weight.detach().std()) < 0.02 and not linear.bias.any()


def test_squeezenets_conv_classifier_keeps_torchvisions_small_normal() -> None:
    torch.manual_seed(0)
    model = build_model(preset("squeezenet1_1_fmnist"))
    final = model.classifier[0]
    assert isinstance(final, nn.Conv2d)
    assert abs(float(final.weight.detach().std()) - 0.01) < 0.002 and not final.bias.any()
