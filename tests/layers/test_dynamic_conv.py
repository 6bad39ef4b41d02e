"""Dynamic convolution: attention over K kernels, its temperature schedule, one aggregated conv.

Chen et al., CVPR 2020: the attention is a softmax over the kernels (sums to 1), its temperature
falls from 30 to 1 over the first 10 epochs, and because convolution is linear in its weight the
single convolution with the aggregated kernel equals the attention-weighted sum of the K
convolutions' outputs.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from nas.errors import SpecError
from nas.flops import count_flops
from nas.layers.dynamic_conv import DynamicConv2d
from nas.layers.schedules import TemperatureSchedule, set_epoch
from nas.models import build_model
from nas.spec import ArchSpec

SPEC = (
    "dyn:r16:c3:n4:relu:stem_c8:dynamic_r2_c8:dynamic_r1_s2_c16_kernels=3_t0=20_tepochs=4:head_d0"
)


def test_attention_is_a_distribution_over_the_kernels() -> None:
    conv = DynamicConv2d(6, 4, 3, kernels=5)
    x = torch.randn(7, 6, 9, 9)
    for temperature in (30.0, 1.0, 0.1):
        conv.temperature = temperature
        weights = conv.attention_weights(x)
        assert weights.shape == (7, 5)
        assert (weights >= 0).all()
        torch.testing.assert_close(weights.sum(1), torch.ones(7))


def test_high_temperature_makes_the_attention_near_uniform() -> None:
    torch.manual_seed(0)
    conv = DynamicConv2d(6, 4, 3, kernels=4)
    with torch.no_grad():  # a strong attention so the temperature matters
        conv.attention.expand.weight.mul_(50)
    x = torch.randn(16, 6, 5, 5)
    conv.temperature = 30.0
    hot = conv.attention_weights(x)
    conv.temperature = 1.0
    cold = conv.attention_weights(x)
    spread = lambda w: (w.max(1).values - w.min(1).values).mean()  # noqa: E731
    assert spread(hot) < spread(cold)
    assert (hot - 0.25).abs().max() < (cold - 0.25).abs().max()


def test_schedule_falls_linearly_from_30_to_1_then_stays() -> None:
    schedule = TemperatureSchedule()  # the paper's: 30 -> 1 over the first 10 epochs
    values = [schedule(e) for e in range(13)]
    assert values[0] == 30.0
    assert values[5] == pytest.approx(15.5)
    assert values[10:] == [1.0, 1.0, 1.0]
    assert all(a > b for a, b in itertools.pairwise(values[:11]))
    assert TemperatureSchedule(start=8, epochs=0)(0) == 1.0


def test_set_epoch_drives_every_dynamic_convolution_of_a_network() -> None:
    model = build_model(ArchSpec.from_string(SPEC))
    convs = [m for m in model.modules() if isinstance(m, DynamicConv2d)]
    assert len(convs) == 6  # three basic blocks x two convolutions
    assert {c.temperature for c in convs} == {30.0, 20.0}  # before training: epoch 0
    assert set_epoch(model, 2) == 6
    assert {c.temperature for c in convs[:4]} == {30.0 - 29.0 * 2 / 10}
    assert {c.temperature for c in convs[4:]} == {20.0 - 19.0 * 2 / 4}
    set_epoch(model, 4)
    assert convs[-1].temperature == 1.0


@pytest.mark.parametrize(("stride", "groups", "bias"), [((1, 1), 1, False), ((2, 1), 2, True)])
def test_one_aggregated_convolution_equals_the_weighted_sum_of_k_convolutions(
    stride: tuple[int, int], groups: int, bias: bool
) -> None:
    torch.manual_seed(1)
    conv = DynamicConv2d(4, 6, 3, stride, kernels=4, groups=groups, bias=bias).double()
    with torch.no_grad():
        if conv.bias is not None:
            conv.bias.normal_()
    conv.temperature = 1.0
    x = torch.randn(5, 4, 8, 7, dtype=torch.float64)
    out = conv(x)
    weights = conv.attention_weights(x)  # (N, K)
    expected = torch.zeros_like(out)
    for k in range(conv.kernels):  # K separate convolutions of the whole batch
        b = conv.bias[k] if conv.bias is not None else None
        y = F.conv2d(x, conv.kernel_weight(k), b, stride=stride, padding=1, groups=groups)
        expected += weights[:, k, None, None, None] * y
    torch.testing.assert_close(out, expected)
    assert out.shape == (5, 6, 8 // stride[0], 7)


def test_the_batch_is_one_grouped_convolution_not_k() -> None:
    conv = DynamicConv2d(4, 6, 3, kernels=4)
    x = torch.randn(3, 4, 8, 8)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        conv(x)
    conv_flops = counter.get_flop_counts()["Global"][torch.ops.aten.convolution]
    assert conv_flops == 2 * 3 * 6 * 8 * 8 * 4 * 9  # one 3x3 conv of the batch, not four
    assert count_flops(conv, x) // 2 == 3 * conv.macs_per_image(8, 8)


def test_gradients_reach_every_kernel_and_the_attention() -> None:
    conv = DynamicConv2d(4, 6, 3, kernels=3)
    conv(torch.randn(2, 4, 6, 6)).square().mean().backward()
    assert conv.weight.grad is not None
    assert (conv.weight.grad.flatten(1).abs().sum(1) > 0).all()  # all K kernels learn
    assert conv.attention.expand.weight.grad is not None


def test_converts_to_channels_last_like_the_trainer_does_on_cuda() -> None:
    model = build_model(ArchSpec.from_string(SPEC)).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 autocast as on CUDA
        assert model(x).shape == (2, 4)


@pytest.mark.parametrize(
    ("extra", "field"),
    [("kernels=0", "kernels"), ("t0=0.5", "t0"), ("tepochs=x", "tepochs"), ("k=4", "k")],
)
def test_bad_dynamic_extras_name_the_field(extra: str, field: str) -> None:
    with pytest.raises(SpecError) as info:
        ArchSpec.from_string(f"dyn:r16:c3:n4:relu:stem_c8:dynamic_r1_c8_{extra}:head_d0")
    assert info.value.field == f"stages[0].extras.{field}"
