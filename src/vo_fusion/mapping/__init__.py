"""Mapping a site from what a robot records (no ground truth): keyframes chosen by the robot's
odometry, their poses estimated from the images anchored on that odometry, and the feature map
built from those poses. Offline and ROS-free; `pose-reloc map-site` runs it on a bag.

Stages, one module each: `keyframes` (by motion) → `two_view` (matched, geometrically verified
pairs: relative rotation and direction of travel from the images) → `pose_graph` (odometry and
image constraints, loop closures, solved together) → `adjustment` (tracks, triangulation and a
bundle adjustment of every keyframe) → `scale` (metric scale and gravity) → `site` (the whole
run and what it measured).
"""
