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
FLOOR_POSITION_M, FLOOR_ROTATION_DEG = 1.0, 2.0  # what calibration adds (calibrate_covariance)


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
    ):
        super().__init__(
            model_path,
            "posenet",
            {POSITION_OUTPUT: 3, ORIENTATION_OUTPUT: 4},
            providers,
            samples,
            threads,
        )
        self.site = recorded_site(self.extra)
        scale = self.extra.get("covariance_scale") or {}
        self.covariance_scale = covariance_scaling(
            float(scale.get("position", 1.0)), float(scale.get("rotation", 1.0))
        )
        self.floor = covariance_floor(  # models calibrated before the floor was stored: 5 cm, 0.5°
            float(scale.get("floor_position_m", 0.05)), float(scale.get("floor_rotation_deg", 0.5))
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
        mean_p, mean_r, spread = pose_covariance_from_samples(
            positions, Rotation.from_quat(quats / norms[:, None])
        )
        return PoseEstimate(
            Transform(mean_r, mean_p),
            spread * self.covariance_scale + self.floor,
            len(positions),
            elapsed_ms,
        )


def covariance_scaling(position: float, rotation: float) -> NDArray[np.float64]:
    """Element-wise factors scaling a 6x6 pose covariance's position and rotation blocks (and
    their cross terms by the geometric mean), as found by `calibrate_covariance`."""
    root = np.sqrt([position] * 3 + [rotation] * 3)
    return np.outer(root, root)


def covariance_floor(position_m: float, rotation_deg: float) -> NDArray[np.float64]:
    """The 6x6 diagonal added to a prior's covariance: standard deviations it never goes below."""
    return np.diag([position_m**2] * 3 + [np.radians(rotation_deg) ** 2] * 3)


def coverage_scale(
    errors: Sequence[NDArray[np.float64]],
    spreads: Sequence[NDArray[np.float64]],
    floor: NDArray[np.float64],
) -> float:
    """The smallest scale in [1, 1e4] of the spreads such that, with the floor added, 95.45 % of
    the errors fall inside the 2-sigma ellipsoid (Mahalanobis, 3 DoF): never below 1, since a
    spread is itself in metres and radians and a held-out drive easier than the days to come must
    not shrink it."""
    from pose_reloc.evaluation.metrics import TWO_SIGMA_CHI2

    def quantile(scale: float) -> float:
        d2 = [
            float(e @ np.linalg.solve(scale * s + floor, e))
            for e, s in zip(errors, spreads, strict=True)
        ]
        return float(np.quantile(d2, 0.9545))

    low, high = 0.0, 4.0  # log10 of the scale; the quantile falls as the scale grows
    if quantile(10**low) <= TWO_SIGMA_CHI2[3]:
        return 10**low
    if quantile(10**high) > TWO_SIGMA_CHI2[3]:
        return 10**high
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if quantile(10**middle) <= TWO_SIGMA_CHI2[3] else (middle, high)
    return float(10**high)


def pose_coverage_scales(
    errors: Sequence[NDArray[np.float64]],
    spreads: Sequence[NDArray[np.float64]],
    floor: NDArray[np.float64],
) -> dict[str, float]:
    """`coverage_scale` of the position and of the rotation block of 6-DoF errors (x, y, z, rot X,
    rot Y, rot Z) against their 6x6 spreads and floor."""
    return {
        name: coverage_scale(
            [e[block] for e in errors], [s[block, block] for s in spreads], floor[block, block]
        )
        for name, block in (("position", slice(0, 3)), ("rotation", slice(3, 6)))
    }


def calibrate_covariance(
    localizer: PoseNetLocalizer,
    frames: Sequence[Any],
    floor_position_m: float = FLOOR_POSITION_M,
    floor_rotation_deg: float = FLOOR_ROTATION_DEG,
) -> dict[str, float]:
    """Make MC-dropout covariances honest on held-out frames: the sample spread scaled (at least
    1: MC dropout is known to be over-confident) and a floor added, so that 95.45 % of position
    and of rotation errors fall inside the 2-sigma ellipsoid. The floor is for what one held-out
    drive cannot show: a robot on another day keeps to other lanes and carries its camera at
    another height, where the network errs by about a metre with its samples agreeing (the
    retrieval prior has the same floor). Set on the localizer; returned for the metadata."""
    localizer.covariance_scale = np.ones((6, 6))
    localizer.floor = np.zeros((6, 6))  # the samples' spread alone while measuring
    errors, spreads = [], []
    for frame in frames:
        estimate = localizer.localize(frame.image())
        e_p = estimate.T_map_cam.translation - frame.T_wc.translation
        e_r = (frame.T_wc.rotation * estimate.T_map_cam.rotation.inv()).as_rotvec()
        errors.append(np.hstack([e_p, e_r]))
        spreads.append(estimate.covariance)
    localizer.floor = covariance_floor(floor_position_m, floor_rotation_deg)
    scales = pose_coverage_scales(errors, spreads, localizer.floor)
    localizer.covariance_scale = covariance_scaling(scales["position"], scales["rotation"])
    return {
        **scales,
        "floor_position_m": floor_position_m,
        "floor_rotation_deg": floor_rotation_deg,
        "frames": float(len(errors)),
    }
