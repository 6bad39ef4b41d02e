"""Named architectures: the ImageNet originals and small-image (28x28, 32x32) variants.

ImageNet presets reproduce torchvision's layer layout exactly (their parameter counts are tested
against the published figures). ``small_image`` swaps the stem for a 3x3 stride-1 convolution
without max pool (the CIFAR-style stem of the DiffStride paper's ResNet-18) and sets the input.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from nas.errors import NotFoundError
from nas.scaling import EFFICIENTNET_COEFFICIENTS, scale
from nas.spec import ArchSpec, StemSpec


def resnet18() -> ArchSpec:
    return ArchSpec.from_string(
        "resnet:r224:c3:n1000:relu:stem_c64_k7_s2_mp:"
        "basic_r2_c64:basic_r2_s2_c128:basic_r2_s2_c256:basic_r2_s2_c512:head_d0"
    )


def resnet34() -> ArchSpec:
    return ArchSpec.from_string(
        "resnet:r224:c3:n1000:relu:stem_c64_k7_s2_mp:"
        "basic_r3_c64:basic_r4_s2_c128:basic_r6_s2_c256:basic_r3_s2_c512:head_d0"
    )


def resnet50() -> ArchSpec:
    return ArchSpec.from_string(
        "resnet:r224:c3:n1000:relu:stem_c64_k7_s2_mp:bottleneck_r3_c256:"
        "bottleneck_r4_s2_c512:bottleneck_r6_s2_c1024:bottleneck_r3_s2_c2048:head_d0"
    )


def efficientnet_b0() -> ArchSpec:
    """Tan & Le 2019, Table 1; block strings as in timm's ``_gen_efficientnet``."""
    return ArchSpec.from_string(
        "efficientnet:r224:c3:n1000:silu:stem_c32_s2:"
        "ds_r1_c16_se0.25:"
        "ir_r2_s2_e6_c24_se0.25:"
        "ir_r2_k5_s2_e6_c40_se0.25:"
        "ir_r3_s2_e6_c80_se0.25:"
        "ir_r3_k5_e6_c112_se0.25:"
        "ir_r4_k5_s2_e6_c192_se0.25:"
        "ir_r1_e6_c320_se0.25:"
        "head_c1280_d0.2"
    )


def efficientnet(variant: int) -> ArchSpec:
    """B``variant`` from B0 with the published width, depth and resolution coefficients."""
    width, depth, resolution, dropout = EFFICIENTNET_COEFFICIENTS[variant]
    scaled = scale(efficientnet_b0(), width=width, depth=depth, resolution=resolution)
    return scaled.replace(head={"channels": scaled.head.channels, "dropout": dropout})


def small_image(
    spec: ArchSpec, *, resolution: int, in_channels: int, num_classes: int = 10
) -> ArchSpec:
    """CIFAR-style variant: 3x3 stride-1 stem without max pool, for 28x28 or 32x32 inputs."""
    stem = StemSpec(out_channels=spec.stem.out_channels, kernel=3, stride=1, max_pool=False)
    return spec.replace(
        resolution=resolution,
        in_channels=in_channels,
        num_classes=num_classes,
        stem=stem.model_dump(),
    )


def resnet_narrow_fmnist() -> ArchSpec:
    """A quarter-width ResNet-18 on 28x28x1: cheap enough for whole searches on a 2-core CPU."""
    return ArchSpec.from_string(
        "resnet:r28:c1:n10:relu:stem_c16:"
        "basic_r2_c16:basic_r2_s2_c32:basic_r2_s2_c64:basic_r2_s2_c128:head_d0"
    )


_PRESETS: dict[str, Callable[[], ArchSpec]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet18_cifar": lambda: small_image(resnet18(), resolution=32, in_channels=3),
    "resnet18_fmnist": lambda: small_image(resnet18(), resolution=28, in_channels=1),
    "resnet_narrow_fmnist": resnet_narrow_fmnist,
    "efficientnet_b0_cifar": lambda: small_image(efficientnet_b0(), resolution=32, in_channels=3),
    "efficientnet_b0_fmnist": lambda: small_image(efficientnet_b0(), resolution=28, in_channels=1),
}
_PRESETS["efficientnet_b0"] = efficientnet_b0
for _variant in range(1, 8):
    _PRESETS[f"efficientnet_b{_variant}"] = partial(efficientnet, _variant)


def preset_names() -> list[str]:
    return sorted(_PRESETS)


def preset(name: str) -> ArchSpec:
    """A named architecture; ``NotFoundError`` lists the known names."""
    try:
        return _PRESETS[name]()
    except KeyError:
        raise NotFoundError(
            f"unknown preset {name!r}; known: {', '.join(preset_names())}", field="preset"
        ) from None
