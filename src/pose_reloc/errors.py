"""The one exception family of pose_reloc's core: catch PoseRelocError to catch them all."""


class PoseRelocError(Exception):
    """Base of every error pose_reloc raises on purpose; the message says what was wrong and the fix."""


class GeometryError(PoseRelocError):
    """A transform, quaternion or covariance that is not what it must be (NaN, not unit, not PSD)."""


class CameraModelError(PoseRelocError):
    """Camera intrinsics that cannot describe a camera (NaN, zero focal length, bad distortion)."""


class ImageDecodeError(PoseRelocError):
    """An image payload that cannot be decoded as it claims (encoding, size, step, truncation)."""


class NotACameraImageError(ImageDecodeError):
    """An image whose encoding is not a camera's (depth, disparity, generic 16/32-bit): refused as
    a camera frame, since its pixels decoded as grey would give poses from depth."""


class ModelLoadError(PoseRelocError):
    """An ONNX model that cannot be used: missing, corrupt, unsupported, or not the expected shape."""


class ConversionError(PoseRelocError):
    """A ROS message whose fields cannot become a core value (wrong length, NaN, bad frame)."""
