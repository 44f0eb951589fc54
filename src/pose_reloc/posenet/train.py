"""`pose-reloc train posenet`: train a PoseNet on a (synthetic) dataset and save a checkpoint that
`pose-reloc export` turns into an ONNX model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from pose_reloc.posenet.losses import AnchorLoss, build_loss
from pose_reloc.posenet.networks import AUX_LOSS_WEIGHTS, build_posenet, place_anchors
from pose_reloc.site_identity import site_of_datasets
from pose_reloc.train.data import ImageSet, augment, to_network_input
from pose_reloc.train.loop import (
    finish_epoch,
    load_training_sets,
    network_input,
    one_cycle_optimizer,
    run_epoch,
    save_run,
    shuffled_batches,
)


@dataclass
class PoseNetTrainConfig:
    arch: str = "lite"
    loss: str = "learned"  # anchors: the anchor head (Saha et al. 2018) instead of regression
    anchor_spacing_m: float = 6.0
    epochs: int = 30
    pretrain_epochs: int = 0  # with loss=reprojection: epochs of the learned loss first
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    beta: float = 250.0
    input_width: int = 160
    input_height: int = 120
    center_crop: bool = False
    dropout: float | None = None
    reprojection_points: int = 64
    seed: int = 0
    threads: int = 2
    init_checkpoint: str | None = None  # a local ImageNet/Places state dict, when a user has one


def _weights(model: torch.nn.Module) -> tuple[float, ...]:
    return AUX_LOSS_WEIGHTS if getattr(model, "arch", "") == "googlenet" else (1.0,)


def _load_init(model: torch.nn.Module, path: str, log: Callable[[str], None]) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    log(f"initialised {len(usable)} of {len(own)} tensors from {path}")


@torch.no_grad()
def evaluate_set(model: torch.nn.Module, data: ImageSet, batch_size: int = 64) -> dict[str, float]:
    """Median translation (m) and rotation (deg) errors with dropout off."""
    model.eval()
    t_err, r_err = [], []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        batch = data.batch(index)
        position, q = model(to_network_input(batch["images"]))
        t_err.append((position - batch["position"]).norm(dim=1))
        dot = (q * batch["orientation"]).sum(dim=1).abs().clamp(max=1.0)
        r_err.append(torch.rad2deg(2 * torch.arccos(dot)))
    return {
        "median_translation_m": float(torch.cat(t_err).median()),
        "median_rotation_deg": float(torch.cat(r_err).median()),
    }


def train_posenet(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    config: PoseNetTrainConfig,
    val_data: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    started = time.perf_counter()
    site = site_of_datasets([data] if isinstance(data, str | Path) else data)
    points = config.reprojection_points if config.loss == "reprojection" else 0
    train, val = load_training_sets(data, val_data, config, points_per_image=points)
    log(f"loaded {len(train)} training images ({time.perf_counter() - started:.0f} s)")
    mean = train.position.mean(dim=0)
    scale = train.position.std(dim=0).clamp_min(1.0)
    anchors = (
        place_anchors(train.position, config.anchor_spacing_m) if config.loss == "anchors" else None
    )
    if anchors is not None:
        log(f"{len(anchors)} anchors {config.anchor_spacing_m:g} m apart")
    model = build_posenet(
        config.arch, mean, scale, config.dropout, anchors, config.anchor_spacing_m
    )
    if config.init_checkpoint:
        _load_init(model, config.init_checkpoint, log)
    history: list[dict[str, Any]] = []
    generator = torch.Generator().manual_seed(config.seed)
    validate = partial(evaluate_set, model, val) if val is not None else None
    for loss_name, epochs in _phases(config):
        loss_fn = build_loss(loss_name, config.beta)
        optimizer, schedule = one_cycle_optimizer(
            list(model.parameters()) + list(loss_fn.parameters()),
            config.learning_rate,
            config.weight_decay,
            total_steps=epochs * max(1, len(train) // config.batch_size),
        )
        batch_loss = partial(_pose_loss, model, loss_fn, train, generator)
        for epoch in range(epochs):
            batches = shuffled_batches(torch.arange(len(train)), config.batch_size, generator)
            record = {
                "phase": loss_name,
                "epoch": epoch + 1,
                "loss": run_epoch(model, batches, batch_loss, optimizer, schedule),
                "seconds": time.perf_counter() - started,
            }
            finish_epoch(record, history, validate, log)
    return save_checkpoint(model, config, train, history, Path(out), site, (mean, scale), anchors)


def _phases(config: PoseNetTrainConfig) -> list[tuple[str, int]]:
    """(loss, epochs) in order: the reprojection loss starts from a model the learned loss trained."""
    phases = (
        [("learned", config.pretrain_epochs), (config.loss, config.epochs)]
        if config.loss == "reprojection"
        else [(config.loss, config.epochs)]
    )
    return [(loss, epochs) for loss, epochs in phases if epochs > 0]


def _pose_loss(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    train: ImageSet,
    generator: torch.Generator,
    index: torch.Tensor,
) -> torch.Tensor:
    """The loss of a batch, summed over the network's regressors (GoogLeNet's auxiliary ones
    weighted)."""
    batch = train.batch(index)
    x = augment(batch["images"], generator)
    heads = model.heads(x)  # type: ignore[operator]
    if isinstance(loss_fn, AnchorLoss):
        losses = [loss_fn(head, batch) for head in heads]
    else:
        losses = [loss_fn(p, q, batch) for p, q in heads]
    return torch.stack([w * loss for w, loss in zip(_weights(model), losses, strict=True)]).sum()


def save_checkpoint(
    model: torch.nn.Module,
    config: PoseNetTrainConfig,
    train: ImageSet,
    history: list[dict[str, Any]],
    out: Path,
    site: str,
    position_normalization: tuple[torch.Tensor, torch.Tensor],
    anchors: torch.Tensor | None,
) -> Path:
    checkpoint = {
        "task": "posenet",
        "arch": config.arch,
        "state_dict": model.state_dict(),
        "position_mean": position_normalization[0],
        "position_scale": position_normalization[1],
        "anchors": anchors,
        "anchor_spacing_m": config.anchor_spacing_m if anchors is not None else 0.0,
        "input": network_input(config.input_width, config.input_height, config.center_crop),
        "dropout": config.dropout,
        "train_config": asdict(config),
        "train_data": train.source,
        "site": site,
    }
    return save_run(checkpoint, history, out)
