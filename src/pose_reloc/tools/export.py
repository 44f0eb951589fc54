"""`pose-reloc export`: a training checkpoint -> one ONNX file (opset 17, MC dropout live, dynamic
batch) with pose_reloc metadata, and a model card JSON beside it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from pose_reloc.errors import ModelLoadError
from pose_reloc.model_card import write_card
from pose_reloc.onnx_session import InputSpec, ModelMetadata, write_metadata
from pose_reloc.site_identity import UNKNOWN as UNKNOWN_SITE
from pose_reloc.train.layers import set_mc_dropout

OPSET = 17
SAMPLE_SLOTS = (
    "sample_slots"  # optional second input: (N, 1) zeros asking for N MC samples of one image
)
# What each task's outputs mean; nodes read this from the metadata.
OUTPUTS = {
    "posenet": {
        "position": "(N, 3) camera position in metres, map frame (one MC-dropout sample per row)",
        "orientation": "(N, 4) unit quaternion x, y, z, w of R_map_cam, optical frame",
    },
    "sun_bcnn": {
        "sun": "(N, 3) unit vector towards the sun, camera optical frame (one MC sample per row)"
    },
}


def _build(checkpoint: dict[str, Any]) -> torch.nn.Module:
    task = checkpoint["task"]
    if task == "posenet":
        from pose_reloc.posenet.networks import build_posenet

        model = build_posenet(
            checkpoint["arch"],
            checkpoint["position_mean"],
            checkpoint["position_scale"],
            checkpoint.get("dropout"),
            checkpoint.get("anchors"),
            checkpoint.get("anchor_spacing_m", 0.0),
        )
    elif task == "sun_bcnn":
        from sun_bcnn.train import build_sun_network

        model = build_sun_network(checkpoint["arch"], checkpoint.get("dropout"))
    else:
        raise ModelLoadError(f"checkpoint task {task!r} is not posenet or sun_bcnn")
    model.load_state_dict(checkpoint["state_dict"])
    return model


def _takes_sample_slots(model: torch.nn.Module) -> bool:
    import inspect

    return "sample_slots" in inspect.signature(model.forward).parameters


def _load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelLoadError(
            f"checkpoint {path} does not exist: `pose-reloc train` writes RUN/checkpoint.pt"
        )
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as error:  # truncated or not a torch file
        raise ModelLoadError(f"checkpoint {path} cannot be read: {error}") from error
    if not isinstance(checkpoint, dict) or "task" not in checkpoint:
        raise ModelLoadError(f"{path} is not a checkpoint written by `pose-reloc train`")
    return checkpoint


def export_checkpoint(
    checkpoint_path: str | Path,
    out: str | Path,
    samples: int = 32,
    accuracy: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, Path]:
    checkpoint = _load_checkpoint(Path(checkpoint_path))
    model = _build(checkpoint).eval()
    set_mc_dropout(model, True)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_onnx(model, checkpoint["input"], OUTPUTS[checkpoint["task"]], path)
    metadata = _metadata(checkpoint, samples, _takes_sample_slots(model), accuracy)
    write_metadata(path, metadata)
    card = path.with_suffix(".json")
    write_card(path, metadata)
    log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {card}")
    return path, card


def _write_onnx(
    model: torch.nn.Module, spec: dict[str, Any], outputs: dict[str, str], path: Path
) -> None:
    image = torch.zeros(1, 3, spec["height"], spec["width"])
    if _takes_sample_slots(model):
        # One image in, N samples out: the trunk runs once, the dropout head N times.
        arguments: tuple[torch.Tensor, ...] = (image, torch.zeros(4, 1))
        names, axes = ["image", SAMPLE_SLOTS], {"image": {0: "B"}, SAMPLE_SLOTS: {0: "N"}}
    else:
        arguments, names, axes = (image.repeat(2, 1, 1, 1),), ["image"], {"image": {0: "N"}}
    torch.onnx.export(
        model,
        arguments,
        str(path),
        input_names=names,
        output_names=list(outputs),
        dynamic_axes={**axes, **{name: {0: "N"} for name in outputs}},
        opset_version=OPSET,
        dynamo=False,
    )


def _metadata(
    checkpoint: dict[str, Any],
    samples: int,
    sample_slots: bool,
    accuracy: dict[str, Any] | None,
) -> ModelMetadata:
    spec = checkpoint["input"]
    input_spec = InputSpec(
        "image",
        spec["width"],
        spec["height"],
        spec["channel_order"],
        tuple(spec["mean"]),
        tuple(spec["std"]),
        bool(spec.get("center_crop", False)),
    )
    extra = {
        "architecture": checkpoint["arch"],
        **_head(checkpoint),
        "frame": "map" if checkpoint["task"] == "posenet" else "camera_optical",
        "site": checkpoint.get("site", UNKNOWN_SITE),  # a pose regressor knows one site only
        "mc_samples": samples,
        "sample_slots_input": SAMPLE_SLOTS if sample_slots else None,
        "dropout_live": True,
        "training": {
            "data": checkpoint.get("train_data"),
            "config": checkpoint.get("train_config"),
            "epochs": len(checkpoint.get("history", [])),
        },
        "accuracy": accuracy,
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return ModelMetadata(checkpoint["task"], input_spec, OUTPUTS[checkpoint["task"]], extra)


def _head(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """PoseNet's head: regression, or anchors (how many, how far apart)."""
    if checkpoint["task"] != "posenet":
        return {}
    anchors = checkpoint.get("anchors")
    if anchors is None:
        return {"head": "regression"}
    return {
        "head": "anchors",
        "anchors": int(anchors.shape[0]),
        "anchor_spacing_m": float(checkpoint["anchor_spacing_m"]),
    }


def calibrate_exported(
    path: Path, card: Path, data: str | Path, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Calibrate an exported model's uncertainty (and Sun-BCNN's validity threshold) on held-out
    frames and store the result in its metadata and card."""
    from pose_reloc.datasets import read_dataset
    from pose_reloc.onnx_session import load_model

    metadata = load_model(path, ["cpu"]).metadata
    frames = list(read_dataset(data))
    frames = frames[:: max(1, len(frames) // 400)]
    extra = dict(metadata.extra)
    if metadata.task == "posenet":
        from pose_reloc.posenet.localizer import PoseNetLocalizer, calibrate_covariance

        scales = calibrate_covariance(PoseNetLocalizer(path, ["cpu"]), frames)
        extra["covariance_scale"] = {**scales, "calibrated_on": str(data)}
    else:
        from sun_bcnn.inference import SunEstimator, calibrate_sun

        scales = calibrate_sun(SunEstimator(path, ["cpu"]), frames)
        extra["covariance_scale"] = {"angles": scales["angles"], "calibrated_on": str(data)}
        if "min_mean_norm" in scales:
            extra["validity"] = {
                "min_mean_norm": scales["min_mean_norm"],
                "max_spread_deg": scales["max_spread_deg"],
            }
    updated = ModelMetadata(metadata.task, metadata.input, metadata.outputs, extra)
    write_metadata(path, updated)
    write_card(path, updated)
    log(f"calibrated on {data}: {json.dumps(scales)}")
    return scales
