"""nas.export: a saved model rebuilds in one call and predicts exactly as it did when saved;
the torch.export program where the model exports; atomic writes; a worker process saves."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from nas import export
from nas.data import load
from nas.job import DatasetRef
from nas.layers.diffstride import DiffStride
from nas.models import Network, build_model
from nas.presets import parse_spec
from nas.spec import ArchSpec
from nas.train import evaluate, train
from nas.trial import TrainOptions, TrialRequest
from nas.validation import block_names
from workers.executors.interface import Completion
from workers.executors.local_workers import LocalExecutor

RESNET = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
DIFFSTRIDE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16_diffstride:head_d0"
EFFICIENTNET = (
    "efficientnet:r32:c3:n10:silu:stem_c8_s2:ds_r1_c8_se0.25:"
    "ir_r2_k5_s2_e4_c16_se0.25:head_c32_d0.2"
)
# The DiffStride strategy's default layer (ramp inside, R auto): readout (a) is this network.
DIFFSTRIDE_DEFAULT = (
    "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:"
    "basic_r1_s2_c16_diffstride_ramp=inside_smoothness=auto:head_d0"
)
SPECS = {
    "resnet": RESNET,
    "diffstride": DIFFSTRIDE,
    "diffstride-default": DIFFSTRIDE_DEFAULT,
    "efficientnet": EFFICIENTNET,
}


def trained(text: str, steps: int = 3) -> Network:
    """A model a few SGD steps away from its initialisation (BN statistics and strides moved)."""
    spec = parse_spec(text)
    torch.manual_seed(0)
    model = build_model(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.rand(8, spec.in_channels, spec.resolution, spec.resolution)
    y = torch.arange(8) % spec.num_classes
    model.train()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for layer in model.modules():
            if isinstance(layer, DiffStride):
                layer.clamp_()
    return model


def fixed_inputs(spec: ArchSpec, n: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(123)
    return torch.randn(n, spec.in_channels, spec.resolution, spec.resolution, generator=generator)


@pytest.mark.parametrize("family", SPECS)
def test_load_rebuilds_the_model_and_predicts_exactly_as_saved(family: str, tmp_path: Path) -> None:
    model = trained(SPECS[family])
    x = fixed_inputs(model.spec)
    before = export.predict(model, x)
    saved = export.save(model, tmp_path / "model")

    loaded = export.load(saved)
    assert isinstance(loaded, Network) and not loaded.training
    assert loaded.spec == model.spec
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert torch.equal(export.predict(loaded, x), before)
    assert export.verify(saved) == 0.0
    fresh = build_model(model.spec)
    assert not torch.allclose(export.predict(fresh, x), before, atol=1e-4)
    if family.startswith("diffstride"):
        layer = next(m for m in loaded.modules() if isinstance(m, DiffStride))
        assert layer.stride != (2.0, 2.0)  # the learned stride came back with the weights
    meta = export.metadata(saved)
    assert meta["format"] == export.FORMAT and meta["torch"] == torch.__version__
    assert ArchSpec.from_json(meta["spec"]) == model.spec


def test_epoch_aware_layers_come_back_at_the_epoch_they_were_saved(tmp_path: Path) -> None:
    if "dynamic" not in block_names():
        pytest.skip("no dynamic convolution block registered")
    model = trained("resnet:r28:c1:n10:relu:stem_c8:dynamic_r1_s2_c8_tepochs=4:head_d0")
    with pytest.raises(export.ExportError, match="epoch-aware"):
        export.save(model, tmp_path / "model")
    assert export.set_epoch(model, 2) == 2  # temperature 30 -> 15.5
    x = fixed_inputs(model.spec)
    before = export.predict(model, x)
    loaded = export.load(export.save(model, tmp_path / "model", epoch=2))
    assert torch.equal(export.predict(loaded, x), before)
    export.set_epoch(loaded, 0)  # what a load that forgot the epoch would predict
    assert not torch.equal(export.predict(loaded, x), before)


def test_package_adds_a_dynamic_batch_program_and_the_record(tmp_path: Path) -> None:
    model = trained(EFFICIENTNET)
    saved = export.save(model, tmp_path / "saved")
    record = export.package(saved, tmp_path / "export", {"job": {"id": 7}})

    out = tmp_path / "export"
    assert sorted(p.name for p in out.iterdir()) == sorted(export.EXPORT_FILES)
    assert json.loads((out / export.RECORD).read_text()) == record
    assert record["job"] == {"id": 7} and record["format"] == export.FORMAT
    assert record["trained_with"]["torch"] == record["exported_with"]["torch"] == torch.__version__
    assert record["program"]["dynamic_batch"] is True and record["program"]["max_abs_diff"] == 0.0
    assert record["probe_max_abs_diff"] == 0.0
    program = export.load_program(out).module()
    x = fixed_inputs(model.spec, n=3)  # another batch size than the example's
    with torch.no_grad():
        assert torch.allclose(program(x), export.predict(export.load(out), x), atol=1e-6)


def test_a_model_that_does_not_export_is_packaged_with_a_note(tmp_path: Path) -> None:
    saved = export.save(trained(DIFFSTRIDE), tmp_path / "saved")
    record = export.package(saved, tmp_path / "export", {})
    assert record["program"]["file"] is None
    assert record["program"]["note"].startswith("torch.export failed: ")
    assert not (tmp_path / "export" / export.PROGRAM).exists()
    assert export.verify(tmp_path / "export") == 0.0
    with pytest.raises(export.ExportError, match=r"record\.json"):
        export.load_program(tmp_path / "export")


def test_save_replaces_a_directory_atomically_and_cleans_up_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "trial-1"
    export.save(trained(RESNET, steps=1), dest)
    first = export.probe(dest)[1]
    export.save(trained(RESNET, steps=3), dest)  # a retried trial writes again
    assert not torch.equal(export.probe(dest)[1], first)
    assert [p.name for p in tmp_path.iterdir()] == ["trial-1"]  # nothing half-written left

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "save_file", broken)
    kept = export.probe(dest)[1]
    with pytest.raises(OSError, match="No space"):
        export.save(trained(RESNET, steps=2), dest)
    assert [p.name for p in tmp_path.iterdir()] == ["trial-1"]
    assert torch.equal(export.probe(dest)[1], kept)


def test_load_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(export.ExportError, match="not a saved model directory"):
        export.load(tmp_path / "missing")
    export.save(trained(RESNET, steps=1), tmp_path / "model")
    other = build_model(parse_spec(EFFICIENTNET))
    save_file(
        {k: v.contiguous() for k, v in other.state_dict().items()},
        str(tmp_path / "model" / export.WEIGHTS),
        metadata={"format": export.FORMAT},
    )
    with pytest.raises(export.ExportError, match=r"does not match arch\.json"):
        export.load(tmp_path / "model")
    (tmp_path / "model" / export.ARCH).unlink()
    with pytest.raises(export.ExportError, match=r"has no arch\.json"):
        export.load(tmp_path / "model")


@pytest.mark.parametrize("text", [RESNET, DIFFSTRIDE_DEFAULT], ids=["strided", "diffstride"])
def test_a_worker_process_saves_the_model_it_reports_on(text: str, tmp_path: Path) -> None:
    """LocalExecutor: the trial trains in a subprocess, which saves where the request says; a
    DiffStride search network (with its learned strides) is a model like any other."""
    dataset = DatasetRef(name="synthetic", subset=200)
    dest = tmp_path / "job-1" / "trial-1"
    request = TrialRequest(
        spec=parse_spec(text),
        epochs=1,
        options=TrainOptions(batch_size=50, threads=1, stride_lr=0.2),
        artifact=str(dest),
    )
    completions: list[Completion] = []
    with LocalExecutor(heartbeat_timeout=120) as executor:
        executor.submit(1, request, dataset, lambda report: False)
        deadline = time.monotonic() + 180
        while not completions and time.monotonic() < deadline:
            completions = executor.wait(timeout=5)
    assert completions and completions[0].result is not None, completions
    result = completions[0].result
    assert result.artifact == str(dest)
    assert [p.name for p in dest.parent.iterdir()] == ["trial-1"]

    model = export.load(dest)
    assert export.verify(dest, model) == 0.0  # as the worker predicted right after training
    data = load("synthetic", subset=200)
    val_loss, accuracy = evaluate(model, data.val_x, data.val_y, torch.device("cpu"))
    assert accuracy == result.accuracy  # the saved weights are the ones that were measured
    assert val_loss == pytest.approx(result.val_loss, rel=1e-5)
    layers = [m for m in model.modules() if isinstance(m, DiffStride)]
    learned = [s for s in result.learned_strides if s is not None]
    assert [layer.stride for layer in layers] == learned  # the learned strides came back


@pytest.mark.parametrize("family", ["resnet", "efficientnet"])
def test_a_model_trained_channels_last_is_saved_in_the_plain_layout(
    family: str, tmp_path: Path
) -> None:
    """nas.train runs model and batches channels_last; the export holds the standard layout
    (weights contiguous as in ``build_model``), and ``load`` and the ``torch.export`` program
    predict what the trained model did, the same classes and accuracy."""
    spec = parse_spec(SPECS[family])
    data = load("synthetic", subset=120, val_fraction=0.25)
    if spec.in_channels != data.in_channels or spec.resolution != data.resolution:
        data = dataclasses.replace(
            data,
            train_x=F.interpolate(data.train_x, size=spec.resolution).repeat(
                1, spec.in_channels, 1, 1
            ),
            val_x=F.interpolate(data.val_x, size=spec.resolution).repeat(1, spec.in_channels, 1, 1),
            mean=data.mean * spec.in_channels,
            std=data.std * spec.in_channels,
        )
    torch.manual_seed(0)
    model = build_model(spec)
    result = train(spec, data, 1, TrainOptions(batch_size=30, threads=1), model=model)
    # kxk convolutions over several channels: the weights whose two layouts differ
    weights = [p for p in model.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[2] > 1]
    assert weights and all(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
        for p in weights
    )  # trained in channels_last
    cpu = torch.device("cpu")
    x = data.val_x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        trained_logits = model.eval()(x)  # what the trial measured, in its layout
    trained_state = {k: v.clone() for k, v in model.state_dict().items()}

    saved = export.save(model, tmp_path / "model", record={}, program=True)
    stored = load_file(str(saved / export.WEIGHTS))
    assert stored.keys() == trained_state.keys()
    assert all(torch.equal(stored[k], v) for k, v in trained_state.items())  # the same values
    assert all(p.is_contiguous() for p in model.parameters())  # restrided, not reordered
    loaded = export.load(saved)
    assert all(p.is_contiguous() for p in loaded.parameters())
    assert export.verify(saved, loaded) == 0.0
    logits = export.predict(loaded, data.val_x)
    torch.testing.assert_close(logits, trained_logits, rtol=1e-4, atol=1e-5)
    assert torch.equal(logits.argmax(1), trained_logits.argmax(1))
    assert evaluate(loaded, data.val_x, data.val_y, cpu)[1] == result.accuracy
    record = json.loads((saved / export.RECORD).read_text())
    assert record["program"]["file"] == export.PROGRAM
    assert record["program"]["max_abs_diff"] <= 1e-5
    with torch.no_grad():
        program_logits = export.load_program(saved).module()(data.val_x)
    torch.testing.assert_close(program_logits, logits, rtol=1e-4, atol=1e-5)
