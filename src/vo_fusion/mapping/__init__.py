"""Mapping a site from what a robot records (no ground truth): keyframes chosen by the robot's
odometry, their poses estimated from the images anchored on that odometry, and the feature map
built from those poses. Offline and ROS-free; `pose-reloc map-site` runs it on a bag.

Stages, one module each: `keyframes` (by motion) → `two_view` (matched, geometrically verified
pairs) → `adjustment` (tracks, triangulation and a bundle adjustment of every keyframe with the
odometry as factors, `bundle`) → `loops` and `pose_graph` (loop closures found, verified and bent
in) → `scale` (metric scale) → `site` (the whole run and what it measured).
"""
