"""Pinhole camera: projection/unprojection, CameraInfo binning and ROI, resizing, bad intrinsics."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_reloc.camera import PinholeCamera, resize_for_network
from pose_reloc.errors import CameraModelError

K = np.array([[300.0, 0.0, 159.5], [0.0, 310.0, 119.5], [0.0, 0.0, 1.0]])
DISTORTIONS = [
    ("plumb_bob", [0.0, 0.0, 0.0, 0.0, 0.0]),
    ("plumb_bob", [-0.25, 0.08, 0.001, -0.002, 0.0]),
    ("rational_polynomial", [-0.2, 0.05, 0.001, 0.001, 0.0, 0.01, 0.0, 0.0]),
    ("equidistant", [0.05, -0.01, 0.002, 0.0]),
]


def scene_points(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.column_stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-1, 1, n), rng.uniform(2, 8, n)])


@pytest.mark.parametrize(("model", "D"), DISTORTIONS)
def test_unproject_inverts_project(model, D):
    camera = PinholeCamera(K, 320, 240, np.asarray(D), model)
    points = scene_points()
    pixels, _ = camera.project(points)
    rays = camera.unproject(pixels)
    np.testing.assert_allclose(
        rays, points / np.linalg.norm(points, axis=1, keepdims=True), atol=1e-6
    )


def test_undistorted_projection_is_the_pinhole_formula_and_matches_opencv():
    camera = PinholeCamera(K, 320, 240, np.zeros(5))
    points = scene_points()
    pixels, inside = camera.project(points)
    np.testing.assert_allclose(pixels[:, 0], 300.0 * points[:, 0] / points[:, 2] + 159.5)
    opencv, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), K, np.zeros(5))
    np.testing.assert_allclose(pixels, opencv.reshape(-1, 2), atol=1e-9)
    expected_inside = (
        (pixels[:, 0] >= -0.5)
        & (pixels[:, 0] < 319.5)
        & (pixels[:, 1] >= -0.5)
        & (pixels[:, 1] < 239.5)
    )
    np.testing.assert_array_equal(inside, expected_inside)


def test_points_behind_the_camera_are_not_projected():
    camera = PinholeCamera(K, 320, 240, np.zeros(5))
    pixels, inside = camera.project([[0.0, 0.0, -2.0], [0.0, 0.0, 2.0]])
    assert np.all(np.isnan(pixels[0])) and not inside[0]
    np.testing.assert_allclose(pixels[1], [159.5, 119.5])
    assert inside[1]


def test_binning_and_roi_give_the_intrinsics_of_the_delivered_image():
    full = PinholeCamera(K, 320, 240, np.zeros(5))
    roi = (40, 20, 200, 160)
    binned = PinholeCamera.from_camera_info(
        K=K.reshape(-1),
        D=np.zeros(5),
        distortion_model="plumb_bob",
        width=320,
        height=240,
        binning_x=2,
        binning_y=2,
        roi=roi,
    )
    assert (binned.width, binned.height) == (100, 80)
    points = scene_points()
    full_pixels, _ = full.project(points)
    # A 2x2 bin averages full-resolution pixels 2i and 2i+1 of the window: its centre is at 2i + 0.5.
    expected = (full_pixels - [roi[0], roi[1]] + 0.5) / 2.0 - 0.5
    np.testing.assert_allclose(binned.project(points)[0], expected, atol=1e-9)


def test_roi_outside_the_image_is_refused():
    with pytest.raises(CameraModelError, match="ROI"):
        PinholeCamera.from_camera_info(
            K=K, D=[], distortion_model="plumb_bob", width=320, height=240, roi=(300, 0, 100, 100)
        )


def test_network_input_camera_matches_the_resized_image():
    camera = PinholeCamera(K, 320, 240, np.zeros(5))
    net = camera.for_network_input((224, 224), center_crop=True)
    # A bright dot around pixel (210, 70) lands, after crop and resize, where the network camera
    # projects the ray through that pixel.
    image = np.zeros((240, 320), np.uint8)
    image[68:73, 208:213] = 255
    small = resize_for_network(image, (224, 224), center_crop=True).astype(float)
    rows, cols = np.indices(small.shape)
    centroid = [(cols * small).sum() / small.sum(), (rows * small).sum() / small.sum()]
    ray = camera.unproject([[210.0, 70.0]])
    np.testing.assert_allclose(centroid, net.project(ray)[0][0], atol=0.05)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"K": np.full(9, np.nan)}, "NaN"),
        ({"K": np.zeros(9)}, "uncalibrated"),
        ({"K": np.eye(3)[:2]}, "9 entries"),
        ({"D": np.zeros(3)}, "coefficients"),
        ({"distortion_model": "fisheye_magic"}, "not supported"),
        ({"width": 0}, "size"),
        ({"D": [np.nan, 0, 0, 0, 0]}, "NaN"),
    ],
)
def test_bad_intrinsics_raise_a_specific_error(kwargs, message):
    args = {
        "K": K,
        "width": 320,
        "height": 240,
        "D": np.zeros(5),
        "distortion_model": "plumb_bob",
    } | kwargs
    with pytest.raises(CameraModelError, match=message):
        PinholeCamera(**args)
