"""ArchSpec: validation naming the field, exact JSON round trip, block string both ways."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.errors import SpecError
from nas.models import preset, preset_names
from nas.presets import parse_spec
from nas.spec import ArchSpec, StageSpec

SMALL = (
    "resnet:r28:c1:n10:relu:stem_c16:"
    "basic_r2_c16:basic_r2_s2_c32:basic_r1_s2x1_c64_spectral:head_d0"
)


def test_block_string_round_trip_on_every_preset() -> None:
    for name in preset_names():
        spec = preset(name)
        text = spec.to_string()
        assert ArchSpec.from_string(text) == spec
        assert ArchSpec.from_string(text).to_string() == text


def test_block_string_reads_like_timm() -> None:
    b0 = preset("efficientnet_b0")
    tokens = b0.to_string().split(":")
    assert "ir_r2_k5_s2_e6_c40_se0.25" in tokens
    assert tokens[0] == "efficientnet"
    assert tokens[-1] == "head_c1280_d0.2"


def test_json_round_trip_is_exact() -> None:
    spec = ArchSpec.from_string(SMALL)
    assert ArchSpec.model_validate_json(spec.model_dump_json()) == spec
    assert spec.stages[2].stride == (2.0, 1.0)
    assert spec.stages[2].downsample == "spectral"


def test_parse_spec_accepts_string_json_and_preset() -> None:
    spec = ArchSpec.from_string(SMALL)
    assert parse_spec(SMALL) == spec
    assert parse_spec(spec.model_dump_json()) == spec
    assert parse_spec("resnet18") == preset("resnet18")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (SMALL.replace("basic_r2_s2_c32", "basic_r2_s0.5_c32"), "stages[1].stride"),
        (SMALL.replace("basic_r2_s2_c32", "basic_r2_s2_c0"), "stages[1].out_channels"),
        (SMALL.replace("basic_r2_s2_c32", "nosuchblock_r2_s2_c32"), "stages[1].block"),
        (SMALL.replace("basic_r2_s2_c32", "basic_r2_s16_c32"), "stages[2].stride"),
        (SMALL.replace("basic_r2_s2_c32", "basic_r2_s1.5_c32"), "stages[1]"),
        (SMALL.replace("r28", "rX"), "resolution"),
        (SMALL.replace("stem_c16", "stem_q16"), "stem"),
        (SMALL.replace("basic_r2_s2_c32", "basic_r2_s2"), "stages[1].out_channels"),
        ("resnet:r28", "spec"),
    ],
)
def test_invalid_specs_name_the_field(text: str, field: str) -> None:
    with pytest.raises(SpecError) as info:
        ArchSpec.from_string(text)
    assert info.value.field is not None
    assert info.value.field.startswith(field), info.value


def test_resolution_below_one_pixel_is_rejected() -> None:
    with pytest.raises(SpecError, match="below 1 pixel"):
        ArchSpec.from_string(SMALL.replace("r28", "r3"))


def test_fractional_strides_allowed_for_spectral_kinds() -> None:
    text = SMALL.replace("basic_r2_s2_c32", "basic_r2_s1.5x2.5_c32_diffstride")
    spec = ArchSpec.from_string(text)
    assert spec.stages[1].stride == (1.5, 2.5)
    assert spec.to_string() == text


def test_specs_are_frozen_values() -> None:
    spec = ArchSpec.from_string(SMALL)
    with pytest.raises(Exception, match="frozen"):
        spec.resolution = 32  # type: ignore[misc]
    assert spec.replace(resolution=32).resolution == 32
    assert spec.resolution == 28


# ---- property-based round trip -----------------------------------------------------------

strides = st.sampled_from([1, 2, 3]).flatmap(
    lambda h: st.tuples(st.just(float(h)), st.sampled_from([float(h), 1.0, 2.0]))
)
stages = st.builds(
    StageSpec,
    block=st.sampled_from(["basic", "bottleneck", "ir", "ds"]),
    repeats=st.integers(1, 4),
    out_channels=st.integers(1, 512),
    stride=strides,
    kernel=st.sampled_from([1, 3, 5, 7]),
    expand_ratio=st.sampled_from([1.0, 0.5, 4.0, 6.0, 2.5]),
    se_ratio=st.sampled_from([0.0, 0.25, 0.0625]),
    groups=st.sampled_from([1, 2, 32]),
    downsample=st.sampled_from(["strided", "spectral", "diffstride", "maxpool", "gridreduce"]),
    # These blocks read only the extras every block reads (DiffStride's); the block-specific
    # ones round-trip in the dense, fire and dynamic tests below.
    extras=st.fixed_dictionaries(
        {}, optional={"smoothness": st.sampled_from([0.5, 4, "auto"]), "ramp": st.just("inside")}
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    family=st.sampled_from(["resnet", "efficientnet", "custom_net2"]),
    in_channels=st.integers(1, 4),
    num_classes=st.integers(1, 1000),
    activation=st.sampled_from(["relu", "silu", "relu6"]),
    stage_list=st.lists(stages, min_size=1, max_size=4),
    stem_stride=st.sampled_from([1, 2]),
    max_pool=st.booleans(),
    stem_norm=st.booleans(),
    head_channels=st.sampled_from([0, 1280]),
    dropout=st.sampled_from([0.0, 0.2, 0.5]),
    head_norm=st.booleans(),
    classifier=st.sampled_from(["linear", "conv"]),
    aux_stage=st.sampled_from([None, 0]),
    aux_weight=st.sampled_from([0.4, 0.3, 1.0]),
)
def test_any_valid_spec_round_trips(
    family: str,
    in_channels: int,
    num_classes: int,
    activation: str,
    stage_list: list[StageSpec],
    stem_stride: int,
    max_pool: bool,
    stem_norm: bool,
    head_channels: int,
    dropout: float,
    head_norm: bool,
    classifier: str,
    aux_stage: int | None,
    aux_weight: float,
) -> None:
    spec = ArchSpec.create(
        family=family,
        resolution=512,
        in_channels=in_channels,
        num_classes=num_classes,
        activation=activation,
        stem={"out_channels": 24, "stride": stem_stride, "max_pool": max_pool, "norm": stem_norm},
        stages=[s.model_dump() for s in stage_list],
        head={
            "channels": head_channels,
            "dropout": dropout,
            "norm": head_norm,
            "classifier": classifier,
            "aux_stage": aux_stage,
            "aux_weight": aux_weight,
        },
    )
    text = spec.to_string()
    assert ArchSpec.from_string(text) == spec
    assert ArchSpec.from_string(text).to_string() == text
    assert ArchSpec.model_validate_json(spec.model_dump_json()) == spec


# ---- the classic block zoo: valid stages of every new block type -----------------------------

zoo_stages = st.one_of(
    st.builds(
        lambda r, c, g, bn, s: {
            "block": "dense",
            "repeats": r,
            "out_channels": c,
            "stride": s,
            "extras": {"growth": g, "bn": bn},
        },
        st.integers(1, 3),
        st.integers(64, 128),
        st.integers(1, 16),
        st.sampled_from([0, 4]),
        st.sampled_from([1, 2]),
    ),
    st.builds(
        lambda c, q, p: {"block": "fire", "out_channels": c, "extras": {"squeeze": q, "pct3": p}},
        st.integers(16, 128),
        st.integers(1, 15),
        st.sampled_from([0.25, 0.5, 0.75]),
    ),
    st.builds(
        lambda r, k, t0, te: {
            "block": "dynamic",
            "repeats": r,
            "out_channels": 32,
            "extras": {"kernels": k, "t0": t0, "tepochs": te},
        },
        st.integers(1, 3),
        st.integers(1, 8),
        st.sampled_from([1, 30, 12.5]),
        st.integers(0, 20),
    ),
    st.builds(
        lambda b, k, c: {"block": b, "kernel": k, "out_channels": c},
        st.sampled_from(["inceptiona", "inceptionc", "inceptione", "conv"]),
        st.sampled_from([3, 5, 7]),
        st.integers(64, 256),
    ),
    st.builds(
        lambda b, s, kind: {
            "block": b,
            "out_channels": 600,
            "stride": s,
            "downsample": kind,
        },
        st.sampled_from(["inceptionb", "inceptiond"]),
        st.sampled_from([1, 2]),
        st.sampled_from(["strided", "maxpool", "spectral"]),
    ),
)


@settings(max_examples=100, deadline=None)
@given(stage_list=st.lists(zoo_stages, min_size=1, max_size=4))
def test_classic_block_specs_round_trip(stage_list: list[dict[str, object]]) -> None:
    # every zoo stage above is valid after a 256-channel stage (reductions: 600 > 2 x 256)
    first = {"block": "basic", "out_channels": 256}
    stages = []
    for stage in stage_list:
        stages += [first, stage]
    spec = ArchSpec.create(family="zoo", resolution=512, stages=stages)
    text = spec.to_string()
    assert ArchSpec.from_string(text) == spec
    assert ArchSpec.from_string(text).to_string() == text
    assert ArchSpec.model_validate_json(spec.model_dump_json()) == spec


def test_head_and_stem_tokens() -> None:
    text = "n:r32:c3:n10:relu6:stem_c16_s2_nobn_mp:fire_r1_c32:head_c64_bn_conv_d0.5_aux0_auxw0.3"
    spec = ArchSpec.from_string(text)
    assert spec.stem.norm is False and spec.stem.max_pool
    assert spec.head.norm and spec.head.classifier == "conv"
    assert (spec.head.aux_stage, spec.head.aux_weight) == (0, 0.3)
    assert spec.to_string() == text
    assert "auxw" not in spec.replace(head={"aux_stage": 0}).to_string()  # 0.4 is the default


def test_specs_and_jobs_are_validated_without_torch() -> None:
    """The block rules (``nas.validation``) are torch-free and imported at the top of
    ``nas.spec``: creating a spec with block-specific checks, and a job, imports no torch."""
    code = (
        "import sys\n"
        "from nas.errors import SpecError\n"
        "from nas.job import JobSpec\n"
        "from nas.spec import ArchSpec\n"
        "base = 'resnet:r28:c1:n10:relu:stem_c16:fire_r2_c16_squeeze=4:dense_r2_s2_c32:head_d0'\n"
        "ArchSpec.from_string(base)\n"
        "try:\n"
        "    ArchSpec.from_string(base.replace('squeeze=4', 'squeeze=40'))\n"
        "except SpecError as exc:\n"
        "    assert exc.field == 'stages[0].extras.squeeze', exc.field\n"
        "JobSpec.parse({'name': 'j', 'dataset': 'synthetic', 'base': base,\n"
        "               'strategies': ['grid'], 'budget': {'total': 1}})\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
