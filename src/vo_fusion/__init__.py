"""VO fusion: feature-map PnP refinement, visual odometry and sun-corrected orientation.

ROS-free core so far (the node arrives with the rest of the VO fusion issue):
- `vo_fusion.feature_map`: `FeatureMap` (3D points + descriptors, one versioned .npz file,
  `points_in_view` queries), the shared ORB/SIFT detection and matching, and `VoFusionError`, the
  package's one exception type.
- `vo_fusion.build_map`: `build_map(frames)` triangulates a map from posed images;
  `load_colmap_model(path)` reads a COLMAP model (needs pycolmap).
- `vo_fusion.refine`: `refine_pose(image, camera, prior_T_wc, prior_covariance, map)` turns a
  PoseNet prior (metres off) into a centimetre pose with a ROS covariance, or says why not.
"""
