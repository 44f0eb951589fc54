"""Tiny ONNX models written by the tests themselves (no shipped or downloaded weights needed)."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from pose_reloc.onnx_session import InputSpec, ModelMetadata, write_metadata


def mean_colour_model(
    path: Path,
    width: int = 8,
    height: int = 6,
    opset: int = 17,
    metadata: ModelMetadata | None = None,
    graph_width: int | None = None,
) -> Path:
    """A network mapping (N, 3, H, W) images to their per-channel means (N, 3)."""
    image = helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["N", 3, height, graph_width or width]
    )
    means = helper.make_tensor_value_info("channel_means", TensorProto.FLOAT, ["N", 3])
    pool = helper.make_node("GlobalAveragePool", ["image"], ["pooled"])
    flatten = helper.make_node("Flatten", ["pooled"], ["channel_means"], axis=1)
    graph = helper.make_graph([pool, flatten], "mean_colour", [image], [means])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    if metadata is None:
        metadata = ModelMetadata(
            task="test",
            input=InputSpec("image", width, height, "RGB", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
            outputs={"channel_means": "per-channel mean of the normalized input"},
            extra={"mc_samples": 1},
        )
    if metadata is not False:
        write_metadata(path, metadata)
    return path
