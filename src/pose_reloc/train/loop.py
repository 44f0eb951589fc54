"""The training loop both networks share: AdamW under a one-cycle schedule, epochs of shuffled
batches, a history record per epoch, and the run folder `pose-reloc export` reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from pose_reloc.train.data import IMAGENET_MEAN, IMAGENET_STD, ImageSet, load_image_set


class RunSettings(Protocol):
    """What both training configs say about the data and the run."""

    input_width: int
    input_height: int
    center_crop: bool
    seed: int
    threads: int


def load_training_sets(
    data: str | Path | Sequence[str | Path],
    val_data: str | Path | None,
    settings: RunSettings,
    points_per_image: int = 0,
) -> tuple[ImageSet, ImageSet | None]:
    """Seed torch, set its CPU threads, and load the training set and the optional validation set
    at the network's input size."""
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    size = (settings.input_width, settings.input_height)
    train = load_image_set(
        data, size, settings.center_crop, points_per_image=points_per_image, seed=settings.seed
    )
    val = load_image_set(val_data, size, settings.center_crop) if val_data else None
    return train, val


def one_cycle_optimizer(
    parameters: Iterable[torch.nn.Parameter],
    learning_rate: float,
    weight_decay: float,
    total_steps: int,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, learning_rate, total_steps=total_steps, pct_start=0.15
    )
    return optimizer, schedule


def shuffled_batches(
    indices: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """The indices shuffled, in full batches (a last partial batch is left out)."""
    order = indices[torch.randperm(len(indices), generator=generator)]
    return [
        order[start : start + batch_size]
        for start in range(0, len(order) - batch_size + 1, batch_size)
    ]


def run_epoch(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """One pass over `batches` (index tensors into the training set); the mean loss."""
    model.train()
    losses = []
    for index in batches:
        loss = batch_loss(index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def finish_epoch(
    record: dict[str, Any],
    history: list[dict[str, Any]],
    validate: Callable[[], dict[str, float]] | None,
    log: Callable[[str], None],
) -> None:
    """Add the validation figures to an epoch's record, keep it and log it."""
    if validate is not None:
        record |= validate()
    history.append(record)
    log(json.dumps(record))


def network_input(width: int, height: int, center_crop: bool) -> dict[str, Any]:
    """What the exported model's metadata says about its input."""
    return {
        "width": width,
        "height": height,
        "channel_order": "RGB",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "center_crop": center_crop,
    }


def save_run(checkpoint: dict[str, Any], history: list[dict[str, Any]], out: Path) -> Path:
    """out/checkpoint.pt (what `pose-reloc export` reads) and out/history.json."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "checkpoint.pt"
    torch.save({**checkpoint, "history": history}, path)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    return path
