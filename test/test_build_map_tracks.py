"""Tracks merged from pairwise matches (build_map.merge_tracks) and the thread pool the offline
stages share (vo_fusion.parallel)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pose_reloc.camera import PinholeCamera
from pose_reloc.geometry import Transform
from vo_fusion.build_map import View, merge_tracks, per_observation
from vo_fusion.features import ImageFeatures
from vo_fusion.parallel import thread_map


def views_with(counts: list[int]) -> list[View]:
    camera = PinholeCamera(
        np.array([[100.0, 0, 50], [0, 100, 50], [0, 0, 1]]), 100, 100, np.zeros(5)
    )
    return [
        View(
            camera=camera,
            T_cw=Transform.identity(),
            centre=np.zeros(3),
            axis=np.array([0.0, 0.0, 1.0]),
            features=ImageFeatures(
                np.arange(2 * n, dtype=np.float64).reshape(n, 2) + 1000 * index,
                np.zeros((n, 32), dtype=np.uint8),
            ),
            normalized=np.zeros((n, 2)),
            source=f"view{index}",
        )
        for index, n in enumerate(counts)
    ]


def edge(view_a: int, keypoint_a: int, view_b: int, keypoint_b: int) -> np.ndarray:
    return np.array([[view_a, keypoint_a, view_b, keypoint_b]], dtype=np.int64)


def as_sets(tracks) -> set[frozenset[tuple[int, int]]]:
    members: dict[int, set[tuple[int, int]]] = {}
    for view, keypoint, track in zip(tracks.view, tracks.keypoint, tracks.track, strict=True):
        members.setdefault(int(track), set()).add((int(view), int(keypoint)))
    return {frozenset(m) for m in members.values()}


def test_chained_matches_make_one_track_and_short_ones_are_dropped():
    views = views_with([5, 5, 5, 5])
    edges = [edge(0, 1, 1, 2), edge(1, 2, 2, 3), edge(2, 3, 3, 4), edge(0, 4, 1, 0)]
    tracks = merge_tracks(views, edges, min_track=3)
    assert as_sets(tracks) == {frozenset({(0, 1), (1, 2), (2, 3), (3, 4)})}
    assert np.all(np.diff(tracks.track) >= 0)  # grouped by track
    assert as_sets(merge_tracks(views, edges, min_track=2)) == {
        frozenset({(0, 1), (1, 2), (2, 3), (3, 4)}),
        frozenset({(0, 4), (1, 0)}),
    }


def test_a_chain_through_two_keypoints_of_one_view_is_split_in_match_order():
    # 0:1 - 1:1 - 2:1, then 2:1 - 0:3 would put keypoints 1 and 3 of view 0 in one track
    views = views_with([4, 4, 4])
    edges = [edge(0, 1, 1, 1), edge(1, 1, 2, 1), edge(2, 1, 0, 3), edge(0, 0, 2, 0)]
    tracks = merge_tracks(views, edges, min_track=1)
    found = as_sets(tracks)
    assert frozenset({(0, 1), (1, 1), (2, 1)}) in found
    assert frozenset({(0, 3)}) in found  # refused, left on its own
    assert frozenset({(0, 0), (2, 0)}) in found
    for track in np.unique(tracks.track):
        seen = tracks.view[tracks.track == track]
        assert len(seen) == len(set(seen.tolist()))


def test_per_observation_gathers_each_views_rows():
    views = views_with([3, 0, 2])
    tracks = merge_tracks(views, [edge(0, 2, 2, 1), edge(0, 0, 2, 0)], min_track=2)
    pixels = per_observation([v.features.pixels for v in views], tracks)
    expected = [
        views[v].features.pixels[k] for v, k in zip(tracks.view, tracks.keypoint, strict=True)
    ]
    np.testing.assert_array_equal(pixels, expected)


def test_thread_map_keeps_the_order_and_uses_several_threads():
    names: set[str] = set()
    barrier = threading.Barrier(2, timeout=10)

    def square(x: int) -> int:
        names.add(threading.current_thread().name)
        if x < 2:
            barrier.wait()  # the first two items meet: they ran at the same time
        return x * x

    assert thread_map(square, range(20), workers=2) == [x * x for x in range(20)]
    assert len(names) == 2
    assert thread_map(square, [5, 6], workers=1) == [25, 36]


def test_thread_map_raises_what_a_worker_raised():
    def fail(x: int) -> int:
        if x == 3:
            raise ValueError("item 3 is bad")
        return x

    with pytest.raises(ValueError, match="item 3 is bad"):
        thread_map(fail, range(6), workers=2)


def test_no_matches_make_no_tracks():
    assert len(merge_tracks(views_with([3, 3]), [], min_track=2).track) == 0
    empty = np.zeros((0, 4), dtype=np.int64)
    assert len(merge_tracks(views_with([3, 3]), [empty], min_track=2).track) == 0
