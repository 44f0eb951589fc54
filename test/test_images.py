"""Image payload decoding: every encoding, padding, byte order, compression, and malformed input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pose_reloc.errors import ImageDecodeError, NotACameraImageError
from pose_reloc.images import (
    CAMERA_ENCODINGS,
    PIXEL_FORMATS,
    check_camera_encoding,
    convert_encoding,
    declared_compressed_encoding,
    decode_compressed,
    decode_image,
    encode_compressed,
    encode_image,
)

RNG = np.random.default_rng(3)


def random_pixels(encoding: str, height: int = 6, width: int = 8) -> np.ndarray:
    fmt = PIXEL_FORMATS[encoding]
    shape = (height, width) if fmt.channels == 1 else (height, width, fmt.channels)
    dtype = np.dtype(fmt.dtype)
    if dtype.kind == "f":
        return RNG.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("encoding", sorted(PIXEL_FORMATS))
def test_every_encoding_round_trips(encoding):
    pixels = random_pixels(encoding)
    step, data = encode_image(pixels, encoding)
    decoded = decode_image(6, 8, encoding, step, data)
    assert decoded.dtype == pixels.dtype and decoded.shape == pixels.shape
    np.testing.assert_array_equal(decoded, pixels)


def test_row_padding_is_skipped():
    pixels = random_pixels("rgb8")
    step = 8 * 3 + 5
    padded = np.full((6, step), 0xAB, np.uint8)
    padded[:, :24] = pixels.reshape(6, 24)
    np.testing.assert_array_equal(decode_image(6, 8, "rgb8", step, padded.tobytes()), pixels)


def test_big_endian_16_bit_is_swapped_to_native():
    depth = np.array([[1, 256, 4660]], dtype=np.uint16)
    data = depth.astype(">u2").tobytes()
    decoded = decode_image(1, 3, "16UC1", 6, data, is_bigendian=True)
    np.testing.assert_array_equal(decoded, depth)
    assert decoded.dtype.isnative
    assert decode_image(1, 3, "16UC1", 6, data, is_bigendian=False)[0, 1] == 1  # 0x0100 read as LE


def test_yuv422_grey_decodes_to_the_same_grey():
    for encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv"):
        data = np.full((4, 8), 128, np.uint8).tobytes()  # Y = U = V = 128
        pixels = decode_image(4, 4, encoding, 8, data)
        rgb = convert_encoding(pixels, encoding, "rgb8")
        assert rgb.shape == (4, 4, 3)
        # BT.601 video range, as OpenCV and cv_bridge decode it: (Y - 16) * 255 / 219.
        np.testing.assert_allclose(rgb, (128 - 16) * 255 / 219, atol=1)


def test_uyvy_and_yuyv_byte_orders_differ():
    row = np.array([[60, 200, 60, 200]], np.uint8)  # UYVY: U=60 Y=200 V=60 Y=200; YUYV: Y=60 ...
    uyvy = convert_encoding(decode_image(1, 2, "yuv422", 4, row.tobytes()), "yuv422", "mono8")
    yuyv = convert_encoding(decode_image(1, 2, "yuyv", 4, row.tobytes()), "yuyv", "mono8")
    assert uyvy.mean() > 180 and yuyv.mean() < 80


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_demosaic_a_pure_red_scene_to_red(pattern):
    red_at = {"rggb": (0, 0), "bggr": (1, 1), "gbrg": (1, 0), "grbg": (0, 1)}[pattern]
    mosaic = np.zeros((8, 8), np.uint8)
    mosaic[red_at[0] :: 2, red_at[1] :: 2] = 200
    rgb = convert_encoding(
        decode_image(8, 8, f"bayer_{pattern}8", 8, mosaic.tobytes()), f"bayer_{pattern}8", "rgb8"
    )
    centre = rgb[2:6, 2:6].reshape(-1, 3).mean(axis=0)
    assert centre[0] > 150 and centre[1] < 30 and centre[2] < 30


def test_conversions_to_rgb_bgr_mono():
    rgb = random_pixels("rgb8")
    np.testing.assert_array_equal(convert_encoding(rgb, "rgb8", "bgr8"), rgb[..., ::-1])
    bgra = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(convert_encoding(bgra, "bgra8", "rgb8"), rgb)
    mono16 = np.array([[0, 65535, 32896]], np.uint16)
    np.testing.assert_array_equal(convert_encoding(mono16, "mono16", "mono8"), [[0, 255, 128]])
    with pytest.raises(ImageDecodeError, match="colour"):
        convert_encoding(np.zeros((2, 2), np.float32), "32FC1", "rgb8")


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_compressed_round_trip(kind):
    yy, xx = np.mgrid[0:48, 0:64]
    bgr = np.dstack([xx * 4, yy * 5, (xx + yy) * 2]).astype(np.uint8)
    pixels, encoding = decode_compressed(
        f"bgr8; {kind} compressed bgr8", encode_compressed(bgr, kind)
    )
    assert encoding == "bgr8" and pixels.shape == bgr.shape
    np.testing.assert_allclose(pixels.astype(int), bgr.astype(int), atol=0 if kind == "png" else 12)


@pytest.mark.parametrize(("kind", "message"), [("jpeg", "end-of-image"), ("png", "IEND")])
def test_truncated_compression_is_refused_not_half_decoded(kind, message):
    payload = encode_compressed(np.full((48, 64, 3), 90, np.uint8), kind)
    with pytest.raises(ImageDecodeError, match=message):
        decode_compressed(kind, payload[: len(payload) // 2])


def test_compressed_garbage_and_unknown_formats():
    with pytest.raises(ImageDecodeError, match="SOI"):
        decode_compressed("jpeg", b"not an image")
    with pytest.raises(ImageDecodeError, match="neither jpeg nor png"):
        decode_compressed("tiff", b"II*\x00")
    with pytest.raises(ImageDecodeError, match="compressedDepth"):
        decode_compressed("16UC1; compressedDepth png", b"")
    with pytest.raises(ImageDecodeError, match="could not be decoded"):
        decode_compressed("jpeg", b"\xff\xd8\x00\x00\xff\xd9")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"width": 0}, "empty"),
        ({"encoding": "rgb9"}, "unknown image encoding"),
        ({"step": 23}, "smaller than one row"),
        ({"data": bytes(24 * 6 - 1)}, "truncated"),
        ({"data": bytes(24 * 6 + 24)}, "truncated"),
        ({"encoding": "yuv422", "width": 3, "step": 6, "data": bytes(36)}, "even"),
    ],
)
def test_malformed_images_raise_specific_errors(fields, message):
    args = {"height": 6, "width": 8, "encoding": "rgb8", "step": 24, "data": bytes(24 * 6)} | fields
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(**args)


@settings(max_examples=300, deadline=None)
@given(
    height=st.integers(-1, 6),
    width=st.integers(-1, 6),
    encoding=st.sampled_from([*sorted(PIXEL_FORMATS), "", "RGB8", "bayer_xyz8"]),
    step=st.integers(-1, 64),
    data=st.binary(max_size=300),
    big=st.booleans(),
)
def test_any_payload_decodes_consistently_or_raises_image_decode_error(
    height, width, encoding, step, data, big
):
    try:
        pixels = decode_image(height, width, encoding, step, data, big)
    except ImageDecodeError:
        return
    fmt = PIXEL_FORMATS[encoding]
    assert pixels.shape[:2] == (height, width)
    assert pixels.dtype == np.dtype(fmt.dtype) and pixels.dtype.isnative
    assert len(data) == step * height


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), kind=st.sampled_from(["jpeg", "png"]))
def test_any_compressed_payload_decodes_or_raises_image_decode_error(data, kind):
    try:
        pixels, _ = decode_compressed(kind, data)
    except ImageDecodeError:
        return
    assert pixels.size > 0


@pytest.mark.skipif(
    importlib.util.find_spec("cv_bridge") is None,
    reason="cv_bridge not installed (no PyPI wheel; it exists on a ROS 2 install)",
)
@pytest.mark.parametrize(
    "encoding", ["rgb8", "bgra8", "mono16", "16UC1", "32FC1", "yuv422", "bayer_rggb8"]
)
def test_identical_to_cv_bridge(encoding):
    from cv_bridge import CvBridge

    from pose_reloc.ros import convert as ros_convert

    pixels = random_pixels(encoding, 6, 8)
    msg = ros_convert.array_to_image_msg(pixels, encoding, ros_convert.make_header(0.0, "cam"))
    bridge = CvBridge()
    np.testing.assert_array_equal(
        decode_image(6, 8, encoding, msg.step, msg.data), bridge.imgmsg_to_cv2(msg)
    )
    if encoding not in ("32FC1", "16UC1"):  # cv_bridge has no colour conversion for these
        expected = bridge.imgmsg_to_cv2(msg, "bgr8")
        np.testing.assert_array_equal(convert_encoding(pixels, encoding, "bgr8"), expected)


@pytest.mark.parametrize(
    "encoding",
    ["rgb8", "bgr8", "rgba8", "bgra16", "rgb16", "mono8", "bayer_rggb8", "bayer_gbrg16", "yuv422"],
)
def test_camera_encodings_are_colour_bayer_yuv_and_mono8(encoding):
    check_camera_encoding(encoding)  # no error
    assert encoding in CAMERA_ENCODINGS


@pytest.mark.parametrize(
    "encoding", ["16UC1", "32FC1", "mono16", "16SC1", "64FC1", "8SC1", "8UC1", "32SC1", "8UC3"]
)
def test_depth_and_generic_encodings_are_not_camera_images(encoding):
    with pytest.raises(NotACameraImageError, match=rf"{encoding}.*remap `image`"):
        check_camera_encoding(encoding)
    assert encoding not in CAMERA_ENCODINGS


def test_every_known_encoding_is_either_a_camera_one_or_refused_and_unknown_is_a_decode_error():
    generic = {e for e in PIXEL_FORMATS if e[0].isdigit()}
    assert set(PIXEL_FORMATS) - generic - {"mono16"} == CAMERA_ENCODINGS
    with pytest.raises(ImageDecodeError, match="unknown image encoding") as caught:
        check_camera_encoding("rgb9")
    assert not isinstance(caught.value, NotACameraImageError)


def test_declared_encoding_of_a_compressed_format():
    assert declared_compressed_encoding("bgr8; jpeg compressed bgr8") == "bgr8"
    assert declared_compressed_encoding("16UC1; png compressed 16UC1") == "16UC1"
    assert declared_compressed_encoding("jpeg") is None
    assert declared_compressed_encoding("; png") is None
