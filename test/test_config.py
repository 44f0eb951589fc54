"""config/robot.yaml is the one place a user sets the nodes: it lists exactly the parameters each
node declares, and the nodes start from it with the shipped models and map (no overrides)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROS_MISSING

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "robot.yaml"


def sections() -> dict[str, dict]:
    raw = yaml.safe_load(CONFIG.read_text())
    return {key.removeprefix("/**/"): value["ros__parameters"] for key, value in raw.items()}


def test_every_node_has_a_section_and_every_line_a_comment():
    assert set(sections()) == {"posenet_node", "sun_bcnn_node", "vo_fusion_node"}
    parameter_lines = [
        line for line in CONFIG.read_text().splitlines() if line.startswith("    ") and ":" in line
    ]
    assert len(parameter_lines) == sum(len(values) for values in sections().values())
    assert [line for line in parameter_lines if "  # " not in line] == []


@pytest.mark.skipif(bool(ROS_MISSING), reason=ROS_MISSING or "")
@pytest.mark.parametrize(
    ("module", "class_name", "name"),
    [
        ("pose_reloc.posenet.node", "PoseNetNode", "posenet_node"),
        ("sun_bcnn.node", "SunBcnnNode", "sun_bcnn_node"),
        ("vo_fusion.node", "VoFusionNode", "vo_fusion_node"),
    ],
)
def test_nodes_start_from_the_config_with_the_shipped_models(ros, module, class_name, name):
    import importlib

    node_type = getattr(importlib.import_module(module), class_name)
    node = ros.add(
        node_type(context=ros.context, cli_args=["--ros-args", "--params-file", str(CONFIG)])
    )
    declared = {
        p for p in node._parameters if p not in ("use_sim_time", "start_type_description_service")
    }
    configured = sections()[name]
    assert declared == set(configured)
    for key, value in configured.items():
        assert (
            node.get_parameter(key).value == pytest.approx(value)
            or node.get_parameter(key).value == value
        ), key
