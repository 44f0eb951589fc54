"""`evaluate posenet` on the same day and on "another day" sets: each set scored on its own and
pooled, PoseNet and retrieval on the same frames. A stand-in PoseNet (position = 10 x the image's
mean colour) makes every error computable from the images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from onnx_models import fake_posenet_model
from scipy.spatial.transform import Rotation

from pose_reloc.camera import PinholeCamera
from pose_reloc.datasets.record import Frame
from pose_reloc.datasets.synthetic import SyntheticDatasetWriter
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.posenet.evaluate import evaluate_posenet

LOOKING_ALONG_X = Rotation.from_quat([-0.5, 0.5, -0.5, 0.5])  # the stand-in's orientation
CAMERA = PinholeCamera(np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]), 32, 24, np.zeros(5))


def place_images():
    """Six distinct places: a colour and a stripe pattern each (retrieval tells them apart)."""
    images = []
    for k in range(6):
        stripes = (np.arange(32) // (k + 2)) % 2 == 0
        image = np.empty((24, 32, 3), np.uint8)
        image[:] = [40 + 30 * k, 180 - 20 * k, 90]
        image[:, stripes] += 60
        images.append(image)
    return images


def write_set(root, images, positions):
    writer = SyntheticDatasetWriter(root, {})
    for index, (image, position) in enumerate(zip(images, positions, strict=True)):
        cv2.imwrite(str(writer.image_path(index)), image[..., ::-1])
        T = Transform(LOOKING_ALONG_X, np.asarray(position, float))
        writer.add(Frame(0.1 * index, CAMERA, T, lambda image=image: image, "test"), 45.0)
    writer.close()
    return root


def stand_in_position(image):
    return 10.0 * image.reshape(-1, 3).mean(axis=0) / 255.0


def test_each_another_day_set_is_scored_on_its_own_and_pooled(tmp_path):
    model = fake_posenet_model(tmp_path / "p.onnx", noise_m=0.01)
    places = place_images()
    truth = [stand_in_position(image) for image in places]
    same_day = write_set(tmp_path / "same", places, truth)
    # another day, the same places in duller light: the stand-in is off by what the light moved
    dull = [(image * 0.7).astype(np.uint8) for image in places]
    dull_error = [
        np.linalg.norm(stand_in_position(d) - t) for d, t in zip(dull, truth, strict=True)
    ]
    dull_day = write_set(tmp_path / "dull", dull, truth)
    bright_day = write_set(tmp_path / "bright", places, truth)
    out = tmp_path / "eval.json"
    lines: list[str] = []
    figures = evaluate_posenet(
        model,
        same_day,
        same_day,
        out,
        samples=16,
        log=lines.append,
        another_day=[dull_day, bright_day],
    )
    assert figures["median_translation_m"] < 0.02
    sets = figures["another_day"]["sets"]
    assert set(sets) == {str(dull_day), str(bright_day)}
    assert sets[str(dull_day)]["median_translation_m"] == pytest.approx(
        np.median(dull_error), abs=0.02
    )
    assert sets[str(bright_day)]["median_translation_m"] < 0.02
    pooled = figures["another_day"]["all"]
    assert pooled["frames"] == 12
    pooled_errors = np.concatenate([dull_error, np.zeros(6)])
    assert pooled["median_translation_m"] == pytest.approx(np.median(pooled_errors), abs=0.02)
    # retrieval from the same-day frames finds each place again, dull or not
    assert sets[str(dull_day)]["retrieval"]["median_translation_m"] < 1e-6
    assert figures["retrieval"]["index"].startswith(f"built from {same_day}")
    assert json.loads(out.read_text())["another_day"]["all"]["frames"] == 12
    assert any(line.startswith("another day, all: 12 frames") for line in lines)


def test_an_empty_set_is_named(tmp_path):
    model = fake_posenet_model(tmp_path / "p.onnx")
    places = place_images()
    same_day = write_set(tmp_path / "same", places, [stand_in_position(i) for i in places])
    empty = write_set(tmp_path / "empty", [], [])
    with pytest.raises(PoseRelocError, match="empty holds no frames"):
        evaluate_posenet(model, same_day, log=lambda _: None, another_day=[empty])
