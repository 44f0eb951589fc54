"""Benchmarks of the fusion, never imported at run time.

- `fusion`: `pose-reloc evaluate fusion` (map fixes, odometry, sun, kidnaps against ground truth).
- `vo`: `pose-reloc evaluate vo` (monocular VO on a real sequence from a map of its first frames).
- `pnp_comparison`: `pose-reloc benchmark pnp` (OpenCV USAC against pycolmap on the same matches).
"""
