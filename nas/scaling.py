"""EfficientNet compound scaling (Tan & Le 2019) as pure functions from spec to spec.

Depth multiplies every stage's repeats (rounded up), width multiplies every channel count
(rounded to a multiple of 8, never losing more than 10%), resolution sets the input size.
Blocks whose widths live in extras (growth rate, squeeze width) or whose stage holds exactly one
block (Inception's grid reductions) have their own rule, in their module (``nas.blocks.<block>``),
filed in ``SCALERS`` from ``nas.blocks.catalog``; a block registered elsewhere brings its own:
``register_block(scale=...)``. The rounding they share is ``nas.blocks.rounding``'s.
``compound_scale`` ties all three to one knob: depth = alpha^phi, width = beta^phi,
resolution = gamma^phi, with alpha * beta^2 * gamma^2 ~ 2 so FLOPs grow about 2^phi.
"""

from __future__ import annotations

from nas.blocks.catalog import BUILTINS
from nas.blocks.kind import StageScaler as StageScaler
from nas.blocks.rounding import channel_extras_rule as channel_extras_rule
from nas.blocks.rounding import make_divisible as make_divisible
from nas.blocks.rounding import scale_depth as scale_depth
from nas.errors import SpecError
from nas.registry import Registry
from nas.spec import ArchSpec, StageSpec

# variant -> (width, depth, resolution, dropout), from the paper and torchvision's
# efficientnet_b0..b7 builders (torchvision/models/efficientnet.py).
EFFICIENTNET_COEFFICIENTS: dict[int, tuple[float, float, int, float]] = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 300, 0.3),
    4: (1.4, 1.8, 380, 0.4),
    5: (1.6, 2.2, 456, 0.4),
    6: (1.8, 2.6, 528, 0.5),
    7: (2.0, 3.1, 600, 0.5),
}


SCALERS: Registry[StageScaler] = Registry(
    "scaling rule",
    field="block",
    entries={kind.name: kind.scale for kind in BUILTINS if kind.scale is not None},
)


def scale_stage(stage: StageSpec, width: float, depth: float) -> StageSpec:
    """One stage scaled: the block's own rule when it registered one, else channels x width
    (``make_divisible``) and repeats x depth (rounded up)."""
    rule = SCALERS.find(stage.block)
    if rule is not None:
        return rule(stage, width, depth)
    return stage.model_copy(
        update={
            "out_channels": make_divisible(stage.out_channels * width),
            "repeats": scale_depth(stage.repeats, depth),
        }
    )


def register_scaler(block: str, rule: StageScaler) -> None:
    """Scale the stages of ``block`` with ``rule`` instead of the default (see
    ``nas.layers.builders.register_block``)."""
    SCALERS.add(block, rule)


def scale(
    spec: ArchSpec, *, width: float = 1.0, depth: float = 1.0, resolution: int | None = None
) -> ArchSpec:
    """``spec`` with every channel count times ``width``, repeats times ``depth``."""
    if width <= 0:
        raise SpecError(f"must be > 0, got {width}", field="width")
    if depth <= 0:
        raise SpecError(f"must be > 0, got {depth}", field="depth")
    stages = [scale_stage(stage, width, depth).model_dump() for stage in spec.stages]
    head = spec.head.model_dump()
    if spec.head.channels:
        head["channels"] = make_divisible(spec.head.channels * width)
    stem = {
        **spec.stem.model_dump(),
        "out_channels": make_divisible(spec.stem.out_channels * width),
    }
    return spec.replace(
        stages=stages,
        head=head,
        stem=stem,
        resolution=spec.resolution if resolution is None else resolution,
    )


def compound_scale(
    spec: ArchSpec,
    phi: float,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
) -> ArchSpec:
    """Scale depth by alpha^phi, width by beta^phi and resolution by gamma^phi."""
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if value < 1:
            raise SpecError(f"must be >= 1, got {value}", field=name)
    if phi < 0:
        raise SpecError(f"must be >= 0, got {phi}", field="phi")
    return scale(
        spec,
        width=beta**phi,
        depth=alpha**phi,
        resolution=round(spec.resolution * gamma**phi),
    )


def flops_factor(alpha: float, beta: float, gamma: float) -> float:
    """How much FLOPs grow per unit of phi: alpha * beta^2 * gamma^2 (the paper wants ~2)."""
    return alpha * beta**2 * gamma**2
