"""Save and load a trained architecture: one directory that rebuilds the model in one call.

Layout of a saved model (``save``; a worker writes one per kept trial)::

    arch.json            the ArchSpec (JSON); the model is a function of it
    weights.safetensors  the state dict (buffers too); metadata: format, spec, versions, device,
                         and the last training epoch (layers whose behaviour follows the epoch,
                         e.g. dynamic convolution's temperature, are told it again on load)
    probe.safetensors    ``input``: fixed images; ``output``: the model's logits on them when saved

An export (``package``, used by ``GET /api/v1/jobs/{id}/best/export``) adds::

    program.pt2          a ``torch.export`` program (absent when the model does not export,
                         e.g. DiffStride's data-dependent crop; the record says why)
    record.json          how it was found (job, strategy, trial, data, budget, metrics) and
                         the package and torch versions that trained and exported it

``load(dir)`` rebuilds the model from ``arch.json`` and the weights, in eval mode, on CPU; it
predicts ``probe.output`` from ``probe.input`` (``verify``). Directories are written next to
their destination and renamed into place, so a reader never sees a half-written one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

import nas
from nas.errors import NasError, SpecError
from nas.models import Network, build_model
from nas.spec import ArchSpec

FORMAT = "stride-nas/1"
ARCH = "arch.json"
WEIGHTS = "weights.safetensors"
PROBE = "probe.safetensors"
PROGRAM = "program.pt2"
RECORD = "record.json"
MODEL_FILES = (ARCH, WEIGHTS, PROBE)
EXPORT_FILES = (*MODEL_FILES, PROGRAM, RECORD)
PROBE_BATCH = 4
PROBE_SEED = 0
NOTE_LIMIT = 500  # characters of an exception quoted in the record

PathLike = str | os.PathLike[str]


class ExportError(NasError, ValueError):
    """A saved model is missing, incomplete or does not match its architecture."""


def versions() -> dict[str, str]:
    """The package, torch and Python versions of this process."""
    return {
        "stride-nas": nas.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


# ---- atomic directories -----------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``; an existing ``dest`` is renamed away first, then deleted."""
    for _ in range(3):
        try:
            os.rename(new, dest)
            return
        except OSError:
            if not dest.exists():
                raise
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(dest, old)
        except FileNotFoundError:
            continue  # someone else moved it meanwhile: try again
        shutil.rmtree(old, ignore_errors=True)
    os.rename(new, dest)


@contextmanager
def atomic_dir(dest: PathLike) -> Iterator[Path]:
    """A fresh directory next to ``dest``; on success its files are synced and it replaces
    ``dest`` by rename; on error it is removed and ``dest`` is left as it was."""
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        yield tmp
        for file in tmp.iterdir():
            _fsync(file)
        _replace_dir(tmp, target)
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_dir(path: PathLike) -> bool:
    """Delete a directory by renaming it away first (readers see all of it or nothing)."""
    target = Path(path)
    trash = target.with_name(f".{target.name}.del-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(target, trash)
    except FileNotFoundError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


# ---- save -------------------------------------------------------------------------------------


def probe_input(spec: ArchSpec, batch: int = PROBE_BATCH) -> torch.Tensor:
    """Fixed images in [0, 1) at the spec's input size: ``(batch, C, R, R)``."""
    generator = torch.Generator().manual_seed(PROBE_SEED)
    shape = (batch, spec.in_channels, spec.resolution, spec.resolution)
    return torch.rand(shape, generator=generator)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` in eval mode on ``x`` (CPU, float32)."""
    model.eval()
    out: torch.Tensor = model(x)
    return out.float()


def set_epoch(model: nn.Module, epoch: int) -> int:
    """Tell every epoch-aware module (one with ``set_epoch``, as ``nas.train`` does before each
    epoch) the epoch; returns how many there are."""
    count = 0
    for module in model.modules():
        method = getattr(module, "set_epoch", None)
        if callable(method):
            method(epoch)
            count += 1
    return count


def _epoch_aware(model: nn.Module) -> bool:
    return any(callable(getattr(m, "set_epoch", None)) for m in model.modules())


def _device_of(model: nn.Module) -> str:
    param = next(model.parameters(), None)
    return param.device.type if param is not None else "cpu"


def _write_model(model: Network, root: Path, epoch: int | None) -> dict[str, str]:
    """arch.json, weights.safetensors and probe.safetensors of ``model``, moved to CPU and
    restrided to the plain layout (``nas.train`` trains channels_last): the weights are stored
    and probed as ``build_model`` lays them out, which ``load`` rebuilds."""
    spec = model.spec
    trained_on = _device_of(model)
    model.to("cpu").to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    model.eval()
    spec_json = spec.model_dump_json()
    (root / ARCH).write_text(spec_json + "\n")
    metadata = {"format": FORMAT, "spec": spec_json, "device": trained_on, **versions()}
    if epoch is not None:
        metadata["epoch"] = str(epoch)
    save_model(model, str(root / WEIGHTS), metadata=metadata)
    x = probe_input(spec)
    save_file({"input": x, "output": predict(model, x)}, str(root / PROBE))
    return metadata


def save(
    model: Network,
    dest: PathLike,
    *,
    epoch: int | None = None,
    record: Mapping[str, Any] | None = None,
    program: bool = False,
) -> Path:
    """Write ``model`` to the directory ``dest`` (replaced atomically if it exists).

    The model is moved to CPU in eval mode and the plain (contiguous) layout (training is
    over). ``epoch``: the last epoch it
    trained (0-based, what ``nas.train`` last passed to ``set_epoch``); needed when the model
    has epoch-aware layers, which ``load`` sets to it again. ``program``: also a
    ``torch.export`` program; ``record`` (or ``program``): also ``record.json`` with the
    versions and the program's outcome merged into ``record``.
    """
    if not isinstance(model, Network):
        raise ExportError(f"expected a nas Network, got {type(model).__name__}", field="model")
    if epoch is None and _epoch_aware(model):
        raise ExportError(
            "the model has epoch-aware layers (e.g. dynamic convolution): pass the epoch it "
            "last trained",
            field="epoch",
        )
    target = Path(dest)
    try:
        with atomic_dir(target) as tmp:
            metadata = _write_model(model, tmp, epoch)
            if record is not None or program:
                x = probe_input(model.spec)
                outcome = write_program(model, x, predict(model, x), tmp) if program else None
                _write_record(tmp, record or {}, metadata, outcome)
    except SafetensorError as exc:  # its I/O errors (a full disk) are not OSErrors
        raise OSError(f"cannot write the weights to {target}: {exc}") from exc
    return target


# ---- torch.export -----------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:NOTE_LIMIT]


def export_program(
    model: nn.Module, example: torch.Tensor
) -> tuple[torch.export.ExportedProgram | None, dict[str, Any]]:
    """``torch.export`` of ``model`` with a dynamic batch size, else a fixed one; ``(None,
    note)`` when it does not export."""
    model.eval()
    # A failing export prints its partial graph to stderr (thousands of lines): keep it quiet.
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            batch = torch.export.Dim("batch")
            program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
        return program, {"dynamic_batch": True}
    except Exception as dynamic_error:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                program = torch.export.export(model, (example,))
        except Exception as exc:
            return None, {"note": f"torch.export failed: {_first_line(exc)}"}
        note = f"batch size fixed at {example.shape[0]}: {_first_line(dynamic_error)}"
        return program, {"dynamic_batch": False, "note": note}


def write_program(
    model: nn.Module, example: torch.Tensor, expected: torch.Tensor, root: Path
) -> dict[str, Any]:
    """Export ``model`` into ``root/program.pt2`` when it exports; what happened, for the record
    (``max_abs_diff``: the program's outputs on ``example`` against ``expected``)."""
    program, info = export_program(model, example)
    if program is None:
        return {"file": None, **info}
    with torch.no_grad():
        got = program.module()(example).float()
    torch.export.save(program, str(root / PROGRAM))
    return {"file": PROGRAM, **info, "max_abs_diff": float((got - expected).abs().max())}


def load_program(path: PathLike) -> torch.export.ExportedProgram:
    """The ``torch.export`` program of an export directory (``ExportError`` when absent)."""
    file = Path(path) / PROGRAM
    if not file.exists():
        raise ExportError(f"{file} does not exist (see record.json for why)", field="path")
    return torch.export.load(str(file))


# ---- load -------------------------------------------------------------------------------------


def _need(root: Path, name: str) -> Path:
    file = root / name
    if not file.is_file():
        if not root.is_dir():
            raise ExportError(f"{root} is not a saved model directory", field="path")
        raise ExportError(f"{root} has no {name}", field="path")
    return file


def read_spec(path: PathLike) -> ArchSpec:
    """The architecture of a saved model."""
    file = _need(Path(path), ARCH)
    try:
        return ArchSpec.from_json(file.read_text())
    except SpecError as exc:
        raise ExportError(f"{file}: {exc}", field="path") from None


def metadata(path: PathLike) -> dict[str, str]:
    """The metadata of the weights file (format, spec, versions, device trained on)."""
    file = _need(Path(path), WEIGHTS)
    try:
        with safe_open(str(file), framework="pt") as weights:
            found: dict[str, str] = weights.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise ExportError(f"{file} is not a safetensors file: {exc}", field="path") from None
    return found


def load(path: PathLike) -> Network:
    """Rebuild the saved model with its weights: on CPU, in eval mode."""
    root = Path(path)
    spec = read_spec(root)
    meta = metadata(root)
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise ExportError(f"{root / WEIGHTS}: format {fmt!r}, expected {FORMAT!r}", field="path")
    model = build_model(spec)
    try:
        load_model(model, root / WEIGHTS, strict=True)
    except (RuntimeError, SafetensorError) as exc:
        raise ExportError(
            f"{root / WEIGHTS} does not match {ARCH}: {_first_line(exc)}", field="path"
        ) from None
    epoch = meta.get("epoch")
    if epoch is not None:
        set_epoch(model, int(epoch))
    return model.eval()


def probe(path: PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input, output)`` saved with the model: its predictions when it was saved."""
    tensors = load_file(str(_need(Path(path), PROBE)))
    return tensors["input"], tensors["output"]


def verify(path: PathLike, model: nn.Module | None = None) -> float:
    """Largest absolute difference between the saved probe outputs and what ``model`` (default:
    the loaded one) predicts now; 0.0 means it predicts exactly as when it was saved."""
    x, expected = probe(path)
    got = predict(model if model is not None else load(path), x)
    return float((got - expected).abs().max())


# ---- export -----------------------------------------------------------------------------------


def _write_record(
    root: Path,
    record: Mapping[str, Any],
    metadata: Mapping[str, str],
    program: Mapping[str, Any] | None,
) -> dict[str, Any]:
    trained = {k: metadata[k] for k in ("stride-nas", "torch", "python", "device") if k in metadata}
    full: dict[str, Any] = {
        "format": FORMAT,
        **record,
        "trained_with": trained,
        "exported_with": versions(),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "program": dict(program) if program is not None else {"file": None, "note": "not asked"},
    }
    full["files"] = sorted([*(p.name for p in root.iterdir()), RECORD])
    (root / RECORD).write_text(json.dumps(full, indent=2, default=str) + "\n")
    return full


def package(
    saved: PathLike, dest: PathLike, record: Mapping[str, Any], *, program: bool = True
) -> dict[str, Any]:
    """An export directory at ``dest`` from the saved model ``saved``: its files unchanged (the
    probe is the worker's), a ``torch.export`` program when it exports, and ``record.json``
    (``record`` plus versions, the program's outcome and ``probe_max_abs_diff``: how far the
    rebuilt model is from the saved predictions). Returns the record."""
    source = Path(saved)
    for name in MODEL_FILES:
        _need(source, name)
    with atomic_dir(dest) as tmp:
        for name in MODEL_FILES:
            shutil.copyfile(source / name, tmp / name)
        model = load(tmp)
        x, expected = probe(tmp)
        drift = float((predict(model, x) - expected).abs().max())
        outcome = write_program(model, x, expected, tmp) if program else None
        return _write_record(tmp, {**record, "probe_max_abs_diff": drift}, metadata(tmp), outcome)
