"""SITE/report.md: what map-site did and measured, with a top-down plot of the trajectories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pose_reloc.geometry import Transform


def plot_trajectories(
    path: Path,
    mapped: Sequence[Transform],
    odometry: Sequence[Transform],
    truth: Sequence[Transform | None],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 7))
    for poses, label, style in ((odometry, "odometry", ":"), (mapped, "mapped", "-")):
        xy = np.array([T.translation[:2] for T in poses])
        axes.plot(xy[:, 0], xy[:, 1], style, label=label, linewidth=1)
    known = [T for T in truth if T is not None]
    if known:
        xy = np.array([T.translation[:2] for T in known])
        axes.plot(xy[:, 0], xy[:, 1], "--", label="ground truth (scoring only)", linewidth=1)
    axes.set_aspect("equal")
    axes.set_xlabel("x (m)")
    axes.set_ylabel("y (m)")
    axes.legend()
    axes.set_title("keyframe camera centres, top-down")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(path: Path, figures: dict[str, Any], command: str) -> None:
    rows = "\n".join(f"| {key} | {_format(value)} |" for key, value in figures.items())
    path.write_text(
        "# Site map\n\n"
        f"Made by `{command}`.\n\n"
        "![trajectories](trajectory.png)\n\n"
        "| figure | value |\n|---|---|\n"
        f"{rows}\n\n"
        "Keyframe ATE and scale error are measured against the bag's ground truth when it has "
        "one (never used to map). `frames_registered` counts the frames the map refinement "
        "accepted (the poses in frames.tum and dataset/).\n"
    )


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)
