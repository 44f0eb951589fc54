"""Build a FeatureMap offline from posed images (known poses: nothing is estimated but points).

Pipeline, each stage a function: detect features in every image → choose covisible image pairs
(close camera centres, similar viewing directions; k nearest neighbours, so O(N·k)) → match each
pair (ratio test, mutual check, then the epipolar constraint of the known relative pose) → merge
matches into tracks (union-find over (image, keypoint) observations, refusing merges that would
put two keypoints of one image into a track) → triangulate each track from all its views
(linear DLT in normalised image coordinates, which is
`cv2.triangulatePoints` with P = [R_cw | t_cw] generalised to n views and to distorted cameras) →
drop observations that reproject worse than the threshold, re-triangulate, and keep points that
reproject within the threshold in every observing view (after a Gauss-Newton refinement of the
point), lie in front of all of them, have enough views, a wide enough triangulation angle and a
small enough position uncertainty (from the point's Gauss-Newton normal matrix and an assumed
keypoint noise). A point's descriptor is its track's medoid (ORB, Hamming) or mean (SIFT). The
map keeps every observation (point, image, pixel) so it can be checked or re-optimised later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.feature_map import FeatureMap
from vo_fusion.features import (
    DESCRIPTOR_DTYPES,
    ImageFeatures,
    detect_features,
    make_detector,
    match_descriptors,
    representative_descriptors,
)
from vo_fusion.increment import sampson_distances
from vo_fusion.parallel import thread_map

LOOK_AHEAD_M = 8.0  # pairs are chosen by where cameras stand and what they look at this far ahead


@dataclass(frozen=True)
class View:
    """One posed image's features, with what triangulation needs precomputed."""

    camera: PinholeCamera
    T_cw: Transform
    centre: NDArray[np.float64]  # camera centre in the world
    axis: NDArray[np.float64]  # optical axis (z) in the world
    features: ImageFeatures
    normalized: NDArray[np.float64]  # (M, 2) undistorted normalised coordinates x/z, y/z
    source: str  # where the image came from

    @property
    def P(self) -> NDArray[np.float64]:
        """3x4 normalised projection matrix [R_cw | t_cw]."""
        return self.T_cw.as_matrix()[:3]


@dataclass(frozen=True)
class Tracks:
    """Observations (view, keypoint) grouped by track: `track` is sorted, one entry per view."""

    view: NDArray[np.int64]
    keypoint: NDArray[np.int64]
    track: NDArray[np.int64]


def per_observation(arrays: Sequence[NDArray], tracks: Tracks) -> NDArray:
    """Each observation's row of its view's array (`arrays[view]`, indexed by keypoint): one
    gather over all views, where a loop masking the observations view by view costs views x
    observations (minutes for a drive's thousands of keyframes)."""
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
    return np.concatenate(arrays)[offsets[tracks.view] + tracks.keypoint]


@dataclass(frozen=True)
class Points:
    """Triangulated tracks: one world point and its 3x3 covariance (m²) per track."""

    world: NDArray[np.float64]
    covariance: NDArray[np.float64]
    tracks: Tracks

    @property
    def std_m(self) -> NDArray[np.float64]:
        """Standard deviation along each point's least certain axis (inf where unknown)."""
        std = np.full(len(self.world), np.inf)
        finite = np.all(np.isfinite(self.covariance), axis=(1, 2))
        std[finite] = np.sqrt(np.maximum(np.linalg.eigvalsh(self.covariance[finite])[:, -1], 0))
        return std

    def select(self, keep_track: NDArray[np.bool_]) -> Points:
        tracks = _renumber(self.tracks, keep_track[self.tracks.track])
        return Points(self.world[keep_track], self.covariance[keep_track], tracks)


def build_map(
    frames: Iterable[Frame],
    descriptor: str = "orb",
    max_features: int = 2000,
    min_track: int = 2,
    max_reprojection_px: float = 2.0,
    min_triangulation_deg: float = 2.0,
    *,
    neighbours: int = 8,
    max_pair_distance_m: float = 20.0,
    max_pair_angle_deg: float = 60.0,
    ratio: float = 0.8,
    max_point_std_m: float = 2.0,
    keypoint_sigma_px: float = 1.0,
    frame_id: str = "map",
    matched: Mapping[tuple[int, int], NDArray[np.integer]] | None = None,
    log: Callable[[str], None] = print,
) -> FeatureMap:
    """A feature map from posed images (`Frame.T_wc` trusted as exact). Pairs: each image's
    `neighbours` nearest cameras within `max_pair_distance_m` and `max_pair_angle_deg`; points
    kept when seen in `min_track` images, reprojecting within `max_reprojection_px` in each, with
    a triangulation angle of `min_triangulation_deg` and a position std (keypoints assumed
    `keypoint_sigma_px` accurate) of at most `max_point_std_m`. `matched`: descriptor matches
    (`match_descriptors` with this `ratio`) already made between frames (i, j), i < j, with
    this descriptor and `max_features` (map-site's keyframe pairs), used instead of matching
    those pairs again."""
    if min_track < 2:
        raise VoFusionError(f"min_track is {min_track}: a point needs at least 2 views")
    started = time.perf_counter()
    views = detect_views(frames, descriptor, max_features)
    if len(views) < 2:
        raise VoFusionError(f"a map needs at least 2 posed images, got {len(views)}")
    features = sum(len(v.features) for v in views)
    log(f"detected {features} {descriptor} features in {len(views)} images")
    pairs = covisible_pairs(
        np.array([v.centre for v in views]),
        np.array([v.axis for v in views]),
        neighbours,
        max_pair_distance_m,
        max_pair_angle_deg,
    )
    edges = _match_pairs(views, pairs, descriptor, ratio, max_reprojection_px, matched or {})
    log(f"matched {len(pairs)} covisible pairs: {sum(len(e) for e in edges)} verified matches")
    tracks = merge_tracks(views, edges, min_track)
    survivors = {f"tracks seen in {min_track}+ images": len(np.unique(tracks.track))}
    _require_points(survivors, descriptor)
    points = triangulate_and_filter(
        views, tracks, max_reprojection_px, min_track, keypoint_sigma_px
    )
    survivors[f"within {max_reprojection_px} px in every view"] = len(points.world)
    _require_points(survivors, descriptor)
    points = well_placed(views, points, min_triangulation_deg, max_point_std_m)
    survivors[f"seen under {min_triangulation_deg} deg+, std <= {max_point_std_m} m"] = len(
        points.world
    )
    _require_points(survivors, descriptor)
    feature_map = assemble_map(views, points, descriptor, frame_id)
    elapsed = time.perf_counter() - started
    log(f"kept {len(feature_map)} map points from {len(views)} images in {elapsed:.1f} s")
    feature_map.metadata.update(
        images=[v.source for v in views],
        pairs=len(pairs),
        descriptor=descriptor,
        max_features=max_features,
        min_track=min_track,
        max_reprojection_px=max_reprojection_px,
        min_triangulation_deg=min_triangulation_deg,
        max_point_std_m=max_point_std_m,
        keypoint_sigma_px=keypoint_sigma_px,
        build_seconds=round(elapsed, 3),
        built_unix=time.time(),
    )
    return feature_map


def _require_points(survivors: dict[str, int], descriptor: str) -> None:
    """Stop with what every stage kept when the last one kept nothing: an empty map would load,
    and then match nothing."""
    if list(survivors.values())[-1] > 0:
        return
    stages = ", ".join(f"{count} {stage}" for stage, count in survivors.items())
    raise VoFusionError(
        f"no map point survived ({stages}): the images need more overlap and baseline (poses "
        "metres apart, looking at the same scene), more features (max_features), or "
        + (
            "SIFT, which finds more on foliage and low texture"
            if descriptor == "orb"
            else "a lower min_triangulation_deg"
        )
    )


def detect_views(
    frames: Iterable[Frame], descriptor: str, max_features: int, level_offset: bool = False
) -> list[View]:
    """Each posed frame's features (`level_offset`: see `detect_features`)."""
    make_detector(descriptor, max_features)  # an unknown descriptor named before any image
    dtype = DESCRIPTOR_DTYPES[descriptor]

    def view(frame: Frame) -> View:
        detector = make_detector(descriptor, max_features)  # one per image: threads share none
        features = detect_features(frame.image(), detector, dtype, level_offset)
        rays = frame.camera.unproject(features.pixels) if len(features) else np.zeros((0, 3))
        return View(
            camera=frame.camera,
            T_cw=frame.T_wc.inverse(),
            centre=frame.T_wc.translation,
            axis=frame.T_wc.rotation.apply([0.0, 0.0, 1.0]),
            features=features,
            normalized=rays[:, :2] / rays[:, 2:3],
            source=frame.source,
        )

    return thread_map(view, frames)


def covisible_pairs(
    centres: NDArray[np.float64],
    axes: NDArray[np.float64],
    neighbours: int,
    max_distance_m: float,
    max_angle_deg: float,
) -> list[tuple[int, int]]:
    """Pairs (i < j) of cameras likely to see the same things: each camera's `neighbours` nearest
    by (centre, point looked at), kept when centres are within `max_distance_m` and optical axes
    within `max_angle_deg`. A k-d tree keeps it O(N log N) for N cameras."""
    n = len(centres)
    if n < 2:
        return []
    key = np.hstack([centres, centres + LOOK_AHEAD_M * axes])
    _, nearest = cKDTree(key).query(key, k=min(neighbours + 1, n))
    min_cosine = np.cos(np.radians(max_angle_deg))
    pairs = set()
    for i, row in enumerate(np.atleast_2d(nearest)):
        for j in row:
            if j == i or j >= n:
                continue
            baseline = float(np.linalg.norm(centres[i] - centres[j]))
            if 1e-3 < baseline <= max_distance_m and float(axes[i] @ axes[j]) >= min_cosine:
                pairs.add((min(i, int(j)), max(i, int(j))))
    return sorted(pairs)


def _match_pairs(
    views: list[View],
    pairs: list[tuple[int, int]],
    descriptor: str,
    ratio: float,
    max_reprojection_px: float,
    matched: Mapping[tuple[int, int], NDArray[np.integer]],
) -> list[NDArray[np.int64]]:
    """The verified matches of each pair (`_verified`), from the descriptor matches `matched`
    holds for it or else made here; the epipolar tolerance in normalised coordinates twice the
    reprojection threshold."""
    tolerance = 2.0 * max_reprojection_px / float(np.mean([v.camera.fx for v in views]))

    def match(ij: tuple[int, int]) -> NDArray[np.int64]:
        a, b = views[ij[0]], views[ij[1]]
        known = matched.get(ij)
        if known is None:
            pairs = match_descriptors(
                a.features.descriptors, b.features.descriptors, descriptor, ratio
            )
        else:
            pairs = np.asarray(known, dtype=np.int64).reshape(-1, 2)
            if len(pairs) and (
                pairs.min() < 0
                or pairs[:, 0].max() >= len(a.features)
                or pairs[:, 1].max() >= len(b.features)
            ):
                raise VoFusionError(
                    f"the matches given for images {ij} index features they do not have "
                    f"({len(a.features)} and {len(b.features)}): made with other features?"
                )
        return _verified(a, b, *ij, pairs, tolerance)

    return thread_map(match, pairs)


def _verified(
    a: View, b: View, ia: int, ib: int, pairs: NDArray[np.int64], tolerance: float
) -> NDArray[np.int64]:
    """(K, 4) rows (view a, keypoint in a, view b, keypoint in b) of the descriptor matches
    `pairs` that agree with the known relative pose (Sampson distance in normalised coordinates
    below `tolerance`)."""
    if len(pairs) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    T_ba = b.T_cw @ a.T_cw.inverse()
    xa = np.hstack([a.normalized[pairs[:, 0]], np.ones((len(pairs), 1))])
    xb = np.hstack([b.normalized[pairs[:, 1]], np.ones((len(pairs), 1))])
    sampson = sampson_distances(T_ba.rotation.as_matrix(), T_ba.translation, xa, xb)
    good = pairs[np.abs(sampson) < tolerance]
    return np.column_stack(
        [np.full(len(good), ia), good[:, 0], np.full(len(good), ib), good[:, 1]]
    ).astype(np.int64)


def merge_tracks(views: list[View], edges: list[NDArray[np.int64]], min_track: int) -> Tracks:
    """Tracks: the connected components of the matches over (view, keypoint) nodes, those seen
    in at least `min_track` views kept. A component holding two keypoints of one view (a chain of
    slightly wrong matches) is split by `_TrackUnion` instead, its matches joined in order."""
    offsets = np.concatenate([[0], np.cumsum([len(v.features) for v in views])]).astype(np.int64)
    matches = np.vstack([*edges, np.zeros((0, 4), dtype=np.int64)])
    ends = np.concatenate(
        [offsets[matches[:, 0]] + matches[:, 1], offsets[matches[:, 2]] + matches[:, 3]]
    )
    nodes, inverse = np.unique(ends, return_inverse=True)
    a, b = inverse[: len(matches)], inverse[len(matches) :]
    view = np.searchsorted(offsets, nodes, side="right") - 1
    keypoint = nodes - offsets[view]
    n_components, component = connected_components(
        coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes))), directed=False
    )
    component_view = np.unique(component * len(views) + view, return_counts=True)
    twice = component_view[0][component_view[1] > 1] // len(views)
    conflicted = np.isin(component, twice)
    label = component.astype(np.int64)
    inside = conflicted[a]  # both ends of a match are in one component
    union = _TrackUnion(
        dict(zip(np.flatnonzero(conflicted).tolist(), view[conflicted].tolist(), strict=True))
    )
    for u, v in zip(a[inside].tolist(), b[inside].tolist(), strict=True):
        union.join(u, v)
    chained = np.flatnonzero(conflicted)
    label[chained] = n_components + np.array([union.find(int(n)) for n in chained], dtype=np.int64)
    order = np.lexsort((view, label))
    _, track = np.unique(label[order], return_inverse=True)
    tracks = Tracks(view[order], keypoint[order], track.astype(np.int64))
    if len(tracks.track) == 0:
        return tracks
    return _renumber(tracks, np.bincount(tracks.track)[tracks.track] >= min_track)


class _TrackUnion:
    """Union-find over observation nodes (a keypoint of a view, numbered across views). Two
    tracks are not joined when they both hold a keypoint of the same view: a chain of slightly
    wrong matches must not glue different points into one track."""

    def __init__(self, view_of: dict[int, int]):
        self.view_of = view_of
        self.parent: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}  # root -> views in its track

    def find(self, node: int) -> int:
        parent = self.parent
        parent.setdefault(node, node)
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    def join(self, u: int, v: int) -> None:
        ru, rv = self.find(u), self.find(v)
        if ru == rv:
            return
        views_u = self.members.get(ru) or {self.view_of[u]}
        views_v = self.members.get(rv) or {self.view_of[v]}
        if views_u & views_v:
            return
        if len(views_u) < len(views_v):
            ru, rv, views_u, views_v = rv, ru, views_v, views_u
        self.parent[rv] = ru
        views_u |= views_v
        self.members[ru] = views_u
        self.members.pop(rv, None)


def _renumber(tracks: Tracks, keep_observation: NDArray[np.bool_]) -> Tracks:
    """The observations kept, with track ids renumbered 0..T-1 in the same order."""
    track = tracks.track[keep_observation]
    _, dense = np.unique(track, return_inverse=True)
    return Tracks(
        tracks.view[keep_observation], tracks.keypoint[keep_observation], dense.astype(np.int64)
    )


def _by_length(tracks: Tracks) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """(track ids (T,), observation indices (T, L)) for each track length L, so that per-track
    work runs as batched numpy."""
    starts = np.flatnonzero(np.r_[True, tracks.track[1:] != tracks.track[:-1]])
    lengths = np.diff(np.r_[starts, len(tracks.track)])
    for length in np.unique(lengths):
        chosen = np.flatnonzero(lengths == length)
        yield chosen.astype(np.int64), starts[chosen][:, None] + np.arange(length)[None, :]


def _triangulate(views: list[View], tracks: Tracks) -> NDArray[np.float64]:
    """(T, 3) world points, linear multi-view DLT per track (NaN where the solution is at
    infinity)."""
    n_tracks = int(tracks.track.max()) + 1 if len(tracks.track) else 0
    points = np.full((n_tracks, 3), np.nan)
    P = np.stack([v.P for v in views])
    xy = per_observation([v.normalized for v in views], tracks)
    for ids, obs in _by_length(tracks):
        P_obs, x_obs = P[tracks.view[obs]], xy[obs]
        rows_u = x_obs[..., 0:1] * P_obs[..., 2, :] - P_obs[..., 0, :]
        rows_v = x_obs[..., 1:2] * P_obs[..., 2, :] - P_obs[..., 1, :]
        A = np.concatenate([rows_u, rows_v], axis=1)
        homogeneous = np.linalg.svd(A, full_matrices=False)[2][:, -1, :]
        w = homogeneous[:, 3:4]
        with np.errstate(divide="ignore", invalid="ignore"):
            solved = homogeneous[:, :3] / w
        solved[np.abs(w[:, 0]) < 1e-12] = np.nan
        points[ids] = solved
    return points


def _refine_points(
    views: list[View], tracks: Tracks, points: NDArray[np.float64], iterations: int = 3
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Newton on each point's reprojection error in normalised coordinates (the DLT
    minimises an algebraic error, which weights far views differently), all tracks at once.
    Also returns each point's 3x3 position covariance per unit of normalised-coordinate noise
    variance: multiply by (σ_px / f)² for m² (NaN where the point is not determined)."""
    R, t = _observing_poses(views, tracks)
    observed = per_observation([v.normalized for v in views], tracks)
    refined = points.copy()
    covariance = np.full((len(points), 3, 3), np.nan)
    for _ in range(iterations + 1):
        p = np.einsum("kij,kj->ki", R, refined[tracks.track]) + t
        z = np.where(p[:, 2] > 1e-6, p[:, 2], np.nan)
        residual = p[:, :2] / z[:, None] - observed
        d_proj = np.zeros((len(p), 2, 3))
        d_proj[:, 0, 0] = d_proj[:, 1, 1] = 1.0 / z
        d_proj[:, :, 2] = -p[:, :2] / (z * z)[:, None]
        J = d_proj @ R
        normal = np.zeros((len(refined), 3, 3))
        gradient = np.zeros((len(refined), 3))
        np.add.at(normal, tracks.track, np.einsum("kai,kaj->kij", J, J))
        np.add.at(gradient, tracks.track, np.einsum("kai,ka->ki", J, residual))
        solvable = np.all(np.isfinite(normal), axis=(1, 2))
        solvable[solvable] &= np.linalg.eigvalsh(normal[solvable])[:, 0] > 1e-12
        covariance[:] = np.nan
        covariance[solvable] = np.linalg.inv(normal[solvable])
        step = np.zeros_like(refined)
        step[solvable] = (covariance[solvable] @ gradient[solvable][..., None])[..., 0]
        refined -= step
    return refined, covariance


def _observing_poses(
    views: list[View], tracks: Tracks
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per observation, its view's R_cw (n, 3, 3) and t_cw (n, 3)."""
    R = np.stack([v.T_cw.rotation.as_matrix() for v in views])
    t = np.stack([v.T_cw.translation for v in views])
    return R[tracks.view], t[tracks.view]


def _reprojection_errors(
    views: list[View], tracks: Tracks, points: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Pixel reprojection error of every observation (inf behind the camera or for NaN points)."""
    world = points[tracks.track]
    finite = np.all(np.isfinite(world), axis=1)
    R, t = _observing_poses(views, tracks)
    p_cam = np.einsum("nij,nj->ni", R, np.where(finite[:, None], world, 0.0)) + t
    pixels = np.full((len(tracks.view), 2), np.nan)
    for camera, members in _by_camera(views, tracks.view):
        pixels[members] = camera.project(p_cam[members])[0]
    observed = per_observation([v.features.pixels for v in views], tracks)
    error = np.linalg.norm(pixels - observed, axis=1)
    return np.where(finite & np.isfinite(error), error, np.inf)


def _by_camera(
    views: list[View], view_index: NDArray[np.int64]
) -> Iterator[tuple[PinholeCamera, NDArray[np.int64]]]:
    """(camera, the observations through it) for each distinct camera among the views (a drive's
    frames usually share one; equal calibrations count as one)."""
    groups: dict[tuple, int] = {}
    cameras: list[PinholeCamera] = []
    group_of_view = np.zeros(len(views), dtype=np.int64)
    for index, view in enumerate(views):
        camera = view.camera
        key = (
            camera.K.tobytes(),
            camera.D.tobytes(),
            camera.distortion_model,
            camera.width,
            camera.height,
        )
        if key not in groups:
            groups[key] = len(cameras)
            cameras.append(camera)
        group_of_view[index] = groups[key]
    group_of_observation = group_of_view[view_index]
    for group, camera in enumerate(cameras):
        yield camera, np.flatnonzero(group_of_observation == group)


def triangulate_and_filter(
    views: list[View],
    tracks: Tracks,
    max_reprojection_px: float,
    min_track: int,
    keypoint_sigma_px: float,
) -> Points:
    """Triangulate, drop observations that reproject badly, re-triangulate the rest, refine, and
    keep the tracks that then reproject within the threshold in every view they keep."""
    for _ in range(2):
        if len(tracks.track) == 0:
            break
        world = _triangulate(views, tracks)
        good = _reprojection_errors(views, tracks, world) <= max_reprojection_px
        tracks = _renumber(tracks, good)
        counts = np.bincount(tracks.track) if len(tracks.track) else np.zeros(0, int)
        tracks = _renumber(tracks, counts[tracks.track] >= min_track)
    if len(tracks.track) == 0:
        return Points(np.zeros((0, 3)), np.zeros((0, 3, 3)), tracks)
    world, unit_covariance = _refine_points(views, tracks, _triangulate(views, tracks))
    worst = np.zeros(len(world))
    np.maximum.at(worst, tracks.track, _reprojection_errors(views, tracks, world))
    focal = float(np.mean([v.camera.fx for v in views]))
    points = Points(world, unit_covariance * (keypoint_sigma_px / focal) ** 2, tracks)
    return points.select(worst <= max_reprojection_px)


def well_placed(
    views: list[View], points: Points, min_triangulation_deg: float, max_point_std_m: float
) -> Points:
    """The points seen under a wide enough angle, with a small enough position uncertainty."""
    angles = _triangulation_angles_deg(views, points.tracks, points.world)
    return points.select((angles >= min_triangulation_deg) & (points.std_m <= max_point_std_m))


def _triangulation_angles_deg(
    views: list[View], tracks: Tracks, points: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per track, the widest angle between the rays from the point to its observing cameras."""
    centres = np.stack([v.centre for v in views]) if views else np.zeros((0, 3))
    rays = centres[tracks.view] - points[tracks.track]
    rays /= np.maximum(np.linalg.norm(rays, axis=1, keepdims=True), 1e-12)
    angles = np.zeros(len(points))
    for ids, obs in _by_length(tracks):
        r = rays[obs]
        cosine = np.einsum("tld,tmd->tlm", r, r).reshape(len(ids), -1).min(axis=1)
        angles[ids] = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return angles


def assemble_map(views: list[View], points: Points, descriptor: str, frame_id: str) -> FeatureMap:
    """The map of the kept points: representative descriptors, viewing directions, observations."""
    tracks, n = points.tracks, len(points.world)
    width = max((v.features.descriptors.shape[1] for v in views if len(v.features)), default=32)
    descriptors = np.zeros((n, width), dtype=DESCRIPTOR_DTYPES[descriptor])
    directions = np.zeros((n, 3))
    centres = np.stack([v.centre for v in views])
    pixels = per_observation([v.features.pixels for v in views], tracks)
    all_descriptors = per_observation(
        [v.features.descriptors.reshape(len(v.features), width) for v in views], tracks
    )
    for ids, obs in _by_length(tracks):
        descriptors[ids] = representative_descriptors(all_descriptors[obs], descriptor)
        rays = centres[tracks.view[obs]] - points.world[ids][:, None, :]
        rays /= np.linalg.norm(rays, axis=2, keepdims=True)
        mean = rays.mean(axis=1)
        directions[ids] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    return FeatureMap(
        points_world=points.world,
        descriptors=descriptors,
        descriptor_type=descriptor,
        observation_counts=np.bincount(tracks.track, minlength=n).astype(np.int32),
        viewing_directions=directions,
        point_covariances=points.covariance,
        observations=np.column_stack([tracks.track, tracks.view, pixels]),
        frame_id=frame_id,
    )
