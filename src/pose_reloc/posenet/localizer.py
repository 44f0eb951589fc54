"""PoseNet inference (ROS-free): one image -> the camera pose in the map with a covariance from
MC-dropout samples (Bayesian PoseNet, Kendall & Cipolla, ICRA 2016), all samples in one ONNX run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform, pose_covariance_from_samples
from pose_reloc.mc_model import McSampleModel
from pose_reloc.onnx_session import DEFAULT_PROVIDERS
from pose_reloc.site_identity import recorded_site

POSITION_OUTPUT, ORIENTATION_OUTPUT = "position", "orientation"


@dataclass(frozen=True)
class PoseEstimate:
    T_map_cam: Transform  # optical frame
    covariance: NDArray[np.float64]  # 6x6, ROS order (x, y, z, rot X, rot Y, rot Z), map frame
    samples: int  # MC-dropout samples (PoseNet) or matches spread over (retrieval)
    inference_ms: float
    source: str = "posenet"

    @property
    def position_sigma_m(self) -> float:
        """RMS radius of the position uncertainty, sqrt(trace of the 3x3 block)."""
        return float(np.sqrt(np.trace(self.covariance[:3, :3])))

    @property
    def rotation_sigma_deg(self) -> float:
        return float(np.degrees(np.sqrt(np.trace(self.covariance[3:, 3:]))))


class PoseNetLocalizer(McSampleModel):
    """Loads a posenet ONNX model; `localize(rgb)` returns a PoseEstimate."""

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        samples: int = 0,
        threads: int = 2,
        floor_position_m: float = 0.05,
        floor_rotation_deg: float = 0.5,
    ):
        super().__init__(
            model_path,
            "posenet",
            {POSITION_OUTPUT: 3, ORIENTATION_OUTPUT: 4},
            providers,
            samples,
            threads,
        )
        self.floors = (floor_position_m, np.radians(floor_rotation_deg))
        self.site = recorded_site(self.extra)
        scale = self.extra.get("covariance_scale") or {}
        self.covariance_scale = covariance_scaling(
            float(scale.get("position", 1.0)), float(scale.get("rotation", 1.0))
        )

    def localize(self, rgb: NDArray[np.uint8]) -> PoseEstimate:
        out, elapsed_ms = self.run(rgb)
        positions, quats = out[POSITION_OUTPUT], out[ORIENTATION_OUTPUT]
        norms = np.linalg.norm(quats, axis=1)
        if not (
            np.all(np.isfinite(positions)) and np.all(np.isfinite(quats)) and np.all(norms > 1e-6)
        ):
            raise PoseRelocError(
                "the PoseNet model produced a NaN or zero quaternion for this image"
            )
        mean_p, mean_r, covariance = pose_covariance_from_samples(
            positions, Rotation.from_quat(quats / norms[:, None]), *self.floors
        )
        return PoseEstimate(
            Transform(mean_r, mean_p),
            covariance * self.covariance_scale,
            len(positions),
            elapsed_ms,
        )


def covariance_scaling(position: float, rotation: float) -> NDArray[np.float64]:
    """Element-wise factors scaling a 6x6 pose covariance's position and rotation blocks (and
    their cross terms by the geometric mean), as found by `calibrate_covariance`."""
    root = np.sqrt([position] * 3 + [rotation] * 3)
    return np.outer(root, root)


def calibrate_covariance(localizer: PoseNetLocalizer, frames: Sequence[Any]) -> dict[str, float]:
    """Scales making MC-dropout covariances honest: on held-out frames, 95.45 % of position and of
    rotation errors should fall inside the scaled 2-sigma ellipsoid (Mahalanobis, 3 DoF each).
    MC dropout alone is known to be over-confident; this fixes its scale, not its shape."""
    from pose_reloc.evaluation.metrics import TWO_SIGMA_CHI2

    localizer.covariance_scale = np.ones((6, 6))
    d2_position, d2_rotation = [], []
    for frame in frames:
        estimate = localizer.localize(frame.image())
        e_p = estimate.T_map_cam.translation - frame.T_wc.translation
        e_r = (frame.T_wc.rotation * estimate.T_map_cam.rotation.inv()).as_rotvec()
        d2_position.append(float(e_p @ np.linalg.solve(estimate.covariance[:3, :3], e_p)))
        d2_rotation.append(float(e_r @ np.linalg.solve(estimate.covariance[3:, 3:], e_r)))
    chi2 = TWO_SIGMA_CHI2[3]
    scales = {
        "position": float(np.quantile(d2_position, 0.9545) / chi2),
        "rotation": float(np.quantile(d2_rotation, 0.9545) / chi2),
        "frames": float(len(d2_position)),
    }
    localizer.covariance_scale = covariance_scaling(scales["position"], scales["rotation"])
    return scales
