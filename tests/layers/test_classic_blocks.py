"""The classic blocks' own rules: DenseNet, Fire, Inception-v3, the grid reduction.

Layouts are checked against torchvision's (``torchvision/models/densenet.py``, ``squeezenet.py``,
``inception.py``) by independent parameter formulas; the block rules by the ``SpecError`` field
they name.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import SpecError
from nas.flops import count_params
from nas.layers.builders import build_stage
from nas.layers.dense import DenseLayer, Transition
from nas.layers.downsample import GridReduction
from nas.layers.fire import Fire
from nas.layers.plans import PLANS, split
from nas.spec import ArchSpec, StageSpec

HEADER = "t:r32:c3:n10:relu:stem_c16"


def spec(*stages: str, head: str = "head_d0") -> ArchSpec:
    return ArchSpec.from_string(":".join([HEADER, *stages, head]))


def conv_bn(cin: int, cout: int, kh: int = 1, kw: int | None = None) -> int:
    """Parameters of a bias-free conv + BN (torchvision's BasicConv2d)."""
    return cin * cout * kh * (kw or kh) + 2 * cout


# ---- invalid stages name their field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "field"),
    [
        ("fire_r1_c16_squeeze=16", "stages[0].extras.squeeze"),  # squeeze >= expand
        ("fire_r1_c16_squeeze=20", "stages[0].extras.squeeze"),
        ("fire_r1_c1", "stages[0].out_channels"),
        ("fire_r1_c16_pct3=1", "stages[0].extras.pct3"),  # no 1x1 expand left
        ("fire_r1_c16_growth=4", "stages[0].extras.growth"),  # not a Fire extra
        ("dense_r4_c16_growth=4", "stages[0].out_channels"),  # no room for the transition
        ("dense_r2_s2_c40_growth=8_theta=0.5", "stages[0].out_channels"),  # 8 + 16 != 40
        ("dense_r2_c32_growth=a", "stages[0].extras.growth"),
        ("dense_r2_c32_bn=-1", "stages[0].extras.bn"),
        ("inceptiona_r1_c16_pool=14", "stages[0].extras.pool"),
        ("inceptionb_r1_s2_c16", "stages[0].out_channels"),  # out must exceed the input's 16
        ("inceptionb_r2_s2_c64", "stages[0].repeats"),
        ("inceptiond_r1_s2_c17", "stages[0].out_channels"),
        ("inceptione_r1_c5", "stages[0].out_channels"),
        ("basic_r1_s1.5_c16_maxpool", "stages[0]"),  # max pooling needs integer strides
        ("basic_r1_s2.5_c16_gridreduce", "stages[0]"),
    ],
)
def test_impossible_stages_are_rejected_naming_the_field(stage: str, field: str) -> None:
    with pytest.raises(SpecError) as info:
        spec(stage)
    assert info.value.field is not None and info.value.field.startswith(field), info.value


def test_later_stages_are_checked_with_their_real_input_channels() -> None:
    spec("basic_r1_c16", "inceptionb_r1_s2_c24")  # 16 in, 24 out: fine
    with pytest.raises(SpecError) as info:
        spec("basic_r1_c32", "inceptionb_r1_s2_c24")
    assert info.value.field == "stages[1].out_channels"
    # a grid reduction doubles the channels in front of the block: 2 x 16 = 32 >= 24
    with pytest.raises(SpecError) as info:
        spec("basic_r1_c16", "inceptionb_r1_s2_c24_gridreduce")
    assert info.value.field == "stages[1].out_channels"


def test_aux_classifier_must_sit_on_an_existing_stage() -> None:
    with pytest.raises(SpecError) as info:
        spec("basic_r1_c16", head="head_d0_aux1")
    assert info.value.field == "head.aux_stage"


# ---- DenseNet ----------------------------------------------------------------------------------


def test_dense_block_grows_by_k_per_layer_in_bn_relu_conv_order() -> None:
    stage = StageSpec(block="dense", repeats=3, out_channels=40, extras={"growth": 8, "bn": 4})
    module = build_stage(stage, 16, "relu")  # transition 16 -> 40 - 24 = 16: none needed
    layers = [m for m in module.modules() if isinstance(m, DenseLayer)]
    assert not [m for m in module.modules() if isinstance(m, Transition)]
    assert [layer.layers[0].num_features for layer in layers] == [16, 24, 32]  # C_0 + l*k
    for layer in layers:
        kinds = [type(m) for m in layer.layers]
        assert kinds == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d] * 2  # DenseNet-B: 1x1 then 3x3
        assert layer.layers[2].out_channels == 4 * 8  # bottleneck to 4k
        assert layer.layers[5].out_channels == 8
    x = torch.randn(2, 16, 6, 6)
    out = module(x)
    assert out.shape == (2, 40, 6, 6)
    torch.testing.assert_close(out[:, :16], x)  # the block input is passed on unchanged


def test_plain_dense_layers_without_bottleneck() -> None:
    stage = StageSpec(block="dense", repeats=2, out_channels=32, extras={"growth": 8, "bn": 0})
    layers = [m for m in build_stage(stage, 16, "relu").modules() if isinstance(m, DenseLayer)]
    assert [type(m) for m in layers[0].layers] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d]


def test_transition_compresses_by_theta_and_average_pools() -> None:
    stage = StageSpec(
        block="dense",
        repeats=2,
        out_channels=64 // 2 + 2 * 8,
        stride=2,
        extras={"growth": 8, "theta": 0.5},
    )
    module = build_stage(stage, 64, "relu")
    transition = module[0]
    assert isinstance(transition, Transition)
    assert [type(m) for m in (transition.norm, transition.act, transition.conv)] == [
        nn.BatchNorm2d,
        nn.ReLU,
        nn.Conv2d,
    ]
    assert transition.conv.out_channels == 32  # theta * 64
    assert isinstance(transition.pool, nn.AvgPool2d) and transition.pool.kernel_size == (2, 2)
    assert module(torch.randn(1, 64, 8, 8)).shape == (1, 48, 4, 4)


def test_densenet121_dense_layer_parameters_match_torchvision() -> None:
    # torchvision _DenseLayer(num_input_features=64, growth_rate=32, bn_size=4)
    layer = DenseLayer(64, 32, 4, 3, "relu")
    assert count_params(layer) == 2 * 64 + 64 * 128 + 2 * 128 + 128 * 32 * 9


# ---- SqueezeNet --------------------------------------------------------------------------------


def test_fire_module_matches_torchvision_fire2() -> None:
    # torchvision Fire(96, 16, 64, 64): biased convs, no batch norm
    stage = StageSpec(block="fire", out_channels=128)
    module = build_stage(stage, 96, "relu")
    fire = module[0]
    assert isinstance(fire, Fire)
    assert count_params(fire) == (96 * 16 + 16) + (16 * 64 + 64) + (16 * 64 * 9 + 64)
    assert not [m for m in fire.modules() if isinstance(m, nn.BatchNorm2d)]
    out = module(torch.randn(2, 96, 7, 7))
    assert out.shape == (2, 128, 7, 7)


def test_fire_stage_downsamples_with_a_max_pool_first() -> None:
    module = build_stage(StageSpec(block="fire", out_channels=32, stride=2), 16, "relu")
    assert isinstance(module[0], nn.MaxPool2d)
    assert module(torch.randn(1, 16, 9, 9)).shape == (1, 32, 5, 5)


# ---- Inception-v3 ------------------------------------------------------------------------------


def test_split_is_proportional_and_exact() -> None:
    assert split(224, [4, 4, 6]) == [64, 64, 96]
    assert split(2048, [10, 12, 12, 12, 12, 6]) == [320, 384, 384, 384, 384, 192]
    assert sum(split(101, [3, 5, 7])) == 101


def conv_kernels(module: nn.Module) -> set[tuple[int, int]]:
    return {m.kernel_size for m in module.modules() if isinstance(m, nn.Conv2d)}  # type: ignore[misc]


def test_inception_a_factorizes_the_5x5_into_two_3x3() -> None:
    paper = build_stage(StageSpec(block="inceptiona", out_channels=64), 32, "relu")
    assert conv_kernels(paper) == {(1, 1), (3, 3)}  # Fig. 5: no 5x5 left
    ported = build_stage(StageSpec(block="inceptiona", kernel=5, out_channels=64), 32, "relu")
    assert conv_kernels(ported) == {(1, 1), (3, 3), (5, 5)}  # torchvision's extra 5x5 branch


def test_inception_c_factorizes_n_x_n_into_1_x_n_and_n_x_1() -> None:
    module = build_stage(StageSpec(block="inceptionc", kernel=7, out_channels=64), 64, "relu")
    assert conv_kernels(module) == {(1, 1), (1, 7), (7, 1)}
    assert module(torch.randn(1, 64, 12, 12)).shape == (1, 64, 12, 12)


@pytest.mark.parametrize(
    ("stage", "in_channels", "expected"),
    [
        # Mixed_5b: InceptionA(192, pool_features=32), 5x5 branch
        (
            "inceptiona_k5_c256",
            192,
            conv_bn(192, 64)
            + conv_bn(192, 48)
            + conv_bn(48, 64, 5)
            + conv_bn(192, 64)
            + conv_bn(64, 96, 3)
            + conv_bn(96, 96, 3)
            + conv_bn(192, 32),
        ),
        # Mixed_6a: InceptionB(288)
        (
            "inceptionb_s2_c768",
            288,
            conv_bn(288, 384, 3) + conv_bn(288, 64) + conv_bn(64, 96, 3) + conv_bn(96, 96, 3),
        ),
        # Mixed_6b: InceptionC(768, channels_7x7=128)
        (
            "inceptionc_k7_c768",
            768,
            conv_bn(768, 192)
            + conv_bn(768, 128)
            + conv_bn(128, 128, 1, 7)
            + conv_bn(128, 192, 7, 1)
            + conv_bn(768, 128)
            + 3 * conv_bn(128, 128, 7, 1)
            + conv_bn(128, 192, 1, 7)
            + conv_bn(768, 192),
        ),
        # Mixed_7a: InceptionD(768)
        (
            "inceptiond_k7_s2_c1280",
            768,
            conv_bn(768, 192)
            + conv_bn(192, 320, 3)
            + conv_bn(768, 192)
            + conv_bn(192, 192, 1, 7)
            + conv_bn(192, 192, 7, 1)
            + conv_bn(192, 192, 3),
        ),
        # Mixed_7b: InceptionE(1280)
        (
            "inceptione_c2048",
            1280,
            conv_bn(1280, 320)
            + conv_bn(1280, 384)
            + 2 * conv_bn(384, 384, 1, 3)
            + conv_bn(1280, 448)
            + conv_bn(448, 384, 3)
            + 2 * conv_bn(384, 384, 1, 3)
            + conv_bn(1280, 192),
        ),
    ],
)
def test_inception_modules_match_torchvision(stage: str, in_channels: int, expected: int) -> None:
    block, *rest = stage.split("_")
    parsed = ArchSpec.from_string(
        f"t:r299:c3:n10:relu:stem_c{in_channels}:{block}_r1_{'_'.join(rest)}:head_d0"
    )
    module = build_stage(parsed.stages[0], in_channels, "relu")
    assert count_params(module) == expected
    assert block in PLANS


def test_reduction_keeps_the_input_in_its_pooling_branch() -> None:
    module = build_stage(StageSpec(block="inceptionb", out_channels=48, stride=2), 16, "relu")
    x = torch.randn(2, 16, 9, 9)
    out = module(x)
    assert out.shape == (2, 48, 5, 5)
    torch.testing.assert_close(out[:, -16:], F.max_pool2d(x, 3, 2, 1))


# ---- the efficient grid reduction as a downsampling kind ---------------------------------------


def test_grid_reduction_is_a_strided_conv_and_a_pool_in_parallel() -> None:
    reduce = GridReduction(8, (2.0, 2.0))
    x = torch.randn(2, 8, 9, 10)
    out = reduce(x)
    assert out.shape == (2, 16, 5, 5)
    torch.testing.assert_close(out[:, 8:], F.max_pool2d(x, 3, 2, 1))
    assert reduce.conv[0].stride == (2, 2)


def test_any_stage_takes_the_grid_reduction() -> None:
    stage = StageSpec(block="basic", out_channels=24, stride=2, downsample="gridreduce")
    module = build_stage(stage, 12, "relu")
    assert isinstance(module[0], GridReduction)
    assert module[1][0].conv1.in_channels == 24  # the first block sees 2 x 12 channels
    assert module(torch.randn(1, 12, 8, 8)).shape == (1, 24, 4, 4)
    unstrided = StageSpec(block="basic", out_channels=24, downsample="gridreduce")
    assert not any(
        isinstance(m, GridReduction) for m in build_stage(unstrided, 12, "relu").modules()
    )
