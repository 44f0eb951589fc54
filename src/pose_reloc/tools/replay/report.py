"""The replay report: PNG plots and a Markdown page that shows them beside the figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from pose_reloc.geometry import rotation_error_deg, translation_error_m
from pose_reloc.posenet.priors import PRIOR_LABELS
from pose_reloc.tools.replay.results import (
    ReplayLog,
    frame_records,
    priors_with_truth,
    state_spans,
)
from sun_bcnn.inference import angle_between_deg
from vo_fusion.tracking import TrackingState

STATE_COLOURS = {
    TrackingState.TRACKING: "#2ca02c",
    TrackingState.RELOCALIZING: "#ff7f0e",
    TrackingState.LOST: "#d62728",
    TrackingState.UNINITIALIZED: "#7f7f7f",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _prior_label(log: ReplayLog) -> str:
    return PRIOR_LABELS.get(log.prior_source, log.prior_source)


def plot_trajectories(log: ReplayLog, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 7))
    records = frame_records(log)
    truth = np.array([r.T_true.translation for r in records]).reshape(-1, 3)
    for segment in np.split(truth, [i for i, r in enumerate(records) if r.kidnap]):
        ax.plot(segment[:, 0], segment[:, 1], "k-", lw=1.5, label="ground truth")
    kidnaps = [r.T_true.translation for r in records if r.kidnap]
    if kidnaps:
        k = np.array(kidnaps)
        ax.plot(k[:, 0], k[:, 1], "m*", ms=16, label="kidnap: robot put down here")
    fused = np.array([T.translation for T, _ in log.fused.values()]).reshape(-1, 3)
    ax.plot(fused[:, 0], fused[:, 1], ".", color="#1f77b4", ms=3, label="fused (reloc/pose)")
    priors = np.array([s.T.translation for _, s in log.priors]).reshape(-1, 3)
    ax.plot(
        priors[:, 0],
        priors[:, 1],
        "o",
        mfc="none",
        color="#ff7f0e",
        ms=9,
        mew=2,
        label=f"prior: {_prior_label(log)} (reloc/posenet_pose)",
    )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="best", fontsize=8)
    ax.set(xlabel="map x (m)", ylabel="map y (m)", title="Top-down trajectories")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_errors(log: ReplayLog, path: Path) -> None:
    """Fused error over time with the fusion state as a coloured band, and the priors' errors."""
    plt = _pyplot()
    fig, (top, band) = plt.subplots(
        2, 1, figsize=(9, 4.5), sharex=True, gridspec_kw={"height_ratios": [5, 1]}
    )
    t0 = log.frames[0].stamp if log.frames else 0.0
    all_records = frame_records(log)
    records = [r for r in all_records if r.T_fused is not None]
    if records:
        top.semilogy(
            [r.stamp - t0 for r in records],
            [max(translation_error_m(r.T_fused, r.T_true), 1e-4) for r in records],  # type: ignore[arg-type]
            ".",
            ms=3,
            label="fused translation error (m)",
        )
    priors = priors_with_truth(log)
    if priors:
        top.semilogy(
            [t - t0 for t, _, _ in priors],
            [translation_error_m(s.T, truth) for _, s, truth in priors],
            "o",
            mfc="none",
            color="#ff7f0e",
            ms=8,
            label=f"prior ({_prior_label(log)}) translation error (m)",
        )
    for r in all_records:
        if r.kidnap:
            top.axvline(r.stamp - t0, color="m", ls="--", lw=1)
    top.set(ylabel="error (m)", title="Error over time (dashed: kidnap)")
    top.grid(alpha=0.3, which="both")
    top.legend(fontsize=8)
    for start, end, state in state_spans(log):
        band.axvspan(start - t0, end - t0 + 0.1, color=STATE_COLOURS[state], label=state.value)
    handles, labels = band.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    band.legend(
        unique.values(),
        unique.keys(),
        ncol=4,
        fontsize=7,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    band.set(yticks=[], xlabel="bag time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cdf(log: ReplayLog, path: Path) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    tracked = [
        r for r in frame_records(log) if r.T_fused is not None and r.state is TrackingState.TRACKING
    ]
    series = {
        "fused (TRACKING)": (
            [translation_error_m(r.T_fused, r.T_true) for r in tracked],  # type: ignore[arg-type]
            [rotation_error_deg(r.T_fused, r.T_true) for r in tracked],  # type: ignore[arg-type]
        ),
    }
    known = priors_with_truth(log)
    series[f"prior: {_prior_label(log)}"] = (
        [translation_error_m(s.T, truth) for _, s, truth in known],
        [rotation_error_deg(s.T, truth) for _, s, truth in known],
    )
    for label, (t_err, r_err) in series.items():
        if t_err:
            fraction = np.arange(1, len(t_err) + 1) / len(t_err)
            # clipped: a log axis cannot show an exact zero
            left.step(np.sort(np.maximum(t_err, 1e-4)), fraction, where="post", label=label)
            right.step(np.sort(np.maximum(r_err, 1e-3)), fraction, where="post", label=label)
    left.set(xscale="log", xlabel="translation error (m)", ylabel="fraction of frames")
    right.set(xscale="log", xlabel="rotation error (deg)")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("Error CDFs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sun(log: ReplayLog, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    points = []
    for stamp, estimate in log.sun:
        truth = log.sun_truth_cam(stamp)
        if truth is not None:
            points.append(
                (
                    estimate.spread_deg,
                    float(angle_between_deg(estimate.direction, truth)),
                    estimate.valid,
                )
            )
    for valid, colour, label in ((True, "#2ca02c", "valid"), (False, "#7f7f7f", "invalid")):
        chosen = [(s, e) for s, e, v in points if v is valid]
        if chosen:
            ax.plot(*zip(*chosen, strict=True), "o", color=colour, ms=4, label=label)
    if points:
        top = max(max(s for s, _, _ in points), 1.0)
        ax.plot([0, top], [0, top], "k--", lw=1, label="error = 1 sigma")
        ax.plot([0, top], [0, 2 * top], "k:", lw=1, label="error = 2 sigma")
    ax.set(
        xlabel="predicted sigma (deg)",
        ylabel="sun direction error (deg)",
        title="Sun-BCNN: error against predicted sigma",
    )
    ax.grid(alpha=0.3)
    if points:
        ax.legend(fontsize=8)
    else:
        ax.text(
            0.5, 0.5, "no sun estimate with a known true sun", ha="center", transform=ax.transAxes
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(log: ReplayLog, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    series = {
        "vo_fusion_node per image": [f.frame_ms for f in log.frames if math.isfinite(f.frame_ms)],
        "whole graph per image": log.step_ms,
        "Sun-BCNN inference": [e.inference_ms for _, e in log.sun],
        f"prior ({_prior_label(log)})": [s.latency_ms for _, s in log.priors],
    }
    for label, values in series.items():
        if values:
            ax.hist(values, bins=40, alpha=0.6, label=f"{label} (median {np.median(values):.1f})")
    ax.axvline(100.0, color="k", ls="--", lw=1, label="10 Hz budget")
    ax.set(xlabel="ms", ylabel="count", title="Latency", yscale="log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PLOTS = {
    "trajectories.png": plot_trajectories,
    "errors.png": plot_errors,
    "cdf.png": plot_cdf,
    "sun.png": plot_sun,
    "latency.png": plot_latency,
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _table(section: dict[str, Any]) -> list[str]:
    rows = ["| figure | value |", "|---|---|"]
    rows += [f"| `{k}` | {_fmt(v)} |" for k, v in section.items() if not isinstance(v, dict)]
    return rows


def write_report(log: ReplayLog, figures: dict[str, Any], folder: Path) -> Path:
    """report.md with the plots (PNG) beside it; plots that need ground truth are skipped without."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# pose_reloc replay of `{figures['bag']}`", ""]
    if figures.get("error"):
        lines += [f"**Partial report:** {figures['error']}", ""]
    timing = figures["timing"]
    lines += [
        f"{figures['images']} images in {_fmt(timing['wall_s'])} s of wall time "
        f"(realtime factor {_fmt(timing['realtime_factor'])}).",
        "",
    ]
    needs_truth = {"trajectories.png", "errors.png", "cdf.png", "sun.png"}
    for name, plot in PLOTS.items():
        if name in needs_truth and not log.ground_truth:
            continue
        plot(log, folder / name)
        lines += [f"![{name[:-4]}]({name})", ""]
    if not log.ground_truth:
        lines += ["The bag has no ground truth: accuracy figures and their plots are left out.", ""]
    for section in ("fusion", "relocalization", "prior", "sun", "timing"):
        lines += [f"## {section}", "", *_table(figures.get(section, {})), ""]
    drops = figures.get("drops", {})
    if any(drops.values()):
        lines += ["## dropped messages", ""]
        lines += [f"- {node}: {counts}" for node, counts in drops.items() if counts]
        lines.append("")
    report = folder / "report.md"
    report.write_text("\n".join(lines))
    return report
