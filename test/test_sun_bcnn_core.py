"""Sun-BCNN core: MC samples -> direction, covariances, azimuth/zenith (with the +-180 deg wrap),
validity; the ONNX estimator; the ephemeris in the map frame; the evaluation figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.errors import ModelLoadError, PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.onnx_session import InputSpec, ModelMetadata, write_metadata
from pose_reloc.sun import sun_at
from sun_bcnn.ephemeris import MapAnchor, sun_reference
from sun_bcnn.inference import SunEstimator, azimuth_zenith, summarize_samples

TORONTO = MapAnchor(43.6629, -79.3957, 76.0)


def fake_sun_model(
    path: Path,
    direction=(0.3, -0.5, 0.8),
    noise: float = 0.02,
    red_noise: float = 3.0,
    width: int = 32,
    height: int = 24,
    output_width: int = 3,
    dropout_live: bool = True,
    task: str = "sun_bcnn",
) -> Path:
    """A stand-in Sun-BCNN: sun = normalize(direction + (noise + red_noise * mean red) * U(-1, 1)),
    a fresh U per sample like live MC dropout: dark images give tight samples, red ones scatter."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, height, width])
    sun = helper.make_tensor_value_info("sun", TensorProto.FLOAT, ["N", output_width])
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["means"], axis=1),
        helper.make_node("Slice", ["means", "zero_i", "one_i", "one_i"], ["red"]),
        helper.make_node("Mul", ["red", "red_noise"], ["red_amplitude"]),
        helper.make_node("Add", ["red_amplitude", "noise"], ["amplitude"]),
        helper.make_node("RandomUniformLike", ["means"], ["uniform"], low=-1.0, high=1.0),
        helper.make_node("Mul", ["uniform", "amplitude"], ["jitter"]),
        helper.make_node("Add", ["jitter", "direction"], ["raw_full"]),
        helper.make_node("Slice", ["raw_full", "zero_i", "width_i", "one_i"], ["raw"]),
        helper.make_node("ReduceL2", ["raw"], ["norm"], axes=[1], keepdims=1),
        helper.make_node("Div", ["raw", "norm"], ["sun"]),
    ]
    initializers = [
        helper.make_tensor("direction", TensorProto.FLOAT, [1, 3], list(direction)),
        helper.make_tensor("noise", TensorProto.FLOAT, [], [noise]),
        helper.make_tensor("red_noise", TensorProto.FLOAT, [], [red_noise]),
        helper.make_tensor("zero_i", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one_i", TensorProto.INT64, [1], [1]),
        helper.make_tensor("width_i", TensorProto.INT64, [1], [output_width]),
    ]
    graph = helper.make_graph(nodes, "fake_sun", [image], [sun], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    metadata = ModelMetadata(
        task=task,
        input=InputSpec("image", width, height, "RGB", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        outputs={"sun": "(N, 3) unit sun vector, camera optical frame"},
        extra={"mc_samples": 32, "dropout_live": dropout_live, "frame": "camera_optical"},
    )
    write_metadata(path, metadata)
    return path


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def from_angles(azimuth, zenith):
    """Optical-frame unit vectors with azimuth = atan2(x, z), zenith = acos(-y)."""
    azimuth, zenith = np.asarray(azimuth, float), np.asarray(zenith, float)
    s = np.sin(zenith)
    return np.stack([s * np.sin(azimuth), -np.cos(zenith), s * np.cos(azimuth)], axis=-1)


def ring(direction, angle_deg, count=8):
    """`count` unit vectors at `angle_deg` from `direction`, evenly around it (their mean points
    exactly along `direction`)."""
    d = unit(direction)
    tilt = Rotation.from_rotvec(unit(np.cross(d, [0.0, 1.0, 0.0])) * np.radians(angle_deg))
    spins = Rotation.from_rotvec(np.outer(np.arange(count) * 2 * np.pi / count, d))
    return (spins * tilt).apply(d)


# --- statistics of samples ----------------------------------------------------------------------


def test_a_ring_of_samples_gives_its_centre_its_spread_and_cos_as_mean_norm():
    d = unit([0.2, -0.6, 0.7])
    samples = ring(d, 10.0, 8)
    estimate = summarize_samples(samples * [[1.0], [2.0], [0.5], [3.0], [1.0], [1.0], [4.0], [1.0]])
    np.testing.assert_allclose(estimate.direction, d, atol=1e-12)
    assert estimate.mean_norm == pytest.approx(np.cos(np.radians(10.0)), abs=1e-12)
    assert estimate.spread_deg == pytest.approx(10.0, abs=1e-9)
    np.testing.assert_allclose(
        estimate.covariance,
        np.cov(samples.T) + np.radians(0.5) ** 2 * (np.eye(3) - np.outer(d, d)),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        estimate.covariance @ d, 0.0, atol=1e-12
    )  # no spread along the direction
    assert estimate.azimuth == pytest.approx(np.arctan2(0.2, 0.7))
    assert estimate.zenith == pytest.approx(np.arccos(0.6 / np.linalg.norm([0.2, -0.6, 0.7])))
    assert estimate.samples == 8 and estimate.valid


def test_angle_covariance_matches_the_sampled_spread_in_azimuth_and_zenith():
    rng = np.random.default_rng(0)
    sigma = np.radians([3.0, 1.5])
    az = np.radians(40.0) + rng.normal(0.0, sigma[0], 5000)
    zen = np.radians(70.0) + rng.normal(0.0, sigma[1], 5000)
    estimate = summarize_samples(from_angles(az, zen), floor_deg=0.0)
    assert np.degrees(estimate.azimuth) == pytest.approx(40.0, abs=0.2)
    assert np.degrees(estimate.zenith) == pytest.approx(70.0, abs=0.2)
    np.testing.assert_allclose(np.sqrt(np.diag(estimate.angle_covariance)), sigma, rtol=0.05)
    assert abs(estimate.angle_covariance[0, 1]) < 0.1 * sigma[0] * sigma[1]


@pytest.mark.parametrize("centre_deg", [180.0, 179.5, -179.5])
def test_azimuth_spread_across_plus_minus_180_is_not_360_degrees(centre_deg):
    offsets = np.radians([-1.0, -0.5, 0.0, 0.5, 1.0])
    samples = from_angles(np.radians(centre_deg) + offsets, np.full(5, np.radians(60.0)))
    az, _ = azimuth_zenith(samples)
    assert np.ptp(az) > np.pi  # the raw angles straddle +-180 deg
    estimate = summarize_samples(samples, floor_deg=0.0)
    wrapped = (np.degrees(estimate.azimuth) - centre_deg + 180.0) % 360.0 - 180.0
    assert wrapped == pytest.approx(0.0, abs=1e-6)
    assert np.sqrt(estimate.angle_covariance[0, 0]) == pytest.approx(
        np.std(offsets, ddof=1), rel=1e-3
    )
    assert estimate.angle_covariance[1, 1] == pytest.approx(0.0, abs=1e-12)
    assert estimate.valid


def test_scattered_samples_are_invalid_and_tight_ones_valid():
    rng = np.random.default_rng(1)
    scattered = unit(rng.normal(size=(64, 3)))
    estimate = summarize_samples(scattered)
    assert estimate.mean_norm < 0.5 and estimate.spread_deg > 40.0 and not estimate.valid
    tight = unit(np.array([0.0, -0.5, 1.0]) + rng.normal(scale=0.02, size=(64, 3)))
    assert summarize_samples(tight).valid
    thirty = ring([0.0, -0.5, 1.0], 30.0)
    assert not summarize_samples(thirty, max_spread_deg=90.0).valid, "mean norm cos 30 < 0.9"
    assert not summarize_samples(thirty, min_mean_norm=0.0).valid, "spread 30 > 20 deg"
    assert summarize_samples(thirty, max_spread_deg=31.0, min_mean_norm=0.85).valid


def test_one_sample_gets_the_floor_not_a_zero_covariance():
    estimate = summarize_samples([[0.0, 0.0, 2.0]], floor_deg=1.0)
    floor = np.radians(1.0) ** 2
    np.testing.assert_allclose(estimate.covariance, np.diag([floor, floor, 0.0]), atol=1e-15)
    np.testing.assert_allclose(estimate.angle_covariance, floor * np.eye(2), atol=1e-15)
    assert estimate.spread_deg == 0.0 and estimate.mean_norm == 1.0


def test_nan_or_zero_samples_are_refused():
    with pytest.raises(PoseRelocError, match="NaN or zero"):
        summarize_samples([[0.0, 0.0, 1.0], [np.nan, 0.0, 1.0]])
    with pytest.raises(PoseRelocError, match="NaN or zero"):
        summarize_samples([[0.0, 0.0, 0.0]])


# --- the ONNX estimator -------------------------------------------------------------------------


def test_estimator_batches_the_samples_and_reads_the_spread_from_them(tmp_path):
    estimator = SunEstimator(fake_sun_model(tmp_path / "s.onnx"), ["cpu"], samples=64)
    dark = np.zeros((240, 320, 3), np.uint8)
    estimate = estimator.estimate(dark)
    np.testing.assert_allclose(estimate.direction, unit([0.3, -0.5, 0.8]), atol=0.01)
    assert estimate.samples == 64 and estimate.valid and 0.2 < estimate.spread_deg < 3.0
    assert estimate.inference_ms > 0
    red = dark.copy()
    red[..., 0] = 255
    scattered = estimator.estimate(red)
    assert not scattered.valid and scattered.mean_norm < 0.9 and scattered.spread_deg > 20.0
    assert estimator.samples == 64 and SunEstimator(tmp_path / "s.onnx", ["cpu"]).samples == 32


def test_a_model_without_live_dropout_gives_one_sample(tmp_path):
    estimator = SunEstimator(
        fake_sun_model(tmp_path / "s.onnx", dropout_live=False), ["cpu"], samples=16
    )
    assert estimator.samples == 1
    assert estimator.estimate(np.zeros((24, 32, 3), np.uint8)).samples == 1


def test_estimator_refuses_a_model_with_the_wrong_output_width_naming_the_file(tmp_path):
    path = fake_sun_model(tmp_path / "two_wide.onnx", output_width=2)
    with pytest.raises(ModelLoadError, match=r"two_wide\.onnx must output 'sun' with 3 floats"):
        SunEstimator(path, ["cpu"])


def test_estimator_refuses_models_of_another_task(tmp_path):
    with pytest.raises(ModelLoadError, match="is a 'posenet' model, this node needs 'sun_bcnn'"):
        SunEstimator(fake_sun_model(tmp_path / "p.onnx", task="posenet"), ["cpu"])


def test_estimator_refuses_non_rgb_input(tmp_path):
    estimator = SunEstimator(fake_sun_model(tmp_path / "s.onnx"), ["cpu"])
    with pytest.raises(PoseRelocError, match="RGB uint8"):
        estimator.estimate(np.zeros((24, 32), np.uint8))
    with pytest.raises(PoseRelocError, match="RGB uint8"):
        estimator.estimate(np.zeros((24, 32, 3), np.float32))


# --- ephemeris ----------------------------------------------------------------------------------


def test_map_frame_sun_is_the_enu_sun_turned_by_the_map_yaw():
    noon = np.datetime64("2026-03-20T17:25:00")  # solar noon in Toronto: the sun due south
    in_enu = sun_reference([noon], TORONTO)
    turned = sun_reference(
        [noon], MapAnchor(TORONTO.latitude_deg, TORONTO.longitude_deg, 76.0, 90.0)
    )
    south = in_enu.enu[0]
    assert south[1] < -0.65 and abs(south[0]) < 0.03 and in_enu.above_horizon[0]
    np.testing.assert_allclose(in_enu.map, in_enu.enu)
    # Map x points north (90 deg counter-clockwise from east), so map y points west: south = -x.
    np.testing.assert_allclose(turned.map[0], [south[1], -south[0], south[2]], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(turned.map, axis=1), 1.0)
    vector, elevation = sun_at(
        float(noon.astype("datetime64[s]").astype(np.int64)), 43.6629, -79.3957, 76.0, 90.0
    )
    np.testing.assert_allclose(vector, turned.map[0], atol=1e-9)
    assert elevation > 0


def test_night_is_flagged_below_the_horizon():
    night = sun_reference(
        [np.datetime64("2026-03-20T05:00:00"), np.datetime64("2026-03-20T17:00:00")], TORONTO
    )
    assert night.above_horizon.tolist() == [False, True]
    assert night.elevation_deg[0] < 0 and night.map[0, 2] < 0


# --- evaluation ---------------------------------------------------------------------------------


def test_evaluation_figures_on_frames_with_known_sun(tmp_path, monkeypatch):
    import json

    from sun_bcnn import evaluate

    truth = unit([0.3, -0.5, 0.8])
    camera = PinholeCamera(
        np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]]), 32, 24, np.zeros(5)
    )

    def frame(colour, condition, sun_cam, elevation_deg):
        pixels = np.zeros((24, 32, 3), np.uint8)
        pixels[...] = colour
        sun_world = [0.0, np.cos(np.radians(elevation_deg)), np.sin(np.radians(elevation_deg))]
        return Frame(
            0.0,
            camera,
            Transform.identity(),
            lambda: pixels,
            "test",
            sun_cam,
            np.array(sun_world),
            condition,
        )

    off = Rotation.from_rotvec(unit(np.cross(truth, [1.0, 0.0, 0.0])) * np.radians(30.0)).apply(
        truth
    )
    frames = [
        frame((0, 0, 0), "sunny", truth, 10.0),
        frame((0, 0, 0), "sunny", truth, 50.0),
        frame((0, 0, 0), "sunny", off, 30.0),
        frame((255, 0, 0), "overcast", truth, 30.0),
        frame((255, 0, 0), "overcast", truth, 30.0),
    ]
    monkeypatch.setattr(evaluate, "read_dataset", lambda _: iter(frames))
    model = fake_sun_model(tmp_path / "s.onnx")
    figures = evaluate.evaluate_sun(
        model, tmp_path, out=tmp_path / "metrics.json", samples=64, log=lambda _: None
    )
    assert figures["frames"] == 5 and figures["samples"] == 64
    # mean of (~0, ~0, ~30 deg): the stand-in's MC noise moves each error by a fraction of a
    # degree either way, so the mean is 10 deg give or take that, not strictly above 10.
    assert figures["median_error_deg"] < 1.0
    assert figures["mean_error_deg"] == pytest.approx(10.0, abs=0.5)
    bands = figures["error_by_elevation"]
    assert bands["0-20"]["frames"] == 1 and bands["20-40"]["median_error_deg"] == pytest.approx(
        30.0, abs=1.0
    )
    assert (
        figures["within_2sigma"] == pytest.approx(2 / 3)
        and figures["within_1sigma"] <= figures["within_2sigma"]
    )
    assert figures["sunny_valid_rate"] == 1.0 and figures["overcast_invalid_rate"] == 1.0
    assert figures["latency_ms"] > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["frames"] == 5


def test_calibration_scales_the_angles_and_separates_overcast_from_sunny(tmp_path):
    from scipy.spatial.transform import Rotation

    from pose_reloc.datasets.record import Frame
    from sun_bcnn.evaluate import mahalanobis_angles
    from sun_bcnn.inference import calibrate_sun

    direction = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    estimator = SunEstimator(
        fake_sun_model(tmp_path / "sun.onnx", noise=0.02, red_noise=3.0), ["cpu"], samples=32
    )
    rng = np.random.default_rng(4)
    frames = []
    for i in range(40):
        overcast = i % 4 == 0
        image = np.zeros((24, 32, 3), np.uint8)
        image[..., 0] = 200 if overcast else 0  # red scatters the stand-in's samples
        truth = Rotation.from_rotvec(rng.normal(0, np.radians(4.0), 3)).apply(
            direction
        )  # ~4 deg off
        frames.append(
            Frame(
                float(i),
                None,
                None,
                lambda im=image: im,
                f"frame {i}",
                sun_cam=truth,
                condition="overcast" if overcast else "sunny",
            )  # type: ignore[arg-type]
        )
    result = calibrate_sun(estimator, frames)
    assert result["angles"] > 2.0  # the samples (~1 deg) understate the ~4 deg errors
    sunny = [f for f in frames if f.condition == "sunny"]
    overcast = [f for f in frames if f.condition == "overcast"]
    assert all(estimator.estimate(f.image()).valid for f in sunny)
    assert not any(estimator.estimate(f.image()).valid for f in overcast)
    inside = [mahalanobis_angles(estimator.estimate(f.image()), f.sun_cam) <= 6.18 for f in sunny]
    assert np.mean(inside) >= 0.85
