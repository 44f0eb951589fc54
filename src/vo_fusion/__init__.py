"""VO fusion: feature-map PnP refinement, visual odometry and sun-corrected orientation.

ROS-free core, with `vo_fusion.node` the thin ROS 2 node on top:
- `errors`: `VoFusionError`, the package's one exception type.
- `features`: ORB/SIFT detection and descriptor matching (ratio test + mutual), the descriptor
  helpers of a map, and the Shi-Tomasi corners and optical flow the odometry follows.
- `pnp`: PnP (USAC MAGSAC++ + Levenberg-Marquardt) on ideal pixels, its covariance in the ROS
  convention, and the acceptance checks of a map fix and of an odometry step.
- `feature_map`: `FeatureMap` (3D points + descriptors, one versioned .npz file, `points_in_view`
  queries); `colmap_model.load_colmap_model(path)` reads a COLMAP model (needs pycolmap).
- `build_map`: `build_map(frames)` triangulates a map from posed images.
- `refine`: `refine_pose(image, camera, prior_T_wc, prior_covariance, map)` turns a PoseNet prior
  (metres off) into a centimetre pose with a ROS covariance, or says why not.
- `odometry` (+ `triangulation`, `window_adjustment`): optical-flow PnP visual odometry with a
  bundle-adjusted window of keyframes.
- `pose_filter`: the SE(3) error-state filter (odometry increments, map poses, sun directions).
- `tracking`: the tracking states and the rule that loses tracking.
- `fusion`: `FusionCore`, one image at a time, with the tracking state machine.
- `evaluation`: the `pose-reloc evaluate fusion|vo` and `benchmark pnp` commands.
"""
