"""MC-dropout sampling of a pose_reloc ONNX model (ROS-free): what PoseNet and Sun-BCNN share.

`McSampleModel` loads a model of one task, checks that it has the outputs its caller reads (N x
width floats each, one row per sample), settles the sample count and runs all samples of one image
in one ONNX run. The count is the one asked for, else the model's own `mc_samples`, at least 1; and
1 when the model's dropout is not live, since identical samples would fake a zero spread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.errors import ModelLoadError, PoseRelocError
from pose_reloc.onnx_session import DEFAULT_PROVIDERS, OnnxModel, load_model


class McSampleModel:
    def __init__(
        self,
        model_path: str | Path,
        task: str,
        output_widths: Mapping[str, int],
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        samples: int = 0,
        threads: int = 2,
    ):
        """output_widths: {output name: floats per sample} the caller reads; samples: 0 for the
        model's default."""
        self.model: OnnxModel = load_model(model_path, providers, threads, expected_task=task)
        self.output_widths = dict(output_widths)
        _check_outputs(self.model, self.output_widths)
        self.dropout_live = bool(self.extra.get("dropout_live", False))
        asked = samples if samples > 0 else int(self.extra.get("mc_samples", 1))
        self.samples = max(1, asked) if self.dropout_live else 1

    @property
    def extra(self) -> Mapping[str, Any]:
        """What the model's metadata says beyond its input and outputs (calibration, ...)."""
        return self.model.metadata.extra

    @property
    def input_size(self) -> tuple[int, int]:
        spec = self.model.metadata.input
        return spec.width, spec.height

    def preprocess(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        return self.model.prepare(rgb)

    def run(self, rgb: NDArray[np.uint8]) -> tuple[dict[str, NDArray[np.float64]], float]:
        """Each output as a (samples, width) array for one RGB image, and the inference time in ms."""
        out, elapsed_ms = self.model.run_samples(self.model.prepare(rgb), self.samples)
        rows = {}
        for name, width in self.output_widths.items():
            values = np.asarray(out[name], dtype=np.float64)
            if values.size != width * self.samples:
                raise PoseRelocError(
                    f"model {self.model.path} returned {values.shape} of {name!r} for "
                    f"{self.samples} samples, expected ({self.samples}, {width})"
                )
            rows[name] = values.reshape(self.samples, width)
        return rows, elapsed_ms


def _check_outputs(model: OnnxModel, widths: Mapping[str, int]) -> None:
    outputs = {o.name: o.shape for o in model.session.get_outputs()}
    for name, width in widths.items():
        shape = outputs.get(name)
        if shape is None or len(shape) != 2 or shape[-1] != width:
            raise ModelLoadError(
                f"model file {model.path} must output {name!r} with {width} floats per sample "
                f"(shape N x {width}), has {outputs}: re-export it with `pose-reloc export`"
            )
