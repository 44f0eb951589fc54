"""Mapping's pieces that need no images: keyframes by motion, loop candidates by place and heading,
and the pose graph that bends a drifted drive onto its loop closure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.keyframes import path_lengths, select_keyframes
from vo_fusion.mapping.loops import LoopClosure, LoopSearch, loop_candidates
from vo_fusion.mapping.pose_graph import Edge, PoseGraph
from vo_fusion.mapping.site import MappingConfig, _close, _odometry_factors
from vo_fusion.mapping.two_view import TwoView


def _pose(x: float, y: float, yaw_deg: float) -> Transform:
    return Transform(Rotation.from_euler("z", yaw_deg, degrees=True), np.array([x, y, 0.0]))


def _square(side: int = 20, heading_drift_deg: float = 0.0) -> list[Transform]:
    """A square circuit, one pose per metre, back to the start; the headings drift by
    `heading_drift_deg` per metre (dead reckoning of a biased odometry)."""
    poses, T = [], _pose(0, 0, 0)
    for k in range(4 * side):
        poses.append(T)
        turn = 90.0 if (k + 1) % side == 0 else 0.0
        T = T @ _pose(1.0, 0.0, turn + heading_drift_deg)
    return poses


def test_keyframes_follow_motion_not_time():
    still = [_pose(0, 0, 0)] * 50
    driving = [_pose(0.1 * k, 0, 0) for k in range(50)]
    turning = [_pose(5.0, 0, 2.0 * k) for k in range(1, 20)]
    chosen = select_keyframes(still + driving + turning, 0.5, 5.0)
    assert chosen[0] == 0 and len([k for k in chosen if k < 50]) == 1
    assert 9 <= len([k for k in chosen if 50 <= k < 100]) <= 11
    assert 6 <= len([k for k in chosen if k >= 100]) <= 9
    assert path_lengths(driving)[-1] == pytest.approx(4.9)


def test_loop_candidates_are_near_in_place_and_heading_far_along_the_drive():
    drive = [*_square(), *_square()[:10]]  # a circuit, then the first 10 m again
    pairs = loop_candidates(drive, path_lengths(drive), LoopSearch(radius_m=1.5, drift=0.0))
    assert pairs
    for i, j in pairs:
        assert j - i >= 15
        assert np.linalg.norm(drive[i].translation - drive[j].translation) <= 1.5
    assert {j - i for i, j in pairs} <= {79, 80, 81}  # the second pass over the first street


def test_the_pose_graph_bends_a_drifted_circuit_onto_its_loop_closure():
    truth = _square()
    drifted = _square(heading_drift_deg=0.3)
    graph = PoseGraph()
    for k in range(len(drifted) - 1):
        step = drifted[k].inverse() @ drifted[k + 1]
        graph.add(
            Edge(
                k,
                k + 1,
                step.rotation,
                np.radians(0.5),
                t_ij=step.translation,
                sigma_translation_m=0.02,
            )
        )
    closure = truth[-1].inverse() @ truth[0]  # the last pose sees the first
    graph.add(
        Edge(
            len(truth) - 1,
            0,
            closure.rotation,
            np.radians(0.1),
            t_ij=closure.translation,
            sigma_translation_m=0.01,
        )
    )
    solved = graph.solve(drifted)
    before = max(
        np.linalg.norm(d.translation - t.translation) for d, t in zip(drifted, truth, strict=True)
    )
    after = max(
        np.linalg.norm(s.translation - t.translation) for s, t in zip(solved, truth, strict=True)
    )
    assert before > 5.0
    assert after < 0.3 * before
    assert (
        np.linalg.norm((solved[-1].inverse() @ solved[0]).translation - closure.translation) < 0.1
    )


def test_an_edge_joining_a_keyframe_to_itself_is_refused():
    with pytest.raises(VoFusionError, match="joins keyframe 3 to itself"):
        PoseGraph().add(Edge(3, 3, Rotation.identity(), 0.1, np.zeros(3), 0.1))


def test_the_scale_puts_the_ground_points_the_camera_height_below_the_cameras():
    from vo_fusion.mapping.scale import scale_from_camera_height, scale_from_odometry

    rng = np.random.default_rng(3)
    map_scale = 0.97  # the map is 3 % short
    centres = np.column_stack([np.arange(40.0), np.zeros(40), np.full(40, 1.3)]) * map_scale
    ground = np.column_stack(
        [rng.uniform(0, 40, 3000), rng.uniform(-4, 4, 3000), rng.normal(0, 0.01, 3000)]
    )
    facades = np.column_stack(
        [rng.uniform(0, 40, 3000), rng.choice([-6.0, 6.0], 3000), rng.uniform(0, 8, 3000)]
    )
    points = np.vstack([ground, facades]) * map_scale
    view = np.repeat(np.arange(40), 300)
    point = rng.integers(0, len(points), len(view))
    level = Rotation.from_euler("xyz", [-90, 0, -90], degrees=True)  # looking along x
    poses = [Transform(level, c) for c in centres]
    measured = scale_from_camera_height(poses, points, view, point, 1.3)
    assert measured is not None and measured.scale == pytest.approx(1 / map_scale, rel=0.003)
    assert scale_from_camera_height(poses, facades * map_scale, view, point % 3000, 1.3) is None
    # A map pitched 0.5° (cameras and points together, as the images leave them): heights along
    # the map's up rise with the distance ahead; along the mount's up, each camera's own, not.
    ahead = points[point, 0] > centres[view, 0] + 1.0  # a forward camera sees what is ahead
    tilt = Rotation.from_euler("y", 0.5, degrees=True)
    pitched = [Transform(tilt * level, tilt.apply(c)) for c in centres]
    mount_up = np.tile(level.inv().apply([0.0, 0.0, 1.0]), (40, 1))
    seen = (view[ahead], point[ahead])
    off = scale_from_camera_height(pitched, tilt.apply(points), *seen, 1.3)
    along_mount = scale_from_camera_height(pitched, tilt.apply(points), *seen, 1.3, mount_up)
    assert off is not None and along_mount is not None
    assert abs(off.scale * map_scale - 1) > 0.01
    assert along_mount.scale == pytest.approx(1 / map_scale, rel=0.003)
    odometry = centres / map_scale * 1.02  # wheels 2 % long
    assert scale_from_odometry(centres, odometry).scale == pytest.approx(1.02 / map_scale)


def _loop_from_last_to_first(
    poses: list[Transform], T_ij: Transform, sigma_m: float, sigma_rad: float
) -> LoopClosure:
    i, j = len(poses) - 1, 0
    pair = TwoView(i, j, np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int32))
    return LoopClosure(pair, T_ij, 40, sigma_m, sigma_rad)


@pytest.mark.parametrize("sure", ["true", "wrong"])
def test_the_loop_graph_follows_the_loop_its_pnp_was_surer_of(sure: str):
    """Two loops close the same circuit, one true, one 1.5 m aside: the graph ends where the one
    measured with the smaller PnP uncertainty says (the other measured on far points, say)."""
    truth = _square()
    drifted = _square(heading_drift_deg=0.05)
    true_closure = truth[-1].inverse() @ truth[0]
    wrong_closure = true_closure @ _pose(0.0, 1.5, 0.0)
    sure_sigmas, unsure_sigmas = (0.001, np.radians(0.005)), (0.05, np.radians(0.5))
    loops = [
        _loop_from_last_to_first(
            truth, true_closure, *(sure_sigmas if sure == "true" else unsure_sigmas)
        ),
        _loop_from_last_to_first(
            truth, wrong_closure, *(unsure_sigmas if sure == "true" else sure_sigmas)
        ),
    ]
    config = MappingConfig()
    solved = _close(drifted, loops, _odometry_factors(drifted, config), config)
    closure = solved[-1].inverse() @ solved[0]
    followed = true_closure if sure == "true" else wrong_closure
    other = wrong_closure if sure == "true" else true_closure
    assert np.linalg.norm(closure.translation - followed.translation) < 0.3
    assert np.linalg.norm(closure.translation - other.translation) > 1.2
