"""Model cards: the JSON beside each shipped ONNX model (what it is for, its limits, its metadata),
and recording measured accuracy into a model without exporting it again (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pose_reloc.onnx_session import ModelMetadata, load_model, write_metadata


def model_card(path: Path, metadata: ModelMetadata) -> dict[str, Any]:
    body = json.loads(metadata.to_json())
    purpose = {
        "posenet": "A first camera pose for a robot with no prior (the kidnapped robot), metres-accurate, "
        "with a covariance from MC-dropout samples; to be refined by feature matching (vo_fusion).",
        "sun_bcnn": "The sun direction in the camera frame with uncertainty from MC-dropout samples, "
        "as an absolute orientation reference for visual odometry.",
    }[metadata.task]
    return {
        "name": path.stem,
        "file": path.name,
        "task": metadata.task,
        "intended_use": purpose,
        "limitations": "Trained from scratch on pose_reloc's synthetic city only: it knows that scene and "
        "no other, and has not been validated on real images. Retrain on your own data for a real site.",
        "license": "Apache-2.0",
        **body,
    }


def write_card(path: Path, metadata: ModelMetadata) -> Path:
    card = path.with_suffix(".json")
    card.write_text(json.dumps(model_card(path, metadata), indent=2) + "\n")
    return card


def record_accuracy(path: str | Path, figures: dict[str, Any]) -> Path:
    """Store figures measured by `pose-reloc evaluate` as the model's accuracy (metadata and card);
    the weights and the calibration are left as they are."""
    return _record(path, accuracy=figures)


def record_site(path: str | Path, site: str) -> Path:
    """Store the site the model was trained for (pose_reloc.site_identity) in its metadata and
    card, for a model exported before models carried one."""
    return _record(path, site=site)


def _record(path: str | Path, **values: Any) -> Path:
    model_path = Path(path)
    metadata = load_model(model_path, ["cpu"]).metadata
    updated = ModelMetadata(
        metadata.task, metadata.input, metadata.outputs, {**metadata.extra, **values}
    )
    write_metadata(model_path, updated)
    return write_card(model_path, updated)
