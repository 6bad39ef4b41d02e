"""ResNet's basic and bottleneck blocks, and ResNeXt (a bottleneck with groups).

Their widths are ``out_channels`` (and the bottleneck's middle width below); they read no extras
of their own and scale by the default rule. Builders: ``nas.layers.resnet``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.kind import BlockKind

if TYPE_CHECKING:
    from nas.spec_types import StageSpec


def bottleneck_mid_channels(stage: StageSpec) -> int:
    """Bottleneck width: out/4 (ResNet) times ``expand_ratio``, a multiple of ``groups``.

    ResNeXt (Xie et al. 2017) in these terms: cardinality ``C = groups``, bottleneck width per
    group ``d = mid / groups``. ResNeXt-50 32x4d: ``g32`` and ``e2`` (mid = 256/4 * 2 = 128 =
    32 x 4 in its first stage), torchvision's ``width = planes * width_per_group / 64 * groups``.
    """
    mid = int(stage.out_channels // 4 * stage.expand_ratio)
    return max(stage.groups, mid // stage.groups * stage.groups)


KINDS = (
    BlockKind(
        "basic",
        "ResNet basic block: two 3x3 convs + shortcut (optional SE)",
        "nas.layers.resnet:basic_stage",
        extras=frozenset(),  # none of its own: a typo is an error, not ignored
    ),
    BlockKind(
        "bottleneck",
        "ResNet bottleneck 1x1-3x3-1x1 (optional SE); g<C> groups = ResNeXt cardinality C, "
        "width per group d = c/4 * e / C (ResNeXt-50 32x4d: e2, g32)",
        "nas.layers.resnet:bottleneck_stage",
        extras=frozenset(),  # none of its own: a typo is an error, not ignored
    ),
)
