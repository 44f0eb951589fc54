"""`pose-reloc train sun`: train a Sun-BCNN and save a checkpoint that `pose-reloc export` turns into
an ONNX model (output "sun", (N, 3) unit vectors in the camera optical frame, MC dropout live).

Networks (`build_sun_network`), both ending FC -> ReLU -> MC dropout -> Linear 3 -> normalize:
- `lite` (default, Jetson/CPU): the MobileNetV3-small trunk, global pooling, FC 512, dropout 0.3.
- `googlenet`: a GoogLeNet-like trunk (stem, inception 3a, 3b, 4a, pooling), one head, FC 1024,
  dropout 0.5 (the original Sun-BCNN is a GoogLeNet; this keeps it smaller: no 4b-5b, no aux heads).

Loss. Sunny frames: the cosine distance 1 - s_hat . s, one dropout sample each. Overcast frames show no
sun, so they have no direction to regress; instead (weight `overcast_weight`, 0 excludes them) the head
is run `overcast_samples` times with different dropout masks on the same features and the squared norm
of the mean of those unit samples is minimized. That norm is exactly the concentration the inference
tests (`min_mean_norm`), so the network learns to say "not sure" when it cannot see the sun. Frames
without a known sun vector are not used.

Torch is imported only here (the [train] extra).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pose_reloc.errors import PoseRelocError
from pose_reloc.train.data import ImageSet, augment, to_network_input
from pose_reloc.train.layers import ConvBNAct, Inception, MCDropout, mobilenet_v3_small_features
from pose_reloc.train.loop import (
    finish_epoch,
    load_training_sets,
    network_input,
    one_cycle_optimizer,
    run_epoch,
    save_run,
    shuffled_batches,
)

ARCHITECTURES = ("lite", "googlenet")
DEFAULT_DROPOUT = {"lite": 0.3, "googlenet": 0.5}


@dataclass
class SunTrainConfig:
    arch: str = "lite"
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    input_width: int = 160
    input_height: int = 120
    center_crop: bool = False
    dropout: float | None = None  # None: the architecture's default (DEFAULT_DROPOUT)
    overcast_weight: float = 0.1  # 0: overcast frames are left out of training
    overcast_samples: int = 4  # dropout samples per overcast frame for the spread term
    seed: int = 0
    threads: int = 2


class SunHead(nn.Module):
    """Pooled features -> FC -> ReLU -> MC dropout -> 3 -> unit vector."""

    def __init__(self, features: int, hidden: int, dropout: float):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(features, hidden), nn.ReLU())
        self.dropout = MCDropout(dropout)
        self.sun = nn.Linear(hidden, 3)

    def forward(
        self, features: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.fc(features)
        if (
            sample_slots is not None
        ):  # one image's features -> N rows, each with its own dropout mask
            h = h + torch.zeros_like(sample_slots)
        return unit(self.sun(self.dropout(h)))


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


class SunNetwork(nn.Module):
    """trunk (image -> pooled features) + head (features -> unit sun vector, camera frame)."""

    def __init__(self, arch: str, trunk: nn.Module, channels: int, hidden: int, dropout: float):
        super().__init__()
        self.arch = arch
        self.trunk = trunk
        self.head = SunHead(channels, hidden, dropout)

    def forward(
        self, image: torch.Tensor, sample_slots: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.head(self.trunk(image), sample_slots)


def _lite_trunk() -> tuple[nn.Module, int]:
    features, channels = mobilenet_v3_small_features()
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1)), channels


def _googlenet_trunk() -> tuple[nn.Module, int]:
    trunk = nn.Sequential(
        ConvBNAct(3, 64, 7, 2),
        nn.MaxPool2d(3, 2, 1),
        ConvBNAct(64, 64, 1),
        ConvBNAct(64, 192, 3),
        nn.MaxPool2d(3, 2, 1),
        Inception(192, 64, 96, 128, 16, 32, 32),
        Inception(256, 128, 128, 192, 32, 96, 64),
        nn.MaxPool2d(3, 2, 1),
        Inception(480, 192, 96, 208, 16, 48, 64),
        nn.AdaptiveAvgPool2d(1),
    )
    return trunk, 512


def build_sun_network(arch: str, dropout: float | None = None) -> SunNetwork:
    """The Sun-BCNN network `arch`; forward(image (N, 3, H, W)) -> (N, 3) unit vectors."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture {arch!r} is not one of {ARCHITECTURES}")
    p = DEFAULT_DROPOUT[arch] if dropout is None else dropout
    if arch == "lite":
        trunk, channels = _lite_trunk()
        return SunNetwork(arch, trunk, channels, 512, p)
    trunk, channels = _googlenet_trunk()
    return SunNetwork(arch, trunk, channels, 1024, p)


def cosine_loss(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - s_hat . s over rows of unit vectors (0 at the truth, 2 when opposite)."""
    return (1.0 - (predicted * truth).sum(dim=1)).mean()


def concentration_loss(samples: torch.Tensor) -> torch.Tensor:
    """Mean over frames of |mean of K unit samples|^2; samples is (K, B, 3). Low = spread out."""
    return samples.mean(dim=0).pow(2).sum(dim=1).mean()


def batch_loss(
    model: SunNetwork, x: torch.Tensor, batch: dict[str, torch.Tensor], config: SunTrainConfig
) -> torch.Tensor:
    """The training loss of one augmented batch (model in train mode: dropout live)."""
    features = model.trunk(x)
    truth = batch["sun_cam"]
    sunny = ~batch["overcast"] & torch.isfinite(truth).all(dim=1)
    loss = x.new_zeros(())
    if sunny.any():
        loss = loss + cosine_loss(model.head(features[sunny]), truth[sunny])
    overcast = batch["overcast"]
    if config.overcast_weight > 0 and overcast.any():
        shared = features[overcast]
        samples = torch.stack([model.head(shared) for _ in range(config.overcast_samples)])
        loss = loss + config.overcast_weight * concentration_loss(samples)
    return loss


@torch.no_grad()
def evaluate_set(model: nn.Module, data: ImageSet, batch_size: int = 64) -> dict[str, float]:
    """Median and mean angular error (deg) on the sunny frames, dropout off."""
    model.eval()
    errors = []
    for start in range(0, len(data), batch_size):
        batch = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        sunny = ~batch["overcast"] & torch.isfinite(batch["sun_cam"]).all(dim=1)
        if not sunny.any():
            continue
        predicted = model(to_network_input(batch["images"][sunny]))
        cos = (predicted * batch["sun_cam"][sunny]).sum(dim=1).clamp(-1.0, 1.0)
        errors.append(torch.rad2deg(torch.arccos(cos)))
    if not errors:
        return {"median_error_deg": float("nan"), "mean_error_deg": float("nan")}
    all_errors = torch.cat(errors)
    return {
        "median_error_deg": float(all_errors.median()),
        "mean_error_deg": float(all_errors.mean()),
    }


def _usable(train: ImageSet, config: SunTrainConfig) -> torch.Tensor:
    """Indices of the frames the loss uses (sunny with a sun vector; overcast if weighted)."""
    sunny = ~train.overcast & torch.isfinite(train.sun_cam).all(dim=1)
    if int(sunny.sum()) < 2:
        raise PoseRelocError(
            f"dataset {train.source.get('path')} has {int(sunny.sum())} sunny frames with a known "
            "sun vector: Sun-BCNN needs at least 2 (synthesize more with `pose-reloc synth`)"
        )
    keep = sunny | (train.overcast if config.overcast_weight > 0 else torch.zeros_like(sunny))
    return torch.nonzero(keep).flatten()


def _sun_loss(
    model: SunNetwork,
    train: ImageSet,
    config: SunTrainConfig,
    generator: torch.Generator,
    index: torch.Tensor,
) -> torch.Tensor:
    batch = train.batch(index)
    return batch_loss(model, augment(batch["images"], generator), batch, config)


def train_sun_bcnn(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    config: SunTrainConfig,
    val_data: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train on a dataset folder; returns the path of the saved checkpoint (out/checkpoint.pt)."""
    started = time.perf_counter()
    train, val = load_training_sets(data, val_data, config)
    usable = _usable(train, config)
    log(
        f"loaded {len(train)} training images, {len(usable)} used "
        f"({int(train.overcast.sum())} overcast; {time.perf_counter() - started:.0f} s)"
    )
    model = build_sun_network(config.arch, config.dropout)
    batch_size = max(2, min(config.batch_size, len(usable)))  # BatchNorm needs 2 per batch
    optimizer, schedule = one_cycle_optimizer(
        model.parameters(),
        config.learning_rate,
        config.weight_decay,
        total_steps=max(1, config.epochs * (len(usable) // batch_size)),
    )
    generator = torch.Generator().manual_seed(config.seed)
    validate = partial(evaluate_set, model, val) if val is not None else None
    history: list[dict[str, Any]] = []
    sun_loss = partial(_sun_loss, model, train, config, generator)
    for epoch in range(config.epochs):
        batches = shuffled_batches(usable, batch_size, generator)
        loss = run_epoch(model, batches, sun_loss, optimizer, schedule)
        record = {"epoch": epoch + 1, "loss": loss, "seconds": time.perf_counter() - started}
        finish_epoch(record, history, validate, log)
    return save_checkpoint(model, config, train.source, history, Path(out))


def save_checkpoint(
    model: nn.Module,
    config: SunTrainConfig,
    train_source: dict[str, Any],
    history: list[dict[str, Any]],
    out: Path,
) -> Path:
    """out/checkpoint.pt (what `pose-reloc export` reads) and out/history.json."""
    checkpoint = {
        "task": "sun_bcnn",
        "arch": config.arch,
        "state_dict": model.state_dict(),
        "input": network_input(config.input_width, config.input_height, config.center_crop),
        "dropout": DEFAULT_DROPOUT[config.arch] if config.dropout is None else config.dropout,
        "train_config": asdict(config),
        "train_data": train_source,
    }
    return save_run(checkpoint, history, out)
