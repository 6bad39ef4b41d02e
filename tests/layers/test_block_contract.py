"""Contract tests over the whole block registry.

Every registered block type: builds from a stage spec, runs forward and backward at its declared
shapes (every parameter gets a gradient), takes every downsampling kind, round-trips through the
block string and JSON, and its MACs from torch's flop counter equal an independent count of its
convolutions and linear layers (forward hooks). A new block without a case below fails
``test_every_block_has_a_case``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from nas.flops import count_flops
from nas.layers.diffstride import DiffStride
from nas.layers.dynamic_conv import DynamicConv2d
from nas.layers.registry import build_stage, get_block
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
