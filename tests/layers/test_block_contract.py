"""Contract tests over the whole block registry.

Every registered block type: builds from a stage spec, runs forward and backward at its declared
shapes (every parameter gets a gradient), takes every downsampling kind, round-trips through the
block string and JSON, and its MACs from torch's flop counter equal an independent count of its
convolutions and linear layers (forward hooks). A new block without a case below fails
``test_every_block_has_a_case``.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import nn

from nas.flops import count_flops
from nas.layers.builders import build_stage, get_block
from nas.layers.conv import SubsampledConv2d, conv2d
from nas.layers.diffstride import DiffStride
from nas.layers.dynamic_conv import DynamicConv2d
from nas.layers.spectral import spectral_output_size
from nas.models import build_model
from nas.spec import DOWNSAMPLE_KINDS, ArchSpec, StageSpec
from nas.validation import block_names

IN_CHANNELS, OUT_CHANNELS, HEIGHT, WIDTH = 8, 24, 9, 8

# Per block: the stage fields that exercise its options (beyond block, repeats, channels, stride).
CASES: dict[str, dict[str, Any]] = {
    "basic": {"se_ratio": 0.25},
    "bottleneck": {"groups": 3, "expand_ratio": 2.0, "se_ratio": 0.25},
    "ir": {"expand_ratio": 4.0, "se_ratio": 0.25, "kernel": 5},
    "ds": {"se_ratio": 0.25},
    "conv": {"kernel": 5},
    "dense": {"extras": {"growth": 4, "bn": 2}},
    "fire": {"extras": {"squeeze": 4, "pct3": 0.25}},
    "dynamic": {"se_ratio": 0.25, "extras": {"kernels": 3, "t0": 10, "tepochs": 2}},
    "inceptiona": {"kernel": 5, "extras": {"pool": 4}},
    "inceptionb": {"repeats": 1},  # a grid reduction grows the channels: one per stage
    "inceptionc": {"kernel": 5, "extras": {"mid": 5}},
    "inceptiond": {"repeats": 1, "kernel": 5},
    "inceptione": {},
}
BLOCKS = sorted(CASES)


def stage_spec(block: str, stride: float | tuple[float, float] = 2, **update: Any) -> StageSpec:
    fields: dict[str, Any] = {
        "block": block,
        "repeats": 2,
        "out_channels": OUT_CHANNELS,
        "stride": stride,
        **CASES[block],
        **update,
    }
    return StageSpec.model_validate(fields)


def expected_size(size: int, stride: float) -> int:
    return math.ceil(size / stride)


def test_every_block_has_a_case() -> None:
    assert sorted(block_names()) == BLOCKS


@pytest.mark.parametrize("block", BLOCKS)
def test_every_declared_block_has_a_builder(block: str) -> None:
    """The torch-free rules (``nas.validation``) and the builders name the same blocks."""
    assert callable(get_block(block))


@pytest.mark.parametrize("stride", [1, 2, (2, 1)], ids=["s1", "s2", "s2x1"])
@pytest.mark.parametrize("block", BLOCKS)
def test_builds_and_runs_forward_and_backward_at_declared_shapes(
    block: str, stride: float | tuple[float, float]
) -> None:
    stage = stage_spec(block, stride)
    module = build_stage(stage, IN_CHANNELS, "relu")
    x = torch.randn(2, IN_CHANNELS, HEIGHT, WIDTH, requires_grad=True)
    out = module(x)
    sh, sw = stage.stride
    assert out.shape == (2, OUT_CHANNELS, expected_size(HEIGHT, sh), expected_size(WIDTH, sw))
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


@pytest.mark.parametrize("kind", DOWNSAMPLE_KINDS)
@pytest.mark.parametrize("block", BLOCKS)
def test_every_block_takes_every_downsampling_kind(block: str, kind: str) -> None:
    stage = stage_spec(block, 2, downsample=kind)
    module = build_stage(stage, IN_CHANNELS, "silu")
    x = torch.randn(2, IN_CHANNELS, 12, 12, requires_grad=True)
    out = module(x)
    if kind == "spectral":
        side = spectral_output_size(12, 2.0, "height")
    elif kind == "diffstride":
        learned = next(m for m in module.modules() if isinstance(m, DiffStride))
        side = learned.output_size(12, 12)[0]
    else:
        side = 6
    assert out.shape == (2, OUT_CHANNELS, side, side)
    out.mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("block", BLOCKS)
def test_round_trips_through_block_string_and_json(block: str) -> None:
    spec = ArchSpec.create(
        family="contract",
        resolution=16,
        in_channels=3,
        num_classes=5,
        stem={"out_channels": IN_CHANNELS},
        stages=[
            stage_spec(block, 2).model_dump(),
            stage_spec(block, 1, out_channels=OUT_CHANNELS + 16).model_dump(),
        ],
    )
    text = spec.to_string()
    assert f"{block}_r{spec.stages[0].repeats}" in text
    assert ArchSpec.from_string(text) == spec
    assert ArchSpec.from_string(text).to_string() == text
    assert ArchSpec.from_json(spec.model_dump_json()) == spec
    first, again = build_model(spec), build_model(ArchSpec.from_string(text))
    assert {k: v.shape for k, v in first.state_dict().items()} == {
        k: v.shape for k, v in again.state_dict().items()
    }
    assert first(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def hooked_macs(module: nn.Module, x: torch.Tensor) -> int:
    """MACs of every Conv2d, Linear and DynamicConv2d, from their output shapes (forward hooks)."""
    total = 0

    def conv(m: nn.Conv2d, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear(m: nn.Linear, _: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    def dynamic(m: DynamicConv2d, inputs: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total  # one aggregated convolution plus the aggregation of K kernels per image
        total += out.numel() * (m.in_channels // m.groups) * m.kernel * m.kernel
        total += inputs[0].shape[0] * m.weight.numel()  # its attention Linears are hooked too

    handles = []
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d):
            handles.append(sub.register_forward_hook(conv))  # type: ignore[arg-type]
        elif isinstance(sub, nn.Linear):
            handles.append(sub.register_forward_hook(linear))  # type: ignore[arg-type]
        elif isinstance(sub, DynamicConv2d):
            handles.append(sub.register_forward_hook(dynamic))  # type: ignore[arg-type]
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


@pytest.mark.parametrize("kind", ["strided", "maxpool", "gridreduce"])
@pytest.mark.parametrize("block", BLOCKS)
def test_macs_come_from_the_counter_and_match_an_independent_count(block: str, kind: str) -> None:
    module = build_stage(stage_spec(block, 2, downsample=kind), IN_CHANNELS, "relu")
    x = torch.randn(2, IN_CHANNELS, HEIGHT, WIDTH)
    counted = count_flops(module, x) // 2
    assert counted > 0
    assert counted == hooked_macs(module, x)


@pytest.mark.parametrize("block", BLOCKS)
def test_runs_channels_last_under_bf16_autocast_like_the_cuda_trainer(block: str) -> None:
    # nas.train on CUDA: model.to(memory_format=channels_last), bf16 autocast; CPU stands in
    module = build_stage(stage_spec(block, 2), IN_CHANNELS, "relu")
    module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.randn(2, IN_CHANNELS, HEIGHT, WIDTH).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x.requires_grad_())
    assert out.shape == (2, OUT_CHANNELS, 5, 4)
    out.float().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def _run_in_layout(
    module: nn.Module, x: torch.Tensor, channels_last: bool, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """The output, the input's gradient and every parameter's gradient (as float64) of
    ``module`` in train mode on ``x``, module and input in channels_last strides or plain."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    module = module.to(dtype=dtype, memory_format=fmt)  # type: ignore[call-overload]
    inp = x.detach().to(dtype=dtype, memory_format=fmt).requires_grad_()
    out = module(inp)
    upstream = torch.linspace(-1, 1, out.numel(), dtype=dtype).view(out.shape)
    (out * upstream).sum().backward()
    assert inp.grad is not None
    found = {"output": out.detach(), "input gradient": inp.grad}
    found |= {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
    return {k: v.double() for k, v in found.items()}


def assert_same_in_both_layouts(module: nn.Module, x: torch.Tensor) -> None:
    """Output, input gradient and every parameter's gradient in channels_last (as ``nas.train``
    runs them) are as close to the exact values (float64, plain) as the plain layout's float32
    values are: the same map, up to float rounding (a layout bug is off by the values' size).
    The relative floor is 1e-4 of the values' size: float32 sums in another order (one thread
    against two) were seen 1.5e-5 off where the plain run happened to be 7e-7 off."""
    exact = _run_in_layout(copy.deepcopy(module), x, channels_last=False, dtype=torch.float64)
    plain = _run_in_layout(copy.deepcopy(module), x, channels_last=False)
    fast = _run_in_layout(module, x, channels_last=True)
    names = {n for n, _ in module.named_parameters()} | {"output", "input gradient"}
    assert fast.keys() == plain.keys() == exact.keys() == names
    for name, want in exact.items():
        scale = float(want.abs().max())
        off, rounding = (fast[name] - want).abs().max(), (plain[name] - want).abs().max()
        assert off <= 10 * rounding + 1e-4 * scale, (name, float(off), float(rounding), scale)


@pytest.mark.parametrize("kind", DOWNSAMPLE_KINDS)
@pytest.mark.parametrize("block", BLOCKS)
def test_channels_last_gives_the_plain_layouts_outputs_and_gradients(block: str, kind: str) -> None:
    torch.manual_seed(0)
    module = build_stage(stage_spec(block, 2, downsample=kind), IN_CHANNELS, "silu")
    assert_same_in_both_layouts(module, torch.randn(3, IN_CHANNELS, 12, 10))


class _WithAux(nn.Module):
    """A network's logits and its auxiliary classifier's, side by side: (N, 2 classes)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, aux = self.net.forward_with_aux(x)  # (N, classes), (N, classes)
        return torch.cat([logits, aux], 1)  # (N, 2 classes)


@pytest.mark.parametrize(
    "head",
    ["head_d0", "head_c24_d0", "head_conv_d0", "head_d0_aux1"],
    ids=["linear", "conv1x1", "conv-classifier", "aux"],
)
def test_a_single_channel_network_gives_the_same_in_both_layouts(head: str) -> None:
    # 1-channel input (Fashion-MNIST): a plain batch also reads as channels_last; the network
    # must agree either way, heads (and Inception's auxiliary classifier) included.
    spec = ArchSpec.from_string(
        "contract:r16:c1:n5:relu:stem_c8:basic_r1_c8_diffstride:inceptiona_r1_s2_c16_spectral:"
        f"dynamic_r1_s2_c24_kernels=2:{head}"
    )
    torch.manual_seed(0)
    model = build_model(spec)
    module = _WithAux(model) if spec.head.aux_stage is not None else model
    assert_same_in_both_layouts(module, torch.randn(3, 1, 16, 16))


def test_a_strided_pointwise_convolution_subsamples_then_convolves() -> None:
    torch.manual_seed(0)
    conv = conv2d(8, 6, 1, (2, 3))
    assert isinstance(conv, SubsampledConv2d) and isinstance(conv2d(8, 6, 3, 2), nn.Conv2d)
    reference = nn.Conv2d(8, 6, 1, (2, 3), bias=False)
    reference.weight.data.copy_(conv.weight.data)
    assert_same_in_both_layouts(conv, torch.randn(3, 8, 13, 10))
    x = torch.randn(3, 8, 13, 10)
    # The same map up to float32 rounding: oneDNN sums the 8 products in another order for the
    # strided kernel than for the dense one on a subsampled input (seen 2.4e-7 apart under load).
    torch.testing.assert_close(conv(x), reference(x), rtol=1e-5, atol=1e-6)
    assert count_flops(conv, x) == count_flops(reference, x)


def test_a_strided_pointwise_convolution_trains_channels_last_on_an_odd_batch() -> None:
    # nn.Conv2d's oneDNN kernel for this (1x1, stride 2, channels_last, < 16 input channels, odd
    # batch, 2 threads) corrupts the heap in its weight gradient; run it where a crash shows.
    code = (
        "import torch\n"
        "from nas.layers.conv import conv2d\n"
        "torch.set_num_threads(2)\n"
        "conv = conv2d(8, 6, 1, 2).to(memory_format=torch.channels_last)\n"
        "for batch in (3, 5, 127):\n"
        "    x = torch.randn(batch, 8, 28, 28).to(memory_format=torch.channels_last)\n"
        "    for _ in range(5):\n"
        "        conv(x.requires_grad_()).square().sum().backward()\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
