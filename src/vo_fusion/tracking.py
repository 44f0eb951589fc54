"""The fusion's tracking states, and the rule that says when tracking is lost.

UNINITIALIZED (nothing seen yet) → RELOCALIZING (waiting for a PoseNet prior that PnP against the
map confirms) → TRACKING → LOST (`LostRule`) → RELOCALIZING …
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TrackingState(Enum):
    UNINITIALIZED = "UNINITIALIZED"
    RELOCALIZING = "RELOCALIZING"
    TRACKING = "TRACKING"
    LOST = "LOST"


@dataclass(frozen=True)
class LostRule:
    """Tracking is lost when the filter diverged, after `after_failures` consecutive frames with
    neither odometry nor a map fix, or at once on a failed frame in which the odometry kept fewer
    than `min_kept_fraction` of its points (the view changed: kidnapped, lens covered; waiting
    would report the old place meanwhile)."""

    after_failures: int
    min_kept_fraction: float

    def why_lost(self, failures: int, kept_fraction: float, filter_diverged: bool) -> str:
        """Why tracking is lost after a frame ('' while it is not): `failures` consecutive failed
        frames up to this one, the fraction of its points the odometry kept into it."""
        if filter_diverged:
            return "filter diverged"
        if failures > 0 and kept_fraction < self.min_kept_fraction:
            return f"view changed: odometry kept {100 * kept_fraction:.0f}% of its points"
        if failures >= self.after_failures:
            return f"{failures} frames untracked"
        return ""
