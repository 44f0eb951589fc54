"""PoseNet (Kendall et al. 2015/2017): a first camera pose with a covariance, for the kidnapped robot.

Same shape as `sun_bcnn` and `vo_fusion`: a ROS-free core and a thin node on top.
- `localizer`: `PoseNetLocalizer(model)` runs the exported ONNX model (MC-dropout samples) and gives
  a pose with a 6x6 covariance; `calibrate_covariance` scales that covariance on held-out frames.
- `retrieval`: the other prior source: an image-retrieval index of the site's posed frames
  (`pose-reloc build-retrieval`), `RetrievalLocalizer` answering like `PoseNetLocalizer`.
- `priors`: `PriorLocalizer`, PoseNet, retrieval or both, as the node's `prior_source` says.
- `node`: `posenet_node`, images in, `PoseWithCovarianceStamped` out.
- `evaluate`: `pose-reloc evaluate posenet` (against ground truth and the retrieval baseline).
- `networks`, `losses`, `train`: `pose-reloc train posenet` (torch, the optional [train] extra).
"""
