"""How the site's poses compare with ground truth, when the bag happens to have it (synthetic
bags do): the keyframe camera centres after a rigid (SE(3)) and a similarity (Sim(3)) alignment,
the scale error, and the registered frames' errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pose_reloc.geometry import Transform, rotation_error_deg
from vo_fusion.evaluation.vo import umeyama_alignment


def score_poses(
    estimated: Sequence[Transform], truth: Sequence[Transform | None], prefix: str
) -> dict[str, Any]:
    """ATE (RMSE of camera centres, m) after SE(3) and Sim(3) alignment, the scale error (%) and
    the median rotation error after the SE(3) alignment (deg)."""
    pairs = [(e, t) for e, t in zip(estimated, truth, strict=True) if t is not None]
    if len(pairs) < 3:
        return {}
    est = np.array([e.translation for e, _ in pairs])
    true = np.array([t.translation for _, t in pairs])
    rigid = umeyama_alignment(est, true, with_scale=False)
    similar = umeyama_alignment(est, true)
    rigid_errors = np.linalg.norm(rigid.apply(est) - true, axis=1)
    similar_errors = np.linalg.norm(similar.apply(est) - true, axis=1)
    R = Transform.from_matrix(np.c_[rigid.rotation, np.zeros(3)])
    rotation = [rotation_error_deg(R @ e, t) for e, t in pairs]
    return {
        f"{prefix}_ate_rmse_m": float(np.sqrt(np.mean(rigid_errors**2))),
        f"{prefix}_ate_max_m": float(rigid_errors.max()),
        f"{prefix}_ate_sim3_rmse_m": float(np.sqrt(np.mean(similar_errors**2))),
        f"{prefix}_scale_error_percent": float(100.0 * (1.0 / similar.scale - 1.0)),
        f"{prefix}_rotation_median_deg": float(np.median(rotation)),
    }
