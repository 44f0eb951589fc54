"""A replay's figures and report from what the nodes published (ROS-free): exact answers on
hand-made logs, kidnaps found from ground-truth jumps, and a report without ground truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_reloc.geometry import Transform
from pose_reloc.posenet.evaluate import PoseSample
from pose_reloc.tools.replay.report import write_report
from pose_reloc.tools.replay.results import FrameState, ReplayLog, frame_records, replay_figures
from pose_reloc.tools.replay.run import prepare_output, write_results
from sun_bcnn.inference import SunEstimate, azimuth_zenith
from vo_fusion.tracking import TrackingState

RATE_HZ = 10.0
T_BASE_CAM = Transform.from_xyz_quat([0.15, 0.0, 1.3], [-0.5, 0.5, -0.5, 0.5])


def drive_truth(index: int) -> Transform:
    """1 m/s along x for 5 s, then a teleport 40 m away (frame 50 on)."""
    x = 0.1 * index + (40.0 if index >= 50 else 0.0)
    return Transform(Rotation.from_euler("z", 0.01 * index), np.array([x, 5.0, 0.0]))


def shifted(T: Transform, metres: float) -> Transform:
    return Transform(T.rotation, T.translation + np.array([metres, 0.0, 0.0]))


def sun_estimate(direction: np.ndarray, sigma_deg: float, valid: bool = True) -> SunEstimate:
    azimuth, zenith = azimuth_zenith(direction)
    variance = np.radians(sigma_deg) ** 2 / 2.0
    return SunEstimate(
        direction, np.eye(3) * 1e-3, float(azimuth), float(zenith), np.eye(2) * variance, 32,
        sigma_deg, float("nan"), valid, 3.0,
    )  # fmt: skip


def make_log(lost_after_kidnap: int = 5) -> ReplayLog:
    """Tracking at 2 cm error, except UNINITIALIZED for 3 frames at the start and RELOCALIZING
    for `lost_after_kidnap` frames after the teleport; the prior node (PoseNet and retrieval)
    answered twice, 3 m off."""
    log = ReplayLog("test.bag", bag_duration_s=10.0, images_published=100, wall_s=5.0)
    log.prior_source, log.prior_answers = "both", {"retrieval": 1, "posenet": 1}
    log.T_base_cam = T_BASE_CAM
    sun_map = np.array([0.6, 0.0, 0.8])
    for i in range(100):
        stamp = 100.0 + i / RATE_HZ
        truth = drive_truth(i)
        log.ground_truth.append((stamp, truth))
        log.sun_truth_map.append((stamp, sun_map))
        lost = i < 3 or 50 <= i < 50 + lost_after_kidnap
        state = TrackingState.RELOCALIZING if lost else TrackingState.TRACKING
        log.frames.append(FrameState(stamp, state, "", 20.0, 0 if lost else 150))
        if not lost:
            log.fused[stamp] = (shifted(truth, 0.02), np.eye(6) * 1e-4)
        log.step_ms.append(40.0)
    for i in (2, 50 + lost_after_kidnap - 1):
        stamp = 100.0 + i / RATE_HZ
        log.priors.append((stamp, PoseSample(shifted(drive_truth(i), 3.0), np.eye(6) * 4.0, 1.5)))
    for i in range(0, 100, 5):
        stamp = 100.0 + i / RATE_HZ
        sun_cam = (drive_truth(i) @ T_BASE_CAM).rotation.inv().apply(sun_map)
        log.sun.append((stamp, sun_estimate(sun_cam, 5.0)))
    return log


def test_figures_of_a_tracked_drive_with_a_kidnap():
    figures = replay_figures(make_log())
    fusion, reloc = figures["fusion"], figures["relocalization"]
    assert fusion["median_translation_m"] == pytest.approx(0.02, abs=1e-6)
    assert fusion["median_rotation_deg"] == pytest.approx(0.0, abs=1e-6)
    assert fusion["within_25cm_2deg"] == 1.0 and fusion["within_5cm_5deg"] == 1.0
    assert fusion["tracking_frames"] == 100 - 3 - 5
    assert reloc["kidnaps"] == 1 and reloc["relocalized"] == 1
    assert reloc["median_relocalization_s"] == pytest.approx(0.5)
    assert reloc["relocalized_within_1s"] == 1.0 and reloc["wrong_relocalizations"] == 0
    assert reloc["p90_relocalization_s"] == pytest.approx(0.5)
    assert reloc["first_fix_s"] == pytest.approx(0.3)
    prior = figures["prior"]
    assert prior["estimates"] == 2 and reloc["prior_poses"] == 2
    assert prior["source"] == reloc["prior_source"] == "both"
    assert prior["answers_from"] == {"retrieval": 1, "posenet": 1}
    assert prior["median_translation_m"] == pytest.approx(3.0)
    assert fusion["prior_median_translation_m"] == pytest.approx(3.0)
    assert fusion["improvement_over_prior"] == pytest.approx(150.0)
    sun = figures["sun"]
    assert sun["estimates"] == 20 and sun["sunny_frames"] == 20
    assert sun["median_error_deg"] == pytest.approx(0.0, abs=1e-6)
    assert sun["within_2sigma"] == 1.0
    assert figures["timing"]["realtime_factor"] == pytest.approx(10.0 / 5.0)
    assert figures["timing"]["fusion_frame_ms"] == 20.0


def test_a_kidnap_never_recovered_counts_as_not_relocalized():
    figures = replay_figures(make_log(lost_after_kidnap=50))
    assert figures["relocalization"]["kidnaps"] == 1
    assert figures["relocalization"]["relocalized"] == 0
    assert math.isnan(figures["relocalization"]["median_relocalization_s"])


def test_kidnap_is_a_ground_truth_jump_and_is_not_interpolated_across():
    log = make_log()
    records = frame_records(log)
    assert [i for i, r in enumerate(records) if r.kidnap] == [50]
    log.ground_truth = log.ground_truth[::2]  # 5 Hz ground truth: interpolated between samples
    middle = log.truth_at(100.0 + 11 / RATE_HZ)
    assert middle is not None
    assert middle.translation[0] == pytest.approx(1.1)
    log.ground_truth = [g for i, g in enumerate(make_log().ground_truth) if not 40 <= i < 60]
    assert log.truth_at(100.0 + 50 / RATE_HZ) is None  # a 2 s gap is not bridged


def test_results_and_report_are_written(tmp_path):
    log = make_log()
    write_results(log, tmp_path, progress=lambda _: None)
    figures = json.loads((tmp_path / "metrics.json").read_text())
    assert set(figures) >= {"prior", "sun", "fusion", "relocalization", "timing"}
    report = (tmp_path / "report.md").read_text()
    for png in ("trajectories.png", "errors.png", "cdf.png", "sun.png", "latency.png"):
        assert (tmp_path / png).stat().st_size > 5000
        assert f"({png})" in report
    assert "`median_translation_m`" in report
    fused = np.loadtxt(tmp_path / "fused.tum")
    assert fused.shape == (92, 8)
    assert len(np.loadtxt(tmp_path / "groundtruth.tum")) == 100


def test_report_without_ground_truth_keeps_latency_and_says_why(tmp_path):
    log = make_log()
    log.ground_truth.clear()
    log.error = "bag x is damaged, reading stopped"
    figures = replay_figures(log)
    assert figures["fusion"] == {} and figures["error"].startswith("bag x")
    write_report(log, figures, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "Partial report" in report and "no ground truth" in report
    assert (tmp_path / "latency.png").exists() and not (tmp_path / "trajectories.png").exists()


def test_a_new_run_clears_only_a_previous_run(tmp_path):
    previous = tmp_path / "run"
    (previous / "outputs").mkdir(parents=True)
    (previous / "metrics.json").write_text("{}")
    (previous / "cdf.png").write_text("x")
    (previous / "notes.txt").write_text("mine")
    prepare_output(previous)
    assert not (previous / "outputs").exists() and not (previous / "cdf.png").exists()
    assert (previous / "notes.txt").exists()
    stranger = tmp_path / "other"
    (stranger / "outputs").mkdir(parents=True)
    with pytest.raises(Exception, match="not a replay's"):
        prepare_output(stranger)


def test_metrics_json_is_strict_json_with_null_for_what_was_not_measured(tmp_path):
    def reject(constant):
        raise AssertionError(f"{constant} is not JSON")

    write_results(make_log(lost_after_kidnap=50), tmp_path, progress=lambda _: None)
    figures = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=reject)
    assert figures["relocalization"]["median_relocalization_s"] is None
    assert figures["relocalization"]["relocalized"] == 0
