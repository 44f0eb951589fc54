"""Whether ROS 2's launch and launch_testing are installed. A plain `import launch` is not proof:
the repository's own launch/ folder imports as a namespace package where ROS 2 has none."""

from __future__ import annotations

from pathlib import Path

try:
    from launch import LaunchDescription  # noqa: F401
    from launch_testing.actions import ReadyToTest  # noqa: F401

    LAUNCH_MISSING: str | None = None
except ImportError:
    LAUNCH_MISSING = "launch not installed (ROS 2 launch and launch_testing run these on a robot)"

LAUNCH_DIR = Path(__file__).resolve().parents[1] / "launch"
DEMO_BAG = Path(__file__).resolve().parents[1] / "data" / "demo" / "kidnap_drive"
