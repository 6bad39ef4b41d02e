"""The training loop: real learning on Fashion-MNIST, reproducibility, clear errors, pruning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from nas.data import load
from nas.errors import OptionsError, TrainingDiverged
from nas.layers.dynamic_conv import DynamicConv2d
from nas.models import build_model, preset
from nas.spec import ArchSpec
from nas.train import train
from nas.trial import EpochReport, TrainOptions


def test_one_epoch_on_2000_fashion_mnist_images_beats_70_percent(fashion_mnist_dir: Path) -> None:
    data = load("fashion-mnist", subset=2000, seed=0, root=fashion_mnist_dir)
    assert (data.num_train, data.num_val) == (1800, 200)
    result = train(
        preset("resnet_narrow_fmnist"), data, 1, TrainOptions(batch_size=16, augment=False)
    )
    assert result.accuracy > 0.70, result.accuracy
    assert result.params == 701_178
    assert result.cost_flops > 3 * 2 * result.macs * 1800  # forward + backward on every image


def test_training_is_seeded_and_reproducible() -> None:
    data = load("synthetic", subset=400)
    spec = preset("resnet_narrow_fmnist")
    options = TrainOptions(batch_size=64, seed=3)
    first = train(spec, data, 2, options)
    second = train(spec, data, 2, options)
    assert [h.val_accuracy for h in first.history] == [h.val_accuracy for h in second.history]
    assert [h.train_loss for h in first.history] == [h.train_loss for h in second.history]


def test_diffstride_trials_report_learned_strides_every_epoch() -> None:
    data = load("synthetic", subset=200)
    base = preset("resnet_narrow_fmnist")
    spec = base.with_stages(
        [s.model_copy(update={"downsample": "diffstride"}) for s in base.stages]
    )
    reports: list[EpochReport] = []
    result = train(
        spec, data, 2, TrainOptions(batch_size=64, stride_regularizer=0.1), on_epoch=reports.append
    )
    assert len(reports) == 2
    assert all(len(r.strides) == 4 and all(s is not None for s in r.strides) for r in reports)
    assert result.learned_strides == reports[-1].strides
    first = result.learned_strides[1]
    assert first is not None and first != (2.0, 2.0)  # the strides were trained


def test_on_epoch_returning_true_prunes() -> None:
    data = load("synthetic", subset=200)
    result = train(
        preset("resnet_narrow_fmnist"),
        data,
        5,
        TrainOptions(batch_size=64),
        on_epoch=lambda report: report.epoch >= 2,
    )
    assert result.pruned and result.epochs_run == 2


def test_mismatched_data_is_rejected_before_work() -> None:
    data = load("synthetic", subset=200)
    spec = preset("resnet_narrow_fmnist").replace(in_channels=3)
    with pytest.raises(OptionsError) as info:
        train(spec, data, 1)
    assert info.value.field == "spec.in_channels"
    with pytest.raises(OptionsError) as info:
        train(preset("resnet_narrow_fmnist"), data, 0)
    assert info.value.field == "epochs"


def test_bad_options_name_the_field() -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        TrainOptions(batch_size=0)
    with pytest.raises(ValidationError, match="optimizer"):
        TrainOptions.model_validate({"optimizer": "lbfgs"})
    with pytest.raises(ValidationError, match="label_smoothing"):
        TrainOptions(label_smoothing=1.5)


def test_resolution_is_resampled_to_the_spec() -> None:
    data = load("synthetic", subset=200)
    spec = preset("resnet_narrow_fmnist").replace(resolution=36)
    result = train(spec, data, 1, TrainOptions(batch_size=64))
    assert result.epochs_run == 1


# ---- the block zoo in the training loop --------------------------------------------------------

TINY = "t:r28:c1:n10:relu:stem_c8:{stages}:{head}"


def test_dynamic_convolution_temperature_follows_its_schedule_per_epoch() -> None:
    spec = ArchSpec.from_string(
        TINY.format(stages="dynamic_r1_s2_c8_t0=30_tepochs=2:basic_r1_s2_c16", head="head_d0")
    )
    model = build_model(spec)
    convs = [m for m in model.modules() if isinstance(m, DynamicConv2d)]
    seen: list[set[float]] = []

    def record(report: EpochReport) -> None:  # the temperature the epoch was trained at
        seen.append({c.temperature for c in convs})

    train(
        spec,
        load("synthetic", subset=100),
        3,
        TrainOptions(batch_size=50),
        model=model,
        on_epoch=record,
    )
    assert seen == [{30.0}, {15.5}, {1.0}]  # linear from 30, reaching 1 at epoch tepochs


@pytest.mark.parametrize(
    ("head", "learns"), [("head_d0_aux0", True), ("head_d0_aux0_auxw0", False)]
)
def test_auxiliary_classifier_loss_is_added_in_training(head: str, learns: bool) -> None:
    spec = ArchSpec.from_string(
        TINY.format(stages="inceptiona_r1_s2_c16:inceptionc_r1_s2_c32", head=head)
    )
    model = build_model(spec)
    assert model.aux is not None
    before = [p.detach().clone() for p in model.aux.parameters()]
    result = train(spec, load("synthetic", subset=100), 1, TrainOptions(batch_size=50), model=model)
    changed = [not torch.equal(a, b) for a, b in zip(before, model.aux.parameters(), strict=True)]
    assert all(changed) if learns else not any(changed)
    assert result.params == sum(p.numel() for p in model.parameters())  # the aux head counts


def test_a_diverging_run_fails_instead_of_reporting_chance_accuracy() -> None:
    # Fire modules without batch norm (SqueezeNet's layout) blow up at a large learning rate:
    # the loss turns NaN, and a trial must say so rather than finish at 10% accuracy.
    base = preset("resnet_narrow_fmnist")
    fire = base.replace(stages=[{**s.model_dump(), "block": "fire"} for s in base.stages])
    data = load("synthetic", subset=200, seed=0)
    options = TrainOptions(batch_size=50, augment=False, lr=10.0, seed=0)
    with pytest.raises(TrainingDiverged, match="training diverged: the loss is nan in epoch "):
        train(fire, data, 3, options)
