"""Two-view triangulation for the odometry: world points from matched ideal (undistorted) pixels
in two posed views, kept only where they are in front of both cameras, near enough, reproject well
and were seen under a wide enough angle. (`build_map` triangulates from n views on its own.)"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform


class TriangulationLimits(Protocol):
    """What a new point must meet (`OdometryConfig` has these)."""

    @property
    def max_depth_m(self) -> float: ...
    @property
    def max_triangulation_px(self) -> float: ...
    @property
    def min_triangulation_deg(self) -> float: ...


def unit_rays(ideal_pixels: NDArray[np.float64], K_inv: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit optical-frame rays through undistorted pixels."""
    rays = np.column_stack([ideal_pixels, np.ones(len(ideal_pixels))]) @ K_inv.T
    return np.asarray(rays / np.linalg.norm(rays, axis=1, keepdims=True))


def triangulate(
    camera: PinholeCamera,
    T_wa: Transform,
    pixels_a: NDArray[np.float64],
    T_wb: Transform,
    pixels_b: NDArray[np.float64],
    limits: TriangulationLimits,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """World points from matched ideal pixels in two posed views, and which of them to keep:
    in front of both cameras, closer than max_depth_m, seen under at least min_triangulation_deg,
    reprojecting within max_triangulation_px in both views."""
    if len(pixels_a) == 0:
        return np.zeros((0, 3)), np.zeros(0, dtype=bool)
    projections = []
    for T_wc in (T_wa, T_wb):
        T_cw = T_wc.inverse()
        projections.append(
            camera.K @ np.hstack([T_cw.rotation.as_matrix(), T_cw.translation[:, None]])
        )
    homogeneous = cv2.triangulatePoints(
        projections[0], projections[1], pixels_a.T.astype(np.float64), pixels_b.T.astype(np.float64)
    )
    w = homogeneous[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = (homogeneous[:3] / w).T
    good = np.isfinite(points).all(axis=1) & (np.abs(w) > 1e-12)
    for T_wc, pixels in ((T_wa, pixels_a), (T_wb, pixels_b)):
        in_camera = T_wc.inverse().apply(np.nan_to_num(points))
        depth = in_camera[:, 2]
        good &= (depth > 0.05) & (depth < limits.max_depth_m)
        with np.errstate(divide="ignore", invalid="ignore"):
            projected = in_camera[:, :2] / depth[:, None] @ camera.K[:2, :2].T + camera.K[:2, 2]
        good &= np.linalg.norm(projected - pixels, axis=1) < limits.max_triangulation_px
    rays_a = points - T_wa.translation
    rays_b = points - T_wb.translation
    cos = np.einsum("ij,ij->i", rays_a, rays_b) / (
        np.linalg.norm(rays_a, axis=1) * np.linalg.norm(rays_b, axis=1) + 1e-12
    )
    good &= np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) >= limits.min_triangulation_deg
    return np.nan_to_num(points), good
