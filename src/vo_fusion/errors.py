"""`VoFusionError`, the one exception type of vo_fusion."""

from __future__ import annotations

from pose_reloc.errors import PoseRelocError


class VoFusionError(PoseRelocError):
    """The one exception of vo_fusion: a map that cannot be built, read or used; says the fix."""
