"""Image retrieval as a prior source: the index (PCA, float16, saved and refused), its answers and
their covariance (the spread of the best matches), calibration, and the choice between PoseNet and
retrieval."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_models import fake_posenet_model
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.errors import ModelLoadError, PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.posenet.localizer import PoseEstimate, PoseNetLocalizer
from pose_reloc.posenet.priors import PriorLocalizer, agree
from pose_reloc.posenet.retrieval import (
    NotRecognizedError,
    RetrievalIndex,
    RetrievalLocalizer,
    build_retrieval_index,
    calibrate_min_score,
    calibrate_retrieval_covariance,
    global_descriptor,
)

CAMERA = PinholeCamera(np.array([[30.0, 0, 31.5], [0, 30.0, 23.5], [0, 0, 1]]), 64, 48, np.zeros(5))
LOOKING_ALONG_X = Rotation.from_quat([-0.5, 0.5, -0.5, 0.5])


def place_image(k: int, brightness: float = 1.0) -> np.ndarray:
    """A place: its own colour, stripe width and a block at its own position."""
    rng = np.random.default_rng(k)
    image = np.empty((48, 64, 3), np.float64)
    image[:] = rng.uniform(40, 200, 3)
    stripes = (np.arange(64) // (2 + k % 7)) % 2 == 0
    image[:, stripes] += 40
    row, col = 4 + (5 * k) % 36, 4 + (11 * k) % 52
    image[row : row + 8, col : col + 8] = rng.uniform(0, 255, 3)
    return np.clip(image * brightness, 0, 255).astype(np.uint8)


def frame(image: np.ndarray, position) -> Frame:
    T = Transform(LOOKING_ALONG_X, np.asarray(position, float))
    return Frame(0.0, CAMERA, T, lambda: image, "test")


def street(places: int = 30, spacing_m: float = 2.0) -> list[Frame]:
    return [frame(place_image(k), [spacing_m * k, 0.0, 1.4]) for k in range(places)]


def test_the_descriptor_ignores_brightness_but_not_the_place():
    bright, dull, other = (
        global_descriptor(place_image(3)),
        global_descriptor(place_image(3, 0.6)),
        global_descriptor(place_image(4)),
    )
    assert bright @ dull > 0.98
    assert bright @ other < bright @ dull - 0.2


def test_a_place_seen_again_on_a_duller_day_is_found_with_a_tight_covariance(tmp_path):
    path = build_retrieval_index(street(), dims=16).save(tmp_path / "index.npz")
    localizer = RetrievalLocalizer(path, top_k=3)
    estimate = localizer.localize(place_image(12, 0.7))
    assert estimate.source == "retrieval"
    np.testing.assert_allclose(estimate.T_map_cam.translation, [24.0, 0.0, 1.4], atol=1e-3)
    # distinct places: the next best matches lie anywhere along the street, and the spread says so
    assert estimate.position_sigma_m > 2.0


def test_identical_views_far_apart_give_a_wide_prior_and_a_unique_view_a_narrow_one(tmp_path):
    frames = street(places=20)
    # the same facade at three places 40 m apart (repeated architecture)
    repeated = place_image(100)
    frames += [frame(repeated, [x, 30.0, 1.4]) for x in (0.0, 40.0, 80.0)]
    # a unique place seen from three positions 10 cm apart
    unique = place_image(200)
    frames += [frame(unique, [5.0 + d, -30.0, 1.4]) for d in (0.0, 0.1, 0.2)]
    index = build_retrieval_index(frames, 32, {"floor": {"position_m": 0.3}})
    localizer = RetrievalLocalizer(index.save(tmp_path / "i.npz"), 3)
    wide = localizer.localize(repeated)
    narrow = localizer.localize(unique)
    assert wide.position_sigma_m > 30.0
    assert narrow.position_sigma_m < 1.0  # the floor (0.3 m per axis) and the 10 cm spread
    assert narrow.position_sigma_m == pytest.approx(np.sqrt(3 * 0.3**2 + 0.02 / 2), rel=0.05)
    default_floor = RetrievalLocalizer(build_retrieval_index(frames, 32).save(tmp_path / "d.npz"))
    assert default_floor.localize(unique).position_sigma_m > np.sqrt(3.0)  # 1 m per axis


def test_the_index_is_stored_in_float16_and_read_back(tmp_path):
    index = build_retrieval_index(street(), dims=8, info={"site": "test street"})
    path = index.save(tmp_path / "index.bin")  # any name: no ".npz" added
    assert path == tmp_path / "index.bin"
    loaded = RetrievalIndex.load(path)
    assert loaded.descriptors.dtype == np.float16 and loaded.descriptors.shape == (30, 8)
    assert loaded.info["site"] == "test street" and loaded.info["frames"] == 30
    np.testing.assert_allclose(loaded.positions, index.positions, atol=1e-5)


def test_files_that_are_not_an_index_are_refused_with_the_reason(tmp_path):
    not_npz = tmp_path / "model.onnx"
    not_npz.write_bytes(b"not an index")
    with pytest.raises(ModelLoadError, match="is not a retrieval index"):
        RetrievalIndex.load(not_npz)
    with pytest.raises(ModelLoadError, match="is not a retrieval index"):
        RetrievalIndex.load(tmp_path / "missing.npz")
    index = build_retrieval_index(street(), dims=8)
    other = RetrievalIndex(**{**index.__dict__, "info": {**index.info, "format": "a map"}})
    with pytest.raises(ModelLoadError, match="'a map' file, expected"):
        RetrievalIndex.load(other.save(tmp_path / "map.npz"))
    cut = RetrievalIndex(**{**index.__dict__, "positions": index.positions[:5]})
    with pytest.raises(ModelLoadError, match="inconsistent retrieval index"):
        RetrievalIndex.load(cut.save(tmp_path / "cut.npz"))


def test_too_few_frames_or_dimensions_are_refused():
    with pytest.raises(PoseRelocError, match="at least 2 posed frames, got 1"):
        build_retrieval_index(street(places=1))
    with pytest.raises(PoseRelocError, match="at least 1 dimension"):
        build_retrieval_index(street(), dims=0)


def test_calibration_scales_the_spread_to_cover_another_days_errors(tmp_path):
    # another day: each place seen 0.2-0.4 m from where it was mapped
    rng = np.random.default_rng(0)
    held_out = [
        frame(place_image(k, 0.8), [0.5 * k + rng.uniform(0.2, 0.4), 0.0, 1.4]) for k in range(30)
    ]
    mapped = build_retrieval_index(street(spacing_m=0.5), 16, {"floor": {"position_m": 0.01}})
    localizer = RetrievalLocalizer(mapped.save(tmp_path / "i.npz"), top_k=3)
    scales = calibrate_retrieval_covariance(localizer, held_out)
    inside = 0
    for f in held_out:
        estimate = localizer.localize(f.image())
        error = estimate.T_map_cam.translation - f.T_wc.translation
        inside += float(error @ np.linalg.solve(estimate.covariance[:3, :3], error)) <= 8.02
    assert scales["frames"] == 30 and scales["position"] >= 1.0
    assert inside >= 28  # 95 % inside the 2-sigma ellipsoid
    # a floor of 1 m covers these errors alone: the spread is taken as it is
    loose = RetrievalLocalizer(
        build_retrieval_index(street(spacing_m=0.5), 16).save(tmp_path / "l.npz")
    )
    assert calibrate_retrieval_covariance(loose, held_out)["position"] == pytest.approx(1.0)


def test_the_spread_scale_is_the_smallest_covering_95_percent_and_never_below_one():
    from pose_reloc.posenet.localizer import coverage_scale

    rng = np.random.default_rng(3)
    errors = list(rng.normal(0.0, 2.0, (4000, 3)))  # 2 m per axis where the spread says 1 m
    spreads = [np.eye(3)] * len(errors)
    scale = coverage_scale(errors, spreads, np.eye(3) * 1e-6)
    assert scale == pytest.approx(4.0, rel=0.1)  # variance x4: 95.45 % inside 2 sigma
    assert coverage_scale(errors, spreads, np.eye(3) * 100.0) == 1.0
    assert coverage_scale([e * 1e4 for e in errors], spreads, np.eye(3) * 1e-6) == 1e4


def test_with_both_sources_retrieval_answers_only_where_posenet_agrees(tmp_path):
    retrieval = RetrievalLocalizer(build_retrieval_index(street(), 16).save(tmp_path / "i.npz"))
    # the stand-in PoseNet puts the camera at 10 x the mean colour (0.1 m spread)
    posenet = PoseNetLocalizer(fake_posenet_model(tmp_path / "p.onnx", noise_m=0.1), ["cpu"])
    both = PriorLocalizer(posenet, retrieval)
    assert both.source == "both"
    image = place_image(7)
    retrieval.floor = np.diag([1e-4] * 6)
    retrieval.covariance_scale = np.zeros((6, 6))  # retrieval sure of itself
    answers = {e.source: e for e in (posenet.localize(image), retrieval.localize(image))}
    gap = np.linalg.norm(
        answers["posenet"].T_map_cam.translation - answers["retrieval"].T_map_cam.translation
    )
    assert gap > 5.0  # the two disagree by metres, each sure to decimetres: PoseNet answers
    assert both.localize(image).source == "posenet"
    retrieval.floor = np.diag([1e4] * 6)  # retrieval unsure: now they agree
    assert both.localize(image).source == "retrieval"
    retrieval.min_score = 1.01  # nothing is recognized: PoseNet answers
    assert both.localize(image).source == "posenet"
    with pytest.raises(
        NotRecognizedError, match=r"no mapped view is like this image \(best similarity"
    ):
        retrieval.localize(image)
    assert PriorLocalizer(retrieval=retrieval).source == "retrieval"
    with pytest.raises(PoseRelocError, match="needs PoseNet, a retrieval index or both"):
        PriorLocalizer()


def test_agreement_is_a_gate_on_position_and_rotation():
    covariance = np.diag([1.0] * 3 + [np.radians(2.0) ** 2] * 3)
    here = PoseEstimate(Transform.identity(), covariance, 1, 0.0)

    def moved(metres=0.0, degrees=0.0):
        turn = Rotation.from_euler("z", degrees, degrees=True)
        return PoseEstimate(Transform(turn, np.array([metres, 0.0, 0.0])), covariance, 1, 0.0)

    # sum of covariances: 2 m^2 per axis, chi2(6) 99 % = 16.8: 5.8 m apart is the gate
    assert agree(here, moved(metres=5.5)) and not agree(here, moved(metres=6.0))
    assert agree(here, moved(degrees=10.0)) and not agree(here, moved(degrees=12.0))


def test_the_minimum_similarity_is_calibrated_on_held_out_frames(tmp_path):
    localizer = RetrievalLocalizer(build_retrieval_index(street(), 16).save(tmp_path / "i.npz"))
    assert localizer.min_score == -1.0  # not calibrated: every image answered
    held_out = [frame(place_image(k, 0.8), [2.0 * k, 0.0, 1.4]) for k in range(30)]
    threshold = calibrate_min_score(localizer, held_out, quantile=0.1)
    best = sorted(float(np.max(localizer.scores(f.image()))) for f in held_out)
    assert best[2] <= threshold <= best[3] and localizer.min_score == threshold
    with pytest.raises(NotRecognizedError):
        localizer.localize(np.full((48, 64, 3), 128, np.uint8) + place_image(999) // 8)


def test_an_estimate_names_its_source():
    estimate = PoseEstimate(Transform.identity(), np.eye(6), 1, 0.1)
    assert estimate.source == "posenet"


def write_dataset(root, frames, site=None):
    import cv2

    from pose_reloc.datasets.synthetic import SyntheticDatasetWriter

    writer = SyntheticDatasetWriter(root, {"site": site} if site else {})
    for index, f in enumerate(frames):
        cv2.imwrite(str(writer.image_path(index)), f.image()[..., ::-1])
        writer.add(Frame(0.1 * index, CAMERA, f.T_wc, f.image, "test"), 45.0)
    writer.close()
    return root


def test_build_retrieval_then_evaluate_posenet_beside_it_from_the_command_line(tmp_path, capsys):
    import json

    from pose_reloc.tools.cli import main

    mapped = write_dataset(tmp_path / "mapped", street(spacing_m=0.5))
    rng = np.random.default_rng(1)
    other_day = [
        frame(place_image(k, 0.8), [0.5 * k + rng.uniform(0.1, 0.3), 0.0, 1.4]) for k in range(30)
    ]
    held_out = write_dataset(tmp_path / "other_day", other_day, site="test street")
    index = tmp_path / "retrieval.npz"
    command = ["build-retrieval", "--data", str(mapped), "--out", str(index), "--dims", "8"]
    assert main([*command, "--calibration-data", str(held_out)]) == 0
    assert "minimum similarity" in capsys.readouterr().out
    info = RetrievalIndex.load(index).info
    assert info["site"] == "test street"  # the drives' (the mapped one does not say)
    assert info["covariance_scale"]["frames"] == 30
    assert 0.5 < info["min_score"] < 1.0
    model = fake_posenet_model(tmp_path / "p.onnx")
    out = tmp_path / "eval.json"
    evaluate = ["evaluate", "posenet", "--model", str(model), "--data", str(held_out)]
    assert main([*evaluate, "--retrieval", str(index), "--out", str(out)]) == 0
    retrieval = json.loads(out.read_text())["retrieval"]
    assert retrieval["index"] == str(index) and 0.9 <= retrieval["answered"] < 1.0
    assert retrieval["median_translation_m"] < 0.35 and retrieval["within_2sigma"] >= 0.9
    assert main([*command[:-2], "--stride", "0"]) == 1
    assert "--stride must be at least 1" in capsys.readouterr().err
    elsewhere = write_dataset(tmp_path / "elsewhere", other_day[:3], site="another street")
    other_site = ["build-retrieval", "--data", str(held_out), "--out", str(index)]
    assert main([*other_site, "--calibration-data", str(elsewhere)]) == 1
    assert "different sites" in capsys.readouterr().err


def test_evaluation_priors_from_retrieval_skip_what_it_does_not_recognize(tmp_path):
    from pose_reloc.tools.fusion_sources import localizer_priors

    index = build_retrieval_index(street(), 16)
    known = localizer_priors(None, index.save(tmp_path / "all.npz"), ["cpu"])
    strict = RetrievalIndex(**{**index.__dict__, "info": {**index.info, "min_score": 1.01}})
    none = localizer_priors(None, strict.save(tmp_path / "strict.npz"), ["cpu"])
    place = street()[4]
    assert known[1] == "retrieval" and none[1] == "retrieval"
    np.testing.assert_allclose(known[0](place)[0].translation, place.T_wc.translation, atol=1e-3)
    assert none[0](place) is None
