"""Sun-BCNN (Peretroukhin et al., ICRA 2017): the sun direction in the camera optical frame, with
uncertainty from MC-dropout samples.

- `inference`: SunEstimator (ONNX, ROS-free): one image -> SunEstimate (direction, covariances,
  azimuth/zenith, spread, validity);
- `ephemeris`: where the sun should be, in ENU and in the map frame (on `pose_reloc.sun`);
- `evaluate`: `pose-reloc evaluate sun` figures;
- `train`: networks, loss and training loop (torch, the [train] extra);
- `node`: sun_bcnn_node (ROS 2).
"""
