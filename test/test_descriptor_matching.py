"""Descriptor matching (mutual nearest neighbours passing Lowe's ratio both ways) against a
brute-force reference written out in numpy, for ORB (Hamming) and SIFT (L2) descriptors."""

from __future__ import annotations

import numpy as np
import pytest

from vo_fusion.features import match_descriptors


def reference(query, train, kind, ratio):
    if kind == "orb":
        bits_q = np.unpackbits(query, axis=1).astype(np.int32)
        bits_t = np.unpackbits(train, axis=1).astype(np.int32)
        distances = np.abs(bits_q[:, None, :] - bits_t[None, :, :]).sum(axis=2).astype(float)
    else:
        distances = np.linalg.norm(query[:, None, :] - train[None, :, :], axis=2)

    def passing(d):
        order = np.argsort(d, axis=1, kind="stable")[:, :2]
        two = np.take_along_axis(d, order, axis=1)
        return {i: int(order[i, 0]) for i in range(len(d)) if two[i, 0] < ratio * two[i, 1]}

    forward, backward = passing(distances), passing(distances.T)
    return sorted((q, t) for q, t in forward.items() if backward.get(t) == q)


def descriptors(kind, rng, n):
    if kind == "orb":
        return rng.integers(0, 256, (n, 32), dtype=np.uint8)
    return rng.random((n, 128), dtype=np.float32)


@pytest.mark.parametrize("kind", ["orb", "sift"])
def test_matches_are_the_mutual_ratio_passing_nearest_neighbours(kind):
    rng = np.random.default_rng(3)
    train = descriptors(kind, rng, 300)
    # a third of the queries are noisy copies of train descriptors, the rest unrelated
    copies = train[rng.choice(300, 100, replace=False)].copy()
    if kind == "orb":
        flips = (rng.random(copies.shape) < 0.05) * (1 << rng.integers(0, 8, copies.shape))
        copies ^= flips.astype(np.uint8)
    else:
        copies += rng.normal(0.0, 0.02, copies.shape).astype(np.float32)
    query = np.vstack([copies, descriptors(kind, rng, 200)])
    found = match_descriptors(query, train, kind, ratio=0.8)
    expected = reference(query, train, kind, 0.8)
    assert len(expected) > 60
    assert [tuple(row) for row in found.tolist()] == expected
    assert found.dtype == np.int64


def test_too_few_descriptors_match_nothing():
    rng = np.random.default_rng(0)
    one, many = descriptors("orb", rng, 1), descriptors("orb", rng, 10)
    assert match_descriptors(one, many, "orb").shape == (0, 2)
    assert match_descriptors(many, one, "orb").shape == (0, 2)
