"""Named architectures: the ImageNet originals and small-image (28x28, 32x32) variants.

ImageNet presets reproduce torchvision's layer layout exactly (their parameter counts are tested
against the published figures). ``small_image`` swaps the stem for a 3x3 stride-1 convolution
without max pool (the CIFAR-style stem of the DiffStride paper's ResNet-18) and sets the input.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from nas.registry import Registry
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


def resnext50_32x4d() -> ArchSpec:
    """Xie et al. 2017: ResNet-50 with cardinality 32 and 4 channels per group (``e2``, ``g32``)."""
    return ArchSpec.from_string(
        "resnext:r224:c3:n1000:relu:stem_c64_k7_s2_mp:bottleneck_r3_e2_c256_g32:"
        "bottleneck_r4_s2_e2_c512_g32:bottleneck_r6_s2_e2_c1024_g32:bottleneck_r3_s2_e2_c2048_g32:"
        "head_d0"
    )


def mobilenet_v2() -> ArchSpec:
    """Sandler et al. 2018, Table 2 (torchvision's ``mobilenetv2.py``): ReLU6, no SE."""
    return ArchSpec.from_string(
        "mobilenetv2:r224:c3:n1000:relu6:stem_c32_s2:"
        "ds_r1_c16:ir_r2_s2_e6_c24:ir_r3_s2_e6_c32:ir_r4_s2_e6_c64:ir_r3_e6_c96:"
        "ir_r3_s2_e6_c160:ir_r1_e6_c320:head_c1280_d0.2"
    )


def densenet(blocks: tuple[int, int, int, int], growth: int = 32, stem: int = 64) -> ArchSpec:
    """DenseNet-BC (Huang et al. 2017): growth ``k``, bottleneck 4k, compression 0.5.

    Stage ``i > 0`` opens with the transition that halves the channels (``theta=0.5``, checked
    against the channel counts), then its dense block adds ``blocks[i] * k``; a final BN-ReLU
    (``head_bn``) as in torchvision's ``densenet.py``.
    """
    stages = []
    channels = stem
    for i, layers in enumerate(blocks):
        if i == 0:
            channels += layers * growth
            stages.append(f"dense_r{layers}_c{channels}_growth={growth}")
        else:
            channels = channels // 2 + layers * growth
            stages.append(f"dense_r{layers}_s2_c{channels}_growth={growth}_theta=0.5")
    return ArchSpec.from_string(
        f"densenet:r224:c3:n1000:relu:stem_c{stem}_k7_s2_mp:{':'.join(stages)}:head_bn_d0"
    )


def squeezenet1_0() -> ArchSpec:
    """Iandola et al. 2016 (torchvision's ``squeezenet.py``): 7x7/2 stem of 96, max pools
    before fire5 and fire9, dropout 0.5 and a 1x1-conv classifier; no batch norm."""
    return ArchSpec.from_string(
        "squeezenet:r224:c3:n1000:relu:stem_c96_k7_s2_nobn_mp:"
        "fire_r2_c128:fire_r1_c256:fire_r1_s2_c256:fire_r2_c384:fire_r1_c512:fire_r1_s2_c512:"
        "head_conv_d0.5"
    )


def squeezenet1_1() -> ArchSpec:
    """SqueezeNet 1.1: 3x3/2 stem of 64, max pools earlier (before fire4 and fire6)."""
    return ArchSpec.from_string(
        "squeezenet:r224:c3:n1000:relu:stem_c64_s2_nobn_mp:"
        "fire_r2_c128:fire_r2_s2_c256:fire_r2_s2_c384:fire_r2_c512:head_conv_d0.5"
    )


def inception_v3() -> ArchSpec:
    """Szegedy et al. 2016 as torchvision's ``inception_v3`` (with the auxiliary classifier).

    Stem convs 2a, 2b (then max pool), 3b, 4a (then max pool) as ``conv`` stages; Mixed_5b-5d
    ``inceptiona`` with the 5x5 branch (``k5``; pool branch 32, then 64), Mixed_6a
    ``inceptionb``, Mixed_6b-6e ``inceptionc`` with n = 7 (inner widths 128, 160, 160, 192),
    Mixed_7a ``inceptiond``, Mixed_7b-7c ``inceptione``; the auxiliary classifier on Mixed_6e
    (stage 9). Convolutions use 'same' padding, so the grids at 299 px are 38/19/10 where
    torchvision's unpadded ones are 35/17/8: parameters agree exactly, MACs do not.
    """
    return ArchSpec.from_string(
        "inception:r299:c3:n1000:relu:stem_c32_s2:"
        "conv_r1_c32:conv_r1_s2_c64_maxpool:conv_r1_k1_c80:conv_r1_s2_c192_maxpool:"
        "inceptiona_r1_k5_c256:inceptiona_r2_k5_c288_pool=64:"
        "inceptionb_r1_s2_c768:"
        "inceptionc_r1_k7_c768:inceptionc_r2_k7_c768_mid=160:inceptionc_r1_k7_c768_mid=192:"
        "inceptiond_r1_k7_s2_c1280:inceptione_r2_c2048:"
        "head_d0.5_aux9"
    )


def small_image(
    spec: ArchSpec, *, resolution: int, in_channels: int, num_classes: int = 10
) -> ArchSpec:
    """CIFAR-style variant: 3x3 stride-1 stem without max pool, for 28x28 or 32x32 inputs."""
    stem = StemSpec(
        out_channels=spec.stem.out_channels, kernel=3, stride=1, max_pool=False, norm=spec.stem.norm
    )
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


def fmnist(make: Callable[[], ArchSpec]) -> Callable[[], ArchSpec]:
    """The Fashion-MNIST (28x28x1, 10 classes) variant of an ImageNet preset."""
    return lambda: small_image(make(), resolution=28, in_channels=1)


_BUILTIN: dict[str, Callable[[], ArchSpec]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnext50_32x4d": resnext50_32x4d,
    "mobilenet_v2": mobilenet_v2,
    "densenet121": partial(densenet, (6, 12, 24, 16)),
    "densenet169": partial(densenet, (6, 12, 32, 32)),
    "squeezenet1_0": squeezenet1_0,
    "squeezenet1_1": squeezenet1_1,
    "inception_v3": inception_v3,
    "densenet121_fmnist": fmnist(partial(densenet, (6, 12, 24, 16))),
    "squeezenet1_1_fmnist": fmnist(squeezenet1_1),
    "mobilenet_v2_fmnist": fmnist(mobilenet_v2),
    "inception_v3_fmnist": fmnist(inception_v3),
    "resnet18_cifar": lambda: small_image(resnet18(), resolution=32, in_channels=3),
    "resnet18_fmnist": lambda: small_image(resnet18(), resolution=28, in_channels=1),
    "resnet_narrow_fmnist": resnet_narrow_fmnist,
    "efficientnet_b0_cifar": lambda: small_image(efficientnet_b0(), resolution=32, in_channels=3),
    "efficientnet_b0_fmnist": lambda: small_image(efficientnet_b0(), resolution=28, in_channels=1),
}
_BUILTIN["efficientnet_b0"] = efficientnet_b0
for _variant in range(1, 8):
    _BUILTIN[f"efficientnet_b{_variant}"] = partial(efficientnet, _variant)
PRESETS: Registry[Callable[[], ArchSpec]] = Registry("preset", entries=_BUILTIN)


def preset_names() -> list[str]:
    return PRESETS.names()


def preset(name: str) -> ArchSpec:
    """A named architecture; ``NotFoundError`` lists the known names."""
    return PRESETS.get(name)()


def parse_spec(text: str) -> ArchSpec:
    """Accept a block string, a JSON object, or a preset name."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return ArchSpec.from_json(stripped)
    if ":" in stripped:
        return ArchSpec.from_string(stripped)
    return preset(stripped)
