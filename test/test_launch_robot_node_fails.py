"""`ros2 launch pose_reloc robot.launch.py` when one node cannot start (here posenet_node, given a
model file that does not exist): the launch says why and shuts the other nodes down by itself
instead of leaving half a graph running, and no process is left. Run as a command (a launch that
ends by itself races launch_testing's active tests). Skipped where ros2cli/launch are missing."""

from __future__ import annotations

import re
import shutil

import pytest
from launch_support import LAUNCH_MISSING, process_gone, ros2_launch, started_pids

pytestmark = pytest.mark.skipif(
    bool(LAUNCH_MISSING) or shutil.which("ros2") is None,
    reason=LAUNCH_MISSING or "the ros2 command is not installed",
)
MISSING_MODEL = "/nonexistent/posenet_model.onnx"


def test_a_node_that_cannot_start_shuts_the_launch_down(tmp_path):
    config = tmp_path / "bad_model.yaml"
    config.write_text(f"posenet_node:\n  ros__parameters:\n    model: {MISSING_MODEL}\n")
    # The launch ending within the timeout is the point: nothing but it stops the other nodes.
    result = ros2_launch("robot.launch.py", f"config:={config}", "providers:=[cpu]", timeout_s=120)
    output = result.stdout + result.stderr
    assert f"cannot start: model file {MISSING_MODEL}" in output
    assert re.search(r"\[posenet_node-\d+\]: process has died \[pid \d+, exit code 1", output)
    assert re.search(r"process\[posenet_node-\d+\] was required: shutting down", output)
    for node in ("sun_bcnn_node", "vo_fusion_node"):
        assert re.search(rf"\[{node}-\d+\]: process (has finished cleanly|has died)", output), node
    pids = started_pids(output)
    assert len(pids) == 3, pids
    left = {name: pid for name, pid in pids.items() if not process_gone(pid)}
    assert not left, f"still running after the launch ended: {left}"
