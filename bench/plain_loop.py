"""A plain PyTorch training loop, as a user writes one without this project (imports no `nas`).

The baseline of `bench/engine.py`: a 3-stage ResNet for 28x28 grey images (stem 16 channels, one
basic block per stage at 16/32/64, the stages' strides given per trial), written as plain
`nn.Module` code with the usual init (PyTorch's defaults, He fan-out for the convolutions, as
torchvision's ResNet), trained on IDX files it reads itself: SGD with Nesterov momentum 0.9, lr
0.1 at batch 128, weight decay 5e-4 (not on BN weights and biases), cosine per step to 0, label
smoothing 0.1, random crop with 2 px of black padding and horizontal flips; model and batches
channels_last (PyTorch's CPU performance guide). Each trial is seeded the same way.

Reads ``DATA/train-{images,labels}-idx{3,1}-ubyte[.gz]`` (training) and
``DATA/t10k-{images,labels}-idx{3,1}-ubyte[.gz]`` (the images it scores), normalizes both with
the training images' mean and standard deviation, and prints one JSON line per trial:
``{"strides", "params", "accuracy", "setup_s", "train_s", "eval_s"}``.

    python bench/plain_loop.py --data DIR --triples 1,1,1 2,2,2 [--threads 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 128
EVAL_BATCH = 1000
WIDTHS = (16, 32, 64)


# ---- data ---------------------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (raw or gzip) as a numpy array."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no {stem}[.gz] in {root}")


def load_pair(root: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 28, 28) float images in [0, 1] and (N,) int64 labels."""
    x = read_idx(find(root, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(root, f"{prefix}-labels-idx1-ubyte"))
    images = torch.from_numpy(x.copy()).float().div_(255).unsqueeze(1)
    return images, torch.from_numpy(y.astype(np.int64))


def random_crop_flip(x: torch.Tensor, pad: int, fill: float, gen: torch.Generator) -> torch.Tensor:
    """Pad with ``fill``, crop back at random per-image offsets, flip half the images."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # (B, 1, 1, W)
    crops = padded.gather(2, rows.expand(b, x.shape[1], h, w + 2 * pad))
    crops = crops.gather(3, cols.expand(b, x.shape[1], h, w))  # (B, C, H, W)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)


# ---- the network --------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (N, C_out, H/s, W/s)
        out = self.bn2(self.conv2(out))  # (N, C_out, H/s, W/s)
        return F.relu(out + self.shortcut(x))  # type: ignore[no-any-return]


class ResNet3(nn.Module):
    """conv3x3-BN-ReLU stem, three basic blocks at the given strides, global pool, linear."""

    def __init__(self, strides: tuple[int, int, int], classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, WIDTHS[0], 3, 1, 1, bias=False), nn.BatchNorm2d(WIDTHS[0]), nn.ReLU()
        )
        blocks, cin = [], WIDTHS[0]
        for cout, stride in zip(WIDTHS, strides, strict=True):
            blocks.append(BasicBlock(cin, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))  # (N, 64, H/S, W/S)
        return self.fc(x.mean((2, 3)))  # type: ignore[no-any-return]  # (N, classes)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- one trial ----------------------------------------------------------------------------------


def trial(
    strides: tuple[int, int, int],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    fill: float,
    seed: int,
) -> dict[str, object]:
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ResNet3(strides).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=0.1,
        momentum=0.9,
        nesterov=True,
    )
    x, y = train
    steps = math.ceil(len(y) / BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    setup_s = time.perf_counter() - start

    start = time.perf_counter()
    model.train()
    order = torch.randperm(len(y), generator=gen)
    for i in range(0, len(y), BATCH):
        idx = order[i : i + BATCH]
        xb = random_crop_flip(x[idx], 2, fill, gen).to(memory_format=torch.channels_last)
        loss = criterion(model(xb), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    train_s = time.perf_counter() - start

    start = time.perf_counter()
    model.eval()
    tx, ty = test
    correct = 0
    with torch.no_grad():
        for i in range(0, len(ty), EVAL_BATCH):
            xb = tx[i : i + EVAL_BATCH].to(memory_format=torch.channels_last)
            correct += int((model(xb).argmax(1) == ty[i : i + EVAL_BATCH]).sum())
    eval_s = time.perf_counter() - start
    return {
        "strides": list(strides),
        "params": count_params(model),
        "accuracy": correct / len(ty),
        "setup_s": setup_s,
        "train_s": train_s,
        "eval_s": eval_s,
    }


def parse_triple(text: str) -> tuple[int, int, int]:
    a, b, c = (int(v) for v in text.split(","))
    return a, b, c


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="directory of the IDX files")
    parser.add_argument("--triples", type=parse_triple, nargs="+", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    x, y = load_pair(args.data, "train")
    tx, ty = load_pair(args.data, "t10k")
    mean, std = float(x.mean()), float(x.std())
    x, tx = (x - mean) / std, (tx - mean) / std
    fill = -mean / std  # black, normalised
    for strides in args.triples:
        print(json.dumps(trial(strides, (x, y), (tx, ty), fill, args.seed)), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
