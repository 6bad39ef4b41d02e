"""The training loop: one trial = spec + data + epochs + options -> TrialResult.

SGD with Nesterov momentum (or AdamW), per-step cosine schedule with optional linear warm-up,
label smoothing through ``nn.CrossEntropyLoss``, seeded. On CUDA: bf16 autocast and channels_last.
On CPU: torch threads set to the cores available. ``on_epoch`` receives an ``EpochReport``
after every epoch and may return True to stop the trial (pruning).

Before each epoch every module with ``set_epoch(epoch)`` is told the epoch (``nas.layers.
schedules``: dynamic convolution's softmax temperature, 30 falling to 1 over its ``tepochs``).
A spec with an auxiliary classifier (``head.aux_stage``, Inception-v3) adds ``head.aux_weight``
times the auxiliary cross-entropy to the training loss (0.4, the weight of PyTorch's "Finetuning
Torchvision Models" tutorial for Inception-v3, after discuss.pytorch.org/t/7958; GoogLeNet,
Szegedy et al. 2015, weighted its auxiliary losses 0.3; the Inception-v3 paper states none).
Cost accounting counts the main forward pass only (the auxiliary head is not in ``macs``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from nas.data import Augment, ImageData, batches
from nas.errors import OptionsError, TrainingDiverged
from nas.flops import count_flops, count_params
from nas.layers.diffstride import DiffStride, complexity_regularizer
from nas.layers.schedules import set_epoch
from nas.models import build_model
from nas.models.network import Network
from nas.spec import ArchSpec
from nas.trial import EpochReport, TrainOptions, TrialResult

EpochCallback = Callable[[EpochReport], bool | None]
StepCallback = Callable[[int, int], None]  # (steps done, total steps)
EVAL_BATCH = 1024


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise OptionsError("CUDA was asked for but is not available", field="options.device")
        return torch.device("cuda")
    return torch.device("cpu")


def check_compatible(spec: ArchSpec, data: ImageData) -> None:
    """The spec must fit the data (channels, classes); resolution is resampled if it differs."""
    if spec.in_channels != data.in_channels:
        raise OptionsError(
            f"spec has {spec.in_channels} input channels, data {data.name!r} has "
            f"{data.in_channels}",
            field="spec.in_channels",
        )
    if spec.num_classes != data.num_classes:
        raise OptionsError(
            f"spec has {spec.num_classes} classes, data {data.name!r} has {data.num_classes}",
            field="spec.num_classes",
        )


def resample(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Images at the spec's resolution (compound scaling changes it); bilinear."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


def learned_strides(model: Network) -> list[tuple[float, float] | None]:
    """Per stage: the current stride of its DiffStride layer, else None."""
    out: list[tuple[float, float] | None] = []
    for stage in model.stages:
        layer = next((m for m in stage.modules() if isinstance(m, DiffStride)), None)
        out.append(layer.stride if layer is not None else None)
    return out


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """No weight decay on BN, biases and strides (decaying a stride would bias it to 0)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        (decay if param.ndim > 1 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _make_optimizer(model: nn.Module, options: TrainOptions) -> torch.optim.Optimizer:
    groups = _param_groups(model, options.weight_decay)
    if options.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=options.learning_rate)
    return torch.optim.SGD(
        groups,
        lr=options.learning_rate,
        momentum=options.momentum,
        nesterov=options.nesterov and options.momentum > 0,
    )


def _lr_at(step: int, total: int, warmup: int, base: float, schedule: str) -> float:
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy) over ``x``."""
    model.eval()
    total_loss, correct = 0.0, 0
    for xb, yb in batches(x, y, EVAL_BATCH, shuffle=False):
        xb, yb = xb.to(device), yb.to(device)
        with _autocast(device):
            logits = model(_memory_format(xb, device)).float()
        total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += int((logits.argmax(1) == yb).sum().item())
    n = max(1, len(y))
    return total_loss / n, correct / n


def _autocast(device: torch.device) -> torch.autocast | nullcontext[None]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _memory_format(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """channels_last on CUDA; plain NCHW strides on CPU.

    A single-channel batch can carry strides that also read as channels_last (e.g. after a
    crop); CPU kernels then pick their much slower channels_last paths, so restride it.
    """
    if device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last)
    _, c, h, w = x.shape
    if x.stride() != (c * h * w, h * w, w, 1):
        return x.clone(memory_format=torch.contiguous_format)
    return x


def _forward_flops(model: Network, spec: ArchSpec, device: torch.device) -> int:
    x = torch.zeros(1, spec.in_channels, spec.resolution, spec.resolution, device=device)
    return count_flops(model, x)


def train(
    spec: ArchSpec,
    data: ImageData,
    epochs: int,
    options: TrainOptions | None = None,
    *,
    on_epoch: EpochCallback | None = None,
    on_step: StepCallback | None = None,
    model: Network | None = None,
) -> TrialResult:
    """Train ``spec`` on ``data`` for ``epochs``; return final metrics and cost."""
    options = options or TrainOptions()
    if epochs < 1:
        raise OptionsError(f"must be >= 1, got {epochs}", field="epochs")
    check_compatible(spec, data)
    device = pick_device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(options.threads or len(os.sched_getaffinity(0)))
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)

    train_x = resample(data.train_x, spec.resolution)
    val_x = resample(data.val_x, spec.resolution)
    net = (model if model is not None else build_model(spec)).to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = _make_optimizer(net, options)
    criterion = nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)
    augment = (
        Augment(crop_padding=max(1, spec.resolution // 8), hflip=True) if options.augment else None
    )
    steps_per_epoch = math.ceil(len(data.train_y) / options.batch_size)
    total_steps = steps_per_epoch * epochs
    warmup_steps = options.warmup_epochs * steps_per_epoch
    diffstride_layers = [m for m in net.modules() if isinstance(m, DiffStride)]

    start = time.perf_counter()
    history: list[EpochReport] = []
    cost_flops = 0.0
    best_accuracy = 0.0
    step = 0
    pruned = stopped_early = False
    aux_weight = spec.head.aux_weight if spec.head.aux_stage is not None else 0.0
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        set_epoch(net, epoch)
        flops_per_image = _forward_flops(net, spec, device)
        net.train()
        loss_sum, correct, seen = 0.0, 0, 0
        lr = options.learning_rate
        for xb, yb in batches(
            train_x,
            data.train_y,
            options.batch_size,
            shuffle=True,
            generator=generator,
            augment=augment,
        ):
            lr = _lr_at(step, total_steps, warmup_steps, options.learning_rate, options.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr
            xb, yb = _memory_format(xb.to(device), device), yb.to(device)
            with _autocast(device):
                if aux_weight:
                    logits, aux = net.forward_with_aux(xb)  # (N, classes), (N, classes)
                    loss = criterion(logits.float(), yb)
                    if aux is not None:
                        loss = loss + aux_weight * criterion(aux.float(), yb)
                else:
                    logits = net(xb)  # (N, classes)
                    loss = criterion(logits.float(), yb)
                if options.stride_regularizer and diffstride_layers:
                    loss = loss + complexity_regularizer(net, options.stride_regularizer)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for layer in diffstride_layers:
                layer.clamp_()
            loss_sum += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum().item())
            seen += len(yb)
            step += 1
            if on_step is not None:
                on_step(step, total_steps)
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(
                f"training diverged: the loss is {loss_sum} in epoch {epoch + 1} (lr {lr:g}); "
                "lower the learning rate or use normalised blocks"
            )
        val_loss, val_accuracy = evaluate(net, val_x, data.val_y, device)
        cost_flops += 3.0 * flops_per_image * seen + flops_per_image * len(data.val_y)
        best_accuracy = max(best_accuracy, val_accuracy)
        report = EpochReport(
            epoch=epoch + 1,
            train_loss=loss_sum / max(1, seen),
            train_accuracy=correct / max(1, seen),
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            lr=lr,
            seconds=time.perf_counter() - epoch_start,
            strides=learned_strides(net),
        )
        history.append(report)
        if on_epoch is not None and on_epoch(report):
            pruned = epoch + 1 < epochs
            break
        if options.max_seconds is not None and time.perf_counter() - start > options.max_seconds:
            stopped_early = epoch + 1 < epochs
            break

    last = history[-1]
    return TrialResult(
        accuracy=last.val_accuracy,
        best_accuracy=best_accuracy,
        val_loss=last.val_loss,
        params=count_params(net),
        macs=_forward_flops(net, spec, device) // 2,
        wall_seconds=time.perf_counter() - start,
        cost_flops=cost_flops,
        epochs_run=len(history),
        pruned=pruned,
        stopped_early=stopped_early,
        learned_strides=last.strides,
        history=history,
        device=device.type,
    )
