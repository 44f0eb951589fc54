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


def fake_posenet_model(
    path: Path, width: int = 32, height: int = 24, noise_m: float = 0.2, position_width: int = 3
) -> Path:
    """A stand-in PoseNet: position = 10 x the image's mean colour (+ uniform noise per sample, like
    live MC dropout), orientation = a camera looking along +x (optical z = map x, optical y = -z)."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, height, width])
    position = helper.make_tensor_value_info("position", TensorProto.FLOAT, ["N", position_width])
    orientation = helper.make_tensor_value_info("orientation", TensorProto.FLOAT, ["N", 4])
    looking_along_x = [-0.5, 0.5, -0.5, 0.5]  # x, y, z, w of R_map_cam for that camera
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
        helper.make_node("Mul", ["means", "ten"], ["scaled"]),
        helper.make_node("RandomUniformLike", ["scaled"], ["noise"], low=-noise_m, high=noise_m),
        helper.make_node("Add", ["scaled", "noise"], ["position_full"]),
        helper.make_node("Slice", ["position_full", "starts", "ends", "axes"], ["position"]),
        helper.make_node("Mul", ["means", "zero"], ["zeros"]),
        helper.make_node("ReduceSum", ["zeros", "axes"], ["zero_column"], keepdims=1),
        helper.make_node("Add", ["zero_column", "quaternion"], ["orientation"]),
    ]
    initializers = [
        helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("quaternion", TensorProto.FLOAT, [1, 4], looking_along_x),
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [position_width]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
    ]
    graph = helper.make_graph(
        nodes, "fake_posenet", [image], [position, orientation], initializer=initializers
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    metadata = ModelMetadata(
        task="posenet",
        input=InputSpec("image", width, height, "RGB", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        outputs={"position": "metres", "orientation": "x y z w"},
        extra={"mc_samples": 16, "dropout_live": True, "frame": "map"},
    )
    write_metadata(path, metadata)
    return path
