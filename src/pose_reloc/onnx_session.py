"""ONNX Runtime sessions for the shipped models: providers in priority order, and the model metadata.

A pose_reloc model carries its preprocessing and output layout in the ONNX metadata property
`pose_reloc` (a JSON object, written by `pose-reloc export`), so nodes never hard-code them:

    {"task": "posenet", "input": {"name": "image", "width": 224, "height": 224,
     "channel_order": "RGB", "mean": [...], "std": [...]},
     "outputs": {"position": "xyz, metres", ...}, "frame": "map", "mc_samples": 32, ...}
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from pose_reloc.errors import ModelLoadError, PoseRelocError

logger = logging.getLogger(__name__)

METADATA_KEY = "pose_reloc"
PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class InputSpec:
    """How an image becomes the network's input tensor (N, 3, height, width), float32."""

    name: str
    width: int
    height: int
    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    center_crop: bool = False

    def preprocess(self, images_hwc_uint8: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """Images already resized to (height, width) in `channel_order` → normalized NCHW batch."""
        scale = np.float32(1.0 / 255.0)
        batch = np.stack(list(images_hwc_uint8)).astype(np.float32) * scale
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        normalized = ((batch - mean) / std).astype(np.float32, copy=False)
        return np.ascontiguousarray(normalized.transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class ModelMetadata:
    task: str
    input: InputSpec
    outputs: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        spec = self.input
        body = {
            "task": self.task,
            "input": {
                "name": spec.name,
                "width": spec.width,
                "height": spec.height,
                "channel_order": spec.channel_order,
                "mean": list(spec.mean),
                "std": list(spec.std),
                "center_crop": spec.center_crop,
            },
            "outputs": dict(self.outputs),
            **self.extra,
        }
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> ModelMetadata:
        try:
            body = json.loads(text)
            spec = body.pop("input")
            input_spec = InputSpec(
                name=str(spec["name"]),
                width=int(spec["width"]),
                height=int(spec["height"]),
                channel_order=str(spec.get("channel_order", "RGB")).upper(),
                mean=_triple(spec.get("mean", (0.0, 0.0, 0.0))),
                std=_triple(spec.get("std", (1.0, 1.0, 1.0))),
                center_crop=bool(spec.get("center_crop", False)),
            )
            task, outputs = str(body.pop("task")), dict(body.pop("outputs"))
        except (ValueError, KeyError, TypeError) as error:
            raise ModelLoadError(
                f"{source}: the {METADATA_KEY!r} metadata is malformed ({error}); re-export the "
                "model with `pose-reloc export`"
            ) from error
        if input_spec.channel_order not in ("RGB", "BGR"):
            raise ModelLoadError(f"{source}: channel_order must be RGB or BGR")
        if input_spec.width <= 0 or input_spec.height <= 0 or min(input_spec.std) <= 0:
            raise ModelLoadError(f"{source}: input size and std in the metadata must be positive")
        return cls(task, input_spec, outputs, body)


def _triple(values: Sequence[float]) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


@dataclass
class OnnxModel:
    """A loaded model: the session, which providers run it, and what its metadata says."""

    path: Path
    session: ort.InferenceSession
    providers: list[str]
    metadata: ModelMetadata

    def run(
        self, inputs: NDArray[np.float32], extra: Mapping[str, NDArray] | None = None
    ) -> dict[str, NDArray]:
        names = [o.name for o in self.session.get_outputs()]
        values = self.session.run(names, {self.metadata.input.name: inputs, **(extra or {})})
        return dict(zip(names, values, strict=True))

    def prepare(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """One RGB uint8 image -> the (1, 3, H, W) input the metadata describes (size, crop, order)."""
        from pose_reloc.camera import resize_for_network

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise PoseRelocError(
                f"the model takes an RGB uint8 image (H, W, 3), got {rgb.shape} {rgb.dtype}"
            )
        spec = self.metadata.input
        image = resize_for_network(rgb, (spec.width, spec.height), spec.center_crop)
        if spec.channel_order == "BGR":
            image = image[..., ::-1]
        return spec.preprocess([image])

    def run_samples(
        self, single: NDArray[np.float32], samples: int
    ) -> tuple[dict[str, NDArray], float]:
        """`samples` MC-dropout outputs for one prepared image, in one run, and its time in ms:
        through the sample-slots input when the model has one (trunk once), else a repeated batch."""
        slots = self.sample_slots_input
        started = time.perf_counter()
        if slots is not None:
            out = self.run(single, {slots: np.zeros((samples, 1), np.float32)})
        else:
            out = self.run(np.repeat(single, samples, axis=0))
        return out, 1000.0 * (time.perf_counter() - started)

    @property
    def sample_slots_input(self) -> str | None:
        """Name of the (N, 1) input asking for N MC samples of one image, if the model has one."""
        name = self.metadata.extra.get("sample_slots_input")
        return name if name in {i.name for i in self.session.get_inputs()} else None


def resolve_providers(requested: Sequence[str]) -> list[str]:
    """The requested providers (aliases tensorrt/cuda/cpu allowed) this onnxruntime has, in order."""
    names = [PROVIDER_ALIASES.get(p.lower(), p) for p in requested]
    available = ort.get_available_providers()
    usable = [p for p in names if p in available]
    if not usable:
        raise ModelLoadError(
            f"none of the requested ONNX Runtime providers {names} is available; this onnxruntime "
            f"has {available}: add CPUExecutionProvider to the provider list, or install "
            "onnxruntime-gpu for CUDA/TensorRT"
        )
    return usable


def tensorrt_defaults() -> dict[str, dict[str, Any]]:
    """TensorRT on a Jetson: FP16 kernels and a persistent engine cache, so only the first start
    after a model change spends minutes building engines. The cache folder comes from
    POSE_RELOC_TRT_CACHE (default ~/.cache/pose_reloc/tensorrt)."""
    cache = os.environ.get("POSE_RELOC_TRT_CACHE") or str(
        Path.home() / ".cache" / "pose_reloc" / "tensorrt"
    )
    return {
        "TensorrtExecutionProvider": {
            "trt_fp16_enable": True,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
        }
    }


def load_model(
    path: str | Path,
    providers: Sequence[str] = DEFAULT_PROVIDERS,
    threads: int = 2,
    optimization: str = "all",
    provider_options: Mapping[str, Mapping[str, Any]] | None = None,
    expected_task: str | None = None,
    expected_input_size: tuple[int, int] | None = None,
) -> OnnxModel:
    """Open a pose_reloc ONNX model; every way it can be unusable raises ModelLoadError."""
    model_path = Path(path)
    if not model_path.is_file():
        raise ModelLoadError(
            f"model file {model_path} does not exist; point the model parameter at a .onnx file "
            "(the shipped ones are in the package's models/ folder)"
        )
    if optimization not in _OPTIMIZATION_LEVELS:
        raise ModelLoadError(
            f"optimization {optimization!r} is not one of {list(_OPTIMIZATION_LEVELS)}"
        )
    usable = resolve_providers(providers)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # onnxruntime's pool threads spin after each run by default, taking the cores from the work
    # that follows in the same process: the prior's retrieval search after PoseNet took 13 ms
    # instead of 0.7 on 2 cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = _OPTIMIZATION_LEVELS[optimization]
    given = tensorrt_defaults() if provider_options is None else provider_options
    chosen = [(p, dict(given.get(p, {}))) for p in usable]
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=chosen)
    except Exception as error:  # onnxruntime raises its own unexported exception classes
        raise ModelLoadError(_explain_load_failure(model_path, error)) from error
    metadata = read_metadata(model_path, session)
    _check_input(model_path, session, metadata, expected_input_size)
    if expected_task is not None and metadata.task != expected_task:
        raise ModelLoadError(
            f"model file {model_path} is a {metadata.task!r} model, this node needs {expected_task!r}"
        )
    active = list(session.get_providers())
    logger.info("loaded %s with providers %s", model_path, active)
    return OnnxModel(model_path, session, active, metadata)


def _explain_load_failure(path: Path, error: Exception) -> str:
    text = str(error)
    if "INVALID_PROTOBUF" in text or "Protobuf parsing failed" in text:
        return f"model file {path} is not a valid ONNX model (corrupt or truncated): re-export or re-copy it"
    if "opset" in text.lower():
        try:
            opsets = read_opsets(path)
        except Exception:  # the file already failed to load; the opset is only a hint
            opsets = {}
        return (
            f"model file {path} uses opset {opsets or '?'} which onnxruntime {ort.__version__} does "
            f"not support: re-export with opset 17 (`pose-reloc export`) or upgrade onnxruntime"
        )
    return f"model file {path} could not be loaded by onnxruntime {ort.__version__}: {text}"


def read_metadata(path: Path, session: ort.InferenceSession) -> ModelMetadata:
    custom = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in custom:
        raise ModelLoadError(
            f"model file {path} has no {METADATA_KEY!r} metadata (input size, normalization, "
            "outputs): it was not exported by `pose-reloc export`; re-export it"
        )
    return ModelMetadata.from_json(custom[METADATA_KEY], str(path))


def _check_input(
    path: Path,
    session: ort.InferenceSession,
    metadata: ModelMetadata,
    expected_size: tuple[int, int] | None,
) -> None:
    inputs = session.get_inputs()
    spec = metadata.input
    allowed = 2 if metadata.extra.get("sample_slots_input") else 1
    if not 1 <= len(inputs) <= allowed or inputs[0].name != spec.name:
        names = [i.name for i in inputs]
        raise ModelLoadError(
            f"model file {path} has inputs {names}, its metadata names {spec.name!r}"
        )
    shape = inputs[0].shape
    want = [3, spec.height, spec.width]
    if len(shape) != 4 or any(
        isinstance(s, int) and s != w for s, w in zip(shape[1:], want, strict=True)
    ):
        raise ModelLoadError(
            f"model file {path} has input shape {shape} but its metadata says Nx3x{spec.height}x"
            f"{spec.width}: the metadata does not belong to this network; re-export it"
        )
    if expected_size is not None and tuple(expected_size) != (spec.width, spec.height):
        raise ModelLoadError(
            f"model file {path} has input 1x3x{spec.height}x{spec.width} but the config says "
            f"{expected_size[0]}x{expected_size[1]}: set the input size parameter to "
            f"{spec.width}x{spec.height} (or leave it unset) or re-export the model"
        )


def read_opsets(path: str | Path) -> dict[str, int]:
    """The opsets an ONNX file imports ({domain: version}, "ai.onnx" for the default domain), read
    from its protobuf without the `onnx` package (the nodes need only onnxruntime): ModelProto field
    8 is `repeated OperatorSetIdProto opset_import`, whose field 1 is the domain, 2 the version."""
    data = memoryview(Path(path).read_bytes())
    opsets: dict[str, int] = {}
    for number, value in _protobuf_fields(data):
        if number == 8 and isinstance(value, memoryview):
            domain, version = "", 0
            for inner, item in _protobuf_fields(value):
                if inner == 1 and isinstance(item, memoryview):
                    domain = bytes(item).decode("utf-8")
                elif inner == 2 and isinstance(item, int):
                    version = item
            opsets[domain or "ai.onnx"] = version
    return opsets


def _protobuf_fields(data: memoryview) -> list[tuple[int, int | memoryview]]:
    """The top-level (field number, value) pairs of a protobuf message: varints as int, fixed-size
    and length-delimited fields as the bytes they span. Raises ValueError on a malformed message."""
    fields: list[tuple[int, int | memoryview]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 2, 5):
            if wire == 2:
                size, pos = _varint(data, pos)
            else:
                size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ValueError("truncated protobuf field")
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return result, pos


def write_metadata(path: str | Path, metadata: ModelMetadata) -> None:
    """Store `metadata` in an ONNX file (replacing what was there under the same key). Only the
    tools write models (`pose-reloc export`, `record-accuracy`): `onnx` is their dependency, not
    the nodes', so it is imported here."""
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    onnx.save(model, str(path))
