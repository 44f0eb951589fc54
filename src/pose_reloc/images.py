"""Decoding of sensor_msgs/Image and CompressedImage payloads into numpy arrays, as cv_bridge does.

`decode_image` is cv_bridge's `imgmsg_to_cv2(msg, "passthrough")`: the pixels as they are encoded,
(H, W) for one channel and (H, W, C) otherwise, in native byte order. `convert_encoding` is its
conversion to rgb8 / bgr8 / mono8 (demosaicing Bayer, converting YUV 4:2:2, scaling 16-bit by
255/65535). Every malformed payload raises ImageDecodeError saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.errors import ImageDecodeError, NotACameraImageError


@dataclass(frozen=True)
class PixelFormat:
    dtype: str  # numpy dtype name of one channel
    channels: int


def _generic_formats() -> dict[str, PixelFormat]:
    depths = {"8U": "uint8", "8S": "int8", "16U": "uint16", "16S": "int16", "32S": "int32"}
    depths |= {"32F": "float32", "64F": "float64"}
    return {f"{d}C{c}": PixelFormat(t, c) for d, t in depths.items() for c in (1, 2, 3, 4)}


PIXEL_FORMATS: dict[str, PixelFormat] = {
    "rgb8": PixelFormat("uint8", 3),
    "bgr8": PixelFormat("uint8", 3),
    "rgba8": PixelFormat("uint8", 4),
    "bgra8": PixelFormat("uint8", 4),
    "rgb16": PixelFormat("uint16", 3),
    "bgr16": PixelFormat("uint16", 3),
    "rgba16": PixelFormat("uint16", 4),
    "bgra16": PixelFormat("uint16", 4),
    "mono8": PixelFormat("uint8", 1),
    "mono16": PixelFormat("uint16", 1),
    # YUV 4:2:2, two bytes per pixel: "yuv422" is UYVY, "yuv422_yuy2" is YUYV (both names exist).
    "yuv422": PixelFormat("uint8", 2),
    "uyvy": PixelFormat("uint8", 2),
    "yuv422_yuy2": PixelFormat("uint8", 2),
    "yuyv": PixelFormat("uint8", 2),
    **{
        f"bayer_{p}{b}": PixelFormat(f"uint{b}", 1)
        for p in ("rggb", "bggr", "gbrg", "grbg")
        for b in (8, 16)
    },
    **_generic_formats(),
}

# OpenCV names a Bayer pattern by the 2x2 block starting at pixel (1, 1), ROS by the one at (0, 0).
_BAYER_TO_BGR = {
    "rggb": cv2.COLOR_BayerBG2BGR,
    "bggr": cv2.COLOR_BayerRG2BGR,
    "gbrg": cv2.COLOR_BayerGR2BGR,
    "grbg": cv2.COLOR_BayerGB2BGR,
}
_YUV_TO_BGR = {
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "uyvy": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuyv": cv2.COLOR_YUV2BGR_YUY2,
}
COLOUR_TARGETS = ("rgb8", "bgr8", "mono8")

# What a camera publishes: colour (8 or 16 bits), Bayer mosaics, YUV 4:2:2 and 8-bit grey. mono16
# and the generic OpenCV types (16UC1, 32FC1, 8UC1, ...) are how depth, disparity and IR images
# are published: decoded as grey they would give poses from depth, so they are no camera frames.
CAMERA_ENCODINGS: frozenset[str] = frozenset(
    e
    for e in PIXEL_FORMATS
    if e.startswith(("rgb", "bgr", "bayer_")) or e in _YUV_TO_BGR or e == "mono8"
)


def pixel_format(encoding: str) -> PixelFormat:
    try:
        return PIXEL_FORMATS[encoding]
    except KeyError:
        raise ImageDecodeError(
            f"unknown image encoding {encoding!r}; supported: {', '.join(sorted(PIXEL_FORMATS))}"
        ) from None


def check_camera_encoding(encoding: str) -> None:
    """Raise NotACameraImageError unless `encoding` is a camera's (see CAMERA_ENCODINGS), and
    ImageDecodeError for an encoding that is not known at all."""
    pixel_format(encoding)
    if encoding in CAMERA_ENCODINGS:
        return
    grey = (
        "; a 16-bit grey camera (mono16) must be republished as mono8"
        if encoding == "mono16"
        else ""
    )
    raise NotACameraImageError(
        f"encoding {encoding!r} is not a camera image (depth, disparity, IR or a generic "
        "OpenCV type): remap `image` to the colour, Bayer or mono8 camera topic (e.g. "
        f"image_raw or image_rect_color, not depth/image_raw){grey}"
    )


def declared_compressed_encoding(format_field: str) -> str | None:
    """The pixel encoding a CompressedImage format names before its ';' ("16UC1; png compressed
    16UC1" -> "16UC1"), or None for a bare "jpeg" / "png"."""
    head, separator, _ = format_field.partition(";")
    return head.strip() if separator and head.strip() else None


def decode_image(
    height: int,
    width: int,
    encoding: str,
    step: int,
    data: bytes | bytearray | memoryview | NDArray,
    is_bigendian: bool = False,
) -> NDArray:
    """The pixels of a sensor_msgs/Image (fields as in the message) as a native-order array."""
    fmt = pixel_format(encoding)
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"image size {width}x{height} is empty")
    if encoding in _YUV_TO_BGR and width % 2:
        raise ImageDecodeError(f"{encoding} packs pixel pairs: width {width} must be even")
    item = np.dtype(fmt.dtype).itemsize
    row_bytes = width * fmt.channels * item
    if step < row_bytes:
        raise ImageDecodeError(
            f"step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} bytes)"
        )
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    buffer = buffer.reshape(-1).view(np.uint8)
    if buffer.size != step * height:
        raise ImageDecodeError(
            f"data holds {buffer.size} bytes but step x height = {step} x {height} = "
            f"{step * height}: the message is truncated or its size fields are wrong"
        )
    rows = np.ascontiguousarray(buffer.reshape(height, step)[:, :row_bytes])
    wire_dtype = np.dtype(fmt.dtype).newbyteorder(">" if is_bigendian else "<")
    pixels = rows.view(wire_dtype).astype(np.dtype(fmt.dtype).newbyteorder("="), copy=False)
    shape = (height, width) if fmt.channels == 1 else (height, width, fmt.channels)
    return np.ascontiguousarray(pixels.reshape(shape))


def convert_encoding(pixels: NDArray, encoding: str, target: str) -> NDArray:
    """Pixels of `encoding` converted to rgb8, bgr8 or mono8 (cv_bridge's conversions)."""
    if target not in COLOUR_TARGETS:
        raise ImageDecodeError(f"conversion target {target!r} is not one of {COLOUR_TARGETS}")
    if encoding == target:
        return pixels
    bgr = _to_bgr_or_mono8(pixels, encoding)
    if bgr.ndim == 2:
        code = {"rgb8": cv2.COLOR_GRAY2RGB, "bgr8": cv2.COLOR_GRAY2BGR, "mono8": None}[target]
    else:
        code = {"rgb8": cv2.COLOR_BGR2RGB, "bgr8": None, "mono8": cv2.COLOR_BGR2GRAY}[target]
    return bgr if code is None else cv2.cvtColor(bgr, code)


def _to_bgr_or_mono8(pixels: NDArray, encoding: str) -> NDArray:
    fmt = pixel_format(encoding)
    if encoding in _YUV_TO_BGR:
        return cv2.cvtColor(pixels, _YUV_TO_BGR[encoding])
    if encoding.startswith("bayer_"):
        bgr = cv2.cvtColor(pixels, _BAYER_TO_BGR[encoding[6:10]])
        return _scale_to_8bit(bgr)
    named = {"rgb": cv2.COLOR_RGB2BGR, "rgba": cv2.COLOR_RGBA2BGR, "bgra": cv2.COLOR_BGRA2BGR}
    stem = encoding.rstrip("0123456789")
    if stem in ("mono", "bgr"):
        return _scale_to_8bit(pixels)
    if stem in named:
        return cv2.cvtColor(_scale_to_8bit(pixels), named[stem])
    if fmt.channels == 1 and fmt.dtype in ("uint8", "uint16"):
        return _scale_to_8bit(pixels)
    raise ImageDecodeError(
        f"cannot convert {encoding} to a colour image: it is not a colour or grey-level format"
    )


def _scale_to_8bit(pixels: NDArray) -> NDArray:
    if pixels.dtype == np.uint8:
        return pixels
    return np.asarray(cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0))


def encode_image(pixels: NDArray, encoding: str) -> tuple[int, bytes]:
    """(step, data) of a sensor_msgs/Image holding these pixels in `encoding`, little-endian."""
    fmt = pixel_format(encoding)
    expected_ndim = 2 if fmt.channels == 1 else 3
    if pixels.ndim != expected_ndim or (fmt.channels > 1 and pixels.shape[2] != fmt.channels):
        raise ImageDecodeError(
            f"an array of shape {pixels.shape} cannot be {encoding} ({fmt.channels} channels)"
        )
    if pixels.dtype != np.dtype(fmt.dtype):
        raise ImageDecodeError(f"{encoding} holds {fmt.dtype} pixels, the array is {pixels.dtype}")
    little = np.ascontiguousarray(pixels, dtype=np.dtype(fmt.dtype).newbyteorder("<"))
    return pixels.shape[1] * fmt.channels * little.itemsize, little.tobytes()


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def compression_of(format_field: str) -> str:
    """'jpeg' or 'png' from a CompressedImage format ('jpeg', 'bgr8; jpeg compressed bgr8', …)."""
    text = format_field.lower()
    if "compresseddepth" in text:
        raise ImageDecodeError(
            f"CompressedImage format {format_field!r} (compressedDepth) is not supported; "
            "subscribe to the raw or jpeg/png-compressed colour topic"
        )
    if "png" in text:
        return "png"
    if "jpeg" in text or "jpg" in text:
        return "jpeg"
    raise ImageDecodeError(f"CompressedImage format {format_field!r} is neither jpeg nor png")


def decode_compressed(
    format_field: str, data: bytes | bytearray | memoryview
) -> tuple[NDArray, str]:
    """The pixels of a CompressedImage and their encoding (bgr8, bgra8, mono8 or mono16)."""
    kind = compression_of(format_field)
    payload = bytes(data)
    _check_complete(kind, payload)
    pixels = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise ImageDecodeError(f"the {kind} payload ({len(payload)} bytes) could not be decoded")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels == 1:
        return pixels, "mono16" if pixels.dtype == np.uint16 else "mono8"
    bits = "16" if pixels.dtype == np.uint16 else "8"
    return pixels, ("bgr" if channels == 3 else "bgra") + bits


def _check_complete(kind: str, payload: bytes) -> None:
    # Decoders return a partly grey image for a truncated JPEG instead of failing: check the markers.
    if kind == "jpeg":
        if not payload.startswith(b"\xff\xd8"):
            raise ImageDecodeError("the jpeg payload does not start with a JPEG SOI marker")
        if not payload.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise ImageDecodeError("the jpeg payload is truncated: it has no end-of-image marker")
    else:
        if not payload.startswith(_PNG_SIGNATURE):
            raise ImageDecodeError("the png payload does not start with the PNG signature")
        if not payload.endswith(_PNG_IEND):
            raise ImageDecodeError("the png payload is truncated: it has no IEND chunk")


def encode_compressed(pixels: NDArray, kind: str = "jpeg", quality: int = 90) -> bytes:
    """A jpeg or png payload of bgr8 / mono8 pixels (as image_transport's compressed plugin makes)."""
    if kind not in ("jpeg", "png"):
        raise ImageDecodeError(f"compression {kind!r} is neither jpeg nor png")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if kind == "jpeg" else []
    ok, encoded = cv2.imencode(".jpg" if kind == "jpeg" else ".png", pixels, params)
    if not ok:
        raise ImageDecodeError(
            f"OpenCV could not encode a {pixels.shape} {pixels.dtype} image as {kind}"
        )
    return bytes(encoded.tobytes())
