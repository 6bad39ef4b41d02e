"""The training loop: one trial = spec + data + epochs + options -> TrialResult.

SGD with Nesterov momentum (or AdamW), per-step cosine schedule with optional linear warm-up,
label smoothing through ``nn.CrossEntropyLoss``, random crops padded with the data's background,
seeded (the defaults: ``nas.trial.TrainOptions``). Model and batches are channels_last on every
device (oneDNN's fast path on the CPU); on CUDA also bf16 autocast. On CPU: torch threads as
``nas.threads.cpu_threads`` says (the request's, else ``NAS_TORCH_THREADS``, else the cores
available). ``on_epoch`` receives an ``EpochReport`` after every epoch and may return True to
stop the trial (pruning).

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
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.data import Augment, ImageData, batches
from nas.errors import OptionsError, TrainingDiverged
from nas.flops import count_flops, count_params, epoch_flops
from nas.layers.diffstride import DiffStride, complexity_regularizer
from nas.layers.schedules import set_epoch
from nas.models import build_model
from nas.models.network import Network
from nas.readout import StrideReadout
from nas.spec import ArchSpec
from nas.threads import cpu_threads
from nas.trial import EpochReport, TrainOptions, TrialResult, TrialTiming

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


def _stage_layers(model: Network) -> list[DiffStride | None]:
    return [
        next((m for m in stage.modules() if isinstance(m, DiffStride)), None)
        for stage in model.stages
    ]


def learned_strides(model: Network) -> list[tuple[float, float] | None]:
    """Per stage: the current stride of its DiffStride layer, else None."""
    return [layer.stride if layer is not None else None for layer in _stage_layers(model)]


def stride_readouts(model: Network) -> list[StrideReadout | None]:
    """Per stage: what its DiffStride layer learned (init, bounds, sizes), else None."""
    return [layer.readout() if layer is not None else None for layer in _stage_layers(model)]


def _param_groups(params: list[nn.Parameter], weight_decay: float) -> list[dict[str, object]]:
    """No weight decay on BN and biases."""
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _make_optimizer(params: list[nn.Parameter], options: TrainOptions) -> torch.optim.Optimizer:
    groups = _param_groups(params, options.weight_decay)
    if options.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=options.learning_rate)
    return torch.optim.SGD(
        groups,
        lr=options.learning_rate,
        momentum=options.momentum,
        nesterov=options.nesterov and options.momentum > 0,
    )


def make_stride_optimizer(
    layers: list[DiffStride], options: TrainOptions
) -> torch.optim.Optimizer | None:
    """The strides' own optimizer: Adam or SGD at ``options.stride_learning_rate``, no weight
    decay (decaying a stride would pull it towards 0); None without learnable strides (no
    DiffStride layer, or every one ``frozen``)."""
    params = [layer.stride_param for layer in layers if layer.stride_param.requires_grad]
    if not params:
        return None
    lr = options.stride_learning_rate
    if options.stride_optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=0.0)
    return torch.optim.SGD(params, lr=lr, momentum=options.momentum, weight_decay=0.0)


def split_parameters(
    model: nn.Module, layers: list[DiffStride]
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(weights, strides)``: every parameter of ``model``, strides apart."""
    strides = {id(layer.stride_param) for layer in layers}
    weights = [p for p in model.parameters() if id(p) not in strides]
    return weights, [layer.stride_param for layer in layers]


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
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for xb, yb in batches(x, y, EVAL_BATCH, shuffle=False):
        xb, yb = xb.to(device), yb.to(device)
        with _autocast(device):
            logits = model(_memory_format(xb)).float()
        total_loss += F.cross_entropy(logits, yb, reduction="sum").double()
        correct += (logits.argmax(1) == yb).sum()
    n = max(1, len(y))
    return float(total_loss) / n, int(correct) / n  # one host sync per evaluation


def _autocast(device: torch.device) -> torch.autocast | nullcontext[None]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _memory_format(x: torch.Tensor) -> torch.Tensor:
    """A batch in channels_last strides, as the model's weights (on every device).

    ``x.to(memory_format=...)`` restrides; ``x.contiguous(memory_format=...)`` would keep a
    single-channel NCHW batch as it is (it already counts as channels_last), and oneDNN would
    then take its plain NCHW path, 1.2-2x slower per step on the CPU (docs/results.md).
    """
    return x.to(memory_format=torch.channels_last)


def _forward_flops(model: Network, spec: ArchSpec, device: torch.device) -> int:
    x = torch.zeros(1, spec.in_channels, spec.resolution, spec.resolution, device=device)
    return count_flops(model, _memory_format(x))


def training_loss(
    net: Network,
    xb: torch.Tensor,
    yb: torch.Tensor,
    criterion: nn.CrossEntropyLoss,
    aux_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, logits)`` of one batch: the cross-entropy of the logits plus, for a spec with an
    auxiliary classifier (``aux_weight`` > 0), ``aux_weight`` times its cross-entropy."""
    if aux_weight:
        logits, aux = net.forward_with_aux(xb)  # (N, classes), (N, classes)
        loss = criterion(logits.float(), yb)
        if aux is not None:
            loss = loss + aux_weight * criterion(aux.float(), yb)
    else:
        logits = net(xb)  # (N, classes)
        loss = criterion(logits.float(), yb)
    return loss, logits


@dataclass(frozen=True)
class EpochTotals:
    """One epoch's training sums (on the device) and where the step count and lr ended."""

    loss: torch.Tensor  # sum over images of the batch loss, float64
    correct: torch.Tensor  # int64
    seen: int
    step: int
    lr: float


@dataclass(frozen=True)
class _Steps:
    """What one optimisation step needs: the model, its optimizers, the loss, the schedule."""

    net: Network
    optimizer: torch.optim.Optimizer
    stride_optimizer: torch.optim.Optimizer | None
    criterion: nn.CrossEntropyLoss
    diffstride_layers: list[DiffStride]
    options: TrainOptions
    device: torch.device
    total_steps: int
    warmup_steps: int
    aux_weight: float
    on_step: StepCallback | None

    def run_epoch(
        self, epoch_batches: Iterable[tuple[torch.Tensor, torch.Tensor]], step: int
    ) -> EpochTotals:
        """Train on every batch of one epoch, from global step ``step``."""
        options, device = self.options, self.device
        # Running sums stay on the device (float64, as Python's float): no host sync per step.
        loss_total = torch.zeros((), dtype=torch.float64, device=device)
        correct_total = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        lr = options.learning_rate
        for xb, yb in epoch_batches:
            lr = _lr_at(
                step, self.total_steps, self.warmup_steps, options.learning_rate, options.schedule
            )
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if self.stride_optimizer is not None:
                stride_lr = _lr_at(
                    step, self.total_steps, 0, options.stride_learning_rate, options.stride_schedule
                )
                for group in self.stride_optimizer.param_groups:
                    group["lr"] = stride_lr
            xb, yb = _memory_format(xb.to(device)), yb.to(device)
            loss, logits = self.step(xb, yb)
            loss_total += loss.detach().double() * len(yb)
            correct_total += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
            step += 1
            if self.on_step is not None:
                self.on_step(step, self.total_steps)
        return EpochTotals(loss_total, correct_total, seen, step, lr)

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on a batch already on the device; ``(loss, logits)``."""
        with _autocast(self.device):
            loss, logits = training_loss(self.net, xb, yb, self.criterion, self.aux_weight)
            if self.options.stride_regularizer and self.diffstride_layers:
                loss = loss + complexity_regularizer(self.net, self.options.stride_regularizer)
        self.optimizer.zero_grad(set_to_none=True)
        if self.stride_optimizer is not None:
            self.stride_optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # (torch leaves it unannotated)
        self.optimizer.step()
        if self.stride_optimizer is not None:
            self.stride_optimizer.step()
        for layer in self.diffstride_layers:
            layer.clamp_()
        return loss, logits


@dataclass
class _Clock:
    """Seconds spent so far in setup (build, FLOP counts, data), training and evaluation."""

    setup: float = 0.0
    train: float = 0.0
    evaluate: float = 0.0


@dataclass(frozen=True)
class _Run:
    """A trial ready to train: its network on its device, the data there, the step machinery."""

    spec: ArchSpec
    device: torch.device
    net: Network
    diffstride_layers: list[DiffStride]
    steps: _Steps
    generator: torch.Generator
    augment: Augment | None
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    # A fixed-stride network costs the same every epoch: its FLOPs are counted once. DiffStride's
    # learned strides change its maps, so it is counted again each epoch (None here).
    fixed_flops: int | None

    def flops_per_image(self) -> int:
        return self.fixed_flops or _forward_flops(self.net, self.spec, self.device)


def _prepare(
    spec: ArchSpec,
    data: ImageData,
    epochs: int,
    options: TrainOptions,
    model: Network | None,
    on_step: StepCallback | None,
) -> _Run:
    """Seed, place the data and the network on the device, make the optimizers (in this order:
    the seeded draws of a trial depend on it)."""
    device = pick_device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(options.threads))
    torch.manual_seed(options.seed)
    # On a GPU the data moves to the device once and batches are drawn there (no copy per step);
    # on the CPU nothing moves.
    on_device = device.type != "cpu"
    generator = torch.Generator(device=device if on_device else "cpu").manual_seed(options.seed)
    train_x = resample(data.train_x.to(device) if on_device else data.train_x, spec.resolution)
    val_x = resample(data.val_x.to(device) if on_device else data.val_x, spec.resolution)
    train_y = data.train_y.to(device) if on_device else data.train_y
    val_y = data.val_y.to(device) if on_device else data.val_y
    net = (model if model is not None else build_model(spec)).to(device)
    net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    diffstride_layers = [m for m in net.modules() if isinstance(m, DiffStride)]
    weights, _ = split_parameters(net, diffstride_layers)
    steps_per_epoch = math.ceil(len(data.train_y) / options.batch_size)
    steps = _Steps(
        net=net,
        optimizer=_make_optimizer(weights, options),
        stride_optimizer=make_stride_optimizer(diffstride_layers, options),
        criterion=nn.CrossEntropyLoss(label_smoothing=options.label_smoothing),
        diffstride_layers=diffstride_layers,
        options=options,
        device=device,
        total_steps=steps_per_epoch * epochs,
        warmup_steps=options.warmup_epochs * steps_per_epoch,
        aux_weight=spec.head.aux_weight if spec.head.aux_stage is not None else 0.0,
        on_step=on_step,
    )
    augment = (
        Augment(crop_padding=options.crop_padding, hflip=True, fill=data.background)
        if options.augment
        else None
    )
    fixed_flops = None if diffstride_layers else _forward_flops(net, spec, device)
    return _Run(
        spec, device, net, diffstride_layers, steps, generator, augment,
        train_x, train_y, val_x, val_y, fixed_flops,
    )  # fmt: skip


def _train_epoch(run: _Run, epoch: int, step: int, clock: _Clock) -> tuple[EpochReport, int, float]:
    """Train one epoch from global step ``step`` and validate: its report, the global step
    reached, and the FLOPs it cost. TrainingDiverged when the loss is not finite."""
    epoch_start = time.perf_counter()
    set_epoch(run.net, epoch)
    flops_per_image = run.flops_per_image()
    run.net.train()
    steps_start = time.perf_counter()
    clock.setup += steps_start - epoch_start
    options = run.steps.options
    epoch_batches = batches(
        run.train_x,
        run.train_y,
        options.batch_size,
        shuffle=True,
        generator=run.generator,
        augment=run.augment,
    )
    totals = run.steps.run_epoch(epoch_batches, step)
    loss_sum, correct, seen = float(totals.loss), int(totals.correct), totals.seen
    eval_start = time.perf_counter()
    clock.train += eval_start - steps_start
    if not math.isfinite(loss_sum):
        raise TrainingDiverged(
            f"training diverged: the loss is {loss_sum} in epoch {epoch + 1} "
            f"(lr {totals.lr:g}); lower the learning rate or use normalised blocks"
        )
    val_loss, val_accuracy = evaluate(run.net, run.val_x, run.val_y, run.device)
    clock.evaluate += time.perf_counter() - eval_start
    report = EpochReport(
        epoch=epoch + 1,
        train_loss=loss_sum / max(1, seen),
        train_accuracy=correct / max(1, seen),
        val_loss=val_loss,
        val_accuracy=val_accuracy,
        lr=totals.lr,
        seconds=time.perf_counter() - epoch_start,
        strides=learned_strides(run.net),
    )
    return report, totals.step, epoch_flops(flops_per_image, seen, len(run.val_y))


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
    start = time.perf_counter()
    options = options or TrainOptions()
    if epochs < 1:
        raise OptionsError(f"must be >= 1, got {epochs}", field="epochs")
    check_compatible(spec, data)
    run = _prepare(spec, data, epochs, options, model, on_step)
    clock = _Clock(setup=time.perf_counter() - start)
    history: list[EpochReport] = []
    cost_flops = 0.0
    step = 0
    pruned = stopped_early = False
    for epoch in range(epochs):
        report, step, flops = _train_epoch(run, epoch, step, clock)
        cost_flops += flops
        history.append(report)
        if on_epoch is not None and on_epoch(report):
            pruned = epoch + 1 < epochs
            break
        if options.max_seconds is not None and time.perf_counter() - start > options.max_seconds:
            stopped_early = epoch + 1 < epochs
            break
    test_accuracy = None
    if options.score_test and data.test_x is not None and data.test_y is not None:
        test_start = time.perf_counter()
        _, test_accuracy = evaluate(
            run.net, resample(data.test_x, spec.resolution), data.test_y, run.device
        )
        clock.evaluate += time.perf_counter() - test_start
    final_start = time.perf_counter()
    params, macs = count_params(run.net), run.flops_per_image() // 2
    clock.setup += time.perf_counter() - final_start
    last = history[-1]
    return TrialResult(
        accuracy=last.val_accuracy,
        test_accuracy=test_accuracy,
        best_accuracy=max(r.val_accuracy for r in history),
        val_loss=last.val_loss,
        params=params,
        macs=macs,
        wall_seconds=time.perf_counter() - start,
        timing=TrialTiming(setup=clock.setup, train=clock.train, evaluate=clock.evaluate),
        cost_flops=cost_flops,
        epochs_run=len(history),
        pruned=pruned,
        stopped_early=stopped_early,
        learned_strides=last.strides,
        stride_readout=stride_readouts(run.net),
        history=history,
        device=run.device.type,
    )
