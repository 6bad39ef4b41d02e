"""Compound scaling: a pure function from spec to spec with the paper's rounding rules."""

from __future__ import annotations

import math

import pytest

from nas.errors import SpecError
from nas.models import preset, preset_names
from nas.scaling import compound_scale, flops_factor, make_divisible, scale


def test_make_divisible_rounds_to_eight_without_losing_ten_percent() -> None:
    assert make_divisible(32 * 1.1) == 32  # 35.2 -> 32 keeps > 90%
    assert make_divisible(16 * 1.4) == 24  # 22.4 -> 24
    assert make_divisible(3) == 8  # never below one divisor
    for value in [9.0, 17.5, 37.0, 100.0, 1234.5]:
        rounded = make_divisible(value)
        assert rounded % 8 == 0
        assert rounded >= 0.9 * value


def test_compound_scale_is_pure_and_grows_every_dimension() -> None:
    base = preset("efficientnet_b0")
    scaled = compound_scale(base, phi=2)
    assert base == preset("efficientnet_b0")  # untouched
    assert scaled.resolution == round(224 * 1.15**2)
    for before, after in zip(base.stages, scaled.stages, strict=True):
        assert after.repeats == math.ceil(before.repeats * 1.2**2)
        assert after.out_channels == make_divisible(before.out_channels * 1.1**2)
    assert compound_scale(base, phi=0) == base


def test_default_coefficients_satisfy_the_paper_constraint() -> None:
    # Tan & Le 2019, section 3.3: alpha=1.2, beta=1.1, gamma=1.15 under alpha*beta^2*gamma^2 ~ 2.
    assert flops_factor(1.2, 1.1, 1.15) == pytest.approx(1.92, abs=0.01)


def test_invalid_coefficients_name_the_field() -> None:
    with pytest.raises(SpecError) as info:
        compound_scale(preset("efficientnet_b0"), phi=1, alpha=0.5)
    assert info.value.field == "alpha"
    with pytest.raises(SpecError) as info:
        scale(preset("resnet18"), width=0)
    assert info.value.field == "width"


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize(("width", "depth"), [(0.5, 1.0), (1.0, 2.0), (1.25, 1.5)])
def test_every_preset_scales_to_a_valid_spec(name: str, width: float, depth: float) -> None:
    base = preset(name)
    scaled = scale(base, width=width, depth=depth)  # validated: every block's checks pass
    for before, after in zip(base.stages, scaled.stages, strict=True):
        if before.block in {"inceptionb", "inceptiond"}:
            assert after.repeats == 1  # a grid reduction adds channels: one per stage
        else:
            assert after.repeats == math.ceil(before.repeats * depth)
        if "growth" in before.extras:
            assert after.extras["growth"] == max(1, round(int(before.extras["growth"]) * width))
            assert "theta" not in after.extras or (width, depth) == (1.0, 1.0)
        if "squeeze" in before.extras:
            assert after.extras["squeeze"] == max(1, round(int(before.extras["squeeze"]) * width))
