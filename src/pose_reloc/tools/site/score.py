"""How the site's poses compare with ground truth, when the bag happens to have it (synthetic
bags do): the keyframe camera centres after a rigid (SE(3)) and a similarity (Sim(3)) alignment,
the scale error, and the registered frames' errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform, rotation_error_deg
from vo_fusion.evaluation.vo import umeyama_alignment


def score_poses(
    estimated: Sequence[Transform], truth: Sequence[Transform | None], prefix: str
) -> dict[str, Any]:
    """ATE (RMSE of camera centres, m) after SE(3) and Sim(3) alignment, the scale error (%) and
    the median rotation error after the rotation that best aligns the orientations (deg; the
    centres' fit leaves the roll about a straight drive undetermined)."""
    pairs = [(e, t) for e, t in zip(estimated, truth, strict=True) if t is not None]
    if len(pairs) < 3:
        return {}
    est = np.array([e.translation for e, _ in pairs])
    true = np.array([t.translation for _, t in pairs])
    rigid = umeyama_alignment(est, true, with_scale=False)
    similar = umeyama_alignment(est, true)
    rigid_errors = np.linalg.norm(rigid.apply(est) - true, axis=1)
    similar_errors = np.linalg.norm(similar.apply(est) - true, axis=1)
    turn = PoseSimilarity.fit([e for e, _ in pairs], [t for _, t in pairs]).rotation
    rotation = [
        rotation_error_deg(Transform(turn * e.rotation, e.translation), t) for e, t in pairs
    ]
    return {
        f"{prefix}_ate_rmse_m": float(np.sqrt(np.mean(rigid_errors**2))),
        f"{prefix}_ate_max_m": float(rigid_errors.max()),
        f"{prefix}_ate_sim3_rmse_m": float(np.sqrt(np.mean(similar_errors**2))),
        f"{prefix}_scale_error_percent": float(100.0 * (1.0 / similar.scale - 1.0)),
        f"{prefix}_rotation_median_deg": float(np.median(rotation)),
    }


@dataclass(frozen=True)
class PoseSimilarity:
    """x -> scale * rotation(x) + translation, taking estimated poses into the truth's frame: the
    similarity that best fits the camera centres and, through points an arm's length along each
    camera axis, the orientations (the centres alone leave the roll about a straight drive free;
    over a long drive they still set the rotation, which orientations could only tilt)."""

    scale: float
    rotation: Rotation
    translation: np.ndarray

    @classmethod
    def fit(
        cls, estimated: Sequence[Transform], truth: Sequence[Transform], arm_m: float = 1.0
    ) -> PoseSimilarity:
        if len(estimated) != len(truth) or len(estimated) < 2:
            raise ValueError(f"{len(estimated)} and {len(truth)} poses: need two pairs or more")
        est = np.array([e.translation for e in estimated])
        true = np.array([t.translation for t in truth])
        first = umeyama_alignment(est, true) if np.ptp(est, axis=0).max() > 1e-9 else None
        arm_est = arm_m / first.scale if first is not None else arm_m
        fit = umeyama_alignment(_with_axes(estimated, arm_est), _with_axes(truth, arm_m))
        return cls(fit.scale, Rotation.from_matrix(fit.rotation), fit.translation)

    def apply(self, T: Transform) -> Transform:
        moved = self.scale * self.rotation.apply(T.translation) + self.translation
        return Transform(self.rotation * T.rotation, moved)

    def undo(self, T: Transform) -> Transform:
        back = self.rotation.inv()
        return Transform(
            back * T.rotation, back.apply(T.translation - self.translation) / self.scale
        )


def _with_axes(poses: Sequence[Transform], arm: float) -> np.ndarray:
    """Each camera centre and the three points `arm` along its axes."""
    centres = np.array([T.translation for T in poses])
    axes = np.stack([T.rotation.as_matrix() for T in poses])  # columns: the camera's axes
    tips = centres[:, None, :] + arm * np.transpose(axes, (0, 2, 1))
    return np.concatenate([centres, tips.reshape(-1, 3)])
