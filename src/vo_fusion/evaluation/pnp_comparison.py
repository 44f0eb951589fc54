"""Our PnP side by side with pycolmap's absolute-pose estimator on the same matches.

For each frame: a prior off the ground truth by `prior_offset_m` in a random direction and
`prior_offset_deg` about a random axis (seeded), with a covariance that says so →
`find_correspondences` once (what `refine_pose` would hand to PnP) → on those same ideal pixels and
map points, (a) `refine.solve_pnp` (OpenCV USAC MAGSAC++, then Levenberg-Marquardt twice) and
(b) pycolmap's `estimate_and_refine_absolute_pose` (LO-RANSAC over P3P, then Ceres refinement),
both with the pixel threshold, confidence and iteration cap of `RefineConfig`, run one after the
other on each frame (background load falls on both alike) → errors against the ground truth, and
the time of the solve alone (matching is shared and timed apart).

pycolmap is not a dependency: without it, its section is {"skipped": "<how to install it>"}."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.evaluation.metrics import fraction_within, median
from pose_reloc.geometry import Transform, rotation_error_deg, translation_error_m
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap
from vo_fusion.pnp import solve_pnp
from vo_fusion.refine import RefineConfig, find_correspondences

PYCOLMAP_MISSING = "pycolmap is not installed: pip install pycolmap"
METHODS = {
    "opencv": "OpenCV solvePnPRansac USAC_MAGSAC + solvePnPRefineLM x2 (refine.solve_pnp)",
    "pycolmap": "pycolmap.estimate_and_refine_absolute_pose (LO-RANSAC P3P + Ceres refinement)",
}


@dataclass(frozen=True)
class PnpProblem:
    """One frame's PnP: matches (ideal pixels of a pinhole with `camera.K`, map points) and the
    ground-truth camera pose."""

    image_points: NDArray[np.float64]  # (N, 2)
    object_points: NDArray[np.float64]  # (N, 3)
    camera: PinholeCamera
    T_wc_truth: Transform


@dataclass(frozen=True)
class PnpOutcome:
    """What one solver made of one problem: the pose (None: it found none), its inlier count and
    the time of the solve."""

    T_wc: Transform | None
    inliers: int
    solve_ms: float


def compare_pnp(
    feature_map: FeatureMap,
    frames: Iterable[Frame],
    prior_offset_m: float = 2.5,
    prior_offset_deg: float = 6.0,
    seed: int = 0,
    log: Callable[[str], None] = print,
    config: RefineConfig | None = None,
) -> dict[str, Any]:
    """Figures of both solvers on the frames' matches to the map: "frames", "matches_median",
    "pnp_frames" (frames with at least `config.min_matches` matches, the ones solved) and a
    section per method (see `summarize`)."""
    config = config or RefineConfig()
    problems, matches, matching_ms = pnp_problems(
        feature_map, frames, prior_offset_m, prior_offset_deg, seed, config
    )
    figures: dict[str, Any] = {
        "frames": len(matches),
        "matches_median": median(matches),
        "pnp_frames": len(problems),
        "correspondences_median_ms": median(matching_ms),
        "prior_offset_m": prior_offset_m,
        "prior_offset_deg": prior_offset_deg,
        "threshold_px": config.ransac_threshold_px,
    }
    figures.update(compare_solvers(problems, config, seed))
    for line in comparison_lines(figures):
        log(line)
    return figures


def pnp_problems(
    feature_map: FeatureMap,
    frames: Iterable[Frame],
    prior_offset_m: float,
    prior_offset_deg: float,
    seed: int,
    config: RefineConfig,
) -> tuple[list[PnpProblem], list[int], list[float]]:
    """(the problems of the frames with enough matches, every frame's match count, every frame's
    time to find its correspondences in ms)."""
    rng = np.random.default_rng(seed)
    covariance = prior_covariance(prior_offset_m, prior_offset_deg)
    problems, matches, matching_ms = [], [], []
    for frame in frames:
        prior = offset_pose(frame.T_wc, prior_offset_m, prior_offset_deg, rng)
        started = time.perf_counter()
        matched = find_correspondences(
            frame.image(), frame.camera, prior, covariance, feature_map, config
        )
        matching_ms.append((time.perf_counter() - started) * 1e3)
        matches.append(len(matched))
        if not matched.problem:
            problems.append(
                PnpProblem(matched.image_points, matched.object_points, frame.camera, frame.T_wc)
            )
    return problems, matches, matching_ms


def offset_pose(
    T_wc: Transform, distance_m: float, angle_deg: float, rng: np.random.Generator
) -> Transform:
    """T_wc moved exactly `distance_m` in a random direction and turned exactly `angle_deg` about
    a random axis of the map frame."""
    direction, axis = _unit_vector(rng), _unit_vector(rng)
    turn = Rotation.from_rotvec(axis * np.radians(angle_deg))
    return Transform(turn * T_wc.rotation, T_wc.translation + distance_m * direction)


def prior_covariance(offset_m: float, offset_deg: float) -> NDArray[np.float64]:
    """The 6x6 ROS covariance of a prior that is `offset_m` / `offset_deg` off: that much sigma
    on every axis."""
    if not (offset_m >= 0 and offset_deg >= 0):
        raise VoFusionError(f"prior offsets must be >= 0, got {offset_m} m and {offset_deg} deg")
    return np.diag([offset_m**2] * 3 + [np.radians(offset_deg) ** 2] * 3)


def compare_solvers(
    problems: Sequence[PnpProblem], config: RefineConfig, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """A section per method of `summarize`'s figures; pycolmap's says why when it cannot run."""
    pycolmap, unavailable = _pycolmap()
    outcomes: dict[str, list[PnpOutcome]] = {name: [] for name in METHODS}
    for problem in problems:
        outcomes["opencv"].append(solve_opencv(problem, config))
        if pycolmap is not None:
            outcomes["pycolmap"].append(solve_pycolmap(pycolmap, problem, config, seed))
    truths = [problem.T_wc_truth for problem in problems]
    sections = {"opencv": summarize(outcomes["opencv"], truths, METHODS["opencv"])}
    if pycolmap is None:
        sections["pycolmap"] = {"skipped": unavailable}
    else:
        sections["pycolmap"] = summarize(outcomes["pycolmap"], truths, METHODS["pycolmap"])
    return sections


def solve_opencv(problem: PnpProblem, config: RefineConfig) -> PnpOutcome:
    """`refine.solve_pnp` as `refine_pose` runs it, timed."""
    started = time.perf_counter()
    solution, _ = solve_pnp(
        problem.object_points,
        problem.image_points,
        problem.camera.K,
        config.ransac_threshold_px,
        config.ransac_confidence,
        config.ransac_max_iterations,
    )
    elapsed_ms = (time.perf_counter() - started) * 1e3
    if solution is None:
        return PnpOutcome(None, 0, elapsed_ms)
    return PnpOutcome(solution.T_wc, len(solution.inliers), elapsed_ms)


def solve_pycolmap(
    pycolmap: Any, problem: PnpProblem, config: RefineConfig, seed: int = 0
) -> PnpOutcome:
    """pycolmap's robust absolute pose + refinement with the same threshold (pixels), confidence
    and iteration cap, one thread; only the estimator call is timed."""
    K = problem.camera.K
    camera = pycolmap.Camera(
        model="PINHOLE",
        width=problem.camera.width,
        height=problem.camera.height,
        params=[K[0, 0], K[1, 1], K[0, 2], K[1, 2]],
    )
    options = pycolmap.AbsolutePoseEstimationOptions()
    options.ransac.max_error = config.ransac_threshold_px
    options.ransac.confidence = config.ransac_confidence
    options.ransac.max_num_trials = config.ransac_max_iterations
    options.ransac.random_seed = seed
    options.ransac.num_threads = 1
    image_points = np.ascontiguousarray(problem.image_points, dtype=np.float64)
    object_points = np.ascontiguousarray(problem.object_points, dtype=np.float64)
    started = time.perf_counter()
    result = pycolmap.estimate_and_refine_absolute_pose(
        image_points, object_points, camera, options
    )
    elapsed_ms = (time.perf_counter() - started) * 1e3
    if result is None:
        return PnpOutcome(None, 0, elapsed_ms)
    cam_from_world = np.asarray(result["cam_from_world"].matrix(), dtype=np.float64)
    T_cw = Transform(Rotation.from_matrix(cam_from_world[:, :3]), cam_from_world[:, 3])
    return PnpOutcome(T_cw.inverse(), int(result["num_inliers"]), elapsed_ms)


def summarize(
    outcomes: Sequence[PnpOutcome], truths: Sequence[Transform], method: str
) -> dict[str, Any]:
    """One method's figures: success rate (a pose found), errors of the poses found (median and
    p90 translation, median rotation), the fraction of all problems solved within 25 cm / 2 deg,
    inliers, and the solve time of every attempt (median, p90)."""
    solved = [(o.T_wc, t) for o, t in zip(outcomes, truths, strict=True) if o.T_wc is not None]
    t_err = np.array([translation_error_m(estimate, truth) for estimate, truth in solved])
    r_err = np.array([rotation_error_deg(estimate, truth) for estimate, truth in solved])
    unsolved = np.full(len(outcomes) - len(solved), np.inf)
    times = np.array([o.solve_ms for o in outcomes])
    return {
        "method": method,
        "success_rate": len(solved) / len(outcomes) if outcomes else float("nan"),
        "median_translation_m": median(t_err),
        "p90_translation_m": _percentile(t_err, 90),
        "median_rotation_deg": median(r_err),
        "within_25cm_2deg": fraction_within(
            np.concatenate([t_err, unsolved]), np.concatenate([r_err, unsolved]), 0.25, 2.0
        ),
        "median_inliers": median([o.inliers for o in outcomes if o.T_wc is not None]),
        "median_ms": median(times),
        "p90_ms": _percentile(times, 90),
    }


def comparison_lines(figures: dict[str, Any]) -> list[str]:
    """compare_pnp's figures as a few lines of text."""
    lines = [
        f"{figures['frames']} frames, {figures['pnp_frames']} with enough matches for PnP "
        f"(median {figures['matches_median']:.0f} matches, found in "
        f"{figures['correspondences_median_ms']:.0f} ms); prior {figures['prior_offset_m']} m / "
        f"{figures['prior_offset_deg']} deg off; threshold {figures['threshold_px']} px"
    ]
    for name in METHODS:
        section = figures[name]
        if "skipped" in section:
            lines.append(f"{name}: skipped ({section['skipped']})")
            continue
        lines.append(
            f"{name}: {100 * section['success_rate']:.1f}% solved, translation median "
            f"{section['median_translation_m']:.3f} m (p90 {section['p90_translation_m']:.3f} m), "
            f"rotation median {section['median_rotation_deg']:.3f} deg, "
            f"{100 * section['within_25cm_2deg']:.1f}% within 25 cm / 2 deg, "
            f"{section['median_inliers']:.0f} inliers; solve {section['median_ms']:.2f} ms "
            f"median (p90 {section['p90_ms']:.2f} ms)"
        )
    return lines


def _pycolmap() -> tuple[Any | None, str]:
    """(the pycolmap module, '') or (None, why it cannot be used)."""
    try:
        module = importlib.import_module("pycolmap")
    except ImportError:
        return None, PYCOLMAP_MISSING
    if not hasattr(module, "estimate_and_refine_absolute_pose"):
        version = getattr(module, "__version__", "?")
        return None, (
            f"pycolmap {version} has no estimate_and_refine_absolute_pose: pip install -U pycolmap"
        )
    return module, ""


def _unit_vector(rng: np.random.Generator) -> NDArray[np.float64]:
    v = rng.normal(size=3)
    return np.asarray(v / np.linalg.norm(v), dtype=np.float64)


def _percentile(values: Sequence[float] | NDArray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")
